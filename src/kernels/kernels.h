/* Kernel dispatch: the operations the forward pass needs, each with a scalar reference and
 * optional ISA paths (src/kernels/arch/) chosen once from the CPU features. EDGELLM_ISA=scalar (or
 * avx2, avx512, neon) forces a path. The forward pass calls only the functions below.
 */
#ifndef EDGELLM_KERNELS_H
#define EDGELLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "quant/qtypes.h"
#include "core/threadpool.h"

/* A weight matrix or vector: a view into the mapping (or a repacked copy). */
struct weight {
    const void *data;
    uint32_t type;      /* enum qtype */
    uint32_t layout;    /* KERN_LAYOUT_ROWS (as in the file) or KERN_LAYOUT_X4 (repacked) */
    int64_t ne[2];      /* ne[0] = row length (inputs), ne[1] = rows (outputs) */
    size_t nb_row;      /* bytes per row (of the plain layout; a repacked weight has the same size) */
};

/* Repacked weights (repack.c). KERN_LAYOUT_X4 interleaves the blocks of each group of
 * KERN_RP_R rows column by column, fields split so that a 16-byte piece of the 4 rows is one
 * 64-byte vector (row r in 128-bit lane r), small scales grouped per few columns; every group
 * keeps its size, rows past the last whole group stay plain; long K-quant rows are stored in
 * slices (repack.c). One decoding thread
 * then reads its rows as one sequential stream (the plain layout is 4 interleaved streams that
 * keep too few loads in flight on CPUs with high per-core bandwidth). Decode (fewer than
 * KERN_PACK_MIN_N tokens) runs the ISA's rp_gemv kernel on it token by token, so a token's
 * result does not depend on its batch; prefill packs straight from it where the ISA has a
 * pack_x4 for the type, everything else (other prefill, ISAs without a kernel) first unpacks the
 * chunk of rows it works on into its scratch (kern_unrepack_rows). Types:
 * Q4_0, Q8_0, Q5_0, Q4_K, Q5_K, Q6_K, IQ4_XS, F16. */
enum { KERN_LAYOUT_ROWS = 0, KERN_LAYOUT_X4 = 1 };
#define KERN_RP_R 4
struct os_map;
struct kern_aux;
/* s[r] = dot(row r of the ng groups at w, x) for r < ng * KERN_RP_R (add: s[r] += it); x is
 * one activation row of the type's vec_dot_type, aux its aux entries (kern_aux_row; unused for
 * F16 and the 256-element types). w is one slice of a sliced weight (k its elements). */
typedef void (*kern_rp_fn)(int k, const void *w, int ng, const void *x, const struct kern_aux *aux, float *s, int add);
/* Elements per slice of w's repacked rows (ne[0]: not sliced; see repack.c), and where slice s of
 * group g starts. */
int64_t kern_rp_slice(const struct weight *w);
const void *kern_rp_slice_at(const struct weight *w, int64_t g, int s);
/* fn (the ISA's rp_gemv for w's type) on groups [g0, g0 + ng) of the repacked w, slice by slice:
 * y[r] for their rows, x one activation row of the vec_dot_type vdt, aux its aux entries. */
void kern_rp_groups(kern_rp_fn fn, const struct weight *w, int64_t g0, int ng, uint32_t vdt, const void *x,
                    const struct kern_aux *aux, float *y);
int kern_repack_layout_known(uint32_t type);
/* 1 if w (plain) can be repacked: a known type, at least one group, plain-sized rows. */
int kern_repack_possible(const struct weight *w);
/* 1 if the active ISA decodes w faster repacked (it has rp_gemv for the type) and it can be. */
int kern_repack_wanted(const struct weight *w);
/* Groups [g0, g1) of the plain rows at src -> the same groups of the repacked copy at dst. */
void kern_repack_groups(const struct weight *w, const void *src, void *dst, int64_t g0, int64_t g1);
/* Bytes to allocate for w's repacked copy (64-byte multiple). */
size_t kern_repack_bytes(const struct weight *w);
/* Repacks all of w (plain, data in the mapping map, may be NULL) into dst on tp's threads,
 * releasing the source pages (os_map_release) as it goes, so that peak memory stays about one
 * copy of the model. The caller then points the weight at dst with layout KERN_LAYOUT_X4. */
void kern_repack_weight(struct threadpool *tp, const struct os_map *map, const struct weight *w, void *dst);
/* Rows [r0, r1) of w (any layout; r0 a multiple of KERN_RP_R) as plain rows at dst. */
void kern_unrepack_rows(const struct weight *w, int64_t r0, int64_t r1, void *dst);
/* Row r (inside a whole group) of a repacked weight as floats, through f (the type's to_float). */
void kern_repacked_row(const struct weight *w, int64_t r, float *y, qtype_to_float_fn f);

/* A tile of dot products: s[j * lds + i] = dot(row i of w, row j of x) for i < nr, j < nc,
 * k elements per row; w rows are nbw bytes apart (weight type), x rows nbx bytes apart (its
 * vec_dot_type). nc <= the table's tile_c for the type (KERN_TILE_C if 0); nr is any count (kernels work in groups of KERN_TILE_R
 * rows; kern_matmul passes a whole chunk, a multiple of KERN_TILE_R except at the end). Each
 * weight block is loaded once per tile of tokens, so prefill runs as a matrix-matrix product. */
#define KERN_TILE_R 4
#define KERN_TILE_C 8
#define KERN_TILE_C_MAX 16
typedef void kern_tile_sig(int k, const void *w, size_t nbw, int nr, const void *x, size_t nbx, int nc, float *s,
                           size_t lds);
typedef kern_tile_sig *kern_tile_fn;

/* Packed prefill. With many tokens, a thread first rewrites its chunk of weight rows, in
 * groups of KERN_PACK_R, into an ISA-specific layout (quants unpacked to u8, row r of a group
 * in lane r, per-sub-block scales as floats; pack_b32 bytes per 32 elements per group), kept
 * in its scratch (L2) while every token tile is multiplied against it; rows in lanes means no
 * horizontal sums, and the unpacking is paid once per chunk instead of once per token tile.
 * tile_packed does ng groups (ng * KERN_PACK_R rows) for nc <= KERN_TILE_C_MAX tokens; the
 * tokens come as their vec_dot_type rows (x, nbx) plus per-32-element aux entries (naux per
 * token) computed once per matmul by kern_aux_row. */
#define KERN_PACK_R 16
#ifndef KERN_PACK_MIN_N
#define KERN_PACK_MIN_N 16 /* tokens from which a matmul packs (fewer: the tile kernels) */
#endif
struct kern_aux {
    float d;      /* the activation scale (Q8_0: the block's; Q8_K: the super-block's) */
    float bdy;    /* Q8_K: d * sum of the 32 quants (for the weight's mins); Q8_0: 0 */
    int32_t o0;   /* Q8_0: -8 * sum of the block's quants;    Q8_K: -32 * sum of the first 16 */
    int32_t o1;   /* Q8_0: -128 * sum of the block's quants;  Q8_K: -32 * sum of the last 16 */
};
typedef void (*kern_pack_fn)(int k, const void *w, size_t nbw, void *dst);
typedef void (*kern_tile_packed_fn)(int k, const void *packed, int ng, const void *x, size_t nbx,
                                    const struct kern_aux *aux, size_t naux, int nc, float *s, size_t lds);

/* The per-ISA table. Entries left NULL fall back to the scalar reference of qtypes.c. */
struct kern_isa {
    const char *name;
    qtype_vec_dot_fn vec_dot[QT_COUNT];          /* by weight type, dot with vec_dot_type */
    qtype_from_float_fn quantize[QT_COUNT];      /* by activation type (Q8_0, Q8_1, Q8_K, F16, BF16) */
    qtype_to_float_fn to_float[QT_COUNT];        /* by type */
    /* Register-tiled dot products for matmul, by weight type (NULL: vec_dot per pair). */
    kern_tile_fn tile[QT_COUNT];
    /* Tokens per tile call by weight type, up to KERN_TILE_C_MAX (0: KERN_TILE_C). */
    uint8_t tile_c[QT_COUNT];
    /* Packed prefill by weight type (NULL: none); all three set together. */
    kern_pack_fn pack[QT_COUNT];
    kern_tile_packed_fn tile_packed[QT_COUNT];
    uint16_t pack_b32[QT_COUNT];
    /* Packed prefill straight from a repacked weight (KERN_LAYOUT_X4), by weight type (NULL: the
     * chunk is first unpacked to plain rows): w points at KERN_PACK_R rows that lie in whole
     * groups, nbw is the plain row size; writes what pack writes for the same rows. */
    kern_pack_fn pack_x4[QT_COUNT];
    /* Decode on repacked weights (KERN_LAYOUT_X4) by weight type (NULL: do not repack). */
    kern_rp_fn rp_gemv[QT_COUNT];
    /* 1: rp_gemv also runs prefill (token by token over chunks in L2), being faster there than
     * unpacking rows for the type's tile kernel. */
    uint8_t rp_prefill[QT_COUNT];
    /* Float helpers (NULL: the scalar version in kernels.c). */
    void (*rmsnorm)(float *y, const float *x, const float *g, int n, float eps);
    float (*dot_f32)(const float *a, const float *b, int n);
    void (*axpy_f32)(float *y, float a, const float *x, int n);
    void (*silu_mul)(float *g, const float *u, int n);
};

/* The ISA tables defined in src/kernels/arch/ (only those compiled for this target exist). */
extern const struct kern_isa kern_isa_avx2, kern_isa_avx512, kern_isa_neon;

/* The table in use (selected on first call, thread-safe). */
const struct kern_isa *kern_active(void);
/* Select an ISA by name ("scalar", "avx2", "avx512", "neon"); returns 0 if not available here. Tests only. */
int kern_force(const char *name);
const char *kern_isa_name(void);
/* NULL, or a message when EDGELLM_ISA holds a value that names no ISA (edgellm_context_new then
 * fails with it: a misspelled path never falls back silently). */
const char *kern_isa_error(void);

/* y[i][r] = dot(row r of w, x[i]) for i < n, r < w->ne[1].
 *   x: [n][w->ne[0]] f32, y: [n][ldy] f32 (ldy >= w->ne[1]).
 *   scratch: kern_matmul_scratch_size(w->type, w->ne[0], n, threads of tp) bytes (activations
 *   quantized once, and each thread's packed weights).
 * Multi-threaded over tp. */
size_t kern_matmul_scratch_size(uint32_t wtype, int64_t k, int n, int n_threads);
/* The aux entries of one quantized activation row (Q8_0 or Q8_K, k elements): k / 32 of them. */
void kern_aux_row(uint32_t vdt, const void *xrow, int64_t k, struct kern_aux *aux);
void kern_matmul(struct threadpool *tp, const struct weight *w, const float *x, int n, float *y, int64_t ldy, void *scratch);
/* Several weights applied to the same x (Q/K/V, gate/up): y[i] = w[i]·x as above, with the
 * activations quantized once and one thread-pool job for all (nw <= 4). Weights whose inputs
 * quantize differently (vec_dot_type or k) are done one after another. scratch as above, sized
 * for w[0]. */
void kern_matmul_n(struct threadpool *tp, int nw, const struct weight *const *w, const float *x, int n, float *const *y,
                   const int64_t *ldy, void *scratch);

/* Dequantize row r of a weight into y[w->ne[0]] (embedding lookup). */
void kern_get_row(const struct weight *w, int64_t r, float *y);

/* Plain float helpers (vectorized where it pays). */
void kern_rmsnorm(float *y, const float *x, const float *g, int n, float eps);
float kern_dot_f32(const float *a, const float *b, int n);
void kern_axpy_f32(float *y, float a, const float *x, int n);      /* y += a * x */
void kern_silu_mul(float *g, const float *u, int n);                /* g = silu(g) * u */
void kern_gelu_mul(float *g, const float *u, int n);                /* g = gelu_tanh(g) * u */
#endif
