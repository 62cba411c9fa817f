/* matmul.c - the matrix product. tg_matmul follows NumPy's matmul (1-D
 * operands promoted, batch axes broadcast, any strides) and reduces every
 * case to calls of one gemm: CBLAS when the build has it, else a portable
 * cache-blocked kernel in plain C loops that the compiler vectorises; on
 * processors with AVX-512F, float32 products may go to sgemm_avx512.c's
 * kernel instead (see use_avx512). */
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#ifdef TG_HAVE_CBLAS
#include <cblas.h>
#endif

#include "internal.h"

/* ---- the portable kernel ------------------------------------------------
 *
 * Goto's blocking, as in BLIS. For each NC-wide column block of op(B) and
 * each KC-deep slice of the inner dimension, that slice of op(B) is packed
 * once into NR-wide micro-panels (KC x NR each, small enough to stay in L1);
 * for each MC-tall row block of op(A) the block is packed into MR-tall
 * micro-panels (the whole block sized for L2). The micro-kernel multiplies
 * one A micro-panel by one B micro-panel into an MR x NR tile of
 * accumulators that stay in registers for the whole KC loop.
 *
 * Packing does the awkward work once so that the micro-kernel never has to:
 * it absorbs trans_a / trans_b, pads ragged edge panels with zeros (the
 * micro-kernel always computes a full tile; only edge stores are clipped)
 * and writes every A value VL times in a row, VL being the number of
 * elements in a SIMD register. The micro-kernel then reads whole vectors of
 * an A value instead of broadcasting it, and its inner loop is nothing but
 * vector loads, multiplies and adds: each step is a loop over v < VL that
 * the compiler turns into one vector operation, with the tile's rows (and
 * NR / VL vectors per row) unrolled into separate registers.
 *
 * Tile sizes: the x86-64 baseline has 16 SSE registers of 16 bytes; a
 * 4 x 8 float tile (4 x 4 double) takes 8 of them for accumulators, plus two
 * for the B row and one per A vector. A 6-row tile measured only a few
 * percent faster with GCC and leaves the register allocator no slack (clang
 * spilled), so the baseline keeps 4. AVX builds (NATIVE=1) get 32-byte
 * vectors and 6 rows; 64-byte ones measured slower with GCC. Floats
 * accumulate in float and doubles in double, as BLAS does.
 *
 * Packing buffers: products with few enough columns pack into a 32 KB
 * stack buffer with shallower blocks (see gemm_*), so small products never
 * allocate; the rest take two heap buffers per call and, should those not
 * be had, fall back to a plain triple loop (gemm cannot fail). */

#if defined(__AVX__)
#define TG__VEC_BYTES 32
#define TG__MR 6
#else
#define TG__VEC_BYTES 16
#define TG__MR 4
#endif

/* TG__UNROLL unrolls the tile's loops completely. TG__KEEP_LOOP stops GCC
 * at -O3 from unrolling a v loop into scalars before the vectoriser has made
 * it one vector operation (GCC 12 then vectorises the kc loop instead, with
 * lane-reversing shuffles: half the speed); clang needs no help there and
 * would not vectorise the kept loop. */
#if defined(__GNUC__)
#define TG__UNROLL _Pragma("GCC unroll 16")
#else
#define TG__UNROLL
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define TG__KEEP_LOOP _Pragma("GCC unroll 1")
#else
#define TG__KEEP_LOOP
#endif
/* k steps per micro-kernel iteration, acc += a_p b_p + a_q b_q + ...: with
 * one step clang spills the tile (a third of the speed), with two it keeps
 * it in registers; GCC is some 8% faster with one. */
#if defined(__clang__)
#define TG__KSTEP 2
#else
#define TG__KSTEP 1
#endif

/* Products whose packed panels fit this many bytes at a depth of at least
 * TG__GEMM_MIN_KC pack on the stack instead of the heap. */
#ifndef TG__GEMM_STACK_BYTES
#define TG__GEMM_STACK_BYTES 32768
#endif
#ifndef TG__GEMM_MIN_KC
#define TG__GEMM_MIN_KC 32
#endif

/* KC: depth of a panel. MC: rows of A per L2 block, a multiple of MR.
 * NC: columns of B per L3 block, a multiple of NR. */
enum {
    F32_VL = TG__VEC_BYTES / 4, F32_MR = TG__MR, F32_NR = 2 * F32_VL,
    F32_KC = 256, F32_MC = 96, F32_NC = 4096,
    F64_VL = TG__VEC_BYTES / 8, F64_MR = TG__MR, F64_NR = 2 * F64_VL,
    F64_KC = 192, F64_MC = 96, F64_NC = 2048,
};

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Defines gemm_<sfx> and its helpers for element type T. One template keeps
 * the float and double kernels the same algorithm. */
#define TG__DEFINE_GEMM(sfx, T, VL, MR, NR, KC, MC, NC)                        \
                                                                               \
    /* C = beta * C, where beta == 0 overwrites (NaN included), as in BLAS. */ \
    static void scale_##sfx(int64_t m, int64_t n, T beta, T *c, int64_t ldc)   \
    {                                                                          \
        if (beta == (T)1)                                                      \
            return;                                                            \
        for (int64_t i = 0; i < m; i++)                                        \
            for (int64_t j = 0; j < n; j++)                                    \
                c[i * ldc + j] = beta == (T)0 ? (T)0 : beta * c[i * ldc + j];  \
    }                                                                          \
                                                                               \
    /* The unblocked loop, for when the packing buffers cannot be had. */     \
    static void simple_##sfx(bool ta, bool tb, int64_t m, int64_t n,           \
                             int64_t k, T alpha, const T *a, int64_t lda,      \
                             const T *b, int64_t ldb, T beta, T *c,            \
                             int64_t ldc)                                      \
    {                                                                          \
        for (int64_t i = 0; i < m; i++)                                        \
            for (int64_t j = 0; j < n; j++) {                                  \
                T s = (T)0;                                                    \
                for (int64_t p = 0; p < k; p++)                                \
                    s += (ta ? a[p * lda + i] : a[i * lda + p]) *              \
                         (tb ? b[j * ldb + p] : b[p * ldb + j]);               \
                T *cij = c + i * ldc + j;                                      \
                *cij = beta == (T)0 ? alpha * s : alpha * s + beta * *cij;     \
            }                                                                  \
    }                                                                          \
                                                                               \
    /* op(A)[0:mc, 0:kc] (a points at its first element) into ceil(mc/MR)     \
     * micro-panels; panel step p holds MR values, each repeated VL times. */ \
    static void pack_a_##sfx(bool ta, int64_t mc, int64_t kc, const T *a,      \
                             int64_t lda, T *restrict ap)                      \
    {                                                                          \
        for (int64_t i0 = 0; i0 < mc; i0 += MR, ap += MR * VL * kc) {          \
            int64_t mr = min64(MR, mc - i0);                                   \
            for (int64_t p = 0; p < kc; p++) {                                 \
                T *dst = ap + p * MR * VL;                                     \
                for (int64_t i = 0; i < MR; i++) {                             \
                    T x = i >= mr ? (T)0                                       \
                          : ta    ? a[p * lda + i0 + i]                        \
                                  : a[(i0 + i) * lda + p];                     \
                    for (int v = 0; v < VL; v++)                               \
                        dst[i * VL + v] = x;                                   \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* op(B)[0:kc, 0:nc] into ceil(nc/NR) micro-panels of kc rows of NR. */   \
    static void pack_b_##sfx(bool tb, int64_t kc, int64_t nc, const T *b,      \
                             int64_t ldb, T *restrict bp)                      \
    {                                                                          \
        for (int64_t j0 = 0; j0 < nc; j0 += NR, bp += NR * kc) {               \
            int64_t nr = min64(NR, nc - j0);                                   \
            for (int64_t p = 0; p < kc; p++) {                                 \
                T *dst = bp + p * NR;                                          \
                if (tb)                                                        \
                    for (int64_t j = 0; j < nr; j++)                           \
                        dst[j] = b[(j0 + j) * ldb + p];                        \
                else                                                           \
                    for (int64_t j = 0; j < nr; j++)                           \
                        dst[j] = b[p * ldb + j0 + j];                          \
                for (int64_t j = nr; j < NR; j++)                              \
                    dst[j] = (T)0;                                             \
            }                                                                  \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* C[0:MR, 0:NR] = alpha * Ap Bp + beta * C over kc steps. Every index    \
     * into acc is a constant once the i and j0 loops are unrolled, so the    \
     * tile lives in registers; each v loop becomes one vector operation.     \
     * The steps go TG__KSTEP at a time (see there). */                       \
    static void micro_##sfx(int64_t kc, const T *restrict ap,                  \
                            const T *restrict bp, T alpha, T beta,             \
                            T *restrict c, int64_t ldc)                        \
    {                                                                          \
        T acc[MR * NR];                                                        \
        for (int i = 0; i < MR * NR; i++)                                      \
            acc[i] = (T)0;                                                     \
        int64_t p = 0;                                                         \
        for (; p + TG__KSTEP <= kc; p += TG__KSTEP) {                          \
            const T *a0 = ap + p * MR * VL, *b0 = bp + p * NR;                 \
            TG__UNROLL for (int i = 0; i < MR; i++)                            \
            {                                                                  \
                TG__UNROLL for (int j0 = 0; j0 < NR; j0 += VL)                 \
                    TG__KEEP_LOOP for (int v = 0; v < VL; v++)                 \
                    {                                                          \
                        T t = a0[i * VL + v] * b0[j0 + v];                     \
                        TG__UNROLL for (int s = 1; s < TG__KSTEP; s++)         \
                            t += a0[(s * MR + i) * VL + v] *                   \
                                 b0[s * NR + j0 + v];                          \
                        acc[i * NR + j0 + v] += t;                             \
                    }                                                          \
            }                                                                  \
        }                                                                      \
        for (; p < kc; p++) {                                                  \
            const T *a0 = ap + p * MR * VL, *b0 = bp + p * NR;                 \
            TG__UNROLL for (int i = 0; i < MR; i++)                            \
            {                                                                  \
                TG__UNROLL for (int j0 = 0; j0 < NR; j0 += VL)                 \
                    TG__KEEP_LOOP for (int v = 0; v < VL; v++)                 \
                        acc[i * NR + j0 + v] += a0[i * VL + v] * b0[j0 + v];   \
            }                                                                  \
        }                                                                      \
        if (beta == (T)0) {                                                    \
            TG__UNROLL for (int i = 0; i < MR; i++)                            \
                for (int j = 0; j < NR; j++)                                   \
                    c[i * ldc + j] = alpha * acc[i * NR + j];                  \
        } else if (beta == (T)1) {                                             \
            TG__UNROLL for (int i = 0; i < MR; i++)                            \
                for (int j = 0; j < NR; j++)                                   \
                    c[i * ldc + j] += alpha * acc[i * NR + j];                 \
        } else {                                                               \
            TG__UNROLL for (int i = 0; i < MR; i++)                            \
                for (int j = 0; j < NR; j++)                                   \
                    c[i * ldc + j] =                                           \
                        beta * c[i * ldc + j] + alpha * acc[i * NR + j];       \
        }                                                                      \
    }                                                                          \
                                                                               \
    /* An edge tile (mr < MR or nr < NR): the full tile into a scratch tile,  \
     * then its valid part into C. */                                         \
    static void micro_edge_##sfx(int64_t kc, const T *ap, const T *bp,         \
                                 T alpha, T beta, T *c, int64_t ldc,           \
                                 int64_t mr, int64_t nr)                       \
    {                                                                          \
        T tile[MR * NR];                                                       \
        micro_##sfx(kc, ap, bp, alpha, (T)0, tile, NR);                        \
        for (int64_t i = 0; i < mr; i++)                                       \
            for (int64_t j = 0; j < nr; j++) {                                 \
                T *cij = c + i * ldc + j;                                      \
                T v = tile[i * NR + j];                                        \
                *cij = beta == (T)0   ? v                                      \
                       : beta == (T)1 ? *cij + v                               \
                                      : beta * *cij + v;                       \
            }                                                                  \
    }                                                                          \
                                                                               \
    /* A packed mc x kc block of A times a packed kc x nc block of B. */      \
    static void macro_##sfx(int64_t mc, int64_t nc, int64_t kc, T alpha,       \
                            T beta, const T *ap, const T *bp, T *c,            \
                            int64_t ldc)                                       \
    {                                                                          \
        for (int64_t jr = 0; jr < nc; jr += NR) {                              \
            int64_t nr = min64(NR, nc - jr);                                   \
            for (int64_t ir = 0; ir < mc; ir += MR) {                          \
                int64_t mr = min64(MR, mc - ir);                               \
                const T *a_panel = ap + ir * VL * kc;                          \
                const T *b_panel = bp + jr * kc;                               \
                T *c_tile = c + ir * ldc + jr;                                 \
                if (mr == MR && nr == NR)                                      \
                    micro_##sfx(kc, a_panel, b_panel, alpha, beta, c_tile,     \
                                ldc);                                          \
                else                                                           \
                    micro_edge_##sfx(kc, a_panel, b_panel, alpha, beta,        \
                                     c_tile, ldc, mr, nr);                     \
            }                                                                  \
        }                                                                      \
    }                                                                          \
                                                                               \
    static void gemm_##sfx(bool ta, bool tb, int64_t m, int64_t n, int64_t k,  \
                           T alpha, const T *a, int64_t lda, const T *b,       \
                           int64_t ldb, T beta, T *c, int64_t ldc)             \
    {                                                                          \
        if (m <= 0 || n <= 0)                                                  \
            return;                                                            \
        if (k <= 0 || alpha == (T)0) { /* A and B are not read, as in BLAS */  \
            scale_##sfx(m, n, beta, c, ldc);                                   \
            return;                                                            \
        }                                                                      \
        /* Block sizes and packing buffers. When all of op(B)'s columns fit  \
         * the stack buffer with a panel depth of at least MIN_KC, pack there \
         * (shallower and shorter blocks, no allocation: a small model's      \
         * training loop then allocates nothing even without BLAS); else    \
         * heap buffers of the full block sizes, no larger than needed. */    \
        enum { SMALL = TG__GEMM_STACK_BYTES / sizeof(T) };                     \
        _Alignas(64) T small[SMALL];                                           \
        int64_t kc_b = min64(k, KC), mc_b = min64(m, MC), nc_b = min64(n, NC); \
        int64_t n_pad = (n + NR - 1) / NR * NR;                                \
        int64_t fit = SMALL / (n_pad + MR * VL); /* depth: B + 1 A panel */   \
        bool on_stack = fit >= min64(k, TG__GEMM_MIN_KC);                      \
        size_t a_bytes = 0, b_bytes = 0;                                       \
        T *ap = small, *bp = NULL;                                             \
        if (on_stack) {                                                        \
            kc_b = min64(kc_b, fit);                                           \
            int64_t a_rows = (SMALL / kc_b - n_pad) / VL;                      \
            mc_b = min64(mc_b, a_rows / MR * MR);                              \
            bp = small + (mc_b + MR - 1) / MR * MR * VL * kc_b;                \
        } else {                                                               \
            a_bytes = (size_t)((mc_b + MR - 1) / MR * MR * VL * kc_b) *        \
                      sizeof(T);                                               \
            b_bytes = (size_t)((nc_b + NR - 1) / NR * NR * kc_b) * sizeof(T);  \
            ap = tg__alloc(a_bytes);                                           \
            bp = tg__alloc(b_bytes);                                           \
            if (!ap || !bp) {                                                  \
                tg__dealloc(ap, a_bytes);                                      \
                tg__dealloc(bp, b_bytes);                                      \
                simple_##sfx(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,  \
                             ldc);                                             \
                return;                                                        \
            }                                                                  \
        }                                                                      \
        for (int64_t jc = 0; jc < n; jc += nc_b) {                             \
            int64_t nc = min64(nc_b, n - jc);                                  \
            for (int64_t pc = 0; pc < k; pc += kc_b) {                         \
                int64_t kc = min64(kc_b, k - pc);                              \
                /* beta applies once, with the first slice of the sum. */     \
                T beta_k = pc == 0 ? beta : (T)1;                              \
                pack_b_##sfx(tb, kc, nc,                                       \
                             tb ? b + jc * ldb + pc : b + pc * ldb + jc, ldb,  \
                             bp);                                              \
                for (int64_t ic = 0; ic < m; ic += mc_b) {                     \
                    int64_t mc = min64(mc_b, m - ic);                          \
                    pack_a_##sfx(ta, mc, kc,                                   \
                                 ta ? a + pc * lda + ic : a + ic * lda + pc,   \
                                 lda, ap);                                     \
                    macro_##sfx(mc, nc, kc, alpha, beta_k, ap, bp,             \
                                c + ic * ldc + jc, ldc);                       \
                }                                                              \
            }                                                                  \
        }                                                                      \
        if (!on_stack) {                                                       \
            tg__dealloc(ap, a_bytes);                                          \
            tg__dealloc(bp, b_bytes);                                          \
        }                                                                      \
    }

TG__DEFINE_GEMM(f32, float, F32_VL, F32_MR, F32_NR, F32_KC, F32_MC, F32_NC)
TG__DEFINE_GEMM(f64, double, F64_VL, F64_MR, F64_NR, F64_KC, F64_MC, F64_NC)

void tg__gemm_portable(tg_dtype dt, bool trans_a, bool trans_b, int64_t m,
                       int64_t n, int64_t k, double alpha, const void *a,
                       int64_t lda, const void *b, int64_t ldb, double beta,
                       void *c, int64_t ldc)
{
    if (dt == TG_FLOAT32)
        gemm_f32(trans_a, trans_b, m, n, k, (float)alpha, a, lda, b, ldb,
                 (float)beta, c, ldc);
    else
        gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                 ldc);
}

/* ---- dispatch ------------------------------------------------------------ */

static atomic_bool blas_on = true;

bool tg_blas_available(void)
{
#ifdef TG_HAVE_CBLAS
    return true;
#else
    return false;
#endif
}

void tg_use_blas(bool on) { atomic_store(&blas_on, on); }

#ifdef TG_HAVE_CBLAS
/* CBLAS wants int sizes and a leading dimension of at least the stored row
 * length. A stored matrix of one row may carry any ld (promoted vectors do),
 * so raise it; anything else out of range is left to the portable kernel. */
static bool blas_ld(int64_t rows, int64_t cols, int64_t *ld)
{
    int64_t need = cols > 1 ? cols : 1;
    if (*ld < need) {
        if (rows > 1)
            return false;
        *ld = need;
    }
    return *ld <= INT_MAX;
}
#endif

/* sgemm_avx512.c's kernel (declared here, its one caller): false when
 * the processor lacks AVX-512F or the sizes are not all positive. */
bool tg__sgemm_avx512_available(void);
bool tg__sgemm_avx512(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *a, int64_t lda, const float *b,
                      int64_t ldb, float beta, float *c, int64_t ldc);

/* Whether a float32 product of n columns goes to sgemm_avx512.c's kernel
 * rather than to OpenBLAS (or the portable kernel): on processors with
 * AVX-512F when OpenBLAS runs one thread with a kernel without AVX-512
 * (Haswell, say, as OPENBLAS_CORETYPE=Haswell pins it; the AVX-512 kernel
 * measured 1.5-2x faster than that on the convolutions' products and
 * about as fast as OpenBLAS's own SkylakeX / Cooperlake kernels, which
 * are therefore left alone, as is OpenBLAS with several threads).
 * Products narrower than 16 columns stay with BLAS: the kernel's tile is
 * 16 or 32 columns wide. */
static bool use_avx512(int64_t n)
{
    if (n < 16 || !tg__sgemm_avx512_available())
        return false;
#if defined(TG_HAVE_CBLAS) && defined(OPENBLAS_VERSION)
    static _Atomic int blas_avx512 = -1; /* OpenBLAS's kernel has AVX-512 */
    int has = blas_avx512;
    if (has < 0) {
        const char *core = openblas_get_corename();
        has = core && (strstr(core, "kylake") || strstr(core, "ooperlake") ||
                       strstr(core, "apphire"));
        blas_avx512 = has;
    }
    return !has && openblas_get_num_threads() == 1;
#elif defined(TG_HAVE_CBLAS)
    return false; /* another BLAS: its kernel is unknown, keep it */
#else
    return true;
#endif
}

/* One product on the calling thread: tapegrad's AVX-512 kernel, CBLAS or
 * the portable kernel. */
static void gemm_one(tg_dtype dt, bool trans_a, bool trans_b, int64_t m, int64_t n,
                     int64_t k, double alpha, const void *a, int64_t lda,
                     const void *b, int64_t ldb, double beta, void *c, int64_t ldc)
{
    bool on = atomic_load_explicit(&blas_on, memory_order_relaxed);
    if (on && dt == TG_FLOAT32 && alpha != 0.0 && use_avx512(n) &&
        tg__sgemm_avx512(trans_a, trans_b, m, n, k, (float)alpha, a, lda, b, ldb,
                         (float)beta, c, ldc))
        return;
#ifdef TG_HAVE_CBLAS
    if (on && m > 0 && n > 0 && k > 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX &&
        blas_ld(trans_a ? k : m, trans_a ? m : k, &lda) &&
        blas_ld(trans_b ? n : k, trans_b ? k : n, &ldb) &&
        blas_ld(m, n, &ldc)) {
        enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
        enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
        if (dt == TG_FLOAT32)
            cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k,
                        (float)alpha, a, (int)lda, b, (int)ldb, (float)beta,
                        c, (int)ldc);
        else
            cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha,
                        a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
        return;
    }
#endif
    tg__gemm_portable(dt, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
                      beta, c, ldc);
}

/* Whether gemm_one takes one of tapegrad's own kernels (the AVX-512 one or
 * the portable one) for this product: their element sums do not depend on
 * which rows of C a call computes, so a product split by rows gives the
 * same bits. OpenBLAS's kernels are not split (their last bits change
 * with the rows a call gets); they have threads of their own. */
static bool own_kernel(tg_dtype dt, int64_t n, double alpha)
{
    bool on = atomic_load_explicit(&blas_on, memory_order_relaxed);
    if (on && dt == TG_FLOAT32 && alpha != 0.0 && use_avx512(n))
        return true;
#ifdef TG_HAVE_CBLAS
    return !on;
#else
    return true;
#endif
}

/* A product split by rows of C over the thread pool (tensor/parallel.c). */
typedef struct gemm_job {
    tg_dtype dt;
    bool ta, tb;
    int64_t n, k, lda, ldb, ldc;
    double alpha, beta;
    const char *a, *b;
    char *c;
} gemm_job;

static void gemm_rows(void *ctx, int64_t r0, int64_t r1)
{
    const gemm_job *j = ctx;
    int64_t es = (int64_t)tg__dsize(j->dt);
    const char *a = j->a + (j->ta ? r0 : r0 * j->lda) * es;
    gemm_one(j->dt, j->ta, j->tb, r1 - r0, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb,
             j->beta, j->c + r0 * j->ldc * es, j->ldc);
}

/* Rows of C a part takes at least (a multiple of the kernels' row tiles),
 * and the multiply-adds below which a product stays on one thread: a
 * convolution's per-sample products (3.6 million in the CNN's second
 * layer) ran slower split, each part packing all of op(B) again. */
#define GEMM_ROWS 16
#define GEMM_SPLIT_MACS 16000000.0

void tg__gemm(tg_dtype dt, bool trans_a, bool trans_b, int64_t m, int64_t n,
              int64_t k, double alpha, const void *a, int64_t lda,
              const void *b, int64_t ldb, double beta, void *c, int64_t ldc)
{
    if (m >= 2 * GEMM_ROWS && (double)m * (double)n * (double)k >= GEMM_SPLIT_MACS &&
        own_kernel(dt, n, alpha) && tg_get_num_threads() > 1) {
        gemm_job j = {dt, trans_a, trans_b, n, k, lda, ldb, ldc, alpha, beta, a, b, c};
        tg__parallel_for(m, GEMM_ROWS, gemm_rows, &j);
        return;
    }
    gemm_one(dt, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* ---- matmul on tensors ----------------------------------------------------
 *
 * Both operands are seen as stacks of matrices indexed by the result's batch
 * axes: a 1-D a is one (1, K) row, a 1-D b one (K, 1) column, and an axis
 * missing or of size 1 in an operand gets batch stride 0. A matrix whose
 * rows or columns are unit-stride goes to gemm in place (a column-unit
 * matrix is a transposed row-major one); any other layout is gathered into
 * a contiguous scratch matrix first. */

typedef struct mm_operand {
    const char *base; /* element (0, ..., 0) */
    size_t esize;
    int64_t rows, cols;
    int64_t rs, cs;                /* strides of one matrix, in elements */
    int64_t bstride[TG_MAX_DIMS];  /* per result batch axis; 0: broadcast */
    bool trans;                    /* gemm reads it transposed */
    int64_t ld;
    void *scratch; /* rows x cols, when the layout does not suit gemm */
    size_t scratch_bytes;
    const char *gathered; /* the matrix now held in scratch */
} mm_operand;

/* Whether a rows x cols matrix at strides (rs, cs) is a row-major matrix
 * (trans false) or a transposed one (trans true) with leading dimension
 * *ld that gemm can read in place. */
static bool mm_gemm_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                           bool *trans, int64_t *ld)
{
    int64_t rmin = rows > 1 ? rows : 1, cmin = cols > 1 ? cols : 1;
    if ((cols <= 1 || cs == 1) && (rows <= 1 || rs >= cmin)) {
        *trans = false;
        *ld = rows <= 1 ? cmin : rs;
        return true;
    }
    if ((rows <= 1 || rs == 1) && (cols <= 1 || cs >= rmin)) {
        *trans = true;
        *ld = cols <= 1 ? rmin : cs;
        return true;
    }
    return false;
}

static void mm_operand_init(mm_operand *o, const tg_tensor *t, bool is_a,
                            int nbatch)
{
    int nd = t->ndim;
    o->esize = tg__dsize(t->dtype);
    o->base = (const char *)t->storage->data + t->offset * (int64_t)o->esize;
    if (nd == 1 && is_a) { /* (K,) -> (1, K) */
        o->rows = 1, o->cols = t->shape[0];
        o->rs = 0, o->cs = t->strides[0];
    } else if (nd == 1) { /* (K,) -> (K, 1) */
        o->rows = t->shape[0], o->cols = 1;
        o->rs = t->strides[0], o->cs = 0;
    } else {
        o->rows = t->shape[nd - 2], o->cols = t->shape[nd - 1];
        o->rs = t->strides[nd - 2], o->cs = t->strides[nd - 1];
    }
    int tb = nd > 2 ? nd - 2 : 0; /* t's batch axes, right-aligned */
    for (int i = 0; i < nbatch; i++) {
        int ax = i - (nbatch - tb);
        o->bstride[i] = ax >= 0 && t->shape[ax] != 1 ? t->strides[ax] : 0;
    }
    o->scratch = NULL;
    o->scratch_bytes = 0;
    o->gathered = NULL;
}

/* Copies a rows x cols matrix between two strided layouts. */
static void mm_copy_matrix(tg_dtype dt, int64_t rows, int64_t cols,
                           const void *src, int64_t srs, int64_t scs,
                           void *dst, int64_t drs, int64_t dcs)
{
    if (dt == TG_FLOAT32) {
        const float *s = src;
        float *d = dst;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                d[i * drs + j * dcs] = s[i * srs + j * scs];
    } else {
        const double *s = src;
        double *d = dst;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                d[i * drs + j * dcs] = s[i * srs + j * scs];
    }
}

/* Sets up o for gemm: in place when its layout allows, else with a scratch
 * matrix (filled per batch entry by mm_operand_matrix). */
static int mm_operand_prepare(const char *fn, mm_operand *o)
{
    if (mm_gemm_layout(o->rows, o->cols, o->rs, o->cs, &o->trans, &o->ld))
        return TG_OK;
    o->scratch_bytes = (size_t)(o->rows * o->cols) * o->esize;
    o->scratch = tg__alloc(o->scratch_bytes);
    if (!o->scratch)
        return tg__oom(fn);
    o->trans = false;
    o->ld = o->cols;
    return TG_OK;
}

/* The matrix of batch entry at element offset off, as gemm will read it. */
static const void *mm_operand_matrix(mm_operand *o, tg_dtype dt, int64_t off)
{
    const char *src = o->base + off * (int64_t)o->esize;
    if (!o->scratch)
        return src;
    if (src != o->gathered) { /* broadcast entries reuse the last gather */
        mm_copy_matrix(dt, o->rows, o->cols, src, o->rs, o->cs, o->scratch,
                       o->cols, 1);
        o->gathered = src;
    }
    return o->scratch;
}

/* Element offset of batch entry e (C order over shape) at the strides. */
static int64_t mm_batch_offset(int nbatch, const int64_t *shape,
                               const int64_t *strides, int64_t e)
{
    int64_t off = 0;
    for (int i = nbatch - 1; i >= 0; i--) {
        off += e % shape[i] * strides[i];
        e /= shape[i];
    }
    return off;
}

int tg__matmul_shape(const char *fn, const tg_tensor *a, const tg_tensor *b,
                     int *ndim, int64_t *shape)
{
    char s1[TG__SHAPE_BUF], s2[TG__SHAPE_BUF];
    if (!tg__is_float(a->dtype) || !tg__is_float(b->dtype))
        return tg__need_float(fn, tg__is_float(a->dtype) ? "b" : "a",
                              tg__is_float(a->dtype) ? b->dtype : a->dtype);
    if (a->dtype != b->dtype)
        return tg__fail(TG_ERR_DTYPE, fn,
                        "dtypes %s and %s differ (use %s)",
                        tg_dtype_name(a->dtype), tg_dtype_name(b->dtype),
                        tg__cast_hint(fn));
    if (a->ndim == 0 || b->ndim == 0)
        return tg__fail(TG_ERR_SHAPE, fn, "0-d operand (shapes %s and %s)",
                        tg__shape_fmt(a->ndim, a->shape, s1, sizeof s1),
                        tg__shape_fmt(b->ndim, b->shape, s2, sizeof s2));
    int64_t ka = a->shape[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    if (ka != kb)
        return tg__fail(TG_ERR_SHAPE, fn,
                        "inner sizes %lld and %lld differ (shapes %s and %s)",
                        (long long)ka, (long long)kb,
                        tg__shape_fmt(a->ndim, a->shape, s1, sizeof s1),
                        tg__shape_fmt(b->ndim, b->shape, s2, sizeof s2));
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nb = b->ndim > 2 ? b->ndim - 2 : 0;
    int nbatch = na > nb ? na : nb;
    for (int i = 0; i < nbatch; i++) {
        int ia = i - (nbatch - na), ib = i - (nbatch - nb);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1;
        int64_t sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return tg__fail(TG_ERR_SHAPE, fn,
                            "batch sizes %lld and %lld cannot be broadcast "
                            "(shapes %s and %s)",
                            (long long)sa, (long long)sb,
                            tg__shape_fmt(a->ndim, a->shape, s1, sizeof s1),
                            tg__shape_fmt(b->ndim, b->shape, s2, sizeof s2));
        shape[i] = sa == 1 ? sb : sa;
    }
    int nd = nbatch;
    if (a->ndim >= 2)
        shape[nd++] = a->shape[a->ndim - 2];
    if (b->ndim >= 2)
        shape[nd++] = b->shape[b->ndim - 1];
    *ndim = nd;
    return TG_OK;
}

static int mm_check_out(const char *fn, const tg_tensor *out, int ndim,
                        const int64_t *shape, tg_dtype dt)
{
    char s1[TG__SHAPE_BUF], s2[TG__SHAPE_BUF];
    if (out->dtype != dt)
        return tg__fail(TG_ERR_DTYPE, fn, "out has dtype %s, expected %s",
                        tg_dtype_name(out->dtype), tg_dtype_name(dt));
    bool same = out->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = out->shape[i] == shape[i];
    if (!same)
        return tg__fail(TG_ERR_SHAPE, fn, "out has shape %s, expected %s",
                        tg__shape_fmt(out->ndim, out->shape, s1, sizeof s1),
                        tg__shape_fmt(ndim, shape, s2, sizeof s2));
    return tg__check_writable(fn, "out", out);
}

/* Fills every element of out (any strides) with zero. */
static void mm_zero(tg_tensor *out)
{
    int64_t idx[TG_MAX_DIMS] = {0};
    for (int64_t e = 0; e < out->numel; e++) {
        int64_t pos = out->offset;
        for (int i = 0; i < out->ndim; i++)
            pos += idx[i] * out->strides[i];
        tg__store(out, pos, 0.0);
        for (int i = out->ndim - 1; i >= 0 && ++idx[i] == out->shape[i]; i--)
            idx[i] = 0;
    }
}

/* Whether batch entry e of a stack sits at e * rows * ld for every e, so
 * that the whole stack is one (count * rows)-row matrix of leading
 * dimension ld. Size-1 axes do not matter. */
static bool mm_rows_stack(int nbatch, const int64_t *shape,
                          const int64_t *bstride, int64_t rows, int64_t ld)
{
    int64_t want = rows * ld;
    for (int i = nbatch - 1; i >= 0; i--) {
        if (shape[i] == 1)
            continue;
        if (bstride[i] != want)
            return false;
        want *= shape[i];
    }
    return true;
}

/* Whether every batch entry of the stack is the same matrix. */
static bool mm_one_matrix(int nbatch, const int64_t *shape,
                          const int64_t *bstride)
{
    for (int i = 0; i < nbatch; i++)
        if (shape[i] != 1 && bstride[i] != 0)
            return false;
    return true;
}

static int matmul_checked(const char *fn, tg_tensor *out, const tg_tensor *a,
                          const tg_tensor *b);

static int run_matmul(tg__step *e) { return matmul_checked(e->fn, &e->out, &e->a, &e->b); }

int tg__matmul(const char *fn, tg_tensor *out, const tg_tensor *a,
               const tg_tensor *b)
{
    int rc;
    TG__TRACED_RC(rc, matmul_checked(fn, out, a, b), .run = run_matmul, .fn = fn,
                  .out = *out, .a = *a, .b = *b);
    return rc;
}

static int matmul_checked(const char *fn, tg_tensor *out, const tg_tensor *a,
                          const tg_tensor *b)
{
    int nd;
    int64_t shape[TG_MAX_DIMS];
    int rc = tg__matmul_shape(fn, a, b, &nd, shape);
    if (rc == TG_OK)
        rc = mm_check_out(fn, out, nd, shape, a->dtype);
    if (rc != TG_OK)
        return rc;
    if (out->numel == 0)
        return TG_OK;
    if (a->shape[a->ndim - 1] == 0) { /* empty sums */
        mm_zero(out);
        tg__touch(out);
        return TG_OK;
    }

    tg_dtype dt = a->dtype;
    int64_t es = (int64_t)tg__dsize(dt);
    int nbatch = nd - (a->ndim >= 2) - (b->ndim >= 2);
    mm_operand oa, ob;
    mm_operand_init(&oa, a, true, nbatch);
    mm_operand_init(&ob, b, false, nbatch);
    int64_t m = oa.rows, n = ob.cols, k = oa.cols;
    int64_t count = out->numel / (m * n); /* batch entries */
    /* out's matrix strides; an axis dropped by promotion has size 1. gemm
     * writes C row-major: any other out, or one that may overlap an input
     * (same storage), gets the result through a contiguous scratch. */
    int64_t crs = a->ndim >= 2 ? out->strides[nbatch] : 0;
    int64_t ccs = b->ndim >= 2 ? out->strides[nd - 1] : 0;
    bool c_trans = true;
    int64_t ldc = n;
    bool c_direct = out->storage != a->storage && out->storage != b->storage &&
                    mm_gemm_layout(m, n, crs, ccs, &c_trans, &ldc) && !c_trans;
    if (!c_direct)
        ldc = n;
    size_t c_bytes = c_direct ? 0 : (size_t)out->numel * (size_t)es;
    char *c_scratch = NULL;
    char *c_base = (char *)out->storage->data + out->offset * es;

    rc = mm_operand_prepare(fn, &oa);
    if (rc == TG_OK)
        rc = mm_operand_prepare(fn, &ob);
    if (rc == TG_OK && !c_direct && !(c_scratch = tg__alloc(c_bytes)))
        rc = tg__oom(fn);
    if (rc != TG_OK)
        goto done;

    /* A stack of row-major matrices times one shared matrix, (B, M, K) @
     * (K, N), is a single (B*M, K) @ (K, N) product when the stack's rows
     * are evenly spaced; one call lets gemm pack B once. */
    if (count > 1 && !oa.scratch && !oa.trans &&
        mm_one_matrix(nbatch, shape, ob.bstride) &&
        mm_rows_stack(nbatch, shape, oa.bstride, m, oa.ld) &&
        (!c_direct || mm_rows_stack(nbatch, shape, out->strides, m, ldc))) {
        tg__gemm(dt, false, ob.trans, count * m, n, k, 1.0, oa.base, oa.ld,
                 mm_operand_matrix(&ob, dt, 0), ob.ld, 0.0,
                 c_direct ? c_base : c_scratch, ldc);
    } else {
        for (int64_t e = 0; e < count; e++) {
            int64_t a_off = mm_batch_offset(nbatch, shape, oa.bstride, e);
            int64_t b_off = mm_batch_offset(nbatch, shape, ob.bstride, e);
            char *pc = c_direct ? c_base + mm_batch_offset(nbatch, shape,
                                                           out->strides, e) * es
                                : c_scratch + e * m * n * es;
            tg__gemm(dt, oa.trans, ob.trans, m, n, k, 1.0,
                     mm_operand_matrix(&oa, dt, a_off), oa.ld,
                     mm_operand_matrix(&ob, dt, b_off), ob.ld, 0.0, pc, ldc);
        }
    }
    for (int64_t e = 0; !c_direct && e < count; e++) {
        int64_t off = mm_batch_offset(nbatch, shape, out->strides, e);
        char *dst = c_base + off * es;
        mm_copy_matrix(dt, m, n, c_scratch + e * m * n * es, n, 1, dst, crs,
                       ccs);
    }
    tg__touch(out);
done:
    tg__dealloc(c_scratch, c_bytes);
    tg__dealloc(ob.scratch, ob.scratch_bytes);
    tg__dealloc(oa.scratch, oa.scratch_bytes);
    return rc;
}

/* ---- public ------------------------------------------------------------- */

tg_tensor *tg_matmul(const tg_tensor *a, const tg_tensor *b)
{
    if (!a || !b)
        return NULL;
    if (a->dtype != b->dtype && tg__is_float(a->dtype) && tg__is_float(b->dtype)) {
        /* float32 with float64: in float64, as NumPy */
        tg_tensor *wide = tg_cast(a->dtype == TG_FLOAT32 ? a : b, TG_FLOAT64);
        tg_tensor *out = wide ? tg_matmul(a->dtype == TG_FLOAT32 ? wide : a,
                                          b->dtype == TG_FLOAT32 ? wide : b)
                              : NULL;
        tg_free(wide);
        return out;
    }
    int nd;
    int64_t shape[TG_MAX_DIMS];
    if (tg__matmul_shape("tg_matmul", a, b, &nd, shape) != TG_OK)
        return NULL;
    tg_tensor *out = tg__new("tg_matmul", a->dtype, nd, shape);
    if (!out)
        return NULL;
    if (tg__matmul("tg_matmul", out, a, b) != TG_OK) {
        tg_free(out);
        return NULL;
    }
    return out;
}

int tg_matmul_into(tg_tensor *out, const tg_tensor *a, const tg_tensor *b)
{
    if (!out || !a || !b)
        return tg__fail(TG_ERR_NULL, "tg_matmul_into", "%s is NULL",
                        !out ? "out" : !a ? "a" : "b");
    return tg__matmul("tg_matmul_into", out, a, b);
}
