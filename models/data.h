/* data.h - the IDX format of MNIST and Fashion-MNIST, gzip-compressed
 * (when built with zlib) or not.
 *
 *     tg_idx images;
 *     if (tg_idx_load("train-images-idx3-ubyte.gz", &images))
 *         fprintf(stderr, "%s\n", tg_last_message());
 *     // images.ndim == 3, dims {60000, 28, 28}, data: 47040000 bytes
 *     tg_idx_free(&images);
 */
#ifndef TG_DATA_H
#define TG_DATA_H

#include "../tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An IDX file of unsigned bytes (type 0x08), the only type MNIST uses. */
typedef struct tg_idx {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
    int64_t count;  /* product of dims */
    uint8_t *data;  /* count bytes, owned; free with tg_idx_free */
} tg_idx;

/* Reads path (gzip detected by its magic). Errors: TG_ERR_IO when missing,
 * TG_ERR_FORMAT for a wrong magic, another element type, a truncated or
 * over-long body, dimensions that overflow. *out is untouched on error. */
int tg_idx_load(const char *path, tg_idx *out);
/* The same from an uncompressed image in memory. */
int tg_idx_load_buffer(const void *buf, size_t len, tg_idx *out);
void tg_idx_free(tg_idx *idx);

#ifdef __cplusplus
}
#endif
#endif /* TG_DATA_H */
