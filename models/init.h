/* init.h - weight initialisers with PyTorch's formulas (torch.nn.init):
 * Xavier/Glorot and Kaiming/He, uniform and normal, orthogonal, constants,
 * and calculate_gain's gains. The values are drawn from a tg_rng, so they
 * are NumPy's: tg_init_xavier_uniform on a (out, in) float64 weight after
 * tg_rng_seed(&rng, s) equals np.random.uniform(-a, a, (out, in)) after
 * np.random.seed(s), with a = gain * sqrt(6 / (fan_in + fan_out)).
 *
 *     tg_rng rng; tg_rng_seed(&rng, 0);
 *     tg_tensor *w = tg_empty(TG_FLOAT32, 2, (int64_t[]){256, 784});  // (out, in)
 *     tg_init_kaiming_uniform(&rng, w, 0.0, TG_FAN_IN, TG_GAIN_RELU);
 *     tg_tensor *k = tg_empty(TG_FLOAT32, 4, (int64_t[]){32, 1, 3, 3}); // conv weight
 *     tg_init_xavier_normal(&rng, k, tg_init_gain(TG_GAIN_TANH, 0.0));
 *     tg_init_zeros(bias);
 *
 * Every function fills an existing float32 or float64 tensor (any layout,
 * in C order) and returns 0 or an error code: a NULL tensor or rng
 * (TG_ERR_NULL), another dtype (TG_ERR_DTYPE), fewer than 2 dimensions where
 * fans are needed (TG_ERR_SHAPE, as PyTorch), a broadcast view
 * (TG_ERR_VALUE), an unseeded rng (TG_ERR_VALUE). On error the tensor is
 * unchanged. A tensor with no elements is left as it is (PyTorch warns).
 */
#ifndef TG_INIT_H
#define TG_INIT_H

#include "../tensor/random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Gains and fans ----------------------------------------------------- */

/* torch.nn.init.calculate_gain's nonlinearities. */
typedef enum tg_gain {
    TG_GAIN_LINEAR,     /* 1 (also conv and identity layers) */
    TG_GAIN_SIGMOID,    /* 1 */
    TG_GAIN_TANH,       /* 5/3 */
    TG_GAIN_RELU,       /* sqrt(2) */
    TG_GAIN_LEAKY_RELU, /* sqrt(2 / (1 + negative_slope^2)) */
    TG_GAIN_SELU        /* 3/4 */
} tg_gain;

/* The recommended gain; param is leaky_relu's negative slope (PyTorch's
 * default is 0.01; pass it explicitly) and is ignored by the others.
 * NaN (with TG_ERR_VALUE) for an unknown nonlinearity or a non-finite slope. */
double tg_init_gain(tg_gain nonlinearity, double param);

/* PyTorch's fans of a weight of 2 or more dimensions: (out, in) gives
 * fan_in = in, fan_out = out; a conv weight (out, in, k...) multiplies both
 * by the receptive field, the product of k... . TG_ERR_SHAPE for fewer than
 * 2 dimensions. */
int tg_init_fans(const tg_tensor *t, int64_t *fan_in, int64_t *fan_out);

typedef enum tg_fan_mode { TG_FAN_IN, TG_FAN_OUT } tg_fan_mode;

/* ---- Initialisers (values from rng, in C order) ------------------------- */

/* uniform(low, high) and normal(mean, std): np.random.uniform and
 * np.random.normal's values. std >= 0. */
int tg_init_uniform(tg_rng *rng, tg_tensor *t, double low, double high);
int tg_init_normal(tg_rng *rng, tg_tensor *t, double mean, double std);
/* Glorot & Bengio: std = gain * sqrt(2 / (fan_in + fan_out)); uniform in
 * [-sqrt(3) std, sqrt(3) std] or normal(0, std). */
int tg_init_xavier_uniform(tg_rng *rng, tg_tensor *t, double gain);
int tg_init_xavier_normal(tg_rng *rng, tg_tensor *t, double gain);
/* He et al.: std = tg_init_gain(nonlinearity, a) / sqrt(fan), fan chosen by
 * mode; uniform in [-sqrt(3) std, sqrt(3) std] or normal(0, std). a is
 * leaky_relu's negative slope (PyTorch's defaults: a = 0, TG_FAN_IN,
 * TG_GAIN_LEAKY_RELU, i.e. gain sqrt(2)). */
int tg_init_kaiming_uniform(tg_rng *rng, tg_tensor *t, double a, tg_fan_mode mode,
                            tg_gain nonlinearity);
int tg_init_kaiming_normal(tg_rng *rng, tg_tensor *t, double a, tg_fan_mode mode,
                           tg_gain nonlinearity);
/* Saxe et al.: t viewed as (rows = size 0, cols = the rest) gets a matrix
 * with orthonormal rows (rows <= cols) or columns (rows > cols), times
 * gain: the Q of a QR of a (rows, cols) normal(0, 1) matrix drawn in C
 * order (transposed first when rows < cols), each column multiplied by the
 * sign of R's diagonal, as torch.nn.init.orthogonal_. The QR is Householder
 * in double; allocates rows * cols doubles of scratch (TG_ERR_NOMEM). */
int tg_init_orthogonal(tg_rng *rng, tg_tensor *t, double gain);

/* ---- Constants (no rng) ------------------------------------------------- */

int tg_init_zeros(tg_tensor *t);
int tg_init_ones(tg_tensor *t);
int tg_init_constant(tg_tensor *t, double value);

#ifdef __cplusplus
}
#endif
#endif /* TG_INIT_H */
