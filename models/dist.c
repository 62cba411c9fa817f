/* dist.c - data-parallel training over MPI (dist.h): the process group,
 * the broadcast of the parameters, and DistributedDataParallel's bucketed
 * gradient averaging, started from tg_backward_hooked as each bucket's
 * gradients are finished. Without TG_HAVE_MPI, or without mpirun, the
 * world is one process and nothing here calls MPI. */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TG_HAVE_MPI
#include <mpi.h>
#endif

#include "internal.h"

/* ---- the process group -------------------------------------------------------- */

static int g_rank = 0, g_world = 1;
static bool g_init = false; /* tg_dist_init ran */
#ifdef TG_HAVE_MPI
static bool g_mpi = false;  /* MPI is initialised and ours to use */
#endif

bool tg_dist_available(void)
{
#ifdef TG_HAVE_MPI
    return true;
#else
    return false;
#endif
}

/* The number of processes mpirun (Open MPI's, or a PMI launcher's) says
 * were started, or 0 when this process was not started by one. */
static long launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strtol(v, NULL, 10);
    }
    return 0;
}

#ifdef TG_HAVE_MPI
/* A failed MPI call as a tapegrad error naming fn and the call. */
static int mpi_fail(const char *fn, const char *call, int err)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(err, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", err);
    return tg__fail(TG_ERR_VALUE, fn, "%s failed: %s", call, text);
}
#endif

int tg_dist_init(int *argc, char ***argv)
{
    static const char fn[] = "tg_dist_init";
    if (g_init)
        return TG_OK;
    long size = launched_size();
    if (size <= 1) { /* not under mpirun, or a world of one: no MPI */
        g_init = true;
        return TG_OK;
    }
#ifdef TG_HAVE_MPI
    int started = 0, err;
    MPI_Initialized(&started);
    if (!started && (err = MPI_Init(argc, argv)) != MPI_SUCCESS)
        return mpi_fail(fn, "MPI_Init", err);
    /* Errors come back as codes (reported as tapegrad errors) instead of
     * MPI's default of aborting the job. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world);
    g_mpi = true;
    g_init = true;
    return TG_OK;
#else
    (void)argc;
    (void)argv;
    return tg__fail(TG_ERR_VALUE, fn,
                    "started by mpirun as one of %ld processes, but tapegrad was built "
                    "without MPI, so each would train alone (install libopenmpi-dev and "
                    "rebuild, or run without mpirun)", size);
#endif
}

int tg_dist_rank(void) { return g_rank; }
int tg_dist_world(void) { return g_world; }

int tg_dist_finalize(void)
{
#ifdef TG_HAVE_MPI
    if (g_mpi) {
        int err = MPI_Barrier(MPI_COMM_WORLD);
        int fin = MPI_Finalize();
        g_mpi = false;
        g_rank = 0;
        g_world = 1;
        if (err != MPI_SUCCESS)
            return mpi_fail("tg_dist_finalize", "MPI_Barrier", err);
        if (fin != MPI_SUCCESS)
            return mpi_fail("tg_dist_finalize", "MPI_Finalize", fin);
    }
#endif
    return TG_OK;
}

int tg_dist_abort(const char *program, const char *what, int code)
{
    fprintf(stderr, "%s: rank %d of %d: %s\n", program ? program : "tapegrad", g_rank,
            g_world, what ? what : tg_last_message());
    fflush(stderr);
#ifdef TG_HAVE_MPI
    if (g_mpi && g_world > 1)
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#endif
    return code;
}

/* ---- collectives ------------------------------------------------------------------ */

#ifdef TG_HAVE_MPI
/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211u;
    return h;
}

/* Broadcasts n bytes from rank 0 in pieces MPI's int count can hold. */
static int bcast_bytes(const char *fn, void *data, size_t n)
{
    unsigned char *p = data;
    while (n > 0) {
        int piece = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
        int err = MPI_Bcast(p, piece, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (err != MPI_SUCCESS)
            return mpi_fail(fn, "MPI_Bcast", err);
        p += piece;
        n -= (size_t)piece;
    }
    return TG_OK;
}
#endif

int tg_dist_broadcast(tg_params *ps)
{
    static const char fn[] = "tg_dist_broadcast";
    if (tgm__check_params(fn, ps, true))
        return tg_last_error();
#ifdef TG_HAVE_MPI
    if (!g_mpi || g_world == 1)
        return TG_OK;
    /* Every rank must hold the same list: compare a digest of the names,
     * dtypes and shapes, entry by entry, so the message can name the first
     * that differs. */
    for (int i = 0; i < ps->count; i++) {
        const tg_tensor *t = ps->tensors[i];
        uint64_t h = fnv(14695981039346656037u, ps->names[i], strlen(ps->names[i]));
        h = fnv(h, &t->dtype, sizeof t->dtype);
        h = fnv(h, t->shape, (size_t)t->ndim * sizeof *t->shape);
        uint64_t lo_hi[2] = {h, ~h}, got[2];
        int err = MPI_Allreduce(lo_hi, got, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
        if (err != MPI_SUCCESS)
            return mpi_fail(fn, "MPI_Allreduce", err);
        if (got[0] != h || ~got[1] != h)
            return tg__fail(TG_ERR_SHAPE, fn,
                            "entry %d ('%s') differs between the ranks (name, dtype or "
                            "shape): every rank must build the same model", i,
                            ps->names[i]);
    }
    uint64_t count = (uint64_t)ps->count, got[2], mine[2] = {count, ~count};
    int err = MPI_Allreduce(mine, got, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS)
        return mpi_fail(fn, "MPI_Allreduce", err);
    if (got[0] != count || ~got[1] != count)
        return tg__fail(TG_ERR_SHAPE, fn, "the ranks' lists have different lengths");
    for (int i = 0; i < ps->count; i++) {
        tg_tensor *t = ps->tensors[i];
        if (bcast_bytes(fn, tg_data(t), (size_t)t->numel * tg_dtype_size(t->dtype)))
            return tg_last_error();
        tg__touch(t);
    }
#endif
    return TG_OK;
}

int tg_dist_allreduce_sum(double *values, int n)
{
    static const char fn[] = "tg_dist_allreduce_sum";
    if (n < 0 || (n > 0 && !values))
        return tg__fail(n < 0 ? TG_ERR_VALUE : TG_ERR_NULL, fn,
                        n < 0 ? "negative count" : "values is NULL");
#ifdef TG_HAVE_MPI
    if (g_mpi && g_world > 1 && n > 0) {
        int err = MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (err != MPI_SUCCESS)
            return mpi_fail(fn, "MPI_Allreduce", err);
    }
#endif
    return TG_OK;
}

/* ---- gradient buckets --------------------------------------------------------------- */

typedef struct bucket {
    tg_dtype dt;
    int first, count; /* slots first .. first+count-1 */
    int64_t numel;    /* elements of all its gradients */
    void *buf;        /* numel elements of dt: the packed gradients */
    int waiting;      /* gradients of this backward not finished yet */
    bool started;     /* its all-reduce was started */
#ifdef TG_HAVE_MPI
    MPI_Request req;
#endif
} bucket;

struct tg_ddp {
    tg_params *ps;
    int nslots;                        /* the parameters (not the buffers) */
    tg_tensor *slot[TG_MAX_PARAMS];    /* in reverse order of ps */
    int64_t offset[TG_MAX_PARAMS];     /* slot's first element in its bucket */
    int slot_bucket[TG_MAX_PARAMS];
    int nb;
    bucket b[TG_MAX_PARAMS];
    int next;                          /* the next bucket to start */
    int rc;                            /* the first error of the hooks */
};

tg_ddp *tg_ddp_new(tg_params *ps, size_t bucket_bytes)
{
    static const char fn[] = "tg_ddp_new";
    if (tgm__check_params(fn, ps, true))
        return NULL;
    if (bucket_bytes == 0)
        bucket_bytes = TG_DDP_BUCKET_BYTES;
    tg_ddp *D = tg__alloc(sizeof *D);
    if (!D) {
        tg__oom(fn);
        return NULL;
    }
    memset(D, 0, sizeof *D);
    D->ps = ps;
    for (int i = ps->count - 1; i >= 0; i--) {
        if (ps->buffer[i])
            continue;
        tg_tensor *t = ps->tensors[i];
        if (!tg_dtype_is_float(t->dtype)) {
            tg__fail(TG_ERR_DTYPE, fn, "parameter '%s' is %s; gradients are float32 or "
                     "float64", ps->names[i], tg_dtype_name(t->dtype));
            tg_ddp_free(D);
            return NULL;
        }
        size_t esize = tg_dtype_size(t->dtype);
        bucket *cur = D->nb ? &D->b[D->nb - 1] : NULL;
        bool fits = cur && cur->dt == t->dtype &&
                    (size_t)(cur->numel + t->numel) * esize <= bucket_bytes &&
                    cur->numel + t->numel <= INT32_MAX;
        if (!fits) {
            if ((uint64_t)t->numel > INT32_MAX) {
                tg__fail(TG_ERR_OVERFLOW, fn, "parameter '%s' has %lld elements, more "
                         "than one MPI call moves", ps->names[i], (long long)t->numel);
                tg_ddp_free(D);
                return NULL;
            }
            cur = &D->b[D->nb++];
            cur->dt = t->dtype;
            cur->first = D->nslots;
        }
        D->slot[D->nslots] = t;
        D->offset[D->nslots] = cur->numel;
        D->slot_bucket[D->nslots] = D->nb - 1;
        cur->count++;
        cur->numel += t->numel;
        D->nslots++;
    }
    for (int k = 0; k < D->nb; k++) {
        bucket *bk = &D->b[k];
        bk->buf = tg__alloc((size_t)(bk->numel > 0 ? bk->numel : 1) * tg_dtype_size(bk->dt));
        if (!bk->buf) {
            tg__oom(fn);
            tg_ddp_free(D);
            return NULL;
        }
    }
    return D;
}

void tg_ddp_free(tg_ddp *D)
{
    if (!D)
        return;
    for (int k = 0; k < D->nb; k++)
        if (D->b[k].buf)
            tg__dealloc(D->b[k].buf,
                        (size_t)(D->b[k].numel > 0 ? D->b[k].numel : 1) *
                            tg_dtype_size(D->b[k].dt));
    tg__dealloc(D, sizeof *D);
}

int tg_ddp_buckets(const tg_ddp *D, size_t *bytes)
{
    if (!D)
        return -tg__fail(TG_ERR_NULL, "tg_ddp_buckets", "plan is NULL");
    if (bytes) {
        *bytes = 0;
        for (int k = 0; k < D->nb; k++)
            *bytes += (size_t)D->b[k].numel * tg_dtype_size(D->b[k].dt);
    }
    return D->nb;
}

/* The plan is for the list as it was: the same parameters, in place. */
static int check_plan(const char *fn, const tg_ddp *D)
{
    if (!D)
        return tg__fail(TG_ERR_NULL, fn, "plan is NULL");
    int s = D->nslots;
    for (int i = 0; i < D->ps->count; i++)
        if (!D->ps->buffer[i] && (--s < 0 || D->slot[s] != D->ps->tensors[i]))
            return tg__fail(TG_ERR_VALUE, fn, "the parameter list changed since tg_ddp_new "
                            "(entry %d); make a new plan", i);
    if (s != 0)
        return tg__fail(TG_ERR_VALUE, fn, "the parameter list changed since tg_ddp_new; "
                        "make a new plan");
    return TG_OK;
}

/* Copies bucket k's gradients into its buffer (zeros for a parameter
 * without one). */
static void pack(tg_ddp *D, int k)
{
    bucket *bk = &D->b[k];
    size_t esize = tg_dtype_size(bk->dt);
    for (int s = bk->first; s < bk->first + bk->count; s++) {
        tg_tensor *t = D->slot[s];
        void *dst = (char *)bk->buf + (size_t)D->offset[s] * esize;
        if (t->grad)
            memcpy(dst, tg_data(t->grad), (size_t)t->numel * esize);
        else
            memset(dst, 0, (size_t)t->numel * esize);
    }
}

/* Starts the all-reduces of the finished buckets, in bucket order (every
 * rank makes the collective calls in the same order). */
static void start_ready(tg_ddp *D, bool all)
{
    while (D->rc == TG_OK && D->next < D->nb && (all || D->b[D->next].waiting == 0)) {
        bucket *bk = &D->b[D->next++];
        pack(D, (int)(bk - D->b));
#ifdef TG_HAVE_MPI
        int err = MPI_Iallreduce(MPI_IN_PLACE, bk->buf, (int)bk->numel,
                                 bk->dt == TG_FLOAT32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM,
                                 MPI_COMM_WORLD, &bk->req);
        if (err != MPI_SUCCESS) {
            D->rc = mpi_fail("tg_ddp_backward", "MPI_Iallreduce", err);
            return;
        }
#endif
        bk->started = true;
    }
}

/* tg_backward_hooked's report: slot i's gradient is finished. */
static void on_ready(void *ctx, int i)
{
    tg_ddp *D = ctx;
    D->b[D->slot_bucket[i]].waiting--;
    start_ready(D, false);
}

/* Waits for every started all-reduce and writes sum / world into .grad. */
static int finish(tg_ddp *D, const char *fn)
{
    int rc = D->rc;
    for (int k = 0; k < D->nb; k++) {
        bucket *bk = &D->b[k];
        if (!bk->started)
            continue;
        bk->started = false;
#ifdef TG_HAVE_MPI
        int err = MPI_Wait(&bk->req, MPI_STATUS_IGNORE);
        if (err != MPI_SUCCESS && rc == TG_OK)
            rc = mpi_fail(fn, "MPI_Wait", err);
#endif
        if (rc != TG_OK)
            continue;
        if (bk->dt == TG_FLOAT32) {
            float *v = bk->buf, w = (float)g_world;
            for (int64_t j = 0; j < bk->numel; j++)
                v[j] /= w;
        } else {
            double *v = bk->buf, w = (double)g_world;
            for (int64_t j = 0; j < bk->numel; j++)
                v[j] /= w;
        }
        size_t esize = tg_dtype_size(bk->dt);
        for (int s = bk->first; s < bk->first + bk->count && rc == TG_OK; s++) {
            tg_tensor *t = D->slot[s];
            if (!t->grad) { /* first time, or not reached: made once, kept */
                t->grad = tg__new(fn, t->dtype, t->ndim, t->shape);
                if (!t->grad) {
                    rc = TG_ERR_NOMEM;
                    break;
                }
            }
            memcpy(tg_data(t->grad), (char *)bk->buf + (size_t)D->offset[s] * esize,
                   (size_t)t->numel * esize);
            tg__touch(t->grad);
        }
    }
    return rc;
}

int tg_ddp_backward(tg_ddp *D, tg_tape *T, tg_tensor *loss)
{
    static const char fn[] = "tg_ddp_backward";
    if (check_plan(fn, D))
        return tg_last_error();
    if (g_world == 1)
        return tg_backward(T, loss);
    for (int k = 0; k < D->nb; k++)
        D->b[k].waiting = D->b[k].count;
    D->next = 0;
    D->rc = TG_OK;
    int rc = tg_backward_hooked(T, loss, D->nslots, D->slot, on_ready, D);
    if (rc == TG_OK)
        start_ready(D, true); /* every slot was reported: all are started */
    else if (D->rc == TG_OK)
        D->rc = rc; /* wait for what was started, write nothing */
    int fin = finish(D, fn);
    return rc ? rc : fin;
}

int tg_ddp_sync(tg_ddp *D)
{
    static const char fn[] = "tg_ddp_sync";
    if (check_plan(fn, D))
        return tg_last_error();
    if (g_world == 1)
        return TG_OK;
    for (int k = 0; k < D->nb; k++)
        D->b[k].waiting = D->b[k].count;
    D->next = 0;
    D->rc = TG_OK;
    start_ready(D, true);
    return finish(D, fn);
}
