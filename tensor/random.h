/* random.h - a random generator that reproduces NumPy's legacy stream.
 *
 * np.random.seed(s) followed by rand / random_sample, randn and uniform give
 * the same doubles, bit for bit, as the functions here after tg_rng_seed:
 * MT19937 seeded with init_genrand, 53-bit doubles from two 32-bit draws,
 * and the legacy polar Gaussian with its cached second value.
 *
 *     tg_rng rng;
 *     tg_rng_seed(&rng, 100);
 *     tg_tensor *noise = tg_rand(&rng, TG_FLOAT64, TG_SHAPE(100)); // rand(100)
 *     double w = tg_rng_random(&rng);                             // rand()
 */
#ifndef TG_RANDOM_H
#define TG_RANDOM_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The generator's whole state; a plain struct the caller may keep anywhere
 * and copy to fork the stream. It must be seeded before use: a generator
 * that never went through tg_rng_seed (a zeroed or uninitialised struct)
 * is refused by every draw with TG_ERR_VALUE, since MT19937's all-zero
 * state would only ever produce zeros. */
typedef struct tg_rng {
    uint32_t mt[624];
    int pos;          /* next word of mt to use; 624 means regenerate */
    int has_gauss;    /* randn's cached second value is valid */
    double gauss;
    uint32_t seeded;  /* set by tg_rng_seed; checked by every draw */
} tg_rng;

/* np.random.seed(seed) for an integer seed (init_genrand). */
void tg_rng_seed(tg_rng *rng, uint32_t seed);
/* A generator seeded with seed, as a value: tg_rng rng = tg_rng_seeded(100); */
tg_rng tg_rng_seeded(uint32_t seed);
/* The next raw 32-bit output of MT19937. */
uint32_t tg_rng_uint32(tg_rng *rng);
/* random_sample(): a double in [0, 1) with 53 random bits. */
double tg_rng_random(tg_rng *rng);
/* Legacy randn(): the polar method, one value cached for the next call. */
double tg_rng_normal(tg_rng *rng);
/* uniform(low, high): low + (high - low) * random_sample(). */
double tg_rng_uniform(tg_rng *rng, double low, double high);

/* Tensors filled in C order, each value drawn as a double and then rounded
 * to the dtype (as NumPy's rand(...).astype(float32)). Caller owns the
 * result. NULL rng is an error. */
tg_tensor *tg_rand(tg_rng *rng, tg_dtype dt, int ndim, const int64_t *shape);
tg_tensor *tg_randn(tg_rng *rng, tg_dtype dt, int ndim, const int64_t *shape);
tg_tensor *tg_uniform(tg_rng *rng, tg_dtype dt, double low, double high,
                      int ndim, const int64_t *shape);
/* Fill an existing tensor (any layout) in C order. */
int tg_rand_fill(tg_rng *rng, tg_tensor *t);
int tg_randn_fill(tg_rng *rng, tg_tensor *t);
int tg_uniform_fill(tg_rng *rng, tg_tensor *t, double low, double high);
/* A random permutation of 0..n-1 into perm, like np.random.permutation(n)
 * (Fisher-Yates from the end with NumPy's bounded draws). */
int tg_rng_permutation(tg_rng *rng, int64_t *perm, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* TG_RANDOM_H */
