/* The matcher: a pushdown automaton over bytes, determinized lazily. A state is a set of stacks
 * of positions in the grammar's elements (the top is always a byte set; an empty stack means the
 * text is complete); advancing by a byte keeps the stacks whose top accepts it, moves past it and
 * expands rule references until every top is a byte set again. States are interned (sorted,
 * deduplicated stacks) and each keeps a lazily filled [256] transition table, so after warm-up
 * a byte costs one table lookup. A mask walks the vocabulary's trie (tokens sorted by their
 * bytes; each node knows where its subtree ends) through those transitions, skipping a whole
 * subtree at the first dead byte. Masks are cached per state. */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "text/vocab.h"
#include "core/util.h"

#define GM_MAX_STACK 2048      /* positions in one stack (nesting depth of the text) */
#define GM_MAX_STACKS 4096     /* stacks in one state */
#define GM_BSET (2 * GM_MAX_STACKS) /* slots of the set of stacks being collected (power of 2) */
#define GM_MAX_STATES 200000   /* interned states before the cache is rebuilt */
#define GM_N_MASKS 8           /* cached masks */
#define GM_UNKNOWN (-2)
#define GM_DEAD (-1)
#define GM_DONE (-3)           /* the end-of-generation token was accepted */

struct gm_state {
    int64_t off;       /* content in store: n_stacks x [len, p...] */
    int32_t n_ints, n_stacks;
    uint32_t hash;
    int32_t min;       /* fewest bytes to complete */
    int32_t *trans;    /* [256] or NULL */
};

struct gm_mask {
    int32_t state;     /* -1: unused */
    int32_t max_next_min; /* largest "fewest bytes" after an allowed token */
    uint8_t *allow;    /* [n_vocab] */
    int32_t *ids;      /* [n_vocab] the allowed tokens, n_ids of them */
    int32_t n_ids;
};

struct gmatch {
    const struct edgellm_grammar *g;
    int32_t n_vocab;
    /* the vocabulary */
    char *blob;
    int64_t *tok_off;
    int32_t *tok_len;         /* bytes of each token; 0: never allowed (control, empty) */
    uint8_t *is_eog;
    int32_t n_nodes, max_depth;
    uint8_t *n_byte;
    int32_t *n_depth, *n_skip, *n_tok0, *n_tok1, *sorted;
    int32_t *level;           /* [max_depth + 1] */
    /* interned states */
    struct gm_state *st;
    int32_t n_st, cap_st;
    int32_t *store;
    int64_t n_store, cap_store;
    int32_t *htab;            /* state ids, -1 empty */
    int64_t hcap;
    /* building a state */
    int32_t *bld;             /* stacks being collected: [len, p...] */
    int64_t n_bld, cap_bld;
    int32_t *bld_at;          /* start of each collected stack */
    uint32_t *bld_hash;
    int32_t n_bstk;
    int32_t *bset;            /* [GM_BSET] open addressing over the collected stacks; a slot is in */
    uint32_t *bset_gen;       /* use when its generation is bgen (no clearing per state) */
    uint32_t bgen;
    int32_t *scr;             /* expansion scratch */
    int64_t n_scr, cap_scr;
    int oom;
    int32_t start, cur;
    struct gm_mask masks[GM_N_MASKS];
    int32_t next_mask;
    uint8_t *tmp_allow;       /* [n_vocab] uncached masks */
    int32_t *tmp_ids;         /* [n_vocab] their token list */
    int32_t n_tmp_ids;
    int32_t last_n_ids;       /* tokens of the last mask returned */
    const int32_t *last_ids;
};

static int gm_grow(void **p, int64_t *cap, int64_t need, size_t elt) {
    if (need <= *cap) return 1;
    int64_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, (size_t)nc * elt);
    if (!np) return 0;
    *p = np;
    *cap = nc;
    return 1;
}

static uint32_t gm_hash_ints(const int32_t *v, int32_t n) {
    uint32_t h = 2166136261u;
    for (int32_t i = 0; i < n; i++) {
        h ^= (uint32_t)v[i];
        h *= 16777619u;
        h ^= h >> 15;
    }
    return h;
}

/* Collects a stack (scr[off..off+len)) into the state being built, unless already there. */
static void gm_collect(struct gmatch *m, int64_t off, int32_t len) {
    const int32_t *s = m->scr + off;
    uint32_t h = gm_hash_ints(s, len), slot = h & (GM_BSET - 1);
    for (; m->bset_gen[slot] == m->bgen; slot = (slot + 1) & (GM_BSET - 1)) {
        const int32_t i = m->bset[slot];
        const int32_t *o = m->bld + m->bld_at[i];
        if (m->bld_hash[i] == h && o[0] == len && memcmp(o + 1, s, (size_t)len * sizeof *s) == 0) return;
    }
    if (m->n_bstk >= GM_MAX_STACKS) return;
    m->bset_gen[slot] = m->bgen;
    m->bset[slot] = m->n_bstk;
    if (!gm_grow((void **)&m->bld, &m->cap_bld, m->n_bld + len + 1, sizeof *m->bld)) { m->oom = 1; return; }
    s = m->scr + off;
    m->bld_at[m->n_bstk] = (int32_t)m->n_bld;
    m->bld_hash[m->n_bstk++] = h;
    m->bld[m->n_bld++] = len;
    memcpy(m->bld + m->n_bld, s, (size_t)len * sizeof *s);
    m->n_bld += len;
}

/* Expands the stack scr[off..off+len) until its top is a byte set (or it is empty). */
static void gm_expand(struct gmatch *m, int64_t off, int32_t len, int depth) {
    const struct edgellm_grammar *g = m->g;
    while (len > 0 && g->elems[m->scr[off + len - 1]] == GRAMMAR_END) len--;
    if (len == 0 || g->elems[m->scr[off + len - 1]] < 0) { gm_collect(m, off, len); return; }
    if (depth > 4 * g->n_rules + 64 || len + 1 > GM_MAX_STACK) return; /* too deep: this path is dropped */
    if (m->n_bstk >= GM_MAX_STACKS) return; /* the state is full: further paths are dropped */
    int32_t p = m->scr[off + len - 1];
    int32_t r = g->elems[p];
    int has_cont = g->elems[p + 1] != GRAMMAR_END;
    for (int32_t a = 0; a < g->rule_nalt[r]; a++) {
        int64_t no = m->n_scr;
        if (!gm_grow((void **)&m->scr, &m->cap_scr, no + len + 1, sizeof *m->scr)) { m->oom = 1; return; }
        memcpy(m->scr + no, m->scr + off, (size_t)(len - 1) * sizeof *m->scr);
        int32_t k = len - 1;
        if (has_cont) m->scr[no + k++] = p + 1;
        m->scr[no + k++] = g->alt_pos[g->rule_alt0[r] + a];
        m->n_scr = no + k;
        gm_expand(m, no, k, depth + 1);
        m->n_scr = no;
    }
}

static void gm_build_begin(struct gmatch *m) {
    m->n_bld = 0;
    m->n_bstk = 0;
    m->n_scr = 0;
    if (++m->bgen == 0) { /* wrapped: every slot free again */
        memset(m->bset_gen, 0, GM_BSET * sizeof *m->bset_gen);
        m->bgen = 1;
    }
}

/* Sorted order of the collected stacks (by hash, then content) makes equal sets equal. */
static struct gmatch *gm_sort_ctx;
static int gm_stack_cmp(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    struct gmatch *m = gm_sort_ctx;
    if (m->bld_hash[i] != m->bld_hash[j]) return m->bld_hash[i] < m->bld_hash[j] ? -1 : 1;
    const int32_t *x = m->bld + m->bld_at[i], *y = m->bld + m->bld_at[j];
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return memcmp(x + 1, y + 1, (size_t)x[0] * sizeof *x);
}

static void gm_rehash(struct gmatch *m) {
    int64_t nc = m->hcap ? m->hcap * 2 : 1024;
    int32_t *nt = malloc((size_t)nc * sizeof *nt);
    if (!nt) { m->oom = 1; return; }
    memset(nt, 0xff, (size_t)nc * sizeof *nt);
    for (int32_t i = 0; i < m->n_st; i++) {
        int64_t h = m->st[i].hash & (nc - 1);
        while (nt[h] >= 0) h = (h + 1) & (nc - 1);
        nt[h] = i;
    }
    free(m->htab);
    m->htab = nt;
    m->hcap = nc;
}

/* Interns the collected stacks: the id of an equal state or a new one; GM_DEAD when none. */
static int32_t gm_build_end(struct gmatch *m) {
    if (m->oom) return GM_DEAD;
    if (m->n_bstk == 0) return GM_DEAD;
    int32_t order[GM_MAX_STACKS];
    for (int32_t i = 0; i < m->n_bstk; i++) order[i] = i;
    gm_sort_ctx = m;
    qsort(order, (size_t)m->n_bstk, sizeof *order, gm_stack_cmp);
    int64_t need = m->n_store + m->n_bld;
    if (!gm_grow((void **)&m->store, &m->cap_store, need, sizeof *m->store)) { m->oom = 1; return GM_DEAD; }
    int64_t off = m->n_store, w = off;
    for (int32_t i = 0; i < m->n_bstk; i++) {
        const int32_t *s = m->bld + m->bld_at[order[i]];
        memcpy(m->store + w, s, (size_t)(s[0] + 1) * sizeof *s);
        w += s[0] + 1;
    }
    int32_t n_ints = (int32_t)(w - off);
    uint32_t h = gm_hash_ints(m->store + off, n_ints);
    if (m->hcap == 0 || (int64_t)m->n_st * 2 >= m->hcap) {
        gm_rehash(m);
        if (m->oom) return GM_DEAD;
    }
    int64_t slot = h & (m->hcap - 1);
    while (m->htab[slot] >= 0) {
        const struct gm_state *o = &m->st[m->htab[slot]];
        if (o->hash == h && o->n_ints == n_ints && memcmp(m->store + o->off, m->store + off, (size_t)n_ints * sizeof(int32_t)) == 0)
            return m->htab[slot];
        slot = (slot + 1) & (m->hcap - 1);
    }
    if (m->n_st == m->cap_st) {
        int64_t cap = m->cap_st;
        if (!gm_grow((void **)&m->st, &cap, m->n_st + 1, sizeof *m->st)) { m->oom = 1; return GM_DEAD; }
        m->cap_st = (int32_t)cap;
    }
    struct gm_state *s = &m->st[m->n_st];
    s->off = off;
    s->n_ints = n_ints;
    s->n_stacks = m->n_bstk;
    s->hash = h;
    s->trans = NULL;
    int32_t best = GRAMMAR_INF;
    for (int64_t q = off; q < w;) {
        int32_t len = m->store[q], sum = 0;
        for (int32_t k = 1; k <= len; k++) {
            int32_t pm = m->g->pos_min[m->store[q + k]];
            sum = sum >= GRAMMAR_INF - pm ? GRAMMAR_INF : sum + pm;
        }
        if (sum < best) best = sum;
        q += len + 1;
    }
    s->min = best;
    m->n_store = w;
    m->htab[slot] = m->n_st;
    return m->n_st++;
}

static int32_t gm_initial(struct gmatch *m) {
    gm_build_begin(m);
    /* a virtual stack: [root reference] is expanded through a one-element alternative */
    const struct edgellm_grammar *g = m->g;
    int32_t r = g->root;
    for (int32_t a = 0; a < g->rule_nalt[r]; a++) {
        if (!gm_grow((void **)&m->scr, &m->cap_scr, 1, sizeof *m->scr)) { m->oom = 1; return GM_DEAD; }
        m->scr[0] = g->alt_pos[g->rule_alt0[r] + a];
        m->n_scr = 1;
        gm_expand(m, 0, 1, 0);
    }
    return gm_build_end(m);
}

static int32_t gm_step(struct gmatch *m, int32_t sid, unsigned b) {
    struct gm_state *s = &m->st[sid];
    if (s->trans && s->trans[b] != GM_UNKNOWN) return s->trans[b];
    if (!s->trans) {
        s->trans = malloc(256 * sizeof *s->trans);
        if (!s->trans) { m->oom = 1; return GM_DEAD; }
        for (int i = 0; i < 256; i++) s->trans[i] = GM_UNKNOWN;
    }
    const struct edgellm_grammar *g = m->g;
    gm_build_begin(m);
    int64_t q = s->off, end = s->off + s->n_ints;
    while (q < end) {
        int32_t len = m->store[q];
        if (len > 0) {
            int32_t top = m->store[q + len];
            if (grammar_set_has(g, g->elems[top], b)) {
                if (!gm_grow((void **)&m->scr, &m->cap_scr, len, sizeof *m->scr)) { m->oom = 1; break; }
                memcpy(m->scr, m->store + q + 1, (size_t)len * sizeof *m->scr);
                m->scr[len - 1] = top + 1;
                m->n_scr = len;
                gm_expand(m, 0, len, 0);
            }
        }
        q += len + 1;
    }
    int32_t r = gm_build_end(m);
    if (m->oom) return GM_DEAD;
    m->st[sid].trans[b] = r; /* m->st may have moved */
    return r;
}

static int gm_state_complete(const struct gmatch *m, int32_t sid) { return sid >= 0 && m->st[sid].min == 0; }

/* Forgets all states (memory bound) and re-interns the current one. */
static void gm_flush(struct gmatch *m) {
    int32_t keep = m->cur;
    int32_t *copy = NULL, n = 0;
    if (keep >= 0) {
        n = m->st[keep].n_ints;
        copy = malloc((size_t)n * sizeof *copy + 4);
        if (!copy) { m->oom = 1; return; }
        memcpy(copy, m->store + m->st[keep].off, (size_t)n * sizeof *copy);
    }
    for (int32_t i = 0; i < m->n_st; i++) free(m->st[i].trans);
    m->n_st = 0;
    m->n_store = 0;
    memset(m->htab, 0xff, (size_t)m->hcap * sizeof *m->htab);
    for (int i = 0; i < GM_N_MASKS; i++) m->masks[i].state = -1;
    m->start = gm_initial(m);
    if (keep >= 0) {
        gm_build_begin(m);
        for (int32_t q = 0; q < n;) {
            int32_t len = copy[q];
            if (!gm_grow((void **)&m->scr, &m->cap_scr, len + 1, sizeof *m->scr)) { m->oom = 1; break; }
            memcpy(m->scr, copy + q + 1, (size_t)len * sizeof *copy);
            gm_collect(m, 0, len);
            q += len + 1;
        }
        m->cur = gm_build_end(m);
    } else m->cur = keep;
    free(copy);
}

/* ---- the vocabulary trie -------------------------------------------------------------------- */

struct gm_sortent {
    const char *p;
    int32_t len, tok;
};

static int gm_sortent_cmp(const void *a, const void *b) {
    const struct gm_sortent *x = a, *y = b;
    int32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, (size_t)n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->tok < y->tok ? -1 : x->tok > y->tok;
}

static edgellm_status gm_build_trie(struct gmatch *m, const struct vocab *v, char *err, size_t err_size) {
    int32_t nv = vocab_n_tokens(v);
    m->n_vocab = nv;
    m->tok_off = malloc((size_t)nv * sizeof *m->tok_off + 8);
    m->tok_len = calloc((size_t)nv + 1, sizeof *m->tok_len);
    m->is_eog = calloc((size_t)nv + 1, 1);
    if (!m->tok_off || !m->tok_len || !m->is_eog) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "grammar: out of memory");
    int64_t cap = 0, n = 0;
    char buf[512];
    for (int32_t t = 0; t < nv; t++) {
        m->is_eog[t] = (uint8_t)(vocab_is_eog(v, t) != 0);
        m->tok_off[t] = n;
        if (m->is_eog[t]) continue;
        int len = vocab_token_to_piece(v, t, 0, buf, sizeof buf);
        if (len <= 0 || len >= (int)sizeof buf) continue;
        if (!gm_grow((void **)&m->blob, &cap, n + len, 1)) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "grammar: out of memory");
        memcpy(m->blob + n, buf, (size_t)len);
        m->tok_len[t] = len;
        n += len;
    }
    struct gm_sortent *e = malloc((size_t)nv * sizeof *e + 1);
    m->sorted = malloc((size_t)nv * sizeof *m->sorted + 4);
    if (!e || !m->sorted) { free(e); return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "grammar: out of memory"); }
    int32_t ne = 0, maxlen = 0;
    for (int32_t t = 0; t < nv; t++)
        if (m->tok_len[t] > 0) {
            e[ne++] = (struct gm_sortent){m->blob + m->tok_off[t], m->tok_len[t], t};
            if (m->tok_len[t] > maxlen) maxlen = m->tok_len[t];
        }
    qsort(e, (size_t)ne, sizeof *e, gm_sortent_cmp);
    int64_t total = 0;
    for (int32_t i = 0; i < ne; i++) total += e[i].len;
    m->n_byte = malloc((size_t)total + 1);
    m->n_depth = malloc((size_t)total * sizeof(int32_t) + 4);
    m->n_skip = malloc((size_t)total * sizeof(int32_t) + 4);
    m->n_tok0 = malloc((size_t)total * sizeof(int32_t) + 4);
    m->n_tok1 = malloc((size_t)total * sizeof(int32_t) + 4);
    m->level = malloc((size_t)(maxlen + 2) * sizeof(int32_t));
    int32_t *path = malloc((size_t)(maxlen + 2) * sizeof(int32_t));
    if (!m->n_byte || !m->n_depth || !m->n_skip || !m->n_tok0 || !m->n_tok1 || !m->level || !path) {
        free(e);
        free(path);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "grammar: out of memory");
    }
    int32_t nn = 0, open = 0; /* path[1..open]: the nodes of the previous token */
    const char *prev = NULL;
    int32_t prev_len = 0;
    for (int32_t i = 0; i < ne; i++) {
        m->sorted[i] = e[i].tok;
        int32_t lcp = 0;
        if (prev)
            while (lcp < prev_len && lcp < e[i].len && prev[lcp] == e[i].p[lcp]) lcp++;
        for (int32_t d = lcp + 1; d <= open; d++) m->n_skip[path[d]] = nn; /* closed subtrees */
        open = lcp;
        for (int32_t d = lcp + 1; d <= e[i].len; d++) {
            m->n_byte[nn] = (uint8_t)e[i].p[d - 1];
            m->n_depth[nn] = d;
            m->n_tok0[nn] = m->n_tok1[nn] = 0;
            path[d] = nn++;
            open = d;
        }
        int32_t node = path[e[i].len];
        if (m->n_tok0[node] == m->n_tok1[node]) m->n_tok0[node] = i;
        m->n_tok1[node] = i + 1;
        prev = e[i].p;
        prev_len = e[i].len;
    }
    for (int32_t d = 1; d <= open; d++) m->n_skip[path[d]] = nn;
    m->n_nodes = nn;
    m->max_depth = maxlen;
    free(path);
    free(e);
    return EDGELLM_OK;
}

/* ---- the interface -------------------------------------------------------------------------- */

void gmatch_free(struct gmatch *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_st; i++) free(m->st[i].trans);
    free(m->st);
    free(m->store);
    free(m->htab);
    free(m->bld);
    free(m->bld_at);
    free(m->bld_hash);
    free(m->bset);
    free(m->bset_gen);
    free(m->scr);
    free(m->blob);
    free(m->tok_off);
    free(m->tok_len);
    free(m->is_eog);
    free(m->n_byte);
    free(m->n_depth);
    free(m->n_skip);
    free(m->n_tok0);
    free(m->n_tok1);
    free(m->sorted);
    free(m->level);
    for (int i = 0; i < GM_N_MASKS; i++) free(m->masks[i].allow), free(m->masks[i].ids);
    free(m->tmp_ids);
    free(m->tmp_allow);
    free(m);
}

edgellm_status gmatch_new(const struct edgellm_grammar *g, const struct vocab *v, struct gmatch **out, char *err,
                          size_t err_size) {
    if (!out) return EDGELLM_ERR_ARG;
    *out = NULL;
    if (!g) return util_errf(err, err_size, EDGELLM_ERR_ARG, "grammar: no grammar");
    struct gmatch *m = calloc(1, sizeof *m);
    if (!m) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "grammar: out of memory");
    m->g = g;
    m->bld_at = malloc(GM_MAX_STACKS * sizeof *m->bld_at);
    m->bld_hash = malloc(GM_MAX_STACKS * sizeof *m->bld_hash);
    m->bset = malloc(GM_BSET * sizeof *m->bset);
    m->bset_gen = calloc(GM_BSET, sizeof *m->bset_gen);
    m->bgen = 1;
    for (int i = 0; i < GM_N_MASKS; i++) m->masks[i].state = -1;
    edgellm_status st = EDGELLM_OK;
    if (!m->bld_at || !m->bld_hash || !m->bset || !m->bset_gen) st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "grammar: out of memory");
    if (st == EDGELLM_OK && v) {
        st = gm_build_trie(m, v, err, err_size);
        if (st == EDGELLM_OK && (!(m->tmp_allow = malloc((size_t)m->n_vocab + 1)) ||
                                 !(m->tmp_ids = malloc((size_t)m->n_vocab * sizeof *m->tmp_ids + 4))))
            st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "grammar: out of memory");
    }
    if (st == EDGELLM_OK) {
        m->start = m->cur = gm_initial(m);
        if (m->oom || m->start < 0) st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "grammar: out of memory");
    }
    if (st != EDGELLM_OK) { gmatch_free(m); return st; }
    *out = m;
    return EDGELLM_OK;
}

void gmatch_reset(struct gmatch *m) {
    if (m) m->cur = m->start;
}

static void gm_maybe_flush(struct gmatch *m) {
    if (m->n_st > GM_MAX_STATES || m->n_store > (int64_t)GM_MAX_STATES * 64) gm_flush(m);
}

/* State after tok's bytes from the current state, or GM_DEAD. */
static int32_t gm_after(struct gmatch *m, int32_t tok) {
    if (m->cur < 0 || tok < 0 || tok >= m->n_vocab || m->tok_len[tok] <= 0) return GM_DEAD;
    const unsigned char *b = (const unsigned char *)m->blob + m->tok_off[tok];
    int32_t s = m->cur;
    for (int32_t i = 0; i < m->tok_len[tok] && s >= 0; i++) s = gm_step(m, s, b[i]);
    return s;
}

int gmatch_check(struct gmatch *m, int32_t tok, int32_t n_left) {
    if (!m || tok < 0 || tok >= m->n_vocab || m->cur < 0) return 0;
    gm_maybe_flush(m);
    if (m->is_eog[tok]) return gm_state_complete(m, m->cur);
    int32_t s = gm_after(m, tok);
    if (s < 0) return 0;
    int32_t mn = m->st[s].min;
    return mn < GRAMMAR_INF && (n_left < 0 || mn <= n_left - 2);
}

edgellm_status gmatch_accept(struct gmatch *m, int32_t tok) {
    if (!m || tok < 0 || tok >= m->n_vocab || m->cur < 0) return EDGELLM_ERR_ARG;
    gm_maybe_flush(m);
    if (m->is_eog[tok]) {
        if (!gm_state_complete(m, m->cur)) return EDGELLM_ERR_ARG;
        m->cur = GM_DONE;
        return EDGELLM_OK;
    }
    int32_t s = gm_after(m, tok);
    if (s < 0 || m->st[s].min >= GRAMMAR_INF) return m->oom ? EDGELLM_ERR_NOMEM : EDGELLM_ERR_ARG;
    m->cur = s;
    return EDGELLM_OK;
}

int gmatch_complete(const struct gmatch *m) { return m && (m->cur == GM_DONE || gm_state_complete(m, m->cur)); }

int32_t gmatch_min_bytes(const struct gmatch *m) {
    if (!m || m->cur == GM_DONE) return 0;
    return m->cur >= 0 ? m->st[m->cur].min : GRAMMAR_INF;
}

/* The trie walk: allow[t] = 1 for tokens whose end state can complete within limit bytes
 * (limit < 0: any finite); *max_min gets the largest such "fewest bytes". */
static void gm_walk(struct gmatch *m, uint8_t *allow, int32_t *ids, int32_t *n_ids, int32_t limit, int32_t *max_min) {
    memset(allow, 0, (size_t)m->n_vocab);
    int32_t mx = 0, n = 0;
    *n_ids = 0;
    if (m->cur == GM_DONE) { *max_min = 0; return; }
    if (m->cur < 0) { *max_min = 0; return; }
    if (gm_state_complete(m, m->cur))
        for (int32_t t = 0; t < m->n_vocab; t++)
            if (m->is_eog[t]) allow[t] = 1, ids[n++] = t;
    int32_t *level = m->level;
    level[0] = m->cur;
    for (int32_t i = 0; i < m->n_nodes;) {
        int32_t d = m->n_depth[i];
        int32_t s = gm_step(m, level[d - 1], m->n_byte[i]);
        if (s < 0) { i = m->n_skip[i]; continue; }
        level[d] = s;
        int32_t mn = m->st[s].min;
        if (m->n_tok0[i] < m->n_tok1[i] && mn < GRAMMAR_INF && (limit < 0 || mn <= limit)) {
            for (int32_t k = m->n_tok0[i]; k < m->n_tok1[i]; k++) allow[m->sorted[k]] = 1, ids[n++] = m->sorted[k];
            if (mn > mx) mx = mn;
        }
        i++;
    }
    *max_min = mx;
    *n_ids = n;
}

/* The cached mask of the current state that serves limit (< 0: none), or NULL. */
static const struct gm_mask *gm_cached(const struct gmatch *m, int32_t limit) {
    if (m->cur >= 0)
        for (int i = 0; i < GM_N_MASKS; i++)
            if (m->masks[i].state == m->cur && (limit < 0 || m->masks[i].max_next_min <= limit)) return &m->masks[i];
    return NULL;
}

int gmatch_mask_cached(const struct gmatch *m, int32_t n_left) {
    return m && (n_left < 0 || n_left >= 2) && gm_cached(m, n_left < 0 ? -1 : n_left - 2) != NULL;
}

const uint8_t *gmatch_mask(struct gmatch *m, int32_t n_left) {
    if (!m || !m->tmp_allow) return NULL;
    gm_maybe_flush(m);
    if (n_left >= 0 && n_left < 2) {
        /* room for the end token only */
        memset(m->tmp_allow, 0, (size_t)m->n_vocab);
        m->n_tmp_ids = 0;
        if (m->cur >= 0 && gm_state_complete(m, m->cur))
            for (int32_t t = 0; t < m->n_vocab; t++)
                if ((m->tmp_allow[t] = m->is_eog[t])) m->tmp_ids[m->n_tmp_ids++] = t;
        m->last_ids = m->tmp_ids;
        m->last_n_ids = m->n_tmp_ids;
        return m->tmp_allow;
    }
    int32_t limit = n_left < 0 ? -1 : n_left - 2;
    const struct gm_mask *hit = gm_cached(m, limit);
    if (hit) {
        m->last_ids = hit->ids;
        m->last_n_ids = hit->n_ids;
        return hit->allow;
    }
    /* unlimited walk, cached; when the limit cuts it, an uncached limited walk */
    struct gm_mask *c = &m->masks[m->next_mask];
    if (!c->allow && !(c->allow = malloc((size_t)m->n_vocab + 1))) return NULL;
    if (!c->ids && !(c->ids = malloc((size_t)m->n_vocab * sizeof *c->ids + 4))) return NULL;
    int32_t mx;
    int32_t cur = m->cur;
    gm_walk(m, c->allow, c->ids, &c->n_ids, -1, &mx);
    if (m->oom) { c->state = -1; return NULL; }
    c->state = cur;
    c->max_next_min = mx;
    m->next_mask = (m->next_mask + 1) % GM_N_MASKS;
    if (limit < 0 || mx <= limit) {
        m->last_ids = c->ids;
        m->last_n_ids = c->n_ids;
        return c->allow;
    }
    gm_walk(m, m->tmp_allow, m->tmp_ids, &m->n_tmp_ids, limit, &mx);
    m->last_ids = m->tmp_ids;
    m->last_n_ids = m->n_tmp_ids;
    return m->oom ? NULL : m->tmp_allow;
}

const int32_t *gmatch_mask_ids(const struct gmatch *m, int32_t *n) {
    *n = m ? m->last_n_ids : 0;
    return m ? m->last_ids : NULL;
}

int grammar_accepts(const struct edgellm_grammar *g, const char *s, size_t n) {
    struct gmatch *m;
    if (gmatch_new(g, NULL, &m, NULL, 0) != EDGELLM_OK) return 0;
    int32_t st = m->cur;
    for (size_t i = 0; i < n && st >= 0; i++) st = gm_step(m, st, (unsigned char)s[i]);
    int ok = gm_state_complete(m, st);
    gmatch_free(m);
    return ok;
}
