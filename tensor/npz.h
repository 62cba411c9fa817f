/* npz.h - NumPy's .npz archives (np.savez, np.savez_compressed): a zip file
 * of .npy members, each stored (method 0) or deflated (method 8, read with
 * zlib; a build without zlib gives a clear TG_ERR_FORMAT error for those).
 * This is how weights trained in Python come into C:
 *
 *     # Python: np.savez("w.npz", fc1_weight=w1, fc1_bias=b1)
 *     tg_tensor *w1 = tg_load_npz("w.npz", "fc1_weight");   // caller owns w1
 *
 *     tg_npz *z = tg_npz_open("w.npz");                      // many at once
 *     for (int i = 0; i < tg_npz_count(z); i++)
 *         printf("%s\n", tg_npz_name(z, i));                 // without ".npy"
 *     tg_tensor *b1 = tg_npz_get(z, "fc1_bias");
 *     tg_npz_close(z);
 *
 * The archive is untrusted input: the end record and central directory are
 * parsed defensively (every offset and size checked against the file, zip64
 * fields understood, duplicate, encrypted or multi-disk members refused),
 * a member's CRC-32 is checked, and a deflated member may not claim more
 * than the 1032:1 ratio deflate can reach (zip bombs). Members are read
 * with tg_load_npy_buffer's checks. Errors: TG_ERR_FORMAT (TG_ERR_IO for a
 * file that cannot be read), message "fn: path: what". */
#ifndef TG_NPZ_H
#define TG_NPZ_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_npz tg_npz;

/* Opens an archive and reads its directory; NULL on error. */
tg_npz *tg_npz_open(const char *path);
/* The same for an archive in memory, which must outlive the handle. */
tg_npz *tg_npz_open_buffer(const void *buf, size_t len);
/* Closes and frees; NULL is fine. */
void tg_npz_close(tg_npz *z);

/* Number of members; member i's array name (".npy" removed, as np.load's
 * keys), NULL for a bad i. Borrowed from the handle. */
int tg_npz_count(const tg_npz *z);
const char *tg_npz_name(const tg_npz *z, int i);
/* A new tensor from the member name (an array name, "x", or a member name,
 * "x.npy"); NULL with TG_ERR_INDEX when absent, TG_ERR_FORMAT for a bad
 * member. */
tg_tensor *tg_npz_get(tg_npz *z, const char *name);
/* Opens path, gets name, closes. */
tg_tensor *tg_load_npz(const char *path, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* TG_NPZ_H */
