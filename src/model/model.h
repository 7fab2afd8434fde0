/* Model: hyperparameters read from GGUF metadata, weight views into the mapped file, and the
 * vocabulary. Read-only after load (nothing writes to it, not even error messages), so any number
 * of contexts and threads may share one model. */
#ifndef EDGELLM_MODEL_H
#define EDGELLM_MODEL_H

#include <stdint.h>
#include "edgellm.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"

struct vocab;

enum model_arch { ARCH_UNKNOWN = 0, ARCH_LLAMA = 1, ARCH_QWEN2 = 2 };

struct layer_weights {
    struct weight attn_norm;             /* (n_embd) f32 */
    struct weight wq, wk, wv, wo;        /* (n_embd -> n_head*hd), (n_embd -> n_head_kv*hd) x2, (n_head*hd -> n_embd) */
    struct weight bq, bk, bv;            /* qwen2 biases, data NULL when absent */
    struct weight ffn_norm;              /* (n_embd) */
    struct weight w_gate, w_up, w_down;  /* (n_embd -> n_ff) x2, (n_ff -> n_embd) */
};

struct hparams {
    enum model_arch arch;
    uint32_t n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot, head_dim;
    float rope_freq_base, norm_eps;
    int rope_neox;        /* qwen2: rotate pairs (i, i + n_rot/2); llama: (2i, 2i+1) */
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
    struct weight rope_freqs;     /* (n_rot/2) f32 factors, data NULL when absent */
    struct layer_weights *layers; /* [n_layer] */
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
