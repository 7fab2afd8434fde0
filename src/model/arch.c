/* The architecture table (see arch.h). Semantics follow the reference engine (llama.cpp's
 * per-architecture hparams loaders and graph builders); shared/zoo/README.md spells each out. */
#include "model/arch.h"

#include <string.h>

const char *const arch_layer_tensors[AT_COUNT] = {
    [AT_ATTN_NORM] = "attn_norm.weight",
    [AT_Q] = "attn_q.weight",
    [AT_K] = "attn_k.weight",
    [AT_V] = "attn_v.weight",
    [AT_QKV] = "attn_qkv.weight",          /* fused: rows q | k | v */
    [AT_O] = "attn_output.weight",
    [AT_Q_BIAS] = "attn_q.bias",
    [AT_K_BIAS] = "attn_k.bias",
    [AT_V_BIAS] = "attn_v.bias",
    [AT_Q_NORM] = "attn_q_norm.weight",    /* per head, before RoPE */
    [AT_K_NORM] = "attn_k_norm.weight",
    [AT_POST_ATTN_NORM] = "post_attention_norm.weight",
    [AT_FFN_NORM] = "ffn_norm.weight",
    [AT_GATE] = "ffn_gate.weight",
    [AT_UP] = "ffn_up.weight",
    [AT_UP_GATE] = "ffn_up.weight",        /* fused: rows gate | up (2 * n_ff) */
    [AT_DOWN] = "ffn_down.weight",
    [AT_POST_FFN_NORM] = "post_ffw_norm.weight",
};

#define LLAMA_BLOCK (AT(ATTN_NORM) | AT(Q) | AT(K) | AT(V) | AT(O) | AT(FFN_NORM) | AT(GATE) | AT(UP) | AT(DOWN))
#define QKV_BIAS (AT(Q_BIAS) | AT(K_BIAS) | AT(V_BIAS))
#define QK_NORM (AT(Q_NORM) | AT(K_NORM))

static const struct arch_desc arch_table[] = {
    /* Llama 2/3.x, Mistral-style: the plain block; Llama 3 rope_freqs scaling when present. */
    {.name = "llama", .required = LLAMA_BLOCK, .optional = QKV_BIAS, .rope = ROPE_NORM, .rope_factors = RF_LLAMA3},
    /* Qwen2/2.5, R1-Distill-Qwen: QKV biases, NEOX rope. */
    {.name = "qwen2", .required = LLAMA_BLOCK | QKV_BIAS, .rope = ROPE_NEOX},
    /* Qwen3 (and R1-0528-Qwen3): per-head Q/K RMSNorm before RoPE; head_dim from key_length. */
    {.name = "qwen3", .required = LLAMA_BLOCK | QK_NORM, .rope = ROPE_NEOX},
    /* Gemma 3 (text): sandwich norms, GELU-tanh, x * sqrt(n_embd), 5 sliding : 1 global layers. */
    {.name = "gemma3", .required = LLAMA_BLOCK | QK_NORM | AT(POST_ATTN_NORM) | AT(POST_FFN_NORM), .rope = ROPE_NEOX,
     .act = ACT_GELU_TANH, .attn_scale = SCALE_GEMMA3, .embd_scale_sqrt = 1, .swa = 1, .swa_period = 6,
     .swa_rope_base = 10000.0f, .logit_softcap = 1},
    /* Phi-3/3.5, Phi-4-mini: fused QKV (or separate), fused gate|up, partial rotary, LongRoPE
     * (its attention.sliding_window is ignored, as the reference does). */
    {.name = "phi3", .required = AT(ATTN_NORM) | AT(O) | AT(FFN_NORM) | AT(UP_GATE) | AT(DOWN),
     .optional = AT(QKV) | AT(Q) | AT(K) | AT(V), .rope = ROPE_NEOX, .rope_factors = RF_LONGROPE},
    /* SmolLM3: a Llama block; every 4th layer (il = 3, 7, ...) has no RoPE. */
    {.name = "smollm3", .required = LLAMA_BLOCK, .rope = ROPE_NORM, .nope_step = 4},
};

const struct arch_desc *arch_find(const char *name) {
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (!strcmp(arch_table[i].name, name)) return &arch_table[i];
    return NULL;
}

const char *arch_names(void) { return "llama, qwen2, qwen3, gemma3, phi3, smollm3"; }
