/* The architecture table: one row per model family (general.architecture) with what the loader
 * and the single forward pass need to know — which tensors a block has (required / optional),
 * how they are laid out (fused QKV, fused gate|up), and the flags the forward pass branches on
 * (rope style, per-head Q/K norm, activation, norm placement, embedding and attention scale,
 * sliding-window pattern, NoPE layers, rope-factor tensors). Adding a family of this kind costs
 * one row here and only its genuinely new math in forward.c. */
#ifndef EDGELLM_MODEL_ARCH_H
#define EDGELLM_MODEL_ARCH_H

#include <stdint.h>

/* Per-block tensors (bit i = arch_layer_tensors[i]). */
enum arch_tensor {
    AT_ATTN_NORM, AT_Q, AT_K, AT_V, AT_QKV, AT_O, AT_Q_BIAS, AT_K_BIAS, AT_V_BIAS, AT_Q_NORM, AT_K_NORM,
    AT_POST_ATTN_NORM, AT_FFN_NORM, AT_GATE, AT_UP, AT_UP_GATE, AT_DOWN, AT_POST_FFN_NORM, AT_COUNT
};
#define AT(x) (1u << AT_##x)

enum arch_rope { ROPE_NORM, ROPE_NEOX };        /* pairs (2i, 2i+1) | (i, i + n_rot/2) */
enum arch_act { ACT_SILU, ACT_GELU_TANH };      /* the gated FFN's activation */
enum arch_attn_scale { SCALE_HEAD_DIM, SCALE_GEMMA3 }; /* 1/sqrt(head_dim); gemma3: 1/sqrt(n_embd/n_head) at 62 layers */

/* Global rope-factor tensors a family may carry. */
enum arch_rope_factors {
    RF_NONE,
    RF_LLAMA3,   /* rope_freqs.weight [n_rot/2], divides every pair's angle */
    RF_LONGROPE, /* rope_factors_long / rope_factors_short [n_rot/2]: long when n_ctx > original_context_length */
};

struct arch_desc {
    const char *name;          /* general.architecture; hparams keys are "<name>.<key>" */
    uint32_t required, optional; /* AT(...) masks of block tensors */
    enum arch_rope rope;
    enum arch_act act;
    enum arch_attn_scale attn_scale;
    enum arch_rope_factors rope_factors;
    uint8_t embd_scale_sqrt;   /* x = token_embd[tok] * sqrt(n_embd) */
    uint8_t swa;               /* reads attention.sliding_window(_pattern), rope.freq_base_swa */
    uint32_t swa_period;       /* default pattern: layer il slides iff il % period < period - 1 */
    float swa_rope_base;       /* default rope base of sliding layers */
    uint32_t nope_step;        /* layers with (il + 1) % step == 0 skip RoPE (0: none) */
    uint8_t logit_softcap;     /* reads final_logit_softcapping */
};

/* The row for general.architecture, or NULL. */
const struct arch_desc *arch_find(const char *name);
/* "llama, qwen2, ..." for messages. */
const char *arch_names(void);

/* Block tensor names ("attn_q.weight") by enum arch_tensor. */
extern const char *const arch_layer_tensors[AT_COUNT];

#endif
