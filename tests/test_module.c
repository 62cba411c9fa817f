/* test_module.c - the module tree of models/module.h: a sequential MLP
 * that computes what tg_mlp computes bit for bit (forward and gradients),
 * dotted names in PyTorch's state_dict order through nested containers
 * and a module of the test's own, buffers, the train/eval switch reaching
 * every batch norm and dropout, the parameter count, the summary (its
 * table, and that it changes nothing), save/load through the names, no
 * allocation per training step, ownership on every failure path (the
 * leak-checking fixture sees any block left), allocation failures at
 * every allocation of building a model, and bad input. The layers inside
 * have their own suites (test_nn, test_cnn); here the tree is checked. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define F64 TG_FLOAT64
#define F32 TG_FLOAT32

static bool same_bits(const tg_tensor *a, const tg_tensor *b)
{
    return a && b && tg_dtype_of(a) == tg_dtype_of(b) && tg_numel(a) == tg_numel(b) &&
           tg_is_contiguous(a) && tg_is_contiguous(b) &&
           memcmp(tg_data(a), tg_data(b),
                  (size_t)tg_numel(a) * tg_dtype_size(tg_dtype_of(a))) == 0;
}

/* A small CNN as fashion_cnn builds it, scaled down: conv(1->4, 3x3, pad
 * 1) BN ReLU maxpool(2) flatten linear(4*4*4 -> 5) ReLU dropout linear(5 ->
 * 3), for (N, 1, 8, 8) inputs; drawn from rng in the tree's order. */
static tg_module *small_cnn(tg_rng *rng, tg_dtype dt)
{
    tg_conv_args a = TG_CONV_ARGS;
    a.padding[0] = a.padding[1] = 1;
    tg_module *m = tg_nn_sequential(9, (tg_module *[]){
        tg_nn_conv2d(1, 4, (const int64_t[]){3, 3}, &a, true, dt, NULL),
        tg_nn_batch_norm2d(4, dt),
        tg_nn_relu(),
        tg_nn_max_pool2d((const int64_t[]){2, 2}, NULL, NULL),
        tg_nn_flatten(),
        tg_nn_linear(64, 5, dt, NULL),
        tg_nn_relu(),
        tg_nn_dropout(0.25, rng),
        tg_nn_linear(5, 3, dt, NULL),
    });
    if (m && tg_module_reset_parameters(m, rng)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

/* ---- the sequential MLP is tg_mlp -------------------------------------------- */

START_TEST(test_sequential_equals_mlp)
{
    tg_rng r1, r2;
    tg_rng_seed(&r1, 7);
    tg_rng_seed(&r2, 7);
    tg_mlp mlp;
    ck_assert_int_eq(tg_mlp_init(&mlp, 4, (const int64_t[]){6, 5, 4, 3}, TG_ACT_TANH,
                                 F64, &r1), TG_OK);
    /* Built with rng NULL, then drawn in the tree's order: the same draws
     * as tg_mlp_init's, whatever order C evaluated the list in. */
    tg_module *seq = tg_nn_sequential(5, (tg_module *[]){
        tg_nn_linear(6, 5, F64, NULL), tg_nn_tanh(),
        tg_nn_linear(5, 4, F64, NULL), tg_nn_tanh(),
        tg_nn_linear(4, 3, F64, NULL)});
    ck_assert_ptr_nonnull(seq);
    ck_assert_int_eq(tg_module_reset_parameters(seq, &r2), TG_OK);
    ck_assert_int_eq(seq->nchildren, 5);

    tg_params pm = {0}, ps = {0};
    ck_assert_int_eq(tg_mlp_params(&mlp, &pm), TG_OK);
    ck_assert_int_eq(tg_module_params(seq, &ps), TG_OK);
    const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight",
                           "4.bias"};
    ck_assert_int_eq(ps.count, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_str_eq(ps.names[i], names[i]);
        ck_assert(!ps.buffer[i]);
        ck_assert(tg_requires_grad_of(ps.tensors[i]));
        ck_assert(same_bits(ps.tensors[i], pm.tensors[i])); /* the same draws */
    }
    ck_assert_int_eq(tg_module_num_params(seq), 6 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3);

    tg_rng rx;
    tg_rng_seed(&rx, 1);
    tg_tensor *x = tg_randn(&rx, F64, 2, (const int64_t[]){7, 6});
    ck_assert_ptr_nonnull(x);
    tg_tape *T = tg_tape_new();
    tg_tensor *ym = tg_mlp_forward(T, &mlp, x);
    tg_tensor *ys = tg_module_forward(T, seq, x);
    ck_assert(same_bits(ym, ys));
    /* Each output's own sum of squares: the same gradient on both sides. */
    tg_tensor *loss = tg_ad_add(T, tg_ad_sum(T, tg_ad_mul(T, ym, ym)),
                                tg_ad_sum(T, tg_ad_mul(T, ys, ys)));
    ck_assert_int_eq(tg_backward(T, loss), TG_OK);
    for (int i = 0; i < 6; i++)
        ck_assert(same_bits(tg_grad(ps.tensors[i]), tg_grad(pm.tensors[i])));

    tg_tape_free(T);
    tg_free(x);
    tg_mlp_free(&mlp);
    tg_module_free(seq);
}
END_TEST

START_TEST(test_reset_parameters_order)
{
    /* Layers made one statement at a time from a seeded rng... */
    tg_rng r1, r2;
    tg_rng_seed(&r1, 21);
    tg_rng_seed(&r2, 21);
    tg_conv_args a = TG_CONV_ARGS;
    tg_module *c1 = tg_nn_conv2d(2, 3, (const int64_t[]){3, 3}, &a, true, F32, &r1);
    tg_module *c2 = tg_nn_conv2d(3, 2, (const int64_t[]){1, 2}, &a, false, F32, &r1);
    tg_module *l1 = tg_nn_linear(4, 2, F32, &r1);
    tg_module *stmt = tg_nn_sequential(3, (tg_module *[]){c1, c2, l1});
    /* ...equal a model drawn afterwards by tg_module_reset_parameters. */
    tg_module *later = tg_nn_sequential(3, (tg_module *[]){
        tg_nn_conv2d(2, 3, (const int64_t[]){3, 3}, &a, true, F32, NULL),
        tg_nn_conv2d(3, 2, (const int64_t[]){1, 2}, &a, false, F32, NULL),
        tg_nn_linear(4, 2, F32, NULL)});
    ck_assert(stmt && later);
    tg_params p1 = {0}, p2 = {0};
    ck_assert_int_eq(tg_module_params(stmt, &p1), TG_OK);
    ck_assert_int_eq(tg_module_params(later, &p2), TG_OK);
    ck_assert_int_eq(p1.count, 5);
    ck_assert(!same_bits(p1.tensors[0], p2.tensors[0])); /* seed 0 placeholders */
    ck_assert_int_eq(tg_module_reset_parameters(later, &r2), TG_OK);
    for (int i = 0; i < p1.count; i++)
        ck_assert_msg(same_bits(p1.tensors[i], p2.tensors[i]), "entry %s", p1.names[i]);
    /* The generators are at the same place after. */
    ck_assert(tg_rng_random(&r1) == tg_rng_random(&r2));
    ck_assert_int_eq(tg_module_reset_parameters(later, NULL), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_module_reset_parameters: rng is NULL");
    ck_assert_int_eq(tg_module_reset_parameters(NULL, &r2), TG_ERR_NULL);
    tg_module_free(stmt);
    tg_module_free(later);
}
END_TEST

START_TEST(test_embedding_and_linear_nd)
{
    tg_rng rng, r2;
    tg_rng_seed(&rng, 31);
    tg_rng_seed(&r2, 31);
    tg_module *emb = tg_nn_embedding(5, 4, F64, &rng);
    ck_assert_ptr_nonnull(emb);
    tg_tensor *w = tg_module_layer(emb, "Embedding");
    ck_assert_ptr_nonnull(w);
    tgt_assert_shape(w, 2, (const int64_t[]){5, 4});
    tg_tensor *want = tg_randn(&r2, F64, 2, (const int64_t[]){5, 4}); /* randn(5, 4) */
    ck_assert(same_bits(w, want));
    ck_assert(tg_requires_grad_of(w));

    /* indices (2, 3) -> (2, 3, 4); index 1 three times, 4 never. */
    tg_tensor *idx = tg_zeros(TG_INT64, 2, (const int64_t[]){2, 3});
    int64_t *iv = tg_data(idx);
    const int64_t pick[6] = {1, 0, 3, 1, 2, 1};
    memcpy(iv, pick, sizeof pick);
    tg_tape *T = tg_tape_new();
    tg_tensor *e = tg_module_forward(T, emb, idx);
    ck_assert_ptr_nonnull(e);
    tgt_assert_shape(e, 3, (const int64_t[]){2, 3, 4});
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++)
            TGT_ASSERT_SAME(tgt_at(e, i * 4 + j), tgt_at(w, pick[i] * 4 + j));

    /* A linear layer over (2, 3, 4): the rows one by one, as PyTorch's. */
    tg_module *fc = tg_nn_linear(4, 2, F64, &rng);
    tg_tensor *y = tg_module_forward(T, fc, e);
    ck_assert_ptr_nonnull(y);
    tgt_assert_shape(y, 3, (const int64_t[]){2, 3, 2});
    tg_linear *l = tg_module_layer(fc, "Linear");
    tg_tensor *y2 = tg_linear_forward(T, l, tg_ad_reshape(T, e, 2, (const int64_t[]){6, 4}));
    for (int i = 0; i < 12; i++)
        TGT_ASSERT_SAME(tgt_at(y, i), tgt_at(y2, i));

    /* d sum(y) / d weight row r = (times r was picked) * colsum(W_fc). */
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    tg_tensor *g = tg_grad(w);
    const int times[5] = {1, 3, 1, 1, 0};
    for (int r = 0; r < 5; r++)
        for (int j = 0; j < 4; j++) {
            double col = tgt_at(l->weight, j) + tgt_at(l->weight, 4 + j);
            ck_assert_double_eq_tol(tgt_at(g, r * 4 + j), times[r] * col, 1e-15);
        }
    tg_params ps = {0};
    ck_assert_int_eq(tg_module_params(emb, &ps), TG_OK);
    ck_assert_str_eq(ps.names[0], "weight");

    /* Bad input: an index out of range, float indices, bad sizes. */
    iv[2] = 5;
    ck_assert_ptr_null(tg_module_forward(T, emb, idx));
    ck_assert_int_eq(tg_last_error(), TG_ERR_INDEX);
    tg_tensor *fidx = tg_zeros(F64, 1, (const int64_t[]){2});
    ck_assert_ptr_null(tg_module_forward(T, emb, fidx));
    ck_assert_ptr_null(tg_nn_embedding(0, 4, F64, &rng));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_nn_embedding: 0 embeddings of size 4");
    ck_assert_ptr_null(tg_nn_embedding(3, 4, TG_INT32, &rng));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "float32 or float64 only");

    tg_tape_free(T);
    tg_free(idx);
    tg_free(fidx);
    tg_free(want);
    tg_module_free(emb);
    tg_module_free(fc);
}
END_TEST

/* ---- names, buffers and a module of our own ---------------------------------- */

/* A module with its own tensor (a learned scale) and two named children:
 * y = scale * head(features(x)). */
typedef struct scaled_net {
    tg_module base;
    tg_tensor *scale; /* (1,) */
    tg_module *features, *head;
    int *released;    /* counts release calls */
} scaled_net;

static tg_tensor *scaled_forward(tg_tape *T, tg_module *m, tg_tensor *x)
{
    scaled_net *n = (scaled_net *)m;
    tg_tensor *h = tg_module_forward(T, n->head, tg_module_forward(T, n->features, x));
    return h ? tg_ad_mul(T, h, n->scale) : NULL;
}

static int scaled_tensors(tg_module *m, tg_module_walk *w)
{
    return tg_module_visit(w, "scale", ((scaled_net *)m)->scale, false);
}

static void scaled_release(tg_module *m)
{
    scaled_net *n = (scaled_net *)m;
    tg_free(n->scale);
    n->scale = NULL;
    (*n->released)++;
}

static const tg_module_kind scaled_kind = {
    .name = "ScaledNet", .forward = scaled_forward, .tensors = scaled_tensors,
    .release = scaled_release,
};

START_TEST(test_names_nested_and_custom)
{
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    int released = 0;
    scaled_net n = {.released = &released};
    ck_assert_int_eq(tg_module_init(&n.base, &scaled_kind), TG_OK);
    n.scale = tg_full(F64, 1, (const int64_t[]){1}, 2.0);
    n.features = tg_module_add(&n.base, "features", small_cnn(&rng, F64));
    n.head = tg_module_add(&n.base, "head", tg_nn_sequential_named(2,
        (const char *[]){"fc", "act"}, (tg_module *[]){tg_nn_linear(3, 2, F64, &rng),
        tg_nn_tanh()}));
    ck_assert_ptr_nonnull(n.scale);
    ck_assert_ptr_nonnull(n.features);
    ck_assert_ptr_nonnull(n.head);

    tg_params ps = {0};
    ck_assert_int_eq(tg_module_params(&n.base, &ps), TG_OK);
    /* PyTorch's state_dict order: own tensors, then each child's, a batch
     * norm's parameters before its buffers. */
    const char *want[] = {
        "scale",
        "features.0.weight", "features.0.bias",
        "features.1.weight", "features.1.bias",
        "features.1.running_mean", "features.1.running_var",
        "features.5.weight", "features.5.bias",
        "features.8.weight", "features.8.bias",
        "head.fc.weight", "head.fc.bias",
    };
    int nwant = (int)(sizeof want / sizeof *want);
    ck_assert_int_eq(ps.count, nwant);
    for (int i = 0; i < nwant; i++) {
        ck_assert_str_eq(ps.names[i], want[i]);
        bool buffer = strstr(want[i], "running_") != NULL;
        ck_assert(ps.buffer[i] == buffer);
        ck_assert(tg_requires_grad_of(ps.tensors[i]) == !buffer);
    }
    int64_t trained = 1 + (4 * 9 + 4) + (4 + 4) + (64 * 5 + 5) + (5 * 3 + 3) + (3 * 2 + 2);
    ck_assert_ptr_eq(tg_module_child(&n.base, "head.act"), n.head->children[1]);
    ck_assert_int_eq(tg_module_num_params(&n.base), trained);

    /* Paths reach the submodules; layers are reachable by kind. */
    tg_module *bn = tg_module_child(&n.base, "features.1");
    ck_assert_ptr_nonnull(bn);
    tg_batch_norm *bnl = tg_module_layer(bn, "BatchNorm2d");
    ck_assert_ptr_nonnull(bnl);
    ck_assert_ptr_eq(bnl->running_mean, ps.tensors[5]);
    ck_assert_ptr_eq(tg_module_child(&n.base, "head"), n.head);
    tg_linear *fc = tg_module_layer(tg_module_child(&n.base, "head.fc"), "Linear");
    ck_assert_ptr_nonnull(fc);
    ck_assert_ptr_eq(fc->weight, ps.tensors[11]);
    ck_assert_ptr_null(tg_module_child(&n.base, "features.9"));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "no submodule \"features.9\"");
    ck_assert_ptr_null(tg_module_child(&n.base, "features."));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "names no submodule");
    ck_assert_ptr_null(tg_module_child(&n.base, ""));
    ck_assert_ptr_null(tg_module_layer(bn, "Linear"));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the module is a BatchNorm2d, not a Linear");
    ck_assert_ptr_null(tg_module_layer(tg_module_child(&n.base, "features.2"), "ReLU"));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "wraps no layer struct");

    /* The forward runs through the tree and the gradients reach every
     * parameter, the module's own included. */
    tg_rng rx;
    tg_rng_seed(&rx, 4);
    tg_tensor *x = tg_randn(&rx, F64, 4, (const int64_t[]){3, 1, 8, 8});
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_module_forward(T, &n.base, x);
    ck_assert_ptr_nonnull(y);
    tgt_assert_shape(y, 2, (const int64_t[]){3, 2});
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    for (int i = 0; i < ps.count; i++)
        ck_assert(ps.buffer[i] ? tg_grad(ps.tensors[i]) == NULL
                               : tg_grad(ps.tensors[i]) != NULL);

    tg_tape_free(T);
    tg_free(x);
    tg_module_free(&n.base); /* caller-owned memory: children and scale freed */
    ck_assert_int_eq(released, 1);
    ck_assert_int_eq(n.base.nchildren, 0);
}
END_TEST

/* ---- train and eval ---------------------------------------------------------------- */

START_TEST(test_train_eval_reaches_every_layer)
{
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_module *outer = tg_nn_sequential(2, (tg_module *[]){
        small_cnn(&rng, F32), tg_nn_sequential(1, (tg_module *[]){tg_nn_dropout(0.5, &rng)})});
    ck_assert_ptr_nonnull(outer);
    tg_batch_norm *bn = tg_module_layer(tg_module_child(outer, "0.1"), "BatchNorm2d");
    tg_dropout *d1 = tg_module_layer(tg_module_child(outer, "0.7"), "Dropout");
    tg_dropout *d2 = tg_module_layer(tg_module_child(outer, "1.0"), "Dropout");
    ck_assert(bn && d1 && d2);
    ck_assert(bn->training && d1->training && d2->training && outer->training);

    tg_module_train(outer, false);
    ck_assert(!bn->training && !d1->training && !d2->training && !outer->training);
    ck_assert(!tg_module_child(outer, "0.2")->training);

    /* In eval, the output is deterministic and the running stats stay. */
    tg_rng rx;
    tg_rng_seed(&rx, 6);
    tg_tensor *x = tg_rand(&rx, F32, 4, (const int64_t[]){2, 1, 8, 8});
    tg_tensor *rm = tg_clone(bn->running_mean);
    tg_tape *T = tg_tape_new();
    tg_tensor *y1 = tg_clone(tg_module_forward(T, outer, x));
    tg_tensor *y2 = tg_clone(tg_module_forward(T, outer, x));
    ck_assert(same_bits(y1, y2));
    ck_assert(same_bits(rm, bn->running_mean));

    /* Back to training: the statistics move and dropout draws. */
    tg_module_train(outer, true);
    ck_assert(bn->training && d1->training && d2->training);
    tg_tensor *y3 = tg_module_forward(T, outer, x);
    ck_assert_ptr_nonnull(y3);
    ck_assert(!same_bits(rm, bn->running_mean));

    tg_module_train(NULL, false); /* nothing to do */
    tg_tape_free(T);
    tg_free(x);
    tg_free(rm);
    tg_free(y1);
    tg_free(y2);
    tg_module_free(outer);
}
END_TEST

/* ---- the summary --------------------------------------------------------------------- */

/* The text tg_module_summary writes, in a malloc'd string. */
static char *summary_text(tg_module *m, tg_dtype dt, int ndim, const int64_t *shape,
                          int *rc)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    *rc = tg_module_summary(m, dt, ndim, shape, f);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    ck_assert_ptr_nonnull(s);
    ck_assert(fread(s, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    return s;
}

START_TEST(test_summary)
{
    tg_rng rng;
    tg_rng_seed(&rng, 8);
    tg_module *net = small_cnn(&rng, F32);
    ck_assert_ptr_nonnull(net);
    tg_batch_norm *bn = tg_module_layer(tg_module_child(net, "1"), "BatchNorm2d");
    tg_module_train(tg_module_child(net, "7"), false); /* one flag off: kept */
    tg_tensor *rm = tg_clone(bn->running_mean), *rv = tg_clone(bn->running_var);
    long allocs = tgt_stats.allocs;

    int rc;
    char *s = summary_text(net, F32, 4, (const int64_t[]){1, 1, 8, 8}, &rc);
    ck_assert_int_eq(rc, TG_OK);
    /* One row per layer in call order, with its output shape and values. */
    const char *rows[][3] = {
        {"0 ", "Conv2d(1, 4, 3x3, pad 1)", "(1, 4, 8, 8)"},
        {"1 ", "BatchNorm2d(4)", "(1, 4, 8, 8)"},
        {"2 ", "ReLU", "(1, 4, 8, 8)"},
        {"3 ", "MaxPool2d(2x2)", "(1, 4, 4, 4)"},
        {"4 ", "Flatten", "(1, 64)"},
        {"5 ", "Linear(64, 5)", "(1, 5)"},
        {"6 ", "ReLU", "(1, 5)"},
        {"7 ", "Dropout(p=0.25)", "(1, 5)"},
        {"8 ", "Linear(5, 3)", "(1, 3)"},
    };
    const char *counts[] = {"40", "8", "0", "0", "0", "325", "0", "0", "18"};
    const char *at = strstr(s, "=\n");
    ck_assert_msg(at != NULL, "no rule in:\n%s", s);
    for (int i = 0; i < 9; i++) {
        const char *line = strchr(at, '\n') + 1;
        const char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(end - line), line);
        for (int k = 0; k < 3; k++)
            ck_assert_msg(strstr(buf, rows[i][k]), "row %d \"%s\" lacks \"%s\"", i, buf,
                          rows[i][k]);
        size_t blen = strlen(buf), clen = strlen(counts[i]);
        ck_assert_msg(blen > clen && strcmp(buf + blen - clen, counts[i]) == 0 &&
                      buf[blen - clen - 1] == ' ',
                      "row %d \"%s\" does not end in %s", i, buf, counts[i]);
        at = end;
    }
    ck_assert_msg(strstr(s, "Parameters: 391 values   Buffers: 8 values\n"), "%s", s);
    free(s);

    /* Nothing changed: statistics, flags, and no block left behind. */
    ck_assert(same_bits(rm, bn->running_mean) && same_bits(rv, bn->running_var));
    ck_assert(bn->training && net->training);
    ck_assert(!tg_module_child(net, "7")->training);
    ck_assert(((tg_dropout *)tg_module_layer(tg_module_child(net, "7"), "Dropout"))->training == false);
    ck_assert_int_gt(tgt_stats.allocs, allocs);

    /* Large counts get thousands separators; nested paths are dotted. */
    tg_module *big = tg_nn_sequential(1, (tg_module *[]){
        tg_nn_sequential(1, (tg_module *[]){tg_nn_linear(1000, 1000, F32, &rng)})});
    s = summary_text(big, F32, 2, (const int64_t[]){2, 1000}, &rc);
    ck_assert_int_eq(rc, TG_OK);
    ck_assert_msg(strstr(s, "0.0 ") && strstr(s, "1,001,000\n") &&
                  strstr(s, "Parameters: 1,001,000 values"), "%s", s);
    free(s);

    /* A wrong input shape: the layer's error, the flags still restored. */
    s = summary_text(net, F32, 4, (const int64_t[]){1, 2, 8, 8}, &rc);
    ck_assert_int_eq(rc, TG_ERR_SHAPE);
    ck_assert_str_eq(s, "");
    ck_assert(bn->training && !tg_module_child(net, "7")->training);
    free(s);
    ck_assert_int_eq(tg_module_summary(NULL, F32, 0, NULL, stdout), TG_ERR_NULL);
    ck_assert_int_eq(tg_module_summary(net, F32, 1, NULL, stdout), TG_ERR_NULL);
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_module_summary: input shape is NULL");
    ck_assert_int_eq(tg_module_summary(net, F32, 1, (const int64_t[]){1}, NULL),
                     TG_ERR_NULL);

    tg_free(rm);
    tg_free(rv);
    tg_module_free(big);
    tg_module_free(net);
}
END_TEST

/* torch.nn.Linear(in, out, bias=False) as a module: tg_nn_linear_ex. */
static int nobias_build_and_step(double *out)
{
    tg_rng rng;
    tg_rng_seed(&rng, 43);
    tg_module *fc = tg_nn_linear_ex(4, 3, false, F64, &rng);
    tg_tensor *x = tg_full(F64, 3, (const int64_t[]){2, 2, 4}, 0.5);
    tg_tape *T = tg_tape_new();
    tg_params ps = {0};
    int rc = !fc || !x || !T ? tg_last_error() : tg_module_params(fc, &ps);
    if (!rc) {
        tg_tensor *loss = tg_ad_sum(T, tg_module_forward(T, fc, x));
        rc = !loss ? tg_last_error() : tg_backward(T, loss);
        if (!rc)
            rc = tg_item(loss, out);
    }
    tg_tape_free(T);
    tg_free(x);
    tg_module_free(fc);
    return rc;
}

START_TEST(test_linear_without_bias)
{
    /* The weight is the biased module's from the same rng state, and only
     * out*in values are drawn. */
    tg_rng r1, r2, ref;
    tg_rng_seed(&r1, 41);
    tg_rng_seed(&r2, 41);
    tg_module *fc = tg_nn_linear_ex(4, 3, false, F64, &r1);
    tg_module *fcb = tg_nn_linear(4, 3, F64, &r2);
    ck_assert(fc && fcb);
    tg_linear *l = tg_module_layer(fc, "Linear"), *lb = tg_module_layer(fcb, "Linear");
    ck_assert(l && lb);
    ck_assert_ptr_null(l->bias);
    ck_assert_ptr_nonnull(lb->bias);
    ck_assert(same_bits(l->weight, lb->weight));
    tg_rng_seed(&ref, 41);
    for (int i = 0; i < 12; i++)
        tg_rng_uniform(&ref, -0.5, 0.5);
    ck_assert(tg_rng_random(&r1) == tg_rng_random(&ref));

    /* state_dict: "weight" alone (PyTorch's Linear(bias=False) has no
     * "bias" entry); 12 trained values against the biased one's 15. */
    tg_params ps = {0};
    ck_assert_int_eq(tg_module_params(fc, &ps), TG_OK);
    ck_assert_int_eq(ps.count, 1);
    ck_assert_str_eq(ps.names[0], "weight");
    ck_assert_ptr_eq(ps.tensors[0], l->weight);
    ck_assert(!ps.buffer[0] && tg_requires_grad_of(l->weight));
    ck_assert_int_eq(tg_module_num_params(fc), 12);
    ck_assert_int_eq(tg_module_num_params(fcb), 15);

    /* (2, 3, 4) -> (2, 3, 3) = x W^T row by row, bit for bit; d sum(y) /
     * dW[o, k] = sum of x[..., k]. */
    tg_rng_seed(&r2, 42);
    tg_tensor *x = tg_randn(&r2, F64, 3, (const int64_t[]){2, 3, 4});
    tg_tape *T = tg_tape_new();
    tg_tensor *y = tg_module_forward(T, fc, x);
    ck_assert_ptr_nonnull(y);
    tgt_assert_shape(y, 3, (const int64_t[]){2, 3, 3});
    tg_tensor *rows2 = tg_reshape(x, 2, (const int64_t[]){6, 4});
    tg_tensor *wt = tg_transpose(l->weight, 0, 1);
    tg_tensor *want = tg_matmul(rows2, wt);
    ck_assert_ptr_nonnull(want);
    tg_free(rows2);
    tg_free(wt);
    for (int i = 0; i < 18; i++)
        TGT_ASSERT_SAME(tgt_at(y, i), tgt_at(want, i));
    ck_assert_int_eq(tg_backward(T, tg_ad_sum(T, y)), TG_OK);
    for (int o = 0; o < 3; o++)
        for (int k = 0; k < 4; k++) {
            double col = 0;
            for (int r = 0; r < 6; r++)
                col += tgt_at(x, r * 4 + k);
            ck_assert_double_eq_tol(tgt_at(tg_grad(l->weight), o * 4 + k), col, 1e-14);
        }
    /* A wrong last axis: the layer's error. */
    tg_tensor *x5 = tg_zeros(F64, 2, (const int64_t[]){2, 5});
    ck_assert_ptr_null(tg_module_forward(T, fc, x5));
    TGT_ASSERT_ERR(TG_ERR_SHAPE, "x has shape (2,5); expected (batch, 4)");

    /* reset_parameters draws only the weight, in the tree's order: a model
     * built with rng NULL and reset equals the layers made one by one. */
    tg_module *net = tg_nn_sequential_named(3, (const char *[]){"proj", "act", "head"},
        (tg_module *[]){tg_nn_linear_ex(4, 3, false, F64, NULL), tg_nn_tanh(),
                        tg_nn_linear(3, 2, F64, NULL)});
    ck_assert_ptr_nonnull(net);
    tg_rng_seed(&r1, 5);
    tg_rng_seed(&ref, 5);
    ck_assert_int_eq(tg_module_reset_parameters(net, &r1), TG_OK);
    tg_linear a, b;
    ck_assert_int_eq(tg_linear_init_ex(&a, 4, 3, false, F64, &ref), TG_OK);
    ck_assert_int_eq(tg_linear_init(&b, 3, 2, F64, &ref), TG_OK);
    ck_assert(tg_rng_random(&r1) == tg_rng_random(&ref));
    tg_params pn = {0};
    ck_assert_int_eq(tg_module_params(net, &pn), TG_OK);
    ck_assert_int_eq(pn.count, 3);
    const char *names[] = {"proj.weight", "head.weight", "head.bias"};
    tg_tensor *drawn[] = {a.weight, b.weight, b.bias};
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(pn.names[i], names[i]);
        ck_assert_msg(same_bits(pn.tensors[i], drawn[i]), "entry %s", names[i]);
    }
    ck_assert_ptr_null(((tg_linear *)tg_module_layer(tg_module_child(net, "proj"),
                                                     "Linear"))->bias);
    ck_assert_int_eq(tg_module_num_params(net), 12 + 8);

    /* The summary: described as PyTorch writes it, 12 values. */
    int rc;
    char *s = summary_text(net, F64, 2, (const int64_t[]){1, 4}, &rc);
    ck_assert_int_eq(rc, TG_OK);
    const char *rows[][4] = {
        {"proj ", "Linear(4, 3, bias=False)", "(1, 3)", " 12\n"},
        {"act ", "Tanh", "(1, 3)", " 0\n"},
        {"head ", "Linear(3, 2)", "(1, 2)", " 8\n"},
    };
    for (int i = 0; i < 3; i++) {
        const char *line = strstr(s, rows[i][1]);
        ck_assert_msg(line != NULL, "no \"%s\" in:\n%s", rows[i][1], s);
        while (line > s && line[-1] != '\n')
            line--;
        const char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(end - line + 1), line);
        for (int k = 0; k < 4; k++)
            ck_assert_msg(strstr(buf, rows[i][k]), "row \"%s\" lacks \"%s\"", buf, rows[i][k]);
        ck_assert_msg(strncmp(buf, rows[i][0], strlen(rows[i][0])) == 0, "row \"%s\"", buf);
    }
    ck_assert_msg(strstr(s, "Parameters: 20 values"), "%s", s);
    free(s);

    /* Bad input comes through with tg_linear_init's messages. */
    ck_assert_ptr_null(tg_nn_linear_ex(0, 3, false, F64, &r1));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_linear_init: sizes in = 0 and out = 3 must be positive");
    ck_assert_ptr_null(tg_nn_linear_ex(3, 2, false, TG_INT32, NULL));
    TGT_ASSERT_ERR(TG_ERR_DTYPE, "dtype is int32; this op needs a float dtype");

    tg_tape_free(T);
    tg_free(x);
    tg_free(x5);
    tg_free(want);
    tg_linear_free(&a);
    tg_linear_free(&b);
    tg_module_free(fc);
    tg_module_free(fcb);
    tg_module_free(net);

    /* Allocation k refused, for every k of building one and a training
     * step: TG_ERR_NOMEM, nothing left behind; success gives the clean
     * run's loss. */
    double clean = 0.0;
    long before = tgt_stats.calls;
    ck_assert_int_eq(nobias_build_and_step(&clean), TG_OK);
    long n = tgt_stats.calls - before;
    ck_assert_int_gt(n, 3);
    for (long k = 1; k <= n; k++) {
        long live = tgt_stats.live_blocks;
        tgt_stats.fail_at = tgt_stats.calls + k;
        double got = 0.0;
        int frc = nobias_build_and_step(&got);
        tgt_stats.fail_at = 0;
        ck_assert_msg(frc == TG_ERR_NOMEM || (frc == TG_OK && got == clean),
                      "allocation %ld of %ld: rc %d (%s)", k, n, frc, tg_last_message());
        ck_assert_msg(tgt_stats.live_blocks == live, "allocation %ld: %ld blocks left", k,
                      tgt_stats.live_blocks - live);
    }
}
END_TEST

/* ---- save/load and a training step ----------------------------------------------- */

START_TEST(test_save_load_by_names)
{
    tg_rng rng;
    tg_rng_seed(&rng, 9);
    tg_module *a = small_cnn(&rng, F64), *b = small_cnn(&rng, F64);
    ck_assert(a && b);
    tg_params pa = {0}, pb = {0};
    ck_assert_int_eq(tg_module_params(a, &pa), TG_OK);
    ck_assert_int_eq(tg_module_params(b, &pb), TG_OK);
    /* One training forward moves a's running statistics. */
    tg_tensor *x = tg_randn(&rng, F64, 4, (const int64_t[]){4, 1, 8, 8});
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_nonnull(tg_module_forward(T, a, x));

    char dir[] = "/tmp/tg_module_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(tg_params_save(&pa, dir), TG_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/1.running_var.npy", dir);
    ck_assert_int_eq(access(path, R_OK), 0);
    ck_assert_int_eq(tg_params_load(&pb, dir), TG_OK);
    for (int i = 0; i < pa.count; i++)
        ck_assert(same_bits(pa.tensors[i], pb.tensors[i]));
    tg_module_train(a, false);
    tg_module_train(b, false);
    ck_assert(same_bits(tg_module_forward(T, a, x), tg_module_forward(T, b, x)));

    for (int i = 0; i < pa.count; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, pa.names[i]);
        ck_assert_int_eq(unlink(path), 0);
    }
    ck_assert_int_eq(rmdir(dir), 0);
    tg_tape_free(T);
    tg_free(x);
    tg_module_free(a);
    tg_module_free(b);
}
END_TEST

START_TEST(test_no_allocation_per_step)
{
    tg_rng rng;
    tg_rng_seed(&rng, 10);
    tg_module *net = small_cnn(&rng, F32);
    tg_params ps = {0};
    ck_assert_int_eq(tg_module_params(net, &ps), TG_OK);
    tg_adam opt;
    ck_assert_int_eq(tg_adam_init(&opt, &ps, 1e-3, 0.9, 0.999, 1e-8, 0.0, false), TG_OK);
    tg_tensor *x = tg_randn(&rng, F32, 4, (const int64_t[]){8, 1, 8, 8});
    tg_tensor *labels = tg_zeros(TG_INT64, 1, (const int64_t[]){8});
    tg_tape *T = tg_tape_new();
    long allocs = 0, reallocs = 0;
    for (int step = 0; step < 4; step++) {
        if (step == 2) {
            allocs = tgt_stats.allocs;
            reallocs = tgt_stats.reallocs;
        }
        ck_assert_int_eq(tg_tape_reset(T), TG_OK);
        tg_tensor *loss = tg_loss_cross_entropy(T, tg_module_forward(T, net, x), labels);
        ck_assert_ptr_nonnull(loss);
        ck_assert_int_eq(tg_params_zero_grad(&ps), TG_OK);
        ck_assert_int_eq(tg_backward(T, loss), TG_OK);
        ck_assert_int_eq(tg_adam_step(&opt), TG_OK);
    }
    ck_assert_msg(tgt_stats.allocs == allocs && tgt_stats.reallocs == reallocs,
                  "steps 3-4 made %ld allocations, %ld reallocations",
                  tgt_stats.allocs - allocs, tgt_stats.reallocs - reallocs);
    tg_tape_free(T);
    tg_adam_free(&opt);
    tg_free(x);
    tg_free(labels);
    tg_module_free(net);
}
END_TEST

/* ---- ownership, errors and allocation failures -------------------------------------- */

START_TEST(test_ownership_on_failure)
{
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    /* A failing constructor in the list: the container fails with its
     * message and frees every other module (the fixture counts blocks). */
    tg_module *bad = tg_nn_sequential(3, (tg_module *[]){
        tg_nn_linear(4, 3, F64, &rng), tg_nn_linear(0, 3, F64, &rng),
        tg_nn_linear(3, 2, F64, &rng)});
    ck_assert_ptr_null(bad);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_linear_init");

    /* The same module twice: refused, and freed once. */
    tg_module *relu = tg_nn_relu();
    ck_assert_ptr_null(tg_nn_sequential(3, (tg_module *[]){relu, tg_nn_tanh(), relu}));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "\"2\" is already in this tree");
    ck_assert_ptr_null(tg_nn_sequential(-1, NULL));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "n is -1");
    ck_assert_ptr_null(tg_nn_sequential(2, NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "modules is NULL");
    ck_assert_ptr_null(tg_nn_sequential_named(2, NULL, (tg_module *[]){
        tg_nn_linear(2, 2, F64, &rng), tg_nn_relu()}));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_nn_sequential_named: names is NULL");
    ck_assert_ptr_null(tg_nn_sequential_named(2, (const char *[]){"fc", "fc"},
        (tg_module *[]){tg_nn_linear(2, 2, F64, &rng), tg_nn_relu()}));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "a child is already named \"fc\"");

    /* An empty container is the identity until children are added. */
    tg_module *seq = tg_nn_sequential(0, NULL);
    ck_assert_ptr_nonnull(seq);
    tg_tensor *x = tg_full(F64, 1, (const int64_t[]){2}, 3.0);
    tg_tape *T = tg_tape_new();
    ck_assert_ptr_eq(tg_module_forward(T, seq, x), x);

    /* tg_module_add: bad names and duplicates free the child; adding a
     * module already in the tree, or an ancestor, frees nothing. */
    tg_module *fc = tg_module_add(seq, "fc", tg_nn_linear(2, 2, F64, &rng));
    ck_assert_ptr_nonnull(fc);
    ck_assert_ptr_null(tg_module_add(seq, "fc", tg_nn_relu()));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_module_add: a child is already named \"fc\"");
    ck_assert_ptr_null(tg_module_add(seq, "a.b", tg_nn_relu()));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "the dot joins names");
    ck_assert_ptr_null(tg_module_add(seq, "", tg_nn_relu()));
    ck_assert_ptr_null(tg_module_add(seq, "abcdefghijklmnopqrstuvwxyz0123456789",
                                     tg_nn_relu()));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "1 to 31 are allowed");
    ck_assert_ptr_null(tg_module_add(seq, "again", fc));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "already in this tree");
    tg_module *inner = tg_module_add(seq, "inner", tg_nn_sequential(0, NULL));
    ck_assert_ptr_nonnull(inner);
    ck_assert_ptr_null(tg_module_add(inner, "loop", seq));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "already in this tree");
    ck_assert_ptr_null(tg_module_add(NULL, "x", tg_nn_relu()));
    TGT_ASSERT_ERR(TG_ERR_NULL, "parent is NULL");
    ck_assert_ptr_null(tg_module_add(seq, NULL, tg_nn_relu()));
    TGT_ASSERT_ERR(TG_ERR_NULL, "name is NULL");
    tg_clear_error();
    ck_assert_ptr_null(tg_module_add(seq, "x", NULL));
    TGT_ASSERT_ERR(TG_ERR_NULL, "child \"x\" is NULL");
    ck_assert_int_eq(seq->nchildren, 2);

    /* A forward whose layer refuses the input: NULL with its message; a
     * NULL input: NULL without a new one. */
    tg_tensor *x3 = tg_full(F64, 1, (const int64_t[]){3}, 1.0);
    ck_assert_ptr_null(tg_module_forward(T, seq, x3));
    ck_assert_int_eq(tg_last_error(), TG_ERR_SHAPE);
    tg_free(x3);
    ck_assert_ptr_null(tg_module_forward(T, seq, NULL));
    ck_assert_ptr_null(tg_module_forward(T, NULL, x));
    TGT_ASSERT_ERR(TG_ERR_NULL, "tg_module_forward: module is NULL");
    tg_module blank = {0};
    ck_assert_ptr_null(tg_module_forward(T, &blank, x));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "not initialised");
    ck_assert_int_eq(tg_module_params(&blank, &(tg_params){0}), TG_ERR_VALUE);
    ck_assert_int_eq(tg_module_num_params(NULL), -1);
    ck_assert_int_eq(tg_module_init(&blank, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_module_init(&blank, &(tg_module_kind){.name = "NoForward"}),
                     TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "needs a name and a forward");
    ck_assert_int_eq(tg_module_visit(NULL, "w", x, false), TG_ERR_NULL);
    tg_module_free(&blank); /* uninitialised: nothing to do */
    tg_module_free(NULL);

    /* The layers' own argument checks come through the constructors. */
    ck_assert_ptr_null(tg_nn_adaptive_avg_pool2d(0, 1));
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_nn_adaptive_avg_pool2d: output size 0x1");
    ck_assert_ptr_null(tg_nn_dropout(1.5, &rng));
    ck_assert_ptr_null(tg_nn_conv2d(3, 4, (const int64_t[]){0, 3}, NULL, true, F64, &rng));
    ck_assert_ptr_null(tg_nn_max_pool2d((const int64_t[]){0, 2}, NULL, NULL));
    ck_assert_ptr_null(tg_nn_batch_norm2d(0, F64));
    ck_assert_ptr_null(tg_nn_layer_norm(0, NULL, F64));

    tg_tape_free(T);
    tg_free(x);
    tg_module_free(seq);
}
END_TEST

START_TEST(test_params_errors)
{
    tg_rng rng;
    tg_rng_seed(&rng, 12);
    tg_module *net = small_cnn(&rng, F32);
    tg_params ps = {0};
    /* A list too full for the model: refused, the list as it was. */
    tg_tensor *extra[TG_MAX_PARAMS - 5];
    for (int i = 0; i < TG_MAX_PARAMS - 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "e%d", i);
        extra[i] = tg_zeros(F32, 1, (const int64_t[]){1});
        ck_assert_int_eq(tg_params_add(&ps, name, extra[i]), TG_OK);
    }
    ck_assert_int_eq(tg_module_params(net, &ps), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "tg_module_params: cannot add");
    ck_assert_int_eq(ps.count, TG_MAX_PARAMS - 5);
    /* Names too long for the list. */
    tg_module *deep = tg_nn_sequential(1, (tg_module *[]){net});
    tg_module *cur = deep;
    for (int i = 0; i < 3; i++) {
        tg_module *wrap = tg_nn_sequential(0, NULL);
        ck_assert_ptr_nonnull(tg_module_add(wrap, "a_rather_long_name_here", cur));
        cur = wrap;
    }
    tg_params fresh = {0};
    ck_assert_int_eq(tg_module_params(cur, &fresh), TG_ERR_VALUE);
    TGT_ASSERT_ERR(TG_ERR_VALUE, "too long");
    ck_assert_int_eq(fresh.count, 0);
    ck_assert_int_eq(tg_module_params(cur, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_module_params(NULL, &fresh), TG_ERR_NULL);
    for (int i = 0; i < TG_MAX_PARAMS - 5; i++)
        tg_free(extra[i]);
    tg_module_free(cur);
}
END_TEST

/* Builds the small CNN, lists its parameters and runs one training step
 * with allocation k refused: every failure is TG_ERR_NOMEM and leaves no
 * block behind (the fixture's check), and success matches the clean run. */
static int build_and_step(double *out)
{
    tg_rng rng;
    tg_rng_seed(&rng, 13);
    tg_module *net = small_cnn(&rng, F64);
    tg_params ps = {0};
    tg_tensor *x = tg_full(F64, 4, (const int64_t[]){2, 1, 8, 8}, 0.5);
    tg_tensor *labels = tg_zeros(TG_INT64, 1, (const int64_t[]){2});
    tg_tape *T = tg_tape_new();
    int rc = !net || !x || !labels || !T ? tg_last_error() : tg_module_params(net, &ps);
    if (!rc) {
        tg_tensor *loss = tg_loss_cross_entropy(T, tg_module_forward(T, net, x), labels);
        rc = !loss ? tg_last_error() : tg_backward(T, loss);
        if (!rc)
            rc = tg_item(loss, out);
    }
    tg_tape_free(T);
    tg_free(x);
    tg_free(labels);
    tg_module_free(net);
    return rc;
}

START_TEST(test_allocation_failures)
{
    double want = 0.0;
    long before = tgt_stats.calls;
    ck_assert_int_eq(build_and_step(&want), TG_OK);
    long n = tgt_stats.calls - before;
    ck_assert_int_gt(n, 20);
    for (long k = 1; k <= n; k++) {
        long live = tgt_stats.live_blocks;
        tgt_stats.fail_at = tgt_stats.calls + k;
        double got = 0.0;
        int rc = build_and_step(&got);
        tgt_stats.fail_at = 0;
        ck_assert_msg(rc == TG_ERR_NOMEM || (rc == TG_OK && got == want),
                      "allocation %ld of %ld: rc %d (%s)", k, n, rc, tg_last_message());
        ck_assert_msg(tgt_stats.live_blocks == live, "allocation %ld: %ld blocks left",
                      k, tgt_stats.live_blocks - live);
    }
}
END_TEST

Suite *test_module_suite(void); /* called by the generated runner */

Suite *test_module_suite(void)
{
    Suite *s = suite_create("module");
    TCase *tc = tgt_tcase("tree");
    tcase_add_test(tc, test_sequential_equals_mlp);
    tcase_add_test(tc, test_reset_parameters_order);
    tcase_add_test(tc, test_embedding_and_linear_nd);
    tcase_add_test(tc, test_names_nested_and_custom);
    tcase_add_test(tc, test_train_eval_reaches_every_layer);
    tcase_add_test(tc, test_summary);
    tcase_add_test(tc, test_linear_without_bias);
    tcase_add_test(tc, test_save_load_by_names);
    tcase_add_test(tc, test_no_allocation_per_step);
    suite_add_tcase(s, tc);
    tc = tgt_tcase("bad input");
    tcase_add_test(tc, test_ownership_on_failure);
    tcase_add_test(tc, test_params_errors);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
