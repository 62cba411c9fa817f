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

/* An IDX file of unsigned bytes (type 0x08), the only type MNIST uses. Any
 * product of dims fits in int64_t (dims[1] * dims[2] cannot overflow), even
 * when a zero size makes count 0. */
typedef struct tg_idx {
    int ndim;
    int64_t dims[TG_MAX_DIMS];
    int64_t count;  /* product of dims */
    uint8_t *data;  /* count bytes, owned; free with tg_idx_free */
} tg_idx;

/* Reads path: a file starting with the gzip magic is decompressed (with
 * zlib), anything else is read as stored. A gzip file of several members
 * (`cat a.gz b.gz`) reads as their concatenation, as gunzip does; anything
 * else after the last member is trailing garbage and refused, as is a byte
 * past the data of a stored file. Errors: TG_ERR_IO when it cannot be
 * opened or read, TG_ERR_FORMAT for a wrong magic, another element type, a
 * truncated or over-long body, corrupt or truncated gzip data, trailing
 * garbage; TG_ERR_OVERFLOW for dimensions whose product (ignoring a zero
 * size) overflows; TG_ERR_NOMEM. *out is untouched on error. */
int tg_idx_load(const char *path, tg_idx *out);
/* The same from an uncompressed image in memory. */
int tg_idx_load_buffer(const void *buf, size_t len, tg_idx *out);
void tg_idx_free(tg_idx *idx);

#ifdef __cplusplus
}
#endif
#endif /* TG_DATA_H */
