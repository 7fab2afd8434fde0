/* json: strict recursive-descent JSON parser (RFC 8259) for untrusted input, and a serializer
 * matching Python's json.dumps. The parser keeps a cursor with line/column for messages; the
 * recursion depth is bounded by JSON_MAX_DEPTH so hostile nesting cannot overflow the stack.
 * Object members are collected in arrays; duplicates are resolved once per object after parsing
 * (sort by key, keep the first position with the last value). */
#include "template/json.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jp {
    const char *s;
    size_t n, pos;
    char *err;
    size_t err_size;
    int failed;
};

static void jp_fail(struct jp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jp_fail(struct jp *p, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    if (!p->err || !p->err_size) return;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->pos && i < p->n; i++) {
        if (p->s[i] == '\n') { line++; col = 1; } else col++;
    }
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->err_size, "json: %s at line %zu col %zu", msg, line, col);
}

int json_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) { len = 2; v = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; v = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int json_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | (cp >> 6)); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12)); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18)); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

void json_buf_put(json_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->max && b->len + n > b->max) { b->failed = 1; return; }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2) { b->failed = 1; return; }
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d) { b->failed = 1; return; }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void json_buf_puts(json_buf *b, const char *s) { json_buf_put(b, s, strlen(s)); }

void json_buf_free(json_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void json_free(json_value *v) {
    if (!v) return;
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            json_free(v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
        free(v->key_lens);
    }
    free(v->str);
    free(v);
}

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < obj->len; i++)
        if (obj->key_lens[i] == kl && !memcmp(obj->keys[i], key, kl)) return obj->items[i];
    return NULL;
}

static void jp_ws(struct jp *p) {
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
        else break;
    }
}

static int jp_hex4(struct jp *p, uint32_t *out) {
    if (p->pos + 4 > p->n) { jp_fail(p, "truncated \\u escape"); return 0; }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else { jp_fail(p, "bad hex digit in \\u escape"); return 0; }
    }
    p->pos += 4;
    *out = v;
    return 1;
}

/* Parses a string at p->pos (on the opening quote) into a malloc'd buffer. */
static char *jp_string(struct jp *p, size_t *out_len) {
    p->pos++; /* opening quote */
    json_buf b = {0};
    while (!p->failed) {
        if (p->pos >= p->n) { jp_fail(p, "unterminated string"); break; }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) { jp_fail(p, "control character in string"); break; }
        if (c == '\\') {
            if (p->pos + 1 >= p->n) { jp_fail(p, "truncated escape"); break; }
            char e = p->s[p->pos + 1];
            p->pos += 2;
            char ch;
            switch (e) {
            case '"': ch = '"'; break;
            case '\\': ch = '\\'; break;
            case '/': ch = '/'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (!jp_hex4(p, &cp)) goto done;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (p->pos + 2 > p->n || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        jp_fail(p, "lone high surrogate"); goto done;
                    }
                    p->pos += 2;
                    if (!jp_hex4(p, &lo)) goto done;
                    if (lo < 0xDC00 || lo > 0xDFFF) { jp_fail(p, "bad low surrogate"); goto done; }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    jp_fail(p, "lone low surrogate"); goto done;
                }
                char u[4];
                json_buf_put(&b, u, (size_t)json_utf8_encode(cp, u));
                continue;
            }
            default: jp_fail(p, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?'); goto done;
            }
            json_buf_put(&b, &ch, 1);
            continue;
        }
        if (c < 0x80) {
            size_t start = p->pos;
            while (p->pos < p->n) {
                unsigned char d = (unsigned char)p->s[p->pos];
                if (d == '"' || d == '\\' || d < 0x20 || d >= 0x80) break;
                p->pos++;
            }
            json_buf_put(&b, p->s + start, p->pos - start);
            continue;
        }
        uint32_t cp;
        int l = json_utf8_decode((const unsigned char *)p->s + p->pos, p->n - p->pos, &cp);
        if (!l) { jp_fail(p, "invalid UTF-8 in string"); break; }
        json_buf_put(&b, p->s + p->pos, (size_t)l);
        p->pos += (size_t)l;
    }
done:
    if (!p->failed && b.failed) jp_fail(p, "out of memory");
    if (p->failed) { json_buf_free(&b); return NULL; }
    if (!b.data) {
        b.data = calloc(1, 1);
        if (!b.data) { jp_fail(p, "out of memory"); return NULL; }
    }
    *out_len = b.len;
    return b.data;
}

static void jp_number(struct jp *p, json_value *v) {
    size_t start = p->pos;
    int is_int = 1;
    if (p->pos < p->n && p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->n) { jp_fail(p, "bad number"); return; }
    if (p->s[p->pos] == '0') p->pos++;
    else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9')
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    else { jp_fail(p, "bad number"); return; }
    if (p->pos < p->n && p->s[p->pos] == '.') {
        is_int = 0;
        p->pos++;
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') { jp_fail(p, "bad number"); return; }
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        is_int = 0;
        p->pos++;
        if (p->pos < p->n && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') { jp_fail(p, "bad number"); return; }
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    size_t len = p->pos - start;
    if (len > 400) { jp_fail(p, "number too long"); return; }
    char tmp[401];
    memcpy(tmp, p->s + start, len);
    tmp[len] = 0;
    v->type = JSON_NUMBER;
    v->num = strtod(tmp, NULL);
    if (is_int) {
        char *end;
        errno = 0;
        long long ll = strtoll(tmp, &end, 10);
        /* beyond int64 Python would keep a big int; we degrade to float */
        if (errno == ERANGE) is_int = 0;
        else v->i = ll;
    }
    v->is_int = is_int;
}

static uint64_t jp_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Resolves duplicate keys in place: the first occurrence takes the last value. An open-addressing
 * table of first-occurrence indices keeps this linear for hostile objects with many keys. */
static int jp_dedup(json_value *o) {
    size_t n = o->len;
    if (n < 2) return 1;
    size_t cap = 4;
    while (cap < 2 * n) cap *= 2;
    size_t *tab = malloc(cap * sizeof *tab);
    if (!tab) return 0;
    for (size_t i = 0; i < cap; i++) tab[i] = SIZE_MAX;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)jp_hash(o->keys[i], o->key_lens[i]) & (cap - 1);
        for (;;) {
            size_t j = tab[h];
            if (j == SIZE_MAX) { tab[h] = i; break; }
            if (o->key_lens[j] == o->key_lens[i] && !memcmp(o->keys[j], o->keys[i], o->key_lens[i])) {
                json_free(o->items[j]);
                o->items[j] = o->items[i];
                o->items[i] = NULL;
                free(o->keys[i]);
                o->keys[i] = NULL;
                any = 1;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
    }
    free(tab);
    if (any) {
        size_t w = 0;
        for (size_t r = 0; r < n; r++) {
            if (!o->keys[r]) continue;
            o->items[w] = o->items[r];
            o->keys[w] = o->keys[r];
            o->key_lens[w] = o->key_lens[r];
            w++;
        }
        o->len = w;
    }
    return 1;
}

static json_value *jp_value(struct jp *p, int depth);

static int jp_push(struct jp *p, json_value *v, json_value *item, char *key, size_t key_len, size_t *cap) {
    if (v->len == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        json_value **it = realloc(v->items, nc * sizeof *it);
        if (it) v->items = it;
        if (!it) goto oom;
        if (v->type == JSON_OBJECT) {
            char **k = realloc(v->keys, nc * sizeof *k);
            if (k) v->keys = k;
            size_t *kl = k ? realloc(v->key_lens, nc * sizeof *kl) : NULL;
            if (kl) v->key_lens = kl;
            if (!k || !kl) goto oom;
        }
        *cap = nc;
    }
    v->items[v->len] = item;
    if (v->type == JSON_OBJECT) { v->keys[v->len] = key; v->key_lens[v->len] = key_len; }
    v->len++;
    return 1;
oom:
    jp_fail(p, "out of memory");
    json_free(item);
    free(key);
    return 0;
}

static json_value *jp_value(struct jp *p, int depth) {
    if (depth > JSON_MAX_DEPTH) { jp_fail(p, "nesting deeper than %d", JSON_MAX_DEPTH); return NULL; }
    jp_ws(p);
    if (p->pos >= p->n) { jp_fail(p, "unexpected end of input"); return NULL; }
    json_value *v = calloc(1, sizeof *v);
    if (!v) { jp_fail(p, "out of memory"); return NULL; }
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        v->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
        size_t cap = 0;
        p->pos++;
        jp_ws(p);
        if (p->pos < p->n && p->s[p->pos] == close) { p->pos++; return v; }
        for (;;) {
            char *key = NULL;
            size_t key_len = 0;
            if (v->type == JSON_OBJECT) {
                jp_ws(p);
                if (p->pos >= p->n || p->s[p->pos] != '"') { jp_fail(p, "expected a string key"); break; }
                key = jp_string(p, &key_len);
                if (!key) break;
                jp_ws(p);
                if (p->pos >= p->n || p->s[p->pos] != ':') { free(key); jp_fail(p, "expected ':'"); break; }
                p->pos++;
            }
            json_value *item = jp_value(p, depth + 1);
            if (!item) { free(key); break; }
            if (!jp_push(p, v, item, key, key_len, &cap)) break;
            jp_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->pos < p->n && p->s[p->pos] == close) { p->pos++; break; }
            jp_fail(p, "expected ',' or '%c'", close);
            break;
        }
        if (!p->failed && v->type == JSON_OBJECT && !jp_dedup(v)) jp_fail(p, "out of memory");
        if (p->failed) { json_free(v); return NULL; }
        return v;
    }
    if (c == '"') {
        v->type = JSON_STRING;
        v->str = jp_string(p, &v->len);
        if (!v->str) { free(v); return NULL; }
        return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        jp_number(p, v);
        if (p->failed) { free(v); return NULL; }
        return v;
    }
    static const struct { const char *word; json_type t; int b; } lits[] = {
        {"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0}};
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(lits[i].word);
        if (p->n - p->pos >= l && !memcmp(p->s + p->pos, lits[i].word, l)) {
            p->pos += l;
            v->type = lits[i].t;
            v->boolean = lits[i].b;
            return v;
        }
    }
    free(v);
    jp_fail(p, "unexpected character '%c'", c >= 0x20 && c < 0x7f ? c : '?');
    return NULL;
}

json_value *json_parse(const char *text, size_t len, char *err, size_t err_size) {
    struct jp p = {text, len, 0, err, err_size, 0};
    if (err && err_size) err[0] = 0;
    if (!text) { jp_fail(&p, "no input"); return NULL; }
    json_value *v = jp_value(&p, 0);
    if (!v) return NULL;
    jp_ws(&p);
    if (p.pos != p.n) {
        jp_fail(&p, "trailing characters after the value");
        json_free(v);
        return NULL;
    }
    return v;
}

void json_write_string(json_buf *b, const char *s, size_t n, int ensure_ascii) {
    json_buf_put(b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == '"' || c == '\\' || (ensure_ascii && c >= 0x80)) break;
            i++;
        }
        json_buf_put(b, s + start, i - start);
        if (i >= n) break;
        unsigned char c = (unsigned char)s[i];
        char esc[16];
        if (c == '"') json_buf_put(b, "\\\"", 2);
        else if (c == '\\') json_buf_put(b, "\\\\", 2);
        else if (c == '\n') json_buf_put(b, "\\n", 2);
        else if (c == '\r') json_buf_put(b, "\\r", 2);
        else if (c == '\t') json_buf_put(b, "\\t", 2);
        else if (c == '\b') json_buf_put(b, "\\b", 2);
        else if (c == '\f') json_buf_put(b, "\\f", 2);
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); json_buf_puts(b, esc); }
        else {
            uint32_t cp;
            int l = json_utf8_decode((const unsigned char *)s + i, n - i, &cp);
            if (!l) { cp = 0xFFFD; l = 1; }
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else snprintf(esc, sizeof esc, "\\u%04x", cp);
            json_buf_puts(b, esc);
            i += (size_t)l;
            continue;
        }
        i++;
    }
    json_buf_put(b, "\"", 1);
}

void json_format_double(double d, int json_style, char *out) {
    if (isnan(d)) { strcpy(out, json_style ? "NaN" : "nan"); return; }
    if (isinf(d)) { strcpy(out, d > 0 ? (json_style ? "Infinity" : "inf") : (json_style ? "-Infinity" : "-inf")); return; }
    /* Shortest digits that round-trip, then Python's repr layout. */
    char digits[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof digits, "%.*e", prec - 1, d);
        if (strtod(digits, NULL) == d) break;
    }
    /* digits: [-]D[.DDD]e[+-]XX */
    const char *q = digits;
    int neg = 0;
    if (*q == '-') { neg = 1; q++; }
    char mant[24];
    int nm = 0;
    for (; *q && *q != 'e'; q++) if (*q != '.') mant[nm++] = *q;
    mant[nm] = 0;
    int exp = atoi(q + 1);
    while (nm > 1 && mant[nm - 1] == '0') mant[--nm] = 0;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp < -4 || exp >= 16) {
        *o++ = mant[0];
        if (nm > 1) { *o++ = '.'; memcpy(o, mant + 1, (size_t)nm - 1); o += nm - 1; }
        sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    if (exp < 0) {
        *o++ = '0'; *o++ = '.';
        for (int k = 0; k < -exp - 1; k++) *o++ = '0';
        memcpy(o, mant, (size_t)nm); o += nm;
    } else {
        for (int k = 0; k <= exp; k++) *o++ = k < nm ? mant[k] : '0';
        *o++ = '.';
        if (nm > exp + 1) { memcpy(o, mant + exp + 1, (size_t)(nm - exp - 1)); o += nm - exp - 1; }
        else *o++ = '0';
    }
    *o = 0;
}

static void jw_newline(json_buf *b, int indent, int level) {
    json_buf_put(b, "\n", 1);
    for (int i = 0; i < indent * level; i++) json_buf_put(b, " ", 1);
}

static void jw(json_buf *b, const json_value *v, int indent, int ensure_ascii, int level) {
    char num[40];
    switch (v->type) {
    case JSON_NULL: json_buf_puts(b, "null"); break;
    case JSON_BOOL: json_buf_puts(b, v->boolean ? "true" : "false"); break;
    case JSON_NUMBER:
        if (v->is_int) snprintf(num, sizeof num, "%lld", (long long)v->i);
        else json_format_double(v->num, 1, num);
        json_buf_puts(b, num);
        break;
    case JSON_STRING: json_write_string(b, v->str, v->len, ensure_ascii); break;
    case JSON_ARRAY:
    case JSON_OBJECT: {
        int obj = v->type == JSON_OBJECT;
        json_buf_put(b, obj ? "{" : "[", 1);
        if (v->len == 0) { json_buf_put(b, obj ? "}" : "]", 1); break; }
        for (size_t i = 0; i < v->len; i++) {
            if (i) json_buf_puts(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) jw_newline(b, indent, level + 1);
            if (obj) {
                json_write_string(b, v->keys[i], v->key_lens[i], ensure_ascii);
                json_buf_puts(b, ": ");
            }
            jw(b, v->items[i], indent, ensure_ascii, level + 1);
        }
        if (indent >= 0) jw_newline(b, indent, level);
        json_buf_put(b, obj ? "}" : "]", 1);
        break;
    }
    }
}

void json_write(json_buf *b, const json_value *v, int indent, int ensure_ascii) {
    jw(b, v, indent, ensure_ascii, 0);
}
