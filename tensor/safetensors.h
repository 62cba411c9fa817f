/* safetensors.h - the safetensors format (Hugging Face's; what PyTorch users
 * exchange weights in): an 8-byte little-endian header length N, N bytes of
 * JSON mapping each tensor's name to {"dtype", "shape", "data_offsets"}
 * (plus an optional "__metadata__" object of strings), then the raw
 * little-endian C-order data, every byte of it belonging to exactly one
 * tensor.
 *
 *     const char *names[] = {"fc1.weight", "fc1.bias"};
 *     const tg_tensor *ts[] = {w, b};
 *     const char *meta[] = {"format", "pt", NULL};      // key, value, ..., NULL
 *     tg_save_safetensors("m.safetensors", 2, names, ts, meta);
 *
 *     tg_safetensors *st = tg_safetensors_open("m.safetensors");
 *     tg_tensor *w2 = tg_safetensors_get(st, "fc1.weight");  // caller owns w2
 *     const char *fmt = tg_safetensors_meta(st, "format");   // "pt", or NULL
 *     tg_safetensors_close(st);
 *
 * In Python: safetensors.numpy.load_file("m.safetensors") or
 * safetensors.torch.load_file. Dtypes F32, F64, I32, I64, U8 and BOOL are
 * tapegrad's; a file may hold others (F16, BF16, I8, I16, U16, U32, U64,
 * F8_*): it opens, but getting such a tensor is TG_ERR_FORMAT.
 *
 * The reader treats the file as untrusted: the header has a size limit
 * (100 MB, as the reference implementation), is parsed by a strict JSON
 * grammar, and every tensor's dtype, shape and byte range is checked
 * against the file before anything is read; ranges must tile the data
 * section exactly (no overlap, gap or unsorted order beyond a permutation),
 * names must be unique. Errors are TG_ERR_FORMAT (TG_ERR_IO for a file that
 * cannot be read) with a message "fn: path: what". */
#ifndef TG_SAFETENSORS_H
#define TG_SAFETENSORS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest header accepted, in bytes (the reference implementation's). */
#define TG_SAFETENSORS_MAX_HEADER 100000000u

/* ---- Writing ----------------------------------------------------------------- */

/* Writes n tensors (any layout, tapegrad dtypes) under names (unique,
 * non-empty, not "__metadata__") and the metadata pairs meta[0] = key,
 * meta[1] = value, ..., ended by a NULL key (meta itself may be NULL). The
 * file is written to "path.tmp" and renamed over path, so a failure never
 * leaves a half-written file at path. Data is laid out as the reference
 * writer does: by dtype size, largest first, then by name. */
int tg_save_safetensors(const char *path, int n, const char *const *names,
                        const tg_tensor *const *tensors, const char *const *meta);

/* ---- Reading ----------------------------------------------------------------- */

typedef struct tg_safetensors tg_safetensors;

/* Opens and validates a file (header only; data is read by get). NULL with
 * TG_ERR_IO, TG_ERR_FORMAT or TG_ERR_NOMEM on failure. */
tg_safetensors *tg_safetensors_open(const char *path);
/* The same for an image in memory, which must outlive the handle. */
tg_safetensors *tg_safetensors_open_buffer(const void *buf, size_t len);
/* Closes the file and frees the handle; NULL is fine. */
void tg_safetensors_close(tg_safetensors *st);

/* Number of tensors; their names in the header's order (i in [0, count)),
 * NULL for a bad i. Names are borrowed from the handle. */
int tg_safetensors_count(const tg_safetensors *st);
const char *tg_safetensors_name(const tg_safetensors *st, int i);
/* The index of name, or -1 (no error set) when absent. */
int tg_safetensors_find(const tg_safetensors *st, const char *name);
/* The file's dtype string ("F32", "BF16", ...) and shape of entry i; *dtype
 * gets tapegrad's dtype, or -1 when tapegrad has none. shape holds
 * TG_MAX_DIMS sizes. */
int tg_safetensors_info(const tg_safetensors *st, int i, int *dtype, int *ndim,
                        int64_t *shape, const char **st_dtype);
/* A new tensor holding entry name; NULL with TG_ERR_INDEX when absent,
 * TG_ERR_FORMAT for a dtype tapegrad lacks, TG_ERR_IO on a read error. */
tg_tensor *tg_safetensors_get(tg_safetensors *st, const char *name);
/* The metadata value of key, or NULL (no error set) when absent. */
const char *tg_safetensors_meta(const tg_safetensors *st, const char *key);
/* Number of metadata pairs and pair i's key and value (borrowed). */
int tg_safetensors_meta_count(const tg_safetensors *st);
int tg_safetensors_meta_at(const tg_safetensors *st, int i, const char **key,
                           const char **value);

#ifdef __cplusplus
}
#endif
#endif /* TG_SAFETENSORS_H */
