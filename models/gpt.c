/* gpt.c - a small GPT from modules: causal self-attention and the block
 * as module kinds of their own, the rest (embeddings, layer norms, Linear
 * - the head without a bias - GELU, Dropout) the built-in modules of
 * module.c. Every forward is a composition of tape ops, so there is no
 * backward here. The interface is described in gpt.h. */
#include "gpt.h"

#include <math.h>
#include <string.h>

#include "internal.h"
#include "loss.h"

/* A new zeroed module of kind, size bytes (a struct starting with a
 * tg_module), or NULL (errors under fn). */
static void *new_module(const char *fn, const tg_module_kind *kind, size_t size)
{
    tg_module *m = tg__alloc(size);
    if (!m) {
        tg__oom(fn);
        return NULL;
    }
    memset(m, 0, size);
    tg_module_init(m, kind);
    return m;
}

/* ---- causal self-attention -------------------------------------------------- */

typedef struct attn_module {
    tg_module base;
    int64_t n_embd, n_head;
    tg_module *c_attn, *c_proj;
    tg_module *attn_dropout, *resid_dropout; /* NULL without dropout */
    tg_tensor *mask; /* (context, context) bool: true above the diagonal */
} attn_module;

/* x (B, T, C) -> (B, T, C). The heads are axis 1 of (B, n_head, T, hs);
 * position i attends to positions j <= i. */
static tg_tensor *attn_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    attn_module *a = (attn_module *)m;
    const char *fn = "CausalSelfAttention";
    int64_t C = a->n_embd, nh = a->n_head, hs = C / nh;
    if (tg_ndim(x) != 3 || tg_size(x, 2) != C || tg_size(x, 1) > tg_size(a->mask, 0)) {
        char buf[TG__SHAPE_BUF];
        tg__fail(TG_ERR_SHAPE, fn, "x has shape %s; expected (B, T, %lld) with T <= %lld",
                 tg__shape_fmt(tg_ndim(x), tg_shape(x), buf, sizeof buf), (long long)C,
                 (long long)tg_size(a->mask, 0));
        return NULL;
    }
    int64_t B = tg_size(x, 0), L = tg_size(x, 1);
    tg_tensor *qkv = tg_module_forward(T, a->c_attn, x); /* (B, T, 3C) */
    if (!qkv)
        return NULL;
    tg_tensor *part[3];
    if (tg_ad_split(T, qkv, 2, 3, (const int64_t[]){C, C, C}, part))
        return NULL;
    const int64_t heads[4] = {B, L, nh, hs};
    tg_tensor *q = tg_ad_permute(T, tg_ad_reshape(T, part[0], 4, heads), (const int[]){0, 2, 1, 3});
    tg_tensor *kt = tg_ad_permute(T, tg_ad_reshape(T, part[1], 4, heads), (const int[]){0, 2, 3, 1});
    tg_tensor *v = tg_ad_permute(T, tg_ad_reshape(T, part[2], 4, heads), (const int[]){0, 2, 1, 3});
    /* (B, nh, T, T): q k^T / sqrt(hs), -inf where j > i, softmax over j */
    tg_tensor *att = tg_ad_mul_scalar(T, tg_ad_matmul(T, q, kt), 1.0 / sqrt((double)hs));
    tg_tensor *mask = tg_ad_slice(T, tg_ad_slice(T, a->mask, 0, 0, L, 1), 1, 0, L, 1);
    att = tg_ad_softmax(T, tg_ad_masked_fill(T, att, mask, -(double)INFINITY), -1);
    if (a->attn_dropout)
        att = tg_module_forward(T, a->attn_dropout, att);
    tg_tensor *y = tg_ad_matmul(T, att, v); /* (B, nh, T, hs) */
    y = tg_ad_reshape(T, tg_ad_permute(T, y, (const int[]){0, 2, 1, 3}), 3,
                      (const int64_t[]){B, L, C});
    y = tg_module_forward(T, a->c_proj, y);
    if (a->resid_dropout)
        y = tg_module_forward(T, a->resid_dropout, y);
    return y;
}

static void attn_describe(const tg_module *m, char *buf, size_t size)
{
    const attn_module *a = (const attn_module *)m;
    snprintf(buf, size, "CausalSelfAttention(%lld, heads=%lld)", (long long)a->n_embd,
             (long long)a->n_head);
}

static void attn_release(tg_module *m)
{
    tg_free(((attn_module *)m)->mask);
    tg__dealloc(m, sizeof(attn_module));
}

static const tg_module_kind attn_kind = {
    .name = "CausalSelfAttention", .forward = attn_forward, .describe = attn_describe,
    .release = attn_release,
};

/* ---- the block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) -------------------- */

typedef struct block_module {
    tg_module base;
    tg_module *ln_1, *attn, *ln_2, *mlp;
} block_module;

static tg_tensor *block_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    block_module *b = (block_module *)m;
    x = tg_ad_add(T, x, tg_module_forward(T, b->attn, tg_module_forward(T, b->ln_1, x)));
    return tg_ad_add(T, x, tg_module_forward(T, b->mlp, tg_module_forward(T, b->ln_2, x)));
}

static void block_release(tg_module *m)
{
    tg__dealloc(m, sizeof(block_module));
}

static const tg_module_kind block_kind = {
    .name = "Block", .forward = block_forward, .release = block_release,
};

/* ---- the model ----------------------------------------------------------------- */

typedef struct gpt_module {
    tg_module base;
    tg_gpt_config cfg;
    tg_module *wte, *wpe, *drop, *h, *ln_f, *lm_head; /* drop NULL without dropout */
    tg_tensor *pos;  /* (context,) int64: 0, 1, ..., context-1 */
    tg_rng drop_rng; /* the dropout masks' draws */
} gpt_module;

/* Checks tokens (B, T) of an integer dtype, 1 <= T <= context, each in
 * [0, vocab): the embedding would take a negative one from the end. */
static int check_tokens(const char *fn, const tg_gpt_config *c, const tg_tensor *x)
{
    char buf[TG__SHAPE_BUF];
    tg_dtype dt = tg_dtype_of(x);
    if (dt != TG_INT64 && dt != TG_INT32)
        return tg__fail(TG_ERR_DTYPE, fn, "tokens are %s; int64 or int32 expected",
                        tg_dtype_name(dt));
    if (tg_ndim(x) != 2 || tg_size(x, 1) < 1)
        return tg__fail(TG_ERR_SHAPE, fn, "tokens have shape %s; expected (B, T) with T >= 1",
                        tg__shape_fmt(tg_ndim(x), tg_shape(x), buf, sizeof buf));
    if (tg_size(x, 1) > c->context)
        return tg__fail(TG_ERR_SHAPE, fn, "tokens have shape %s: %lld positions, but the "
                        "context is %lld", tg__shape_fmt(tg_ndim(x), tg_shape(x), buf, sizeof buf),
                        (long long)tg_size(x, 1), (long long)c->context);
    const int64_t *st = tg_strides(x);
    const char *base = tg_data(x);
    size_t es = tg_dtype_size(dt);
    for (int64_t i = 0; i < tg_size(x, 0); i++)
        for (int64_t j = 0; j < tg_size(x, 1); j++) {
            const char *p = base + (i * st[0] + j * st[1]) * (int64_t)es;
            int64_t v;
            if (dt == TG_INT64)
                memcpy(&v, p, sizeof v);
            else {
                int32_t v32;
                memcpy(&v32, p, sizeof v32);
                v = v32;
            }
            if (v < 0 || v >= c->vocab_size)
                return tg__fail(TG_ERR_INDEX, fn, "token %lld at (%lld, %lld) is outside "
                                "[0, %lld)", (long long)v, (long long)i, (long long)j,
                                (long long)c->vocab_size);
        }
    return TG_OK;
}

/* tokens (B, T) -> logits (B, T, vocab) */
static tg_tensor *gpt_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    gpt_module *g = (gpt_module *)m;
    if (check_tokens("GPT", &g->cfg, x))
        return NULL;
    tg_tensor *pos = tg_ad_slice(T, g->pos, 0, 0, tg_size(x, 1), 1);
    tg_tensor *h = tg_ad_add(T, tg_module_forward(T, g->wte, x), /* (B, T, C) */
                             tg_module_forward(T, g->wpe, pos)); /* + (T, C) */
    if (g->drop)
        h = tg_module_forward(T, g->drop, h);
    h = tg_module_forward(T, g->ln_f, tg_module_forward(T, g->h, h));
    return tg_module_forward(T, g->lm_head, h);
}

static void gpt_describe(const tg_module *m, char *buf, size_t size)
{
    const tg_gpt_config *c = &((const gpt_module *)m)->cfg;
    snprintf(buf, size, "GPT(vocab=%lld, context=%lld, layers=%d, heads=%d, embd=%lld)",
             (long long)c->vocab_size, (long long)c->context, c->n_layer, c->n_head,
             (long long)c->n_embd);
}

static void gpt_release(tg_module *m)
{
    tg_free(((gpt_module *)m)->pos);
    tg__dealloc(m, sizeof(gpt_module));
}

static const tg_module_kind gpt_kind = {
    .name = "GPT", .forward = gpt_forward, .describe = gpt_describe, .release = gpt_release,
};

/* The first bad field of c, reported under fn, or TG_OK. */
static int check_config(const char *fn, const tg_gpt_config *c)
{
    if (!c)
        return tg__fail(TG_ERR_NULL, fn, "config is NULL");
    if (c->vocab_size < 1)
        return tg__fail(TG_ERR_VALUE, fn, "vocab_size %lld: it must be >= 1",
                        (long long)c->vocab_size);
    if (c->context < 1)
        return tg__fail(TG_ERR_VALUE, fn, "context %lld: it must be >= 1",
                        (long long)c->context);
    if (c->n_embd < 1)
        return tg__fail(TG_ERR_VALUE, fn, "n_embd %lld: it must be >= 1",
                        (long long)c->n_embd);
    if (c->n_head < 1 || c->n_embd % c->n_head)
        return tg__fail(TG_ERR_VALUE, fn, "n_head %d: it must be >= 1 and divide n_embd "
                        "%lld", c->n_head, (long long)c->n_embd);
    int most = (TG_MAX_PARAMS - 5) / 12;
    if (c->n_layer < 0 || c->n_layer > most)
        return tg__fail(TG_ERR_VALUE, fn, "n_layer %d: 0 to %d (a layer has 12 parameter "
                        "tensors, the model 5 more, and a tg_params list holds %d)",
                        c->n_layer, most, TG_MAX_PARAMS);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return tg__fail(TG_ERR_VALUE, fn, "dropout %g: it must be in [0, 1)", c->dropout);
    if (c->dtype != TG_FLOAT32 && c->dtype != TG_FLOAT64)
        return tg__fail(TG_ERR_DTYPE, fn, "dtype %s: float32 or float64 only",
                        tg__valid_dtype(c->dtype) ? tg_dtype_name(c->dtype) : "unknown");
    /* sizes whose products would overflow: far beyond any memory anyway */
    if (c->vocab_size > (INT64_C(1) << 31) || c->context > (INT64_C(1) << 20) ||
        c->n_embd > (INT64_C(1) << 20))
        return tg__fail(TG_ERR_VALUE, fn, "vocab_size %lld, context %lld, n_embd %lld: too "
                        "large", (long long)c->vocab_size, (long long)c->context,
                        (long long)c->n_embd);
    return TG_OK;
}

static tg_module *new_dropout(const gpt_module *g, tg_rng *rng)
{
    return g->cfg.dropout > 0 ? tg_nn_dropout(g->cfg.dropout, rng) : NULL;
}

static tg_module *new_attention(const char *fn, gpt_module *g)
{
    const tg_gpt_config *c = &g->cfg;
    attn_module *a = new_module(fn, &attn_kind, sizeof *a);
    if (!a)
        return NULL;
    a->n_embd = c->n_embd;
    a->n_head = c->n_head;
    int64_t L = c->context;
    a->mask = tg_empty(TG_BOOL, 2, (const int64_t[]){L, L});
    if (!a->mask) {
        tg_module_free(&a->base);
        return NULL;
    }
    bool *mk = tg_data(a->mask);
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < L; j++)
            mk[i * L + j] = j > i;
    tg_module *self = &a->base;
    if (!(a->c_attn = tg_module_add(self, "c_attn", tg_nn_linear(c->n_embd, 3 * c->n_embd,
                                                                 c->dtype, NULL))) ||
        !(a->c_proj = tg_module_add(self, "c_proj", tg_nn_linear(c->n_embd, c->n_embd,
                                                                 c->dtype, NULL))) ||
        (c->dropout > 0 &&
         (!(a->attn_dropout = tg_module_add(self, "attn_dropout", new_dropout(g, &g->drop_rng))) ||
          !(a->resid_dropout = tg_module_add(self, "resid_dropout",
                                             new_dropout(g, &g->drop_rng)))))) {
        tg_module_free(self);
        return NULL;
    }
    return self;
}

static tg_module *new_block(const char *fn, gpt_module *g)
{
    const tg_gpt_config *c = &g->cfg;
    block_module *b = new_module(fn, &block_kind, sizeof *b);
    if (!b)
        return NULL;
    tg_module *self = &b->base;
    const int64_t C = c->n_embd;
    bool drop = c->dropout > 0;
    const char *mlp_names[] = {"c_fc", "gelu", "c_proj", "dropout"};
    tg_module *mlp_parts[] = {tg_nn_linear(C, 4 * C, c->dtype, NULL), tg_nn_gelu(),
                              tg_nn_linear(4 * C, C, c->dtype, NULL),
                              drop ? new_dropout(g, &g->drop_rng) : NULL};
    tg_module *mlp = tg_nn_sequential_named(drop ? 4 : 3, mlp_names, mlp_parts);
    if (!drop)
        tg_module_free(mlp_parts[3]); /* NULL: nothing */
    if (!(b->ln_1 = tg_module_add(self, "ln_1", tg_nn_layer_norm(1, &C, c->dtype))) ||
        !(b->attn = tg_module_add(self, "attn", new_attention(fn, g))) ||
        !(b->ln_2 = tg_module_add(self, "ln_2", tg_nn_layer_norm(1, &C, c->dtype))) ||
        !(b->mlp = tg_module_add(self, "mlp", mlp))) {
        if (!b->ln_2) /* mlp was not given to the block yet: free it here */
            tg_module_free(mlp);
        tg_module_free(self);
        return NULL;
    }
    return self;
}

tg_module *tg_gpt_new(const tg_gpt_config *cfg, tg_rng *rng)
{
    const char *fn = "tg_gpt_new";
    if (check_config(fn, cfg))
        return NULL;
    gpt_module *g = new_module(fn, &gpt_kind, sizeof *g);
    if (!g)
        return NULL;
    g->cfg = *cfg;
    tg_rng_seed(&g->drop_rng, cfg->dropout_seed);
    tg_module *self = &g->base;
    const int64_t C = cfg->n_embd;
    g->pos = tg_arange(TG_INT64, 0, (double)cfg->context, 1);
    if (!g->pos)
        goto fail;
    /* The layers are made with placeholder parameters (rng NULL), all
     * drawn anew below. */
    if (!(g->wte = tg_module_add(self, "wte", tg_nn_embedding(cfg->vocab_size, C, cfg->dtype,
                                                               NULL))) ||
        !(g->wpe = tg_module_add(self, "wpe", tg_nn_embedding(cfg->context, C, cfg->dtype,
                                                               NULL))))
        goto fail;
    if (cfg->dropout > 0 && !(g->drop = tg_module_add(self, "drop",
                                                      new_dropout(g, &g->drop_rng))))
        goto fail;
    if (!(g->h = tg_module_add(self, "h", tg_nn_sequential(0, NULL))))
        goto fail;
    for (int i = 0; i < cfg->n_layer; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        if (!tg_module_add(g->h, name, new_block(fn, g)))
            goto fail;
    }
    if (!(g->ln_f = tg_module_add(self, "ln_f", tg_nn_layer_norm(1, &C, cfg->dtype))) ||
        !(g->lm_head = tg_module_add(self, "lm_head", tg_nn_linear_ex(C, cfg->vocab_size, false,
                                                                      cfg->dtype, NULL))))
        goto fail;
    tg_rng local;
    if (!rng) {
        tg_rng_seed(&local, 0);
        rng = &local;
    }
    if (tg_gpt_init_weights(self, rng))
        goto fail;
    return self;
fail:
    tg_module_free(self);
    return NULL;
}

const tg_gpt_config *tg_gpt_config_of(const tg_module *gpt)
{
    if (!gpt) {
        tg__fail(TG_ERR_NULL, "tg_gpt_config_of", "module is NULL");
        return NULL;
    }
    if (gpt->kind != &gpt_kind) {
        tg__fail(TG_ERR_VALUE, "tg_gpt_config_of", "the module is a %s, not a GPT",
                 gpt->kind && gpt->kind->name ? gpt->kind->name : "module of no kind");
        return NULL;
    }
    return &((const gpt_module *)gpt)->cfg;
}

/* Whether name ends with suffix. */
static bool ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

int tg_gpt_init_weights(tg_module *gpt, tg_rng *rng)
{
    const char *fn = "tg_gpt_init_weights";
    const tg_gpt_config *c = tg_gpt_config_of(gpt);
    if (!c)
        return tg_last_error();
    if (!rng)
        return tg__fail(TG_ERR_NULL, fn, "rng is NULL");
    tg_params ps;
    ps.count = 0;
    int rc = tg_module_params(gpt, &ps);
    if (rc)
        return rc;
    const double proj_std = c->n_layer ? 0.02 / sqrt(2.0 * c->n_layer) : 0.02;
    for (int i = 0; i < ps.count; i++) {
        const char *name = ps.names[i];
        tg_tensor *t = ps.tensors[i];
        int64_t n = tg_numel(t);
        if (ends_with(name, ".bias") || strstr(name, "ln_")) {
            rc = tg_fill(t, ends_with(name, ".bias") ? 0.0 : 1.0);
            if (rc)
                return rc;
            continue;
        }
        double std = ends_with(name, "c_proj.weight") ? proj_std : 0.02;
        if (c->dtype == TG_FLOAT64) {
            double *d = tg_data(t);
            for (int64_t k = 0; k < n; k++)
                d[k] = tg_rng_normal(rng) * std;
        } else {
            float *f = tg_data(t);
            for (int64_t k = 0; k < n; k++)
                f[k] = (float)(tg_rng_normal(rng) * std);
        }
    }
    return TG_OK;
}

/* ---- the loss and sampling ------------------------------------------------------ */

tg_tensor *tg_gpt_loss(tg_tape *T, tg_tensor *logits, tg_tensor *targets)
{
    const char *fn = "tg_gpt_loss";
    if (!logits)
        return NULL;
    if (!targets) {
        tg__fail(TG_ERR_NULL, fn, "targets is NULL");
        return NULL;
    }
    char b1[TG__SHAPE_BUF], b2[TG__SHAPE_BUF];
    if (tg_ndim(logits) != 3 || tg_ndim(targets) != 2 ||
        tg_size(logits, 0) != tg_size(targets, 0) || tg_size(logits, 1) != tg_size(targets, 1)) {
        tg__fail(TG_ERR_SHAPE, fn, "logits %s and targets %s; expected (B, T, vocab) and (B, T)",
                 tg__shape_fmt(tg_ndim(logits), tg_shape(logits), b1, sizeof b1),
                 tg__shape_fmt(tg_ndim(targets), tg_shape(targets), b2, sizeof b2));
        return NULL;
    }
    int64_t n = tg_size(logits, 0) * tg_size(logits, 1), V = tg_size(logits, 2);
    /* targets are not differentiated: their reshape records nothing, and
     * the view is T's until its next reset. */
    tg_tensor *flat = tg_ad_reshape(T, targets, 1, &n);
    tg_tensor *rows = tg_ad_reshape(T, logits, 2, (const int64_t[]){n, V});
    tg_tensor *loss = flat && rows ? tg_cross_entropy(T, rows, flat, NULL) : NULL;
    if (!T) { /* caller-owned views */
        tg_free(flat);
        tg_free(rows);
    }
    return loss;
}

/* The index of the token to emit from logits[0..V) (one row, as doubles in
 * probs, overwritten), by temperature and top_k; u is a uniform draw. */
static int64_t pick(double *probs, int64_t V, double temperature, int64_t top_k, double u)
{
    int64_t best = 0;
    for (int64_t k = 1; k < V; k++)
        if (probs[k] > probs[best])
            best = k;
    if (temperature == 0)
        return best;
    double cut = -(double)INFINITY; /* the top_k-th largest logit */
    if (top_k > 0 && top_k < V) {
        /* k passes of "the largest below the last": V * k, small */
        double last = (double)INFINITY;
        int64_t taken = 0;
        while (taken < top_k) {
            double m = -(double)INFINITY;
            int64_t count = 0;
            for (int64_t k = 0; k < V; k++)
                if (probs[k] < last && probs[k] > m)
                    m = probs[k];
            for (int64_t k = 0; k < V; k++)
                count += probs[k] == m;
            if (count == 0)
                break;
            taken += count;
            last = cut = m;
        }
    }
    double top = probs[best], sum = 0;
    for (int64_t k = 0; k < V; k++) {
        probs[k] = probs[k] >= cut ? exp((probs[k] - top) / temperature) : 0.0;
        sum += probs[k];
    }
    double target = u * sum, run = 0;
    for (int64_t k = 0; k < V; k++) {
        run += probs[k];
        if (probs[k] > 0 && target < run)
            return k;
    }
    return best; /* rounding at the very end of the sum */
}

int tg_gpt_generate(tg_module *gpt, const int64_t *prompt, int64_t n_prompt, int64_t n_new,
                    double temperature, int64_t top_k, tg_rng *rng, int64_t *out)
{
    const char *fn = "tg_gpt_generate";
    const tg_gpt_config *c = tg_gpt_config_of(gpt);
    if (!c)
        return tg_last_error();
    if (!prompt || !out || !rng)
        return tg__fail(TG_ERR_NULL, fn, "%s is NULL", !prompt ? "prompt" : !out ? "out" : "rng");
    if (n_prompt < 1 || n_new < 0 || n_prompt > INT64_MAX - n_new)
        return tg__fail(TG_ERR_VALUE, fn, "n_prompt %lld and n_new %lld: the prompt needs a "
                        "token, n_new must be >= 0", (long long)n_prompt, (long long)n_new);
    if (!(temperature >= 0 && isfinite(temperature)))
        return tg__fail(TG_ERR_VALUE, fn, "temperature %g: it must be finite and >= 0",
                        temperature);
    for (int64_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= c->vocab_size)
            return tg__fail(TG_ERR_INDEX, fn, "prompt token %lld at %lld is outside [0, %lld)",
                            (long long)prompt[i], (long long)i, (long long)c->vocab_size);
    const int64_t L = c->context, V = c->vocab_size;
    tg_tensor *window = tg_zeros(TG_INT64, 2, (const int64_t[]){1, L});
    double *probs = tg__alloc((size_t)V * sizeof *probs);
    tg_tape *T = tg_tape_new();
    int rc = TG_OK;
    if (!window || !probs || !T) {
        rc = window && T ? tg__oom(fn) : tg_last_error();
        goto done;
    }
    bool training = gpt->training;
    tg_module_train(gpt, false);
    tg_tape_pause(T, true);
    if (out != prompt)
        memmove(out, prompt, (size_t)n_prompt * sizeof *out);
    int64_t *w = tg_data(window);
    for (int64_t n = n_prompt; n < n_prompt + n_new && !rc; n++) {
        int64_t len = n < L ? n : L;
        memcpy(w, out + n - len, (size_t)len * sizeof *w);
        if ((rc = tg_tape_reset(T)))
            break;
        tg_tape_pause(T, true);
        tg_tensor *x = tg_ad_slice(T, window, 1, 0, len, 1);
        tg_tensor *logits = tg_module_forward(T, gpt, x); /* (1, len, V) */
        tg_tensor *last = tg_ad_cast(T, tg_ad_slice(T, logits, 1, len - 1, len, 1), TG_FLOAT64);
        if (!last) {
            rc = tg_last_error();
            break;
        }
        tg_tensor *row = tg_ad_reshape(T, last, 1, &V);
        if (!row) {
            rc = tg_last_error();
            break;
        }
        const double *lg = tg_data(row);
        for (int64_t k = 0; k < V; k++)
            probs[k] = lg[k * tg_strides(row)[0]];
        out[n] = pick(probs, V, temperature, top_k, temperature > 0 ? tg_rng_random(rng) : 0);
    }
    tg_module_train(gpt, training);
done:
    tg_tape_free(T);
    tg__dealloc(probs, probs ? (size_t)V * sizeof *probs : 0);
    tg_free(window);
    return rc;
}
