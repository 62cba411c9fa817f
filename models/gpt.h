/* gpt.h - a small GPT (a decoder-only transformer, nanoGPT's model) built
 * from modules, trained on the tape like any other model: the tape derives
 * the gradients of attention, layer norm and the embeddings from the ops
 * they are made of (llm.c writes each backward by hand; here there are
 * none to write).
 *
 *     tg_gpt_config cfg = TG_GPT_CONFIG;       // vocab 27, context 16, 4 x 4 x 64
 *     tg_rng rng; tg_rng_seed(&rng, 1337);
 *     tg_module *gpt = tg_gpt_new(&cfg, &rng); // GPT-2's initialisation
 *     tg_params ps = {0};
 *     if (!gpt || tg_module_params(gpt, &ps)) ...  // "wte.weight", ..., "lm_head.weight"
 *     tg_adam opt;                             // AdamW, no decay on biases and norms
 *     tg_adam_init(&opt, &ps, 5e-4, 0.9, 0.99, 1e-8, 0.01, true);
 *     tg_param_groups_add(&opt.groups, TG_GPT_NO_DECAY, 5e-4, 0.0);
 *     for (...) {                              // x, y: (B, T) int64 tokens, y shifted by one
 *         tg_tape_reset(T);
 *         tg_tensor *logits = tg_module_forward(T, gpt, x);   // (B, T, vocab)
 *         tg_tensor *loss = tg_gpt_loss(T, logits, y);        // mean cross-entropy
 *         tg_params_zero_grad(&ps);
 *         if (!loss || tg_backward(T, loss)) ...
 *         tg_clip_grad_norm(&ps, 1.0, 2.0, NULL);
 *         tg_adam_step(&opt);
 *     }
 *     int64_t out[1 + 20];                     // a prompt of one token, 20 more
 *     tg_gpt_generate(gpt, (const int64_t[]){0}, 1, 20, 0.8, 5, &rng, out);
 *     tg_module_free(gpt);
 *
 * The model, for tokens x (B, T) with T <= context, C = n_embd:
 *
 *     h = wte(x) + wpe(0 .. T-1)                          (B, T, C)  [drop]
 *     n_layer times, the block h.<i> (pre-norm, residual):
 *         h = h + attn(ln_1(h))
 *         h = h + mlp(ln_2(h))
 *     logits = lm_head(ln_f(h))                           (B, T, vocab)
 *
 *     attn:  q, k, v = split(c_attn(h), C)     c_attn: Linear(C, 3C)
 *            each (B, n_head, T, C/n_head)     heads: reshape + permute
 *            a = softmax(masked_fill(q k^T / sqrt(C/n_head), j > i, -inf))
 *            y = c_proj(merge_heads(a v))      c_proj: Linear(C, C)
 *     mlp:   c_proj(gelu(c_fc(h)))             Linear(C, 4C), GELU (erf), Linear(4C, C)
 *
 * It is nanoGPT's GPT with its defaults but three choices: biases
 * everywhere except the head (nanoGPT's bias=True), lm_head a weight of
 * its own, not tied to wte's, and no "transformer." prefix on the names.
 * The parameters are named as that model's state_dict, in its order:
 *
 *     wte.weight (vocab, C)   wpe.weight (context, C)
 *     h.<i>.ln_1.weight, .bias (C,)     h.<i>.attn.c_attn.weight (3C, C), .bias (3C,)
 *     h.<i>.attn.c_proj.weight (C, C), .bias     h.<i>.ln_2.weight, .bias
 *     h.<i>.mlp.c_fc.weight (4C, C), .bias (4C,) h.<i>.mlp.c_proj.weight (C, 4C), .bias
 *     ln_f.weight, ln_f.bias (C,)   lm_head.weight (vocab, C)
 *
 * so a PyTorch twin's state_dict, saved with np.savez, loads with
 * tg_params_load_npz (tests/data/make_gpt_ref.py is one, and
 * tests/test_gpt.c holds the two to the same losses and gradients in
 * float64). A tg_params list holds TG_MAX_PARAMS (64) entries: 5 + 12 per
 * layer, so at most 4 layers (tg_gpt_new says so).
 *
 * With dropout p > 0 the model has the Dropout modules nanoGPT has: "drop"
 * after the embeddings, attn.attn_dropout on the attention weights,
 * attn.resid_dropout and mlp.dropout on each branch's output. They drop
 * only in training mode (tg_module_train) and draw from a generator the
 * model owns, seeded with cfg->dropout_seed. With p = 0 they are left out.
 *
 * Errors never abort: a bad configuration, tokens that are not (B, T)
 * integers, T beyond the context or a token outside [0, vocab) give NULL
 * or a code, with tg_last_message() naming the function ("GPT" for the
 * forward) and the problem. */
#ifndef TG_GPT_H
#define TG_GPT_H

#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_gpt_config {
    int64_t vocab_size;    /* tokens 0 .. vocab_size-1, >= 1 */
    int64_t context;       /* the longest sequence (nanoGPT's block_size), >= 1 */
    int n_layer;           /* blocks, 0 .. 4 (see above) */
    int n_head;            /* attention heads, >= 1, dividing n_embd */
    int64_t n_embd;        /* C, the width of the residual stream, >= 1 */
    double dropout;        /* p of every dropout, in [0, 1); 0: none */
    uint32_t dropout_seed; /* seeds the dropout masks' generator */
    tg_dtype dtype;        /* TG_FLOAT32 or TG_FLOAT64 */
} tg_gpt_config;

/* The defaults: 27 characters (a-z and an end-of-word token),
 * context 16, 4 layers of 4 heads, width 64, no dropout, float32. */
#define TG_GPT_CONFIG {27, 16, 4, 4, 64, 0.0, 0, TG_FLOAT32}

/* Patterns for tg_param_groups_add (optim.h) of the parameters that
 * nanoGPT keeps out of weight decay: those of fewer than two axes, the
 * biases and the layer norms' weights. Embeddings and the Linear weights
 * are decayed. */
#define TG_GPT_NO_DECAY "*.bias *ln_*.weight"

/* A new GPT module (free it with tg_module_free, or give it to a
 * container), its parameters drawn by tg_gpt_init_weights from rng (NULL:
 * a generator seeded with 0); NULL with an error for a NULL or bad cfg
 * (every field is checked, the message names the first bad one) or out of
 * memory. The forward (tg_module_forward) takes tokens (B, T), int32 or
 * int64, 1 <= T <= context, and gives logits (B, T, vocab) of cfg's dtype. */
tg_module *tg_gpt_new(const tg_gpt_config *cfg, tg_rng *rng);

/* GPT-2's initialisation, as nanoGPT's _init_weights: each parameter in
 * the state_dict order above, each element in C order, is one draw of
 * NumPy's legacy randn from rng times 0.02 (times 0.02 / sqrt(2 n_layer)
 * for the residual projections attn.c_proj.weight and mlp.c_proj.weight);
 * biases are 0, the layer norms' weights 1. In NumPy:
 *     np.random.seed(s); w = np.random.randn(*shape) * std   # for each weight
 * (tg_module_reset_parameters instead redraws each layer as PyTorch's
 * constructors do: Linear uniform, Embedding standard normal.) */
int tg_gpt_init_weights(tg_module *gpt, tg_rng *rng);

/* The configuration gpt was made with, or NULL with an error when gpt is
 * not a GPT module. */
const tg_gpt_config *tg_gpt_config_of(const tg_module *gpt);

/* The mean cross-entropy of logits (B, T, vocab) against targets (B, T)
 * (int32 or int64, each in [0, vocab) or -100), over the positions whose
 * target is not -100 (padding past a sequence's end: PyTorch's
 * ignore_index): F.cross_entropy(logits.view(-1, vocab), targets.view(-1)).
 * A 0-d tensor on T; targets must live until the backward. */
tg_tensor *tg_gpt_loss(tg_tape *T, tg_tensor *logits, tg_tensor *targets);

/* Writes prompt[0..n_prompt) and then n_new sampled tokens to
 * out[0..n_prompt + n_new) (out may be prompt's array): each new token is
 * drawn from softmax(logits / temperature) of the last position, given the
 * last `context` tokens, keeping only the top_k largest logits (top_k <= 0
 * or >= vocab: all of them); temperature 0 takes the most likely token
 * (the first of equals). One tg_rng_random draw per sampled token. Runs
 * without recording, in eval mode (dropout off; the training flag is put
 * back after), on a tape of its own. n_prompt >= 1, n_new >= 0, every
 * prompt token in [0, vocab), temperature finite and >= 0; else an error
 * and out unchanged. */
int tg_gpt_generate(tg_module *gpt, const int64_t *prompt, int64_t n_prompt,
                    int64_t n_new, double temperature, int64_t top_k, tg_rng *rng,
                    int64_t *out);

#ifdef __cplusplus
}
#endif
#endif /* TG_GPT_H */
