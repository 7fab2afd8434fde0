/* GBNF parser: rules `name ::= alternatives`, alternation `|`, groups, literals "..." with
 * escapes (\n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH), character classes [a-z] / [^...],
 * `.`, repetitions * + ? {m} {m,} {m,n} {,n}, comments `#`. Lowered to byte-level rules (see
 * grammar.h): a class becomes one byte set when it is ASCII-only, otherwise a generated rule of
 * UTF-8 byte-range sequences (surrogates excluded, so matched text is valid UTF-8); a repetition
 * becomes generated rules (x* : R ::= x R | ε). Left recursion and a root that can never finish
 * are compile errors, as are undefined rules; every error gives the line and column. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "core/util.h"

typedef struct ivec {
    int32_t *v;
    int32_t n, cap;
} ivec;

static int ivec_push(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        int32_t nc = a->cap ? a->cap * 2 : 8;
        int32_t *nv = realloc(a->v, (size_t)nc * sizeof *nv);
        if (!nv) return 0;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 1;
}

typedef struct brule {
    char *name;
    ivec *alts; /* each alternative: elements (no END) */
    int32_t n_alts, cap_alts;
    int defined;
    size_t first_ref; /* offset of the first reference (for "undefined rule" errors) */
} brule;

typedef struct gparser {
    const char *src;
    size_t pos, len;
    brule *rules;
    int32_t n_rules, cap_rules;
    uint8_t (*sets)[32];
    int32_t n_sets, cap_sets;
    int failed;
    char *err;
    size_t err_size;
    int depth;
} gparser;

#define GP_MAX_DEPTH 200
#define GP_MAX_REPEAT 10000

static void gp_where(const gparser *p, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < p->len; i++) {
        if (p->src[i] == '\n') { (*line)++; *col = 1; }
        else if (((unsigned char)p->src[i] & 0xC0) != 0x80) (*col)++;
    }
}

static void gp_fail_at(gparser *p, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void gp_fail_at(gparser *p, size_t off, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    gp_where(p, off, &line, &col);
    util_errf(p->err, p->err_size, EDGELLM_ERR_FORMAT, "gbnf: %s at line %d col %d", msg, line, col);
}

static void gp_nomem(gparser *p) { gp_fail_at(p, p->pos, "out of memory"); }

static int32_t gp_add_rule(gparser *p, const char *name, size_t nlen) {
    if (p->n_rules == p->cap_rules) {
        int32_t nc = p->cap_rules ? p->cap_rules * 2 : 16;
        brule *nr = realloc(p->rules, (size_t)nc * sizeof *nr);
        if (!nr) { gp_nomem(p); return -1; }
        p->rules = nr;
        p->cap_rules = nc;
    }
    brule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(nlen + 1);
    if (!r->name) { gp_nomem(p); return -1; }
    memcpy(r->name, name, nlen);
    r->name[nlen] = 0;
    return p->n_rules++;
}

static int32_t gp_rule_named(gparser *p, const char *name, size_t nlen, size_t ref_off) {
    for (int32_t i = 0; i < p->n_rules; i++)
        if (strlen(p->rules[i].name) == nlen && memcmp(p->rules[i].name, name, nlen) == 0) return i;
    int32_t r = gp_add_rule(p, name, nlen);
    if (r >= 0) p->rules[r].first_ref = ref_off;
    return r;
}

/* A generated rule: "<parent>_<n>". */
static int32_t gp_gen_rule(gparser *p, int32_t parent) {
    char nm[160];
    snprintf(nm, sizeof nm, "%.120s_%d", parent >= 0 ? p->rules[parent].name : "gen", (int)p->n_rules);
    int32_t r = gp_add_rule(p, nm, strlen(nm));
    if (r >= 0) p->rules[r].defined = 1;
    return r;
}

/* Adds an alternative (takes ownership of seq's array). */
static void gp_add_alt(gparser *p, int32_t r, ivec *seq) {
    brule *R = &p->rules[r];
    if (R->n_alts == R->cap_alts) {
        int32_t nc = R->cap_alts ? R->cap_alts * 2 : 4;
        ivec *na = realloc(R->alts, (size_t)nc * sizeof *na);
        if (!na) { free(seq->v); gp_nomem(p); return; }
        R->alts = na;
        R->cap_alts = nc;
    }
    R->alts[R->n_alts++] = *seq;
    memset(seq, 0, sizeof *seq);
}

static int32_t gp_set(gparser *p, const uint8_t set[32]) {
    for (int32_t i = 0; i < p->n_sets; i++)
        if (memcmp(p->sets[i], set, 32) == 0) return -1 - i;
    if (p->n_sets == p->cap_sets) {
        int32_t nc = p->cap_sets ? p->cap_sets * 2 : 32;
        uint8_t (*ns)[32] = realloc(p->sets, (size_t)nc * 32);
        if (!ns) { gp_nomem(p); return -1; }
        p->sets = ns;
        p->cap_sets = nc;
    }
    memcpy(p->sets[p->n_sets], set, 32);
    return -1 - p->n_sets++;
}

static int32_t gp_byte(gparser *p, unsigned b) {
    uint8_t s[32] = {0};
    s[b >> 3] |= (uint8_t)(1u << (b & 7));
    return gp_set(p, s);
}

static int32_t gp_byte_range(gparser *p, unsigned lo, unsigned hi) {
    uint8_t s[32] = {0};
    for (unsigned b = lo; b <= hi; b++) s[b >> 3] |= (uint8_t)(1u << (b & 7));
    return gp_set(p, s);
}

/* ---- code point ranges -> UTF-8 byte-range sequences ------------------------------------- */

typedef struct cprange {
    uint32_t lo, hi;
} cprange;

static int cp_len(uint32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

static void cp_encode(uint32_t c, uint8_t *o) {
    int n = cp_len(c);
    if (n == 1) { o[0] = (uint8_t)c; return; }
    for (int i = n - 1; i > 0; i--) { o[i] = (uint8_t)(0x80 | (c & 0x3F)); c >>= 6; }
    o[0] = (uint8_t)((n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0) | c);
}

/* Adds to rule r one alternative per byte-range sequence of [lo, hi] (same encoded length). */
static void gp_utf8_seqs(gparser *p, int32_t r, uint32_t lo, uint32_t hi) {
    if (p->failed) return;
    int n = cp_len(lo);
    if (cp_len(hi) != n) {
        uint32_t lim = n == 1 ? 0x7F : n == 2 ? 0x7FF : 0xFFFF;
        gp_utf8_seqs(p, r, lo, lim);
        gp_utf8_seqs(p, r, lim + 1, hi);
        return;
    }
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) { gp_utf8_seqs(p, r, lo, lo | m); gp_utf8_seqs(p, r, (lo | m) + 1, hi); return; }
            if ((hi & m) != m) { gp_utf8_seqs(p, r, lo, (hi & ~m) - 1); gp_utf8_seqs(p, r, hi & ~m, hi); return; }
        }
    }
    uint8_t a[4], b[4];
    cp_encode(lo, a);
    cp_encode(hi, b);
    ivec seq = {0};
    for (int i = 0; i < n; i++)
        if (!ivec_push(&seq, gp_byte_range(p, a[i], b[i]))) { free(seq.v); gp_nomem(p); return; }
    gp_add_alt(p, r, &seq);
}

static int cpr_cmp(const void *a, const void *b) {
    const cprange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* One element matching any code point of the ranges (negated: any other): a byte set when
 * all of it is ASCII, else a reference to a generated rule. */
static int32_t gp_class(gparser *p, int32_t parent, cprange *rg, int n, int negate) {
    qsort(rg, (size_t)n, sizeof *rg, cpr_cmp);
    cprange norm[260];
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && rg[i].lo <= norm[m - 1].hi + 1) {
            if (rg[i].hi > norm[m - 1].hi) norm[m - 1].hi = rg[i].hi;
        } else if (m < 256) norm[m++] = rg[i];
    }
    cprange fin[262];
    int k = 0;
    if (negate) {
        uint32_t next = 0;
        for (int i = 0; i < m; i++) {
            if (norm[i].lo > next) fin[k++] = (cprange){next, norm[i].lo - 1};
            next = norm[i].hi + 1;
        }
        if (next <= 0x10FFFF) fin[k++] = (cprange){next, 0x10FFFF};
    } else {
        memcpy(fin, norm, (size_t)m * sizeof *fin);
        k = m;
    }
    /* drop surrogates and beyond U+10FFFF */
    cprange out[270];
    int o = 0;
    for (int i = 0; i < k; i++) {
        uint32_t lo = fin[i].lo, hi = fin[i].hi > 0x10FFFF ? 0x10FFFF : fin[i].hi;
        if (lo > hi) continue;
        if (lo < 0xD800 && hi >= 0xD800) {
            out[o++] = (cprange){lo, 0xD7FF};
            if (hi > 0xDFFF) out[o++] = (cprange){0xE000, hi};
        } else if (lo >= 0xD800 && lo <= 0xDFFF) {
            if (hi > 0xDFFF) out[o++] = (cprange){0xE000, hi};
        } else out[o++] = (cprange){lo, hi};
    }
    uint8_t ascii[32] = {0};
    int has_ascii = 0, has_multi = 0;
    for (int i = 0; i < o; i++) {
        for (uint32_t c = out[i].lo; c <= out[i].hi && c < 0x80; c++) { ascii[c >> 3] |= (uint8_t)(1u << (c & 7)); has_ascii = 1; }
        if (out[i].hi >= 0x80) has_multi = 1;
    }
    if (!has_ascii && !has_multi) {
        /* matches nothing: a rule with no alternatives */
        return gp_gen_rule(p, parent);
    }
    if (!has_multi) return gp_set(p, ascii);
    int32_t r = gp_gen_rule(p, parent);
    if (r < 0) return -1;
    if (has_ascii) {
        ivec seq = {0};
        if (!ivec_push(&seq, gp_set(p, ascii))) { gp_nomem(p); return r; }
        gp_add_alt(p, r, &seq);
    }
    for (int i = 0; i < o; i++) {
        uint32_t lo = out[i].lo < 0x80 ? 0x80 : out[i].lo;
        if (out[i].hi >= lo) gp_utf8_seqs(p, r, lo, out[i].hi);
    }
    return r;
}

/* ---- the text ------------------------------------------------------------------------------ */

static int gp_cur(const gparser *p) { return p->pos < p->len ? (unsigned char)p->src[p->pos] : -1; }

static void gp_space(gparser *p, int newline_ok) {
    while (p->pos < p->len) {
        char c = p->src[p->pos];
        if (c == ' ' || c == '\t' || c == '\r' || (newline_ok && c == '\n')) p->pos++;
        else if (c == '#') { while (p->pos < p->len && p->src[p->pos] != '\n') p->pos++; }
        else break;
    }
}

static int gp_is_name(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; }

static int gp_hex(gparser *p, int n, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
        int c = gp_cur(p);
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) { gp_fail_at(p, p->pos, "expected %d hex digits", n); return 0; }
        v = v * 16 + (uint32_t)d;
        p->pos++;
    }
    *out = v;
    return 1;
}

/* One character of a literal or class (escape or UTF-8), as a code point. */
static int gp_char(gparser *p, uint32_t *cp) {
    size_t at = p->pos;
    int c = gp_cur(p);
    if (c < 0) { gp_fail_at(p, at, "unexpected end of input"); return 0; }
    if (c == '\\') {
        p->pos++;
        int e = gp_cur(p);
        p->pos++;
        switch (e) {
        case 'x': return gp_hex(p, 2, cp);
        case 'u': return gp_hex(p, 4, cp);
        case 'U': return gp_hex(p, 8, cp);
        case 'n': *cp = '\n'; return 1;
        case 'r': *cp = '\r'; return 1;
        case 't': *cp = '\t'; return 1;
        case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '\'': *cp = (uint32_t)e; return 1;
        default: gp_fail_at(p, at, "unknown escape"); return 0;
        }
    }
    if (c < 0x80) { *cp = (uint32_t)c; p->pos++; return 1; }
    /* UTF-8 */
    int n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || p->pos + (size_t)n > p->len) { gp_fail_at(p, at, "invalid UTF-8"); return 0; }
    uint32_t v = (uint32_t)c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    for (int i = 1; i < n; i++) {
        unsigned b = (unsigned char)p->src[p->pos + (size_t)i];
        if ((b & 0xC0) != 0x80) { gp_fail_at(p, at, "invalid UTF-8"); return 0; }
        v = (v << 6) | (b & 0x3F);
    }
    p->pos += (size_t)n;
    *cp = v;
    return 1;
}

static void gp_alternates(gparser *p, int32_t r, int nested);

static size_t gp_number(gparser *p, long *out) {
    size_t at = p->pos;
    long v = 0;
    while (gp_cur(p) >= '0' && gp_cur(p) <= '9') {
        if (v < GP_MAX_REPEAT * 10) v = v * 10 + (gp_cur(p) - '0');
        p->pos++;
    }
    *out = v;
    return p->pos - at;
}

/* Replaces seq[start..) by its repetition {lo, hi} (hi < 0: unbounded). */
static void gp_repeat(gparser *p, int32_t r, ivec *seq, int32_t start, long lo, long hi) {
    if (p->failed) return;
    int32_t x;
    if (seq->n - start == 1) x = seq->v[start];
    else {
        x = gp_gen_rule(p, r);
        if (x < 0) return;
        ivec sub = {0};
        for (int32_t i = start; i < seq->n; i++)
            if (!ivec_push(&sub, seq->v[i])) { gp_nomem(p); free(sub.v); return; }
        gp_add_alt(p, x, &sub);
    }
    seq->n = start;
    for (long i = 0; i < lo; i++)
        if (!ivec_push(seq, x)) { gp_nomem(p); return; }
    if (hi < 0) {
        int32_t R = gp_gen_rule(p, r);
        if (R < 0) return;
        ivec a = {0}, e = {0};
        if (!ivec_push(&a, x) || !ivec_push(&a, R)) { gp_nomem(p); free(a.v); return; }
        gp_add_alt(p, R, &a);
        gp_add_alt(p, R, &e);
        if (!ivec_push(seq, R)) gp_nomem(p);
    } else if (hi > lo) {
        int32_t prev = -1;
        for (long k = 0; k < hi - lo && !p->failed; k++) {
            int32_t R = gp_gen_rule(p, r);
            if (R < 0) return;
            ivec a = {0}, e = {0};
            if (!ivec_push(&a, x) || (prev >= 0 && !ivec_push(&a, prev))) { gp_nomem(p); free(a.v); return; }
            gp_add_alt(p, R, &a);
            gp_add_alt(p, R, &e);
            prev = R;
        }
        if (!ivec_push(seq, prev)) gp_nomem(p);
    }
}

static void gp_sequence(gparser *p, int32_t r, int nested) {
    ivec seq = {0};
    int32_t last = -1; /* start of the last element in seq */
    while (!p->failed) {
        int c = gp_cur(p);
        size_t at = p->pos;
        if (c == '"') {
            p->pos++;
            last = seq.n;
            while (!p->failed && gp_cur(p) != '"') {
                if (gp_cur(p) < 0 || gp_cur(p) == '\n') { gp_fail_at(p, at, "unterminated literal"); break; }
                uint32_t cp;
                if (!gp_char(p, &cp)) break;
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) { gp_fail_at(p, at, "invalid code point in literal"); break; }
                uint8_t b[4];
                cp_encode(cp, b);
                for (int i = 0; i < cp_len(cp); i++)
                    if (!ivec_push(&seq, gp_byte(p, b[i]))) gp_nomem(p);
            }
            p->pos++;
        } else if (c == '[') {
            p->pos++;
            int neg = 0;
            if (gp_cur(p) == '^') { neg = 1; p->pos++; }
            cprange rg[256];
            int n = 0;
            while (!p->failed && gp_cur(p) != ']') {
                if (gp_cur(p) < 0) { gp_fail_at(p, at, "unterminated character class"); break; }
                uint32_t lo, hi;
                if (!gp_char(p, &lo)) break;
                hi = lo;
                if (gp_cur(p) == '-' && p->pos + 1 < p->len && p->src[p->pos + 1] != ']') {
                    p->pos++;
                    if (!gp_char(p, &hi)) break;
                    if (hi < lo) { gp_fail_at(p, at, "character range out of order"); break; }
                }
                if (n == 256) { gp_fail_at(p, at, "too many ranges in a character class"); break; }
                rg[n++] = (cprange){lo, hi};
            }
            if (p->failed) break;
            p->pos++;
            last = seq.n;
            int32_t e = gp_class(p, r, rg, n, neg);
            if (!p->failed && !ivec_push(&seq, e)) gp_nomem(p);
        } else if (c == '.') {
            p->pos++;
            cprange all = {0, 0x10FFFF};
            last = seq.n;
            int32_t e = gp_class(p, r, &all, 1, 0);
            if (!p->failed && !ivec_push(&seq, e)) gp_nomem(p);
        } else if (c >= 0 && gp_is_name(c)) {
            size_t s = p->pos;
            while (gp_is_name(gp_cur(p))) p->pos++;
            /* the next rule's "name ::=" ends this one (only reachable when nested) */
            size_t save = p->pos;
            gp_space(p, 0);
            if (p->pos + 3 <= p->len && memcmp(p->src + p->pos, "::=", 3) == 0) { p->pos = s; break; }
            p->pos = save;
            int32_t ref = gp_rule_named(p, p->src + s, p->pos - s, s);
            last = seq.n;
            if (ref >= 0 && !ivec_push(&seq, ref)) gp_nomem(p);
        } else if (c == '(') {
            p->pos++;
            if (++p->depth > GP_MAX_DEPTH) { gp_fail_at(p, at, "groups nested too deeply"); break; }
            gp_space(p, 1);
            int32_t sub = gp_gen_rule(p, r);
            if (sub < 0) break;
            gp_alternates(p, sub, 1);
            p->depth--;
            if (p->failed) break;
            if (gp_cur(p) != ')') { gp_fail_at(p, at, "expected ')' to close this group"); break; }
            p->pos++;
            last = seq.n;
            if (!ivec_push(&seq, sub)) gp_nomem(p);
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last < 0) { gp_fail_at(p, at, "repetition '%c' without an element before it", c); break; }
            p->pos++;
            long lo = 0, hi = -1;
            if (c == '+') lo = 1;
            else if (c == '?') hi = 1;
            else if (c == '{') {
                gp_space(p, 0);
                if (!gp_number(p, &lo)) lo = 0;
                gp_space(p, 0);
                if (gp_cur(p) == ',') {
                    p->pos++;
                    gp_space(p, 0);
                    if (!gp_number(p, &hi)) hi = -1;
                    gp_space(p, 0);
                } else hi = lo;
                if (gp_cur(p) != '}') { gp_fail_at(p, at, "expected '}' after a repetition count"); break; }
                p->pos++;
                if (lo > GP_MAX_REPEAT || hi > GP_MAX_REPEAT || (hi >= 0 && hi < lo)) { gp_fail_at(p, at, "bad repetition count"); break; }
            }
            gp_repeat(p, r, &seq, last, lo, hi);
            last = -1;
        } else break;
        gp_space(p, nested);
    }
    if (p->failed) { free(seq.v); return; }
    gp_add_alt(p, r, &seq);
}

static void gp_alternates(gparser *p, int32_t r, int nested) {
    gp_sequence(p, r, nested);
    while (!p->failed && gp_cur(p) == '|') {
        p->pos++;
        gp_space(p, 1);
        gp_sequence(p, r, nested);
    }
}

/* ---- analysis and flattening ---------------------------------------------------------------- */

static void gp_free_rules(gparser *p) {
    for (int32_t i = 0; i < p->n_rules; i++) {
        for (int32_t a = 0; a < p->rules[i].n_alts; a++) free(p->rules[i].alts[a].v);
        free(p->rules[i].alts);
        free(p->rules[i].name);
    }
    free(p->rules);
    free(p->sets);
}

void grammar_free(struct edgellm_grammar *g) {
    if (!g) return;
    free(g->rule_alt0);
    free(g->rule_nalt);
    free(g->alt_pos);
    free(g->elems);
    free(g->sets);
    free(g->rule_min);
    free(g->pos_min);
    if (g->names)
        for (int32_t i = 0; i < g->n_rules; i++) free(g->names[i]);
    free(g->names);
    free(g);
}

static int32_t sat_add(int32_t a, int32_t b) { return a >= GRAMMAR_INF - b ? GRAMMAR_INF : a + b; }

/* DFS colors for the left-recursion check: 0 new, 1 on the path, 2 done. */
static int32_t gp_left_cycle(const struct edgellm_grammar *g, int32_t r, uint8_t *color) {
    color[r] = 1;
    for (int32_t a = 0; a < g->rule_nalt[r]; a++) {
        for (int32_t p = g->alt_pos[g->rule_alt0[r] + a]; g->elems[p] != GRAMMAR_END; p++) {
            int32_t e = g->elems[p];
            if (e < 0) break;
            if (color[e] == 1) return e;
            if (color[e] == 0) {
                int32_t c = gp_left_cycle(g, e, color);
                if (c >= 0) return c;
            }
            if (g->rule_min[e] != 0) break;
        }
    }
    color[r] = 2;
    return -1;
}

edgellm_status grammar_parse_gbnf(const char *src, const char *root, struct edgellm_grammar **out, char *err,
                                  size_t err_size) {
    if (!out) return EDGELLM_ERR_ARG;
    *out = NULL;
    if (!src) return util_errf(err, err_size, EDGELLM_ERR_ARG, "gbnf: no grammar text");
    if (!root) root = "root";
    gparser P = {.src = src, .len = strlen(src), .err = err, .err_size = err_size};
    gparser *p = &P;
    gp_space(p, 1);
    while (!p->failed && p->pos < p->len) {
        size_t at = p->pos;
        size_t s = p->pos;
        while (gp_is_name(gp_cur(p))) p->pos++;
        if (p->pos == s) { gp_fail_at(p, at, "expected a rule name"); break; }
        size_t ne = p->pos;
        gp_space(p, 0);
        if (!(p->pos + 3 <= p->len && memcmp(p->src + p->pos, "::=", 3) == 0)) { gp_fail_at(p, p->pos, "expected '::='"); break; }
        p->pos += 3;
        gp_space(p, 1);
        int32_t r = gp_rule_named(p, src + s, ne - s, s);
        if (r < 0) break;
        if (p->rules[r].defined) { gp_fail_at(p, at, "rule '%s' defined twice", p->rules[r].name); break; }
        p->rules[r].defined = 1;
        gp_alternates(p, r, 0);
        if (p->failed) break;
        if (p->pos < p->len && gp_cur(p) != '\n' && !gp_is_name(gp_cur(p))) { gp_fail_at(p, p->pos, "unexpected '%c'", gp_cur(p)); break; }
        gp_space(p, 1);
    }
    int32_t root_id = -1;
    if (!p->failed) {
        for (int32_t i = 0; i < p->n_rules; i++)
            if (!p->rules[i].defined) { gp_fail_at(p, p->rules[i].first_ref, "undefined rule '%s'", p->rules[i].name); break; }
        for (int32_t i = 0; i < p->n_rules && !p->failed; i++)
            if (strcmp(p->rules[i].name, root) == 0) root_id = i;
        if (!p->failed && root_id < 0) {
            util_errf(err, err_size, EDGELLM_ERR_FORMAT, "gbnf: no rule named '%s'", root);
            p->failed = 1;
        }
    }
    struct edgellm_grammar *g = NULL;
    if (!p->failed) {
        g = calloc(1, sizeof *g);
        int32_t na = 0, ne = 0;
        for (int32_t i = 0; i < p->n_rules; i++) {
            na += p->rules[i].n_alts;
            for (int32_t a = 0; a < p->rules[i].n_alts; a++) ne += p->rules[i].alts[a].n + 1;
        }
        if (g) {
            g->n_rules = p->n_rules;
            g->n_alts = na;
            g->n_elems = ne;
            g->root = root_id;
            g->rule_alt0 = malloc((size_t)p->n_rules * sizeof(int32_t) + 4);
            g->rule_nalt = malloc((size_t)p->n_rules * sizeof(int32_t) + 4);
            g->alt_pos = malloc((size_t)na * sizeof(int32_t) + 4);
            g->elems = malloc((size_t)ne * sizeof(int32_t) + 4);
            g->rule_min = malloc((size_t)p->n_rules * sizeof(int32_t) + 4);
            g->pos_min = malloc((size_t)ne * sizeof(int32_t) + 4);
            g->names = calloc((size_t)p->n_rules + 1, sizeof(char *));
            g->sets = malloc((size_t)p->n_sets * 32 + 32);
        }
        if (!g || !g->rule_alt0 || !g->rule_nalt || !g->alt_pos || !g->elems || !g->rule_min || !g->pos_min || !g->names || !g->sets) {
            util_errf(err, err_size, EDGELLM_ERR_NOMEM, "gbnf: out of memory");
            p->failed = 1;
        } else {
            g->n_sets = p->n_sets;
            if (p->n_sets) memcpy(g->sets, p->sets, (size_t)p->n_sets * 32);
            int32_t ai = 0, ei = 0;
            for (int32_t i = 0; i < p->n_rules; i++) {
                g->rule_alt0[i] = ai;
                g->rule_nalt[i] = p->rules[i].n_alts;
                g->names[i] = p->rules[i].name;
                p->rules[i].name = NULL;
                for (int32_t a = 0; a < p->rules[i].n_alts; a++) {
                    g->alt_pos[ai++] = ei;
                    for (int32_t k = 0; k < p->rules[i].alts[a].n; k++) g->elems[ei++] = p->rules[i].alts[a].v[k];
                    g->elems[ei++] = GRAMMAR_END;
                }
            }
            /* fewest bytes per rule: fixed point */
            for (int32_t i = 0; i < g->n_rules; i++) g->rule_min[i] = GRAMMAR_INF;
            for (int changed = 1; changed;) {
                changed = 0;
                for (int32_t i = 0; i < g->n_rules; i++)
                    for (int32_t a = 0; a < g->rule_nalt[i]; a++) {
                        int32_t s = 0;
                        for (int32_t q = g->alt_pos[g->rule_alt0[i] + a]; g->elems[q] != GRAMMAR_END; q++)
                            s = sat_add(s, g->elems[q] < 0 ? 1 : g->rule_min[g->elems[q]]);
                        if (s < g->rule_min[i]) { g->rule_min[i] = s; changed = 1; }
                    }
            }
            for (int32_t q = g->n_elems - 1; q >= 0; q--) {
                int32_t e = g->elems[q];
                g->pos_min[q] = e == GRAMMAR_END ? 0 : sat_add(g->pos_min[q + 1], e < 0 ? 1 : g->rule_min[e]);
            }
            uint8_t *color = calloc((size_t)g->n_rules, 1);
            if (!color) { util_errf(err, err_size, EDGELLM_ERR_NOMEM, "gbnf: out of memory"); p->failed = 1; }
            for (int32_t i = 0; i < g->n_rules && !p->failed; i++) {
                if (color[i]) continue;
                int32_t c = gp_left_cycle(g, i, color);
                if (c >= 0) {
                    util_errf(err, err_size, EDGELLM_ERR_FORMAT, "gbnf: rule '%s' is left-recursive", g->names[c]);
                    p->failed = 1;
                }
            }
            free(color);
            if (!p->failed && g->rule_min[root_id] >= GRAMMAR_INF) {
                util_errf(err, err_size, EDGELLM_ERR_FORMAT, "gbnf: rule '%s' can never finish", root);
                p->failed = 1;
            }
        }
    }
    gp_free_rules(p);
    if (p->failed) {
        grammar_free(g);
        return EDGELLM_ERR_FORMAT;
    }
    *out = g;
    return EDGELLM_OK;
}
