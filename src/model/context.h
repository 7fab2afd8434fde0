/* The context's internal layout, shared by the modules of the model layer that work on it:
 * context.c (creation, the KV cache, sequences), attention.c and forward.c (the forward pass).
 * All buffers are allocated in edgellm_context_new; nothing is allocated per token.
 * KV cache: one row of n_head_kv*head_dim values (kv_qtype) per (sequence, layer, position); a
 * sliding-window layer keeps a ring of kv_ring = min(n_ctx, window + n_batch) rows per sequence
 * (position p in row p % kv_ring), a full-attention layer n_ctx rows. */
#ifndef EDGELLM_MODEL_CONTEXT_H
#define EDGELLM_MODEL_CONTEXT_H

#include <stdint.h>
#include "edgellm.h"
#include "model/model.h"

#define UBATCH 512
#define ATT_CHUNK 64 /* cached positions whose K/V rows are converted to f32 at once */
#define ATT_TILE 16  /* query tokens of one sequence that share each converted chunk */
#define ATT_MAX_SEG 64 /* position segments of a one-token attention split across threads */

struct edgellm_context {
    struct edgellm_model *model;
    struct threadpool *tp;
    uint32_t n_ctx, n_batch, n_seq, n_ub, n_out_max;
    int n_threads;           /* threads in use (edgellm_context_set_threads) */
    int n_threads_max;       /* threads the scratch was sized for at creation */
    uint64_t mem_bytes;      /* bytes allocated (xalloc) */
    edgellm_kv_type kv_type;
    uint32_t kv_qtype;       /* qtype of a cache row */
    size_t kv_row_bytes;     /* bytes per (position, layer) row of n_head_kv*head_dim */
    uint8_t *k_cache, *v_cache; /* [n_seq][seq_rows]: per sequence, layer il's rows at layer_off[il] */
    size_t kv_bytes;         /* bytes of k_cache + v_cache */
    size_t seq_rows;         /* cache rows per sequence (sum of layer_rows) */
    size_t *layer_off;       /* [n_layer] first row of a layer within a sequence */
    uint32_t *layer_rows;    /* [n_layer] n_ctx, or kv_ring for sliding-window layers */
    uint32_t kv_ring;        /* rows of a sliding layer (0: the model has none) */
    uint32_t *seq_len;       /* [n_seq] */
    uint32_t *seq_hi;        /* [n_seq] 1 + the highest position written since the sequence was cleared */
    uint32_t *seq_ring_lo;   /* [n_seq] sliding layers: no ring row below this position is valid
                              * (a restored or shifted sequence holds only its last window) */
    const float *rope_factors; /* (n_rot/2) rope frequency factors for this context, or NULL */
    edgellm_token *tokens;   /* [n_seq][n_ctx] the token at each cached position */
    /* micro-batch scratch */
    float *x, *xn;           /* (n_ub, n_embd) */
    float *q, *k, *v, *att;  /* (n_ub, n_head*hd), (n_ub, kv_dim) x2, (n_ub, n_head*hd) */
    float *gate, *up;        /* (n_ub, n_ff) */
    float *rope_cache;       /* (2, n_ub, n_rot) cos/sin pairs: global layers, sliding layers */
    void *mm_scratch;        /* quantized activations for kern_matmul */
    float *att_scratch;      /* per thread: see attn_tile */
    size_t att_scratch_stride;
    float *att_part;         /* (n_head_kv, segments, gq, hd + 2) partial results of a split decode */
    float *logits;           /* (n_out_max, n_vocab) */
    int32_t n_logits;
    int32_t *ub_pos, *ub_seq; /* (n_ub) */
    float *out_rows;          /* (n_ub, n_embd) normalized states of tokens that want logits */
    edgellm_abort_fn abort_fn;
    void *abort_user;
    edgellm_activation_fn act_fn; /* matmul-input hook (importance matrix), NULL when unset */
    void *act_user;
    char errmsg[256];
};

/* Sets the context's message and returns st. */
edgellm_status ctx_fail(struct edgellm_context *c, edgellm_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports the n rows (ncols floats each) about to be multiplied by weight "blk.<il>.<role>.weight"
 * (il < 0: the output projection) to the activation hook, if one is set. */
void ctx_activation(struct edgellm_context *c, int32_t il, const char *role, const float *x, int n, int64_t ncols);

/* The cache row of (seq, il, pos) in cache (c->k_cache or c->v_cache); a ring row on sliding layers. */
uint8_t *kv_row(const struct edgellm_context *c, uint8_t *cache, int32_t seq, uint32_t il, uint32_t pos);
/* n values into / out of a cache row (kv_qtype). */
void kv_store(const struct edgellm_context *c, uint8_t *dst, const float *src, int64_t n);
void kv_load(const struct edgellm_context *c, const uint8_t *src, float *dst, int64_t n);

/* Whether the sliding layers still hold every key a query at position p of seq needs. */
int kv_ring_covers(const struct edgellm_context *c, int32_t seq, uint32_t p);
/* The token at (seq, pos) of the token history (set by decode). */
void kv_set_token(struct edgellm_context *c, int32_t seq, uint32_t pos, edgellm_token tok);
/* The KV rows of positions [0, n) of a sequence as one byte string (sequence state): its size,
 * saving, restoring, and copying them to another sequence. Caches with another layout (ring
 * buffers) adapt these four. */
size_t kv_seq_bytes(const struct edgellm_context *c, uint32_t n);
void kv_seq_save(const struct edgellm_context *c, int32_t seq, uint32_t n, uint8_t *dst);
void kv_seq_restore(struct edgellm_context *c, int32_t seq, uint32_t n, const uint8_t *src);
void kv_seq_copy(struct edgellm_context *c, int32_t src, int32_t dst, uint32_t n);
/* Whether the cache rows of layer il still hold position pos of seq (always on full layers). */
int kv_holds(const struct edgellm_context *c, int32_t seq, uint32_t il, uint32_t pos);

/* RoPE (forward.c): cs = (cos, sin) * ms of the n_rot/2 angles of position pos (swa: the
 * sliding layers' base); rotating the first n_rot dims of n_heads heads of x by them. */
void rope_cos_sin(const struct edgellm_context *c, int swa, float pos, float ms, float *cs);
void rope_rotate(const struct hparams *hp, float *x, uint32_t n_heads, const float *cs);

/* Attention of the micro-batch (attention.c): tiles of consecutive tokens of one sequence. */
int attn_tiles(const struct edgellm_context *c, int n, int16_t *t0, int16_t *nt);
/* c->att = softmax(q kᵀ * attn_scale) v for layer il over the n_tiles tiles (keys within the
 * sliding window on swa layers), on the thread pool. */
void attn_run(struct edgellm_context *c, uint32_t il, int n_tiles, const int16_t *t0, const int16_t *nt);

#endif
