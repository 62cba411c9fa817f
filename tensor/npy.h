/* npy.h - NumPy's .npy file format, so tensors move to and from NumPy and
 * PyTorch (np.save / np.load, torch.from_numpy).
 *
 * Versions 1.0, 2.0 and 3.0 are read; 1.0 is written (an 8-dimension header
 * always fits it). Only little-endian float32 ('<f4') and float64 ('<f8') in C
 * order are supported; anything else is a clear TG_ERR_FORMAT error.
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

#ifdef __cplusplus
}
#endif
#endif /* TG_NPY_H */
