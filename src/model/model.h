/* Model: hyperparameters read from GGUF metadata, weight views into the mapped file, and the
 * vocabulary. Read-only after load (nothing writes to it, not even error messages), so any number
 * of contexts and threads may share one model. */
#ifndef EDGELLM_MODEL_H
#define EDGELLM_MODEL_H

#include <stdint.h>
#include "edgellm.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "model/arch.h"

struct vocab;

/* A block's weights. Fused tensors (attn_qkv, ffn_up holding gate|up) are bound as row views
 * into wq/wk/wv and w_gate/w_up, so the forward pass sees one layout. Optional tensors have
 * data NULL when absent. */
struct layer_weights {
    struct weight attn_norm;             /* (n_embd) f32 */
    struct weight wq, wk, wv, wo;        /* (n_embd -> n_head*hd), (n_embd -> n_head_kv*hd) x2, (n_head*hd -> n_embd) */
    struct weight bq, bk, bv;            /* QKV biases */
    struct weight q_norm, k_norm;        /* (hd) per-head RMSNorm weights (qwen3, gemma3) */
    struct weight post_attn_norm;        /* (n_embd) norm of the attention output (gemma3) */
    struct weight ffn_norm;              /* (n_embd) */
    struct weight w_gate, w_up, w_down;  /* (n_embd -> n_ff) x2, (n_ff -> n_embd) */
    struct weight post_ffn_norm;         /* (n_embd) norm of the FFN output (gemma3) */
};

/* Per-layer attention kind (array of n_layer, filled after checking block_count). */
struct layer_hparams {
    uint8_t swa;   /* sliding-window attention over the last swa_window positions */
    uint8_t rope;  /* 0: NoPE layer */
};

struct hparams {
    const struct arch_desc *arch;
    uint32_t n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot, head_dim;
    uint32_t head_dim_v;  /* = head_dim (key and value heads have one size here) */
    float rope_freq_base, rope_freq_base_swa, norm_eps;
    int rope_neox;        /* NEOX: rotate pairs (i, i + n_rot/2); NORM: (2i, 2i+1) */
    float attn_scale;     /* queries are scaled by this before q·k */
    float embd_scale;     /* token embeddings are multiplied by this (1 for most) */
    float logit_softcap;  /* logits = cap * tanh(logits / cap); 0: none */
    float rope_freq_scale; /* global layers' angles are multiplied by this (linear scaling, 1 default) */
    float rope_attn_factor; /* cos and sin multiplied by this (rope.scaling.attn_factor, 1 default) */
    uint32_t n_ctx_orig;  /* LongRoPE: long factors when the context's n_ctx exceeds this */
    uint32_t swa_window;  /* keys p0 visible from p1 iff p1 - p0 < swa_window (swa layers) */
    uint32_t n_swa_layers;
    struct layer_hparams *layer; /* [n_layer] */
};

struct edgellm_model {
    struct gguf_file *gguf;
    struct vocab *vocab;
    struct hparams hp;
    int supported;                /* weights present and all types known */
    char unsupported_why[256];
    struct weight tok_embd;       /* (n_embd, n_vocab) */
    struct weight output_norm;    /* (n_embd) */
    struct weight output;         /* (n_embd -> n_vocab); = tok_embd when tied */
    struct weight rope_freqs;     /* (n_rot/2) f32 factors, data NULL when absent (llama3) */
    struct weight rope_long, rope_short; /* (n_rot/2) f32 LongRoPE factors (phi3), data NULL when absent */
    struct layer_weights *layers; /* [n_layer] */
    void *repacked;               /* the repacked weights (os_alloc_big), NULL if none */
    size_t repacked_size;
    char *arch_name, *name, *chat_template;  /* owned, NUL-terminated */
    char **meta_keys;             /* [n_kv] NUL-terminated copies of the metadata keys */
    int32_t n_type_hist;
    uint32_t type_hist_type[64];
    uint64_t type_hist_count[64];
    uint64_t identity;            /* hash of metadata, tensor table and tensor samples (sequence states) */
    int n_threads;                /* threads for load-time work (model params; 0 there = cores) */
    char warning[256];            /* what went wrong at load without failing it (use_mlock), or "" */
};

const struct vocab *model_vocab(const struct edgellm_model *m);

#endif
