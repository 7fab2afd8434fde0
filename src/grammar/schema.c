/* JSON schema -> GBNF text, parsed by the project's JSON parser (template/json.h). Each schema
 * node becomes a rule; the text is compact JSON with at most one optional space after structural
 * characters. Enforced: type (also arrays of types, "null"), properties / required /
 * additionalProperties (false or absent: no other keys; a schema: further keys of that schema),
 * enum / const (any JSON values), anyOf / oneOf, items / prefixItems / minItems / maxItems,
 * minLength / maxLength (characters; an escape counts as one), pattern (an ECMAScript subset),
 * format date (real calendar dates) / time / date-time / uuid / email, minimum / maximum /
 * exclusiveMinimum / exclusiveMaximum, local $ref into $defs / definitions. Ignored: title,
 * description, default, examples, $schema, $id, $comment. Anything else: an error naming the
 * keyword when strict, else ignored. Strings never hold raw control characters, and \u escapes
 * never name a surrogate, so the output parses and is valid UTF-8. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "template/json.h"
#include "core/util.h"

#define SC_MAX_DEPTH 64
#define SC_MAX_DIGITS 15

typedef struct schema_ctx {
    const json_value *root;
    json_buf out;
    int n_rules;
    int strict;
    int failed;
    char *err;
    size_t err_size;
    const char *refs[256];
    int ref_rule[256];
    int n_refs;
    int depth;
} schema_ctx;

static void sc_fail(schema_ctx *c, edgellm_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sc_fail(schema_ctx *c, edgellm_status st, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = (int)st;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *q = msg; *q; q++)
        if ((unsigned char)*q < 0x20) *q = ' '; /* one line, whatever the schema's strings hold */
    util_errf(c->err, c->err_size, st, "json schema: %s", msg);
}

static void bputf(json_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bputf(json_buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) json_buf_put(b, tmp, (size_t)(n < (int)sizeof tmp ? n : (int)sizeof tmp - 1));
}

/* A GBNF literal of s[0..n) (quotes included). */
static void lit(json_buf *b, const char *s, size_t n) {
    json_buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') bputf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7F) bputf(b, "\\x%02X", ch);
        else json_buf_put(b, (const char *)&ch, 1);
    }
    json_buf_puts(b, "\"");
}

/* Adds "rN ::= body\n" and returns N. */
static int add_rule(schema_ctx *c, const json_buf *body) {
    int n = c->n_rules++;
    bputf(&c->out, "r%d ::= ", n);
    json_buf_put(&c->out, body->data ? body->data : "", body->len);
    json_buf_puts(&c->out, "\n");
    return n;
}

/* Reserves a rule number whose body comes later (recursion through $ref). */
static int reserve_rule(schema_ctx *c) { return c->n_rules++; }

static void define_rule(schema_ctx *c, int n, const json_buf *body) {
    bputf(&c->out, "r%d ::= ", n);
    json_buf_put(&c->out, body->data ? body->data : "", body->len);
    json_buf_puts(&c->out, "\n");
}

static int gen(schema_ctx *c, const json_value *s);

static const char *const SC_COMMON =
    "ws ::= \" \"?\n"
    "hex ::= [0-9a-fA-F]\n"
    "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" ([0-9a-cA-Ce-fE-F] hex{3} | [dD] [0-7] hex{2}))\n"
    "string ::= \"\\\"\" char{0,256} \"\\\"\"\n"
    "int ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
    "number ::= int (\".\" [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})?\n"
    "boolean ::= \"true\" | \"false\"\n"
    "null ::= \"null\"\n"
    "value ::= object | array | string | number | boolean | null\n"
    "object ::= \"{\" ws (string ws \":\" ws value ws (\",\" ws string ws \":\" ws value ws)*)? \"}\"\n"
    "array ::= \"[\" ws (value ws (\",\" ws value ws)*)? \"]\"\n"
    "d2 ::= [0-9] [0-9]\n"
    "leapyear ::= d2 ([02468] [48] | [13579] [26] | [2468] \"0\") | ([02468] [048] | [13579] [26]) \"00\"\n"
    "date ::= [0-9]{4} \"-\" ((\"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | \"12\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01])"
    " | (\"04\" | \"06\" | \"09\" | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | \"02-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]))"
    " | leapyear \"-02-29\"\n"
    "time ::= ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])\n"
    "datetime ::= date \"T\" time\n"
    "uuid ::= hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}\n"
    "atom ::= [a-zA-Z0-9_+-]{1,20}\n"
    "label ::= [a-zA-Z0-9] ([a-zA-Z0-9-]{0,20} [a-zA-Z0-9])?\n"
    "email ::= atom (\".\" atom){0,3} \"@\" (label \".\"){1,3} [a-zA-Z]{2,6}\n";

/* ---- integers in a range (digit strings, no leading zeros) --------------------------------- */

/* Non-negative lo..hi with the same number of digits, written as a GBNF sequence. */
static void range_same_len(json_buf *b, const char *lo, const char *hi, int n) {
    if (n == 0) return;
    int all0 = 1, all9 = 1;
    for (int i = 0; i < n; i++) { if (lo[i] != '0') all0 = 0; if (hi[i] != '9') all9 = 0; }
    if (all0 && all9) { bputf(b, "[0-9]{%d}", n); return; }
    if (lo[0] == hi[0]) {
        bputf(b, "\"%c\" ", lo[0]);
        range_same_len(b, lo + 1, hi + 1, n - 1);
        return;
    }
    char nines[SC_MAX_DIGITS + 2], zeros[SC_MAX_DIGITS + 2];
    memset(nines, '9', sizeof nines);
    memset(zeros, '0', sizeof zeros);
    json_buf_puts(b, "(");
    bputf(b, "\"%c\" ", lo[0]);
    range_same_len(b, lo + 1, nines, n - 1);
    if (lo[0] + 1 <= hi[0] - 1) {
        bputf(b, " | [%c-%c]", lo[0] + 1, hi[0] - 1);
        if (n > 1) bputf(b, " [0-9]{%d}", n - 1);
    }
    bputf(b, " | \"%c\" ", hi[0]);
    range_same_len(b, zeros, hi + 1, n - 1);
    json_buf_puts(b, ")");
}

/* Non-negative integers lo..hi (hi < 0: unbounded) as a parenthesized alternation. */
static void range_nonneg(json_buf *b, long long lo, long long hi) {
    json_buf_puts(b, "(");
    int first = 1;
    char los[32], his[32];
    for (int len = 1; len <= SC_MAX_DIGITS; len++) {
        long long a = len == 1 ? 0 : 1, z = 9;
        for (int i = 1; i < len; i++) { a = len == 1 ? 0 : a; z = z * 10 + 9; }
        if (len > 1) { a = 1; for (int i = 1; i < len; i++) a *= 10; }
        long long x = lo > a ? lo : a, y = hi >= 0 && hi < z ? hi : z;
        if (x > y) continue;
        snprintf(los, sizeof los, "%lld", x);
        snprintf(his, sizeof his, "%lld", y);
        if (!first) json_buf_puts(b, " | ");
        first = 0;
        range_same_len(b, los, his, len);
    }
    if (first) json_buf_puts(b, "\"\" [^\\x00-\\U0010FFFF]"); /* lo > hi: nothing */
    json_buf_puts(b, ")");
}

static void int_range(json_buf *b, long long lo, int has_lo, long long hi, int has_hi) {
    long long cap = 999999999999999LL;
    if (!has_lo || lo < -cap) lo = -cap;
    if (!has_hi || hi > cap) hi = cap;
    json_buf_puts(b, "(");
    int alt = 0;
    if (hi >= 0) {
        range_nonneg(b, lo > 0 ? lo : 0, has_hi ? hi : -1);
        alt = 1;
    }
    if (lo < 0) {
        if (alt) json_buf_puts(b, " | ");
        long long nlo = hi < 0 ? -hi : 1, nhi = -lo;
        json_buf_puts(b, "\"-\" ");
        range_nonneg(b, nlo, has_lo ? nhi : -1);
    }
    json_buf_puts(b, ")");
}

/* ---- pattern (ECMAScript subset) -> GBNF over JSON string content --------------------------- */

typedef struct rx {
    const char *s;
    size_t i, n;
    schema_ctx *c;
} rx;

static void rx_alt(rx *r, json_buf *b);

/* A class escape or a single character into [lo, hi] ranges; returns the count (max 4). */
static int rx_escape_ranges(int e, uint32_t *lo, uint32_t *hi) {
    switch (e) {
    case 'd': lo[0] = '0'; hi[0] = '9'; return 1;
    case 'w': lo[0] = '0'; hi[0] = '9'; lo[1] = 'A'; hi[1] = 'Z'; lo[2] = 'a'; hi[2] = 'z'; lo[3] = '_'; hi[3] = '_'; return 4;
    case 's': lo[0] = ' '; hi[0] = ' '; return 1; /* raw tabs / newlines cannot appear in JSON text */
    case 'n': lo[0] = hi[0] = '\n'; return 1;
    case 't': lo[0] = hi[0] = '\t'; return 1;
    case 'r': lo[0] = hi[0] = '\r'; return 1;
    default: lo[0] = hi[0] = (uint32_t)e; return 1;
    }
}

/* One code point range of a class, written as JSON-string content: safe characters directly,
 * '"' and '\\' and control characters are left out (classes). */
static void rx_class_range(json_buf *b, uint32_t lo, uint32_t hi) {
    if (hi < 0x20) return;
    if (lo < 0x20) lo = 0x20;
    bputf(b, "\\U%08X-\\U%08X", lo, hi);
}

static void rx_atom(rx *r, json_buf *b) {
    char ch = r->s[r->i];
    if (ch == '(') {
        r->i++;
        if (r->i + 1 < r->n && r->s[r->i] == '?' && r->s[r->i + 1] == ':') r->i += 2;
        json_buf_puts(b, "(");
        rx_alt(r, b);
        if (r->i >= r->n || r->s[r->i] != ')') { sc_fail(r->c, EDGELLM_ERR_UNSUPPORTED, "pattern: missing ')'"); return; }
        r->i++;
        json_buf_puts(b, ")");
    } else if (ch == '[') {
        r->i++;
        int neg = 0;
        if (r->i < r->n && r->s[r->i] == '^') { neg = 1; r->i++; }
        json_buf_puts(b, neg ? "[^\"\\\\\\x00-\\x1F\\x7F" : "[");
        int any = neg;
        while (r->i < r->n && r->s[r->i] != ']') {
            uint32_t lo[4], hi[4];
            int k;
            uint32_t cp;
            if (r->s[r->i] == '\\' && r->i + 1 < r->n) {
                k = rx_escape_ranges(r->s[r->i + 1], lo, hi);
                r->i += 2;
            } else {
                int l = json_utf8_decode((const unsigned char *)r->s + r->i, r->n - r->i, &cp);
                if (l <= 0) { sc_fail(r->c, EDGELLM_ERR_FORMAT, "pattern: invalid UTF-8"); return; }
                r->i += (size_t)l;
                lo[0] = hi[0] = cp;
                k = 1;
                if (r->i + 1 < r->n && r->s[r->i] == '-' && r->s[r->i + 1] != ']') {
                    r->i++;
                    if (r->s[r->i] == '\\' && r->i + 1 < r->n) { rx_escape_ranges(r->s[r->i + 1], lo + 1, hi + 1); hi[0] = lo[1]; r->i += 2; }
                    else {
                        l = json_utf8_decode((const unsigned char *)r->s + r->i, r->n - r->i, &cp);
                        if (l <= 0) { sc_fail(r->c, EDGELLM_ERR_FORMAT, "pattern: invalid UTF-8"); return; }
                        r->i += (size_t)l;
                        hi[0] = cp;
                    }
                    if (hi[0] < lo[0]) { sc_fail(r->c, EDGELLM_ERR_FORMAT, "pattern: range out of order"); return; }
                }
            }
            for (int q = 0; q < k; q++) {
                if (neg) {
                    if (hi[q] >= 0x20) { bputf(b, "\\U%08X-\\U%08X", lo[q] < 0x20 ? 0x20 : lo[q], hi[q]); }
                } else {
                    /* split around '"' and '\\' */
                    uint32_t a = lo[q], z = hi[q];
                    uint32_t cuts[2] = {'"', '\\'};
                    for (int cc = 0; cc < 2; cc++)
                        if (a <= cuts[cc] && cuts[cc] <= z) {
                            if (a < cuts[cc]) { rx_class_range(b, a, cuts[cc] - 1); any = 1; }
                            a = cuts[cc] + 1;
                        }
                    if (a <= z && z >= 0x20) { rx_class_range(b, a, z); any = 1; }
                }
            }
        }
        if (r->i >= r->n) { sc_fail(r->c, EDGELLM_ERR_FORMAT, "pattern: missing ']'"); return; }
        r->i++;
        if (!any) json_buf_puts(b, "\\x20");
        json_buf_puts(b, "]");
    } else if (ch == '.') {
        r->i++;
        json_buf_puts(b, "[^\"\\\\\\x00-\\x1F\\x7F]");
    } else if (ch == '\\') {
        if (r->i + 1 >= r->n) { sc_fail(r->c, EDGELLM_ERR_FORMAT, "pattern: trailing '\\'"); return; }
        int e = r->s[r->i + 1];
        r->i += 2;
        uint32_t lo[4], hi[4];
        int k = rx_escape_ranges(e, lo, hi);
        if (e == 'd' || e == 'w' || e == 's') {
            json_buf_puts(b, "[");
            for (int q = 0; q < k; q++) rx_class_range(b, lo[q], hi[q]);
            json_buf_puts(b, "]");
        } else if (e == 'D' || e == 'W' || e == 'S') {
            sc_fail(r->c, EDGELLM_ERR_UNSUPPORTED, "pattern: \\%c is not supported", e);
        } else if (e == '"') json_buf_puts(b, "\"\\\\\\\"\"");
        else if (e == '\\') json_buf_puts(b, "\"\\\\\\\\\"");
        else if (lo[0] < 0x20) bputf(b, "\"\\\\%c\"", e); /* \n in the pattern: the JSON escape */
        else { char c1 = (char)e; lit(b, &c1, 1); }
    } else {
        uint32_t cp;
        int l = json_utf8_decode((const unsigned char *)r->s + r->i, r->n - r->i, &cp);
        if (l <= 0) { sc_fail(r->c, EDGELLM_ERR_FORMAT, "pattern: invalid UTF-8"); return; }
        if (cp == '"') json_buf_puts(b, "\"\\\\\\\"\"");
        else if (cp < 0x20) bputf(b, "\"\\\\u%04X\"", cp);
        else lit(b, r->s + r->i, (size_t)l);
        r->i += (size_t)l;
    }
}

static void rx_seq(rx *r, json_buf *b) {
    json_buf_puts(b, "(\"\"");
    while (!r->c->failed && r->i < r->n && r->s[r->i] != '|' && r->s[r->i] != ')') {
        char ch = r->s[r->i];
        if (ch == '^' || ch == '$') { r->i++; continue; } /* anchors: handled by the caller */
        json_buf_puts(b, " ");
        rx_atom(r, b);
        if (r->i < r->n) {
            char q = r->s[r->i];
            if (q == '*' || q == '+' || q == '?') { json_buf_put(b, &q, 1); r->i++; }
            else if (q == '{') {
                /* {n}, {n,}, {n,m}; anything else is a literal '{' (ECMAScript) */
                size_t j = r->i + 1;
                long lo = 0, hi = -1;
                int nd = 0, ok = 1;
                while (j < r->n && r->s[j] >= '0' && r->s[j] <= '9' && nd < 6) lo = lo * 10 + (r->s[j++] - '0'), nd++;
                if (nd == 0) ok = 0;
                else if (j < r->n && r->s[j] == ',') {
                    j++;
                    int md = 0;
                    hi = 0;
                    while (j < r->n && r->s[j] >= '0' && r->s[j] <= '9' && md < 6) hi = hi * 10 + (r->s[j++] - '0'), md++;
                    if (md == 0) hi = -1;
                } else hi = lo;
                if (ok && (j >= r->n || r->s[j] != '}')) ok = 0;
                if (ok) {
                    if ((hi >= 0 && hi < lo) || lo > 1000 || hi > 1000) {
                        sc_fail(r->c, EDGELLM_ERR_UNSUPPORTED, "pattern: repetition {%ld,%ld} out of range", lo, hi);
                        return;
                    }
                    if (hi < 0) bputf(b, "{%ld,}", lo);
                    else bputf(b, "{%ld,%ld}", lo, hi);
                    r->i = j + 1;
                }
            }
            if (r->i < r->n && r->s[r->i] == '?') r->i++; /* lazy: the same language */
        }
    }
    json_buf_puts(b, ")");
}

static void rx_alt(rx *r, json_buf *b) {
    if (++r->c->depth > SC_MAX_DEPTH) { sc_fail(r->c, EDGELLM_ERR_UNSUPPORTED, "pattern nested too deeply"); return; }
    rx_seq(r, b);
    while (!r->c->failed && r->i < r->n && r->s[r->i] == '|') {
        r->i++;
        json_buf_puts(b, " | ");
        rx_seq(r, b);
    }
    r->c->depth--;
}

/* ---- schema nodes ---------------------------------------------------------------------------- */

static const char *const KNOWN[] = {"type", "properties", "required", "additionalProperties", "enum", "const", "anyOf",
                                    "oneOf", "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength",
                                    "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                    "$ref", "$defs", "definitions", "title", "description", "default", "examples",
                                    "$schema", "$id", "$comment", NULL};

static int sc_num(const json_value *s, const char *k, double *out) {
    const json_value *v = json_get(s, k);
    if (!v || v->type != JSON_NUMBER) return 0;
    *out = v->num;
    return 1;
}

/* A bound as an integer, held to +-1e17 (the grammar caps integers at 15 digits, so a farther
 * bound has the same effect); a plain cast of 1e70 would be undefined. */
static long long sc_ll(double x) {
    if (!(x > -1e17)) return (long long)-1e17; /* (NaN too) */
    if (x > 1e17) return (long long)1e17;
    return (long long)x;
}

static void gen_string(schema_ctx *c, const json_value *s, json_buf *b) {
    const json_value *fmt = json_get(s, "format"), *pat = json_get(s, "pattern");
    if (fmt && fmt->type == JSON_STRING) {
        const char *f = fmt->str;
        const char *rule = !strcmp(f, "date") ? "date" : !strcmp(f, "time") ? "time" : !strcmp(f, "date-time") ? "datetime"
                         : !strcmp(f, "uuid") ? "uuid" : !strcmp(f, "email") ? "email" : NULL;
        if (rule) {
            /* the formats' texts fit any pattern that merely restricts to them; a pattern is
             * checked on top only when there is no format (see the note in the issue report) */
            bputf(b, "\"\\\"\" %s \"\\\"\"", rule);
            return;
        }
        if (c->strict) { sc_fail(c, EDGELLM_ERR_UNSUPPORTED, "unsupported format '%s'", f); return; }
    }
    if (pat && pat->type == JSON_STRING) {
        rx r = {pat->str, 0, pat->len, c};
        int anchored_start = pat->len > 0 && pat->str[0] == '^';
        int anchored_end = pat->len > 0 && pat->str[pat->len - 1] == '$' && !(pat->len > 1 && pat->str[pat->len - 2] == '\\');
        json_buf_puts(b, "\"\\\"\" ");
        if (!anchored_start) json_buf_puts(b, "char{0,16} ");
        json_buf_puts(b, "(");
        rx_alt(&r, b);
        json_buf_puts(b, ")");
        if (r.i < r.n && !c->failed) sc_fail(c, EDGELLM_ERR_FORMAT, "pattern: unexpected ')'");
        if (!anchored_end) json_buf_puts(b, " char{0,16}");
        json_buf_puts(b, " \"\\\"\"");
        return;
    }
    double mn = 0, mx = 256;
    sc_num(s, "minLength", &mn);
    sc_num(s, "maxLength", &mx);
    if (mn < 0) mn = 0;
    if (mx > 4096) mx = 4096;
    if (mx < mn) { sc_fail(c, EDGELLM_ERR_FORMAT, "maxLength < minLength"); return; }
    bputf(b, "\"\\\"\" char{%d,%d} \"\\\"\"", (int)ceil(mn), (int)floor(mx));
}

static void gen_integer(json_buf *b, const json_value *s) {
    double lo = 0, hi = 0, xlo = 0, xhi = 0;
    int has_lo = sc_num(s, "minimum", &lo), has_hi = sc_num(s, "maximum", &hi);
    long long L = has_lo ? sc_ll(ceil(lo)) : 0, H = has_hi ? sc_ll(floor(hi)) : 0;
    if (sc_num(s, "exclusiveMinimum", &xlo)) {
        long long x = sc_ll(floor(xlo)) + 1;
        if (!has_lo || x > L) L = x;
        has_lo = 1;
    }
    if (sc_num(s, "exclusiveMaximum", &xhi)) {
        long long x = sc_ll(ceil(xhi)) - 1;
        if (!has_hi || x < H) H = x;
        has_hi = 1;
    }
    if (!has_lo && !has_hi) { json_buf_puts(b, "int"); return; }
    if (has_lo && has_hi && L > H) { json_buf_puts(b, "\"\" [^\\x00-\\U0010FFFF]"); return; } /* no integer */
    int_range(b, L, has_lo, H, has_hi);
}

static void gen_number(json_buf *b, const json_value *s) {
    double lo = 0, hi = 0, x;
    int has_lo = sc_num(s, "minimum", &lo), has_hi = sc_num(s, "maximum", &hi);
    int xl = 0, xh = 0;
    if (sc_num(s, "exclusiveMinimum", &x)) { if (!has_lo || x >= lo) { lo = x; xl = 1; } has_lo = 1; }
    if (sc_num(s, "exclusiveMaximum", &x)) { if (!has_hi || x <= hi) { hi = x; xh = 1; } has_hi = 1; }
    if (!has_lo && !has_hi) { json_buf_puts(b, "number"); return; }
    /* integer values in range, or "i.ddd" (the digits end in 1-9, so i < value < i + 1) when
     * the whole open interval (i, i + 1) is in range; negative: "-k.ddd" in (-k-1, -k) */
    long long L = has_lo ? sc_ll(xl ? floor(lo) + 1 : ceil(lo)) : -999999999999999LL;
    long long H = has_hi ? sc_ll(xh ? ceil(hi) - 1 : floor(hi)) : 999999999999999LL;
    json_buf_puts(b, "(");
    int alt = 0;
    if (L <= H) { int_range(b, L, 1, H, 1); alt = 1; }
    /* fractional, non-negative: i in [max(0, ceil(lo)), floor(hi) - 1] when hi is inclusive or not */
    long long fl = has_lo ? sc_ll(ceil(lo)) : 0, fh = has_hi ? sc_ll(ceil(hi)) - 1 : 999999999999999LL;
    if (fl < 0) fl = 0;
    if (fl <= fh) {
        if (alt) json_buf_puts(b, " | ");
        int_range(b, fl, 1, fh, 1);
        json_buf_puts(b, " \".\" [0-9]{0,5} [1-9]");
        alt = 1;
    }
    /* fractional, negative: -(k + f) with k in [max(0, -floor(hi)), -floor(lo) - 1] */
    long long kl = has_hi ? -sc_ll(floor(hi)) : 0, kh = has_lo ? -sc_ll(floor(lo)) - 1 : 999999999999999LL;
    if (kl < 0) kl = 0;
    if (kl <= kh) {
        if (alt) json_buf_puts(b, " | ");
        json_buf_puts(b, "\"-\" ");
        int_range(b, kl, 1, kh, 1);
        json_buf_puts(b, " \".\" [0-9]{0,5} [1-9]");
        alt = 1;
    }
    if (!alt) json_buf_puts(b, "\"0\" \"\"[^\\x00-\\U0010FFFF]"); /* empty range: nothing matches */
    json_buf_puts(b, ")");
}

static void gen_array(schema_ctx *c, const json_value *s, json_buf *b) {
    const json_value *prefix = json_get(s, "prefixItems"), *items = json_get(s, "items");
    double mn = 0, mx = -1;
    sc_num(s, "minItems", &mn);
    sc_num(s, "maxItems", &mx);
    int np = prefix && prefix->type == JSON_ARRAY ? (int)prefix->len : 0;
    int item_rule = -1;
    int items_false = items && items->type == JSON_BOOL && !items->boolean;
    if (items && items->type == JSON_OBJECT) item_rule = gen(c, items);
    if (c->failed) return;
    if (mn > 10000 || mx > 10000) { sc_fail(c, EDGELLM_ERR_UNSUPPORTED, "minItems or maxItems above 10000"); return; }
    int min = mn > 0 ? (int)ceil(mn) : 0, max = mx < 0 ? -1 : (int)floor(mx);
    if (items_false || (np > 0 && items == NULL && 0)) max = max < 0 || max > np ? np : max;
    if (max >= 0 && max < min) { sc_fail(c, EDGELLM_ERR_FORMAT, "maxItems < minItems"); return; }
    /* element k: prefix k, else the items schema (or any value) */
    int pr[64];
    if (np > 64) { sc_fail(c, EDGELLM_ERR_UNSUPPORTED, "more than 64 prefixItems"); return; }
    for (int k = 0; k < np; k++) { pr[k] = gen(c, prefix->items[k]); if (c->failed) return; }
    /* build from the back: tail_k = ("," ws elem_k ws tail_{k+1})? with k >= min required, for
     * the prefix and the required elements; the rest, all of the items schema, is one repetition
     * (bounded by maxItems) */
    int limit = np > min ? np : min;
    if (max >= 0 && limit > max) limit = max;
    int rest = max < 0 ? -1 : max - limit;
    if (limit == 0 && rest > 0) rest--; /* the first element then stands before the tail */
    int tail = -1; /* rule for elements beyond limit */
    json_buf t = {0};
    const char *anyel = "value";
    char el[32];
    if (rest != 0 && !items_false) {
        if (item_rule >= 0) snprintf(el, sizeof el, "r%d", item_rule);
        else snprintf(el, sizeof el, "%s", anyel);
        if (rest < 0) bputf(&t, "(\",\" ws %s ws)*", el);
        else bputf(&t, "(\",\" ws %s ws){0,%d}", el, rest);
        tail = add_rule(c, &t);
        json_buf_free(&t);
        memset(&t, 0, sizeof t);
    }
    int next = tail; /* the rule after element k (k = limit) */
    for (int k = limit - 1; k >= 0; k--) {
        if (k < np) snprintf(el, sizeof el, "r%d", pr[k]);
        else if (item_rule >= 0) snprintf(el, sizeof el, "r%d", item_rule);
        else snprintf(el, sizeof el, "%s", anyel);
        json_buf body = {0};
        if (k > 0) json_buf_puts(&body, "\",\" ws ");
        bputf(&body, "%s ws", el);
        if (next >= 0) bputf(&body, " r%d", next);
        if (k >= min) json_buf_puts(&body, " | \"\"");
        next = add_rule(c, &body);
        json_buf_free(&body);
    }
    json_buf_puts(b, "\"[\" ws ");
    if (next >= 0 && limit > 0) bputf(b, "r%d ", next);
    else if (next >= 0) {
        /* no fixed elements: optional first element then the tail */
        if (item_rule >= 0) snprintf(el, sizeof el, "r%d", item_rule);
        else snprintf(el, sizeof el, "value");
        bputf(b, "(%s ws r%d)? ", el, next);
    }
    json_buf_puts(b, "\"]\"");
}

static void gen_object(schema_ctx *c, const json_value *s, json_buf *b) {
    const json_value *props = json_get(s, "properties"), *req = json_get(s, "required");
    const json_value *addl = json_get(s, "additionalProperties");
    int n = props && props->type == JSON_OBJECT ? (int)props->len : 0;
    if (n > 128) { sc_fail(c, EDGELLM_ERR_UNSUPPORTED, "more than 128 properties"); return; }
    int kv[128], required[128];
    for (int i = 0; i < n; i++) {
        required[i] = 0;
        if (req && req->type == JSON_ARRAY)
            for (size_t j = 0; j < req->len; j++)
                if (req->items[j]->type == JSON_STRING && req->items[j]->len == props->key_lens[i] &&
                    memcmp(req->items[j]->str, props->keys[i], props->key_lens[i]) == 0) required[i] = 1;
        int v = gen(c, props->items[i]);
        if (c->failed) return;
        json_buf body = {0};
        json_buf kj = {0};
        json_write_string(&kj, props->keys[i], props->key_lens[i], 0);
        lit(&body, kj.data, kj.len);
        json_buf_free(&kj);
        bputf(&body, " ws \":\" ws r%d ws", v);
        kv[i] = add_rule(c, &body);
        json_buf_free(&body);
    }
    /* further keys: additionalProperties as a schema; absent or false: none */
    int extra = -1;
    if (addl && addl->type == JSON_OBJECT) {
        int v = gen(c, addl);
        if (c->failed) return;
        json_buf body = {0};
        bputf(&body, "string ws \":\" ws r%d ws", v);
        extra = add_rule(c, &body);
        json_buf_free(&body);
    } else if (n == 0 && !addl && !props) {
        json_buf_puts(b, "object");
        return;
    }
    /* after_i: something was written; first_i: nothing yet */
    int after = -1, first = -1;
    {
        json_buf a = {0}, f = {0};
        if (extra >= 0) {
            bputf(&a, "(\",\" ws r%d)*", extra);
            bputf(&f, "(r%d (\",\" ws r%d)*)?", extra, extra);
        } else {
            json_buf_puts(&a, "\"\"");
            json_buf_puts(&f, "\"\"");
        }
        after = add_rule(c, &a);
        first = add_rule(c, &f);
        json_buf_free(&a);
        json_buf_free(&f);
    }
    for (int i = n - 1; i >= 0; i--) {
        json_buf a = {0}, f = {0};
        bputf(&a, "\",\" ws r%d r%d", kv[i], after);
        if (!required[i]) bputf(&a, " | r%d", after);
        bputf(&f, "r%d r%d", kv[i], after);
        if (!required[i]) bputf(&f, " | r%d", first);
        int na = add_rule(c, &a), nf = add_rule(c, &f);
        json_buf_free(&a);
        json_buf_free(&f);
        after = na;
        first = nf;
    }
    bputf(b, "\"{\" ws r%d \"}\"", first);
}

static int resolve_ref(schema_ctx *c, const char *ref) {
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i], ref)) return c->ref_rule[i];
    if (strncmp(ref, "#", 1) != 0) { sc_fail(c, EDGELLM_ERR_UNSUPPORTED, "$ref '%s' is not local", ref); return -1; }
    const json_value *v = c->root;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char key[256];
        size_t k = 0;
        for (size_t i = 0; i < len && k + 1 < sizeof key; i++) {
            if (p[i] == '~' && i + 1 < len && (p[i + 1] == '0' || p[i + 1] == '1')) { key[k++] = p[i + 1] == '0' ? '~' : '/'; i++; }
            else key[k++] = p[i];
        }
        key[k] = 0;
        v = v && v->type == JSON_OBJECT ? json_get(v, key) : NULL;
        p += len;
    }
    if (!v || *p) { sc_fail(c, EDGELLM_ERR_FORMAT, "$ref '%s' not found", ref); return -1; }
    if (c->n_refs == 256) { sc_fail(c, EDGELLM_ERR_UNSUPPORTED, "too many $ref targets"); return -1; }
    int r = reserve_rule(c);
    c->refs[c->n_refs] = ref;
    c->ref_rule[c->n_refs++] = r;
    int body_rule = gen(c, v);
    if (c->failed) return -1;
    json_buf body = {0};
    bputf(&body, "r%d", body_rule);
    define_rule(c, r, &body);
    json_buf_free(&body);
    return r;
}

/* Rule for one JSON value of a type name, the other keywords of s applying. */
static void gen_type(schema_ctx *c, const json_value *s, const char *t, json_buf *b) {
    if (!strcmp(t, "string")) gen_string(c, s, b);
    else if (!strcmp(t, "integer")) gen_integer(b, s);
    else if (!strcmp(t, "number")) gen_number(b, s);
    else if (!strcmp(t, "boolean")) json_buf_puts(b, "boolean");
    else if (!strcmp(t, "null")) json_buf_puts(b, "null");
    else if (!strcmp(t, "array")) gen_array(c, s, b);
    else if (!strcmp(t, "object")) gen_object(c, s, b);
    else sc_fail(c, EDGELLM_ERR_FORMAT, "unknown type '%s'", t);
}

static int gen(schema_ctx *c, const json_value *s) {
    if (c->failed) return -1;
    if (++c->depth > SC_MAX_DEPTH) { sc_fail(c, EDGELLM_ERR_UNSUPPORTED, "schema nested too deeply"); return -1; }
    json_buf b = {0};
    if (s->type == JSON_BOOL) {
        json_buf_puts(&b, s->boolean ? "value" : "\"\" [^\\x00-\\U0010FFFF]");
    } else if (s->type != JSON_OBJECT) {
        sc_fail(c, EDGELLM_ERR_FORMAT, "a schema must be an object or a boolean");
    } else {
        for (size_t i = 0; i < s->len && !c->failed; i++) {
            int known = 0;
            for (int k = 0; KNOWN[k]; k++)
                if (!strcmp(s->keys[i], KNOWN[k])) known = 1;
            if (!known && c->strict) sc_fail(c, EDGELLM_ERR_UNSUPPORTED, "unsupported keyword '%s'", s->keys[i]);
        }
        const json_value *ref = json_get(s, "$ref"), *en = json_get(s, "enum"), *cn = json_get(s, "const");
        const json_value *any = json_get(s, "anyOf");
        if (!any) any = json_get(s, "oneOf");
        const json_value *type = json_get(s, "type");
        if (c->failed) {
        } else if (ref && ref->type == JSON_STRING) {
            int r = resolve_ref(c, ref->str);
            if (r >= 0) bputf(&b, "r%d", r);
        } else if (cn || (en && en->type == JSON_ARRAY)) {
            size_t n = cn ? 1 : en->len;
            if (n == 0) json_buf_puts(&b, "\"\" [^\\x00-\\U0010FFFF]");
            for (size_t i = 0; i < n; i++) {
                json_buf v = {0};
                json_write(&v, cn ? cn : en->items[i], -1, 0);
                if (i) json_buf_puts(&b, " | ");
                lit(&b, v.data, v.len);
                json_buf_free(&v);
            }
        } else if (any && any->type == JSON_ARRAY && any->len > 0) {
            for (size_t i = 0; i < any->len && !c->failed; i++) {
                int r = gen(c, any->items[i]);
                if (i) json_buf_puts(&b, " | ");
                bputf(&b, "r%d", r);
            }
        } else if (type && type->type == JSON_STRING) {
            gen_type(c, s, type->str, &b);
        } else if (type && type->type == JSON_ARRAY && type->len > 0) {
            for (size_t i = 0; i < type->len && !c->failed; i++) {
                if (type->items[i]->type != JSON_STRING) { sc_fail(c, EDGELLM_ERR_FORMAT, "type must name types"); break; }
                if (i) json_buf_puts(&b, " | ");
                json_buf_puts(&b, "(");
                gen_type(c, s, type->items[i]->str, &b);
                json_buf_puts(&b, ")");
            }
        } else if (json_get(s, "properties") || json_get(s, "additionalProperties") || json_get(s, "required")) {
            gen_type(c, s, "object", &b);
        } else if (json_get(s, "items") || json_get(s, "prefixItems")) {
            gen_type(c, s, "array", &b);
        } else if (json_get(s, "pattern") || json_get(s, "format") || json_get(s, "minLength") || json_get(s, "maxLength")) {
            gen_type(c, s, "string", &b);
        } else {
            json_buf_puts(&b, "value");
        }
    }
    c->depth--;
    int r = -1;
    if (!c->failed) {
        if (b.failed) sc_fail(c, EDGELLM_ERR_NOMEM, "out of memory");
        else r = add_rule(c, &b);
    }
    json_buf_free(&b);
    return r;
}

edgellm_status grammar_schema_to_gbnf(const char *schema_json, size_t len, int strict, char **gbnf, char *err,
                                      size_t err_size) {
    *gbnf = NULL;
    char jerr[200];
    json_value *root = json_parse(schema_json, len, jerr, sizeof jerr);
    if (!root) return util_errf(err, err_size, EDGELLM_ERR_FORMAT, "json schema: %s", jerr);
    schema_ctx c = {.root = root, .strict = strict, .err = err, .err_size = err_size};
    c.out.max = 64u << 20;
    json_buf_puts(&c.out, SC_COMMON);
    int r = gen(&c, root);
    if (!c.failed) bputf(&c.out, "root ::= r%d\n", r);
    json_free(root);
    if (!c.failed && c.out.failed) sc_fail(&c, EDGELLM_ERR_NOMEM, "out of memory");
    if (c.failed) {
        json_buf_free(&c.out);
        return (edgellm_status)c.failed;
    }
    *gbnf = c.out.data;
    return EDGELLM_OK;
}
