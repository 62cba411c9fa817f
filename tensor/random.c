/* random.c - MT19937 and the draws of NumPy's legacy RandomState, so that a
 * seeded tg_rng reproduces np.random.seed / rand / randn / uniform /
 * permutation bit for bit; plus the tensor-filling wrappers. */
#include <math.h>

#include "internal.h"
#include "random.h"

/* MT19937 parameters (Matsumoto & Nishimura 1998). */
enum { MT_N = 624, MT_M = 397 };
/* tg_rng.seeded of a seeded generator ("MT19" in ASCII). */
#define RNG_SEEDED 0x4d543139u
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

void tg_rng_seed(tg_rng *rng, uint32_t seed)
{
    if (!rng) {
        tg__fail(TG_ERR_NULL, "tg_rng_seed", "rng is NULL");
        return;
    }
    /* init_genrand: mt[i] = 1812433253 * (mt[i-1] ^ (mt[i-1] >> 30)) + i,
     * all mod 2^32 (uint32_t arithmetic wraps). */
    rng->mt[0] = seed;
    for (int i = 1; i < MT_N; i++) {
        uint32_t prev = rng->mt[i - 1];
        rng->mt[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    rng->pos = MT_N;
    rng->seeded = RNG_SEEDED;
    /* np.random.seed also forgets randn's cached value. */
    rng->has_gauss = 0;
    rng->gauss = 0.0;
}

tg_rng tg_rng_seeded(uint32_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    return rng;
}

/* One MT19937 twist: regenerates all 624 words. */
static void mt_twist(uint32_t *mt)
{
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (mt[i] & MT_UPPER) | (mt[(i + 1) % MT_N] & MT_LOWER);
        uint32_t mag = (y & 1u) ? MT_MATRIX_A : 0u;
        mt[i] = mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ mag;
    }
}

/* The unchecked draws; the public functions below add the NULL check. */
static uint32_t next_uint32(tg_rng *rng)
{
    if (rng->pos >= MT_N || rng->pos < 0) {
        mt_twist(rng->mt);
        rng->pos = 0;
    }
    uint32_t y = rng->mt[rng->pos++];
    /* Tempering. */
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static double next_double(tg_rng *rng)
{
    /* 27 high bits then 26 high bits: a 53-bit integer over 2^53. */
    uint32_t a = next_uint32(rng) >> 5;
    uint32_t b = next_uint32(rng) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

static double next_normal(tg_rng *rng)
{
    if (rng->has_gauss) {
        rng->has_gauss = 0;
        double cached = rng->gauss;
        rng->gauss = 0.0;
        return cached;
    }
    /* Marsaglia's polar method: a point uniform in the unit disc gives two
     * independent normals x * sqrt(-2 ln r2 / r2). NumPy returns the one
     * from x2 and keeps the one from x1 for the next call. */
    double x1, x2, r2;
    do {
        x1 = 2.0 * next_double(rng) - 1.0;
        x2 = 2.0 * next_double(rng) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    rng->gauss = f * x1;
    rng->has_gauss = 1;
    return f * x2;
}

static double next_uniform(tg_rng *rng, double low, double high)
{
    /* NumPy computes the range first, then low + range * u. */
    double range = high - low;
    return low + range * next_double(rng);
}

/* The check of every public draw: a generator, and a seeded one. */
static int check_rng(const char *fn, const tg_rng *rng)
{
    if (!rng)
        return tg__fail(TG_ERR_NULL, fn, "rng is NULL");
    if (rng->seeded != RNG_SEEDED || rng->pos < 0 || rng->pos > MT_N)
        return tg__fail(TG_ERR_VALUE, fn,
                        "rng is not seeded (call tg_rng_seed on it first)");
    return TG_OK;
}

/* Given a NULL or unseeded rng these set the error and return 0 (uint32)
 * or NaN. */
uint32_t tg_rng_uint32(tg_rng *rng)
{
    if (check_rng("tg_rng_uint32", rng))
        return 0;
    return next_uint32(rng);
}

double tg_rng_random(tg_rng *rng)
{
    if (check_rng("tg_rng_random", rng))
        return (double)NAN;
    return next_double(rng);
}

double tg_rng_normal(tg_rng *rng)
{
    if (check_rng("tg_rng_normal", rng))
        return (double)NAN;
    return next_normal(rng);
}

double tg_rng_uniform(tg_rng *rng, double low, double high)
{
    if (check_rng("tg_rng_uniform", rng))
        return (double)NAN;
    return next_uniform(rng, low, high);
}

/* ---- tensors ---- */

typedef enum draw_kind { DRAW_RAND, DRAW_NORMAL, DRAW_UNIFORM } draw_kind;

static double draw(tg_rng *rng, draw_kind kind, double low, double high)
{
    switch (kind) {
    case DRAW_NORMAL:
        return next_normal(rng);
    case DRAW_UNIFORM:
        return next_uniform(rng, low, high);
    case DRAW_RAND:
    default:
        return next_double(rng);
    }
}

/* Writes one draw per element of t, visiting elements in C order whatever
 * the strides are. */
static void fill_draws(tg_rng *rng, tg_tensor *t, draw_kind kind, double low,
                       double high)
{
    if (t->numel == 0)
        return;
    int64_t idx[TG_MAX_DIMS] = {0};
    int64_t pos = t->offset;
    for (int64_t n = 0; n < t->numel; n++) {
        tg__store(t, pos, draw(rng, kind, low, high));
        /* Odometer step: bump the last axis, carrying into earlier ones. */
        for (int k = t->ndim - 1; k >= 0; k--) {
            idx[k]++;
            pos += t->strides[k];
            if (idx[k] < t->shape[k])
                break;
            pos -= idx[k] * t->strides[k];
            idx[k] = 0;
        }
    }
}

static tg_tensor *new_drawn(const char *fn, tg_rng *rng, draw_kind kind,
                            double low, double high, tg_dtype dt, int ndim,
                            const int64_t *shape)
{
    if (check_rng(fn, rng))
        return NULL;
    if (tg__valid_dtype(dt) && !tg__is_float(dt)) { /* as np.random: floats */
        tg__need_float(fn, "dtype", dt);
        return NULL;
    }
    tg_tensor *t = tg__new(fn, dt, ndim, shape);
    if (!t)
        return NULL;
    fill_draws(rng, t, kind, low, high);
    return t;
}

tg_tensor *tg_rand(tg_rng *rng, tg_dtype dt, int ndim, const int64_t *shape)
{
    return new_drawn("tg_rand", rng, DRAW_RAND, 0.0, 0.0, dt, ndim, shape);
}

tg_tensor *tg_randn(tg_rng *rng, tg_dtype dt, int ndim, const int64_t *shape)
{
    return new_drawn("tg_randn", rng, DRAW_NORMAL, 0.0, 0.0, dt, ndim, shape);
}

tg_tensor *tg_uniform(tg_rng *rng, tg_dtype dt, double low, double high,
                      int ndim, const int64_t *shape)
{
    return new_drawn("tg_uniform", rng, DRAW_UNIFORM, low, high, dt, ndim,
                     shape);
}

static int fill_drawn(const char *fn, tg_rng *rng, tg_tensor *t,
                      draw_kind kind, double low, double high)
{
    if (check_rng(fn, rng))
        return tg_last_error();
    if (!t)
        return tg__fail(TG_ERR_NULL, fn, "tensor is NULL");
    if (tg__check_writable(fn, "tensor", t))
        return TG_ERR_VALUE;
    if (!tg__is_float(t->dtype))
        return tg__need_float(fn, "tensor", t->dtype);
    fill_draws(rng, t, kind, low, high);
    tg__touch(t);
    return TG_OK;
}

int tg_rand_fill(tg_rng *rng, tg_tensor *t)
{
    return fill_drawn("tg_rand_fill", rng, t, DRAW_RAND, 0.0, 0.0);
}

int tg_randn_fill(tg_rng *rng, tg_tensor *t)
{
    return fill_drawn("tg_randn_fill", rng, t, DRAW_NORMAL, 0.0, 0.0);
}

int tg_uniform_fill(tg_rng *rng, tg_tensor *t, double low, double high)
{
    return fill_drawn("tg_uniform_fill", rng, t, DRAW_UNIFORM, low, high);
}

/* ---- permutation ---- */

/* NumPy's random_interval: a uniform integer in [0, max] by rejection,
 * masking draws to the smallest all-ones mask covering max. Uses one 32-bit
 * draw per try when max fits in 32 bits, else two (high word first). */
static uint64_t rng_interval(tg_rng *rng, uint64_t max)
{
    if (max == 0)
        return 0;
    uint64_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    uint64_t value;
    if (max <= 0xffffffffu) {
        do
            value = next_uint32(rng) & mask;
        while (value > max);
    } else {
        do {
            uint64_t hi = next_uint32(rng);
            uint64_t lo = next_uint32(rng);
            value = ((hi << 32) | lo) & mask;
        } while (value > max);
    }
    return value;
}

int tg_rng_permutation(tg_rng *rng, int64_t *perm, int64_t n)
{
    static const char fn[] = "tg_rng_permutation";
    if (check_rng(fn, rng))
        return tg_last_error();
    if (n < 0)
        return tg__fail(TG_ERR_VALUE, fn, "n is %lld, must be >= 0",
                        (long long)n);
    if (n == 0)
        return TG_OK;
    if (!perm)
        return tg__fail(TG_ERR_NULL, fn, "perm is NULL");
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    /* np.random.shuffle: Fisher-Yates from the last element down to 1. */
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_interval(rng, (uint64_t)i);
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    return TG_OK;
}
