/* npy.h - NumPy's .npy file format, so tensors move to and from NumPy and
 * PyTorch (np.save / np.load, torch.from_numpy).
 *
 * Versions 1.0, 2.0 and 3.0 are read; 1.0 is written (an 8-dimension header
 * always fits it), byte for byte as np.save writes it. The dtypes are
 * tapegrad's, as np.save names them: '<f4', '<f8', '<i4', '<i8', '|u1' and
 * '|b1', in C order; anything else is a clear TG_ERR_FORMAT error.
 *
 *     tg_save_npy(t, "w.npy");            // np.load("w.npy") in Python
 *     tg_tensor *u = tg_load_npy("w.npy"); // caller owns u
 */
#ifndef TG_NPY_H
#define TG_NPY_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes t (any layout) as a C-order .npy file. */
int tg_save_npy(const tg_tensor *t, const char *path);
/* Reads a .npy file; NULL with TG_ERR_IO or TG_ERR_FORMAT on failure. */
tg_tensor *tg_load_npy(const char *path);
/* Parses a .npy image held in memory (what tg_load_npy reads). */
tg_tensor *tg_load_npy_buffer(const void *buf, size_t len);
/* Writes t's .npy image (what tg_save_npy writes) into buf when it holds
 * cap bytes or more; returns the image's size either way (call with cap 0
 * to learn it), or 0 on error. Allocates nothing. */
size_t tg_save_npy_buffer(const tg_tensor *t, void *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* TG_NPY_H */
