/* jinja_value: the render arena, error unwinding, and template values — construction, Python
 * truthiness / equality, str() and repr() text, and Hugging Face's tojson. The arena is a list of
 * malloc'd blocks (bump allocation, freed together); its total is bounded by the limits. */
#define JINJA_INTERNAL
#include "template/jinja.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jblock {
    struct jblock *next;
    size_t used, cap;
    max_align_t data[];
};

struct jinja_limits jinja_default_limits(void) {
    struct jinja_limits l = {20000000u, 100, (size_t)16 << 20, (size_t)256 << 20};
    return l;
}

void jinja_fail(jctx *c, jinja_status st, int line, const char *fmt, ...) {
    c->st = st;
    if (c->err && c->err_size) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        /* one line: names quoted from the template may hold control characters */
        if (st != JINJA_ERR_RAISED)
            for (char *q = msg; *q; q++)
                if ((unsigned char)*q < 0x20) *q = ' ';
        if (st == JINJA_ERR_RAISED || line <= 0) snprintf(c->err, c->err_size, "%s", msg);
        else snprintf(c->err, c->err_size, "%s at line %d", msg, line);
    }
    longjmp(c->jb, 1);
}

void *jinja_alloc(jctx *c, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0) n = sizeof(max_align_t);
    struct jblock *b = c->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (n > c->lim.max_memory || c->mem_used + cap > c->lim.max_memory)
            jinja_fail(c, JINJA_ERR_LIMIT, 0, "template uses more than %zu bytes of memory", c->lim.max_memory);
        b = malloc(sizeof *b + cap);
        if (!b) jinja_fail(c, JINJA_ERR_NOMEM, 0, "out of memory");
        b->cap = cap;
        b->used = 0;
        b->next = c->blocks;
        c->blocks = b;
        c->mem_used += cap;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void jinja_arena_free(jctx *c) {
    while (c->blocks) {
        struct jblock *n = c->blocks->next;
        free(c->blocks);
        c->blocks = n;
    }
    c->mem_used = 0;
}

char *jinja_strdup(jctx *c, const char *s, size_t n) {
    char *p = jinja_alloc(c, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void jsb_put(jctx *c, jsb *b, const char *s, size_t n) {
    if (!n) return;
    if (b->n + n > c->lim.max_output)
        jinja_fail(c, JINJA_ERR_LIMIT, 0, "template output exceeds %zu bytes", c->lim.max_output);
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n) cap *= 2;
        char *p = jinja_alloc(c, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void jsb_puts(jctx *c, jsb *b, const char *s) { jsb_put(c, b, s, strlen(s)); }

void jinja_step(jctx *c, int line) {
    if (++c->steps > c->lim.max_steps)
        jinja_fail(c, JINJA_ERR_LIMIT, line, "template exceeded %llu evaluation steps (endless loop?)",
                   (unsigned long long)c->lim.max_steps);
}

jv jv_str(const char *p, size_t n) { jv v; v.t = JV_STR; v.u.s.p = p; v.u.s.n = n; return v; }
jv jv_cstr(const char *s) { return jv_str(s, strlen(s)); }
jv jv_int(int64_t i) { jv v; v.t = JV_INT; v.u.i = i; return v; }
jv jv_float(double f) { jv v; v.t = JV_FLOAT; v.u.f = f; return v; }
jv jv_bool(int b) { jv v; v.t = JV_BOOL; v.u.b = !!b; return v; }
jv jv_none(void) { jv v; memset(&v, 0, sizeof v); v.t = JV_NONE; return v; }
jv jv_undef(const char *name, size_t n) { jv v = jv_str(name, n); v.t = JV_UNDEF; return v; }

jv jv_new_list(jctx *c, size_t cap) {
    jv v;
    v.t = JV_LIST;
    v.u.l = jinja_alloc(c, sizeof(jlist));
    v.u.l->n = 0;
    v.u.l->is_tuple = 0;
    v.u.l->cap = cap;
    v.u.l->v = cap ? jinja_alloc(c, cap * sizeof(jv)) : NULL;
    return v;
}

jv jv_new_dict(jctx *c, size_t cap) {
    jv v;
    v.t = JV_DICT;
    v.u.d = jinja_alloc(c, sizeof(jdict));
    memset(v.u.d, 0, sizeof(jdict));
    if (cap) {
        v.u.d->k = jinja_alloc(c, cap * sizeof(jv));
        v.u.d->v = jinja_alloc(c, cap * sizeof(jv));
        v.u.d->cap = cap;
    }
    return v;
}

void jlist_push(jctx *c, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        jv *nv = jinja_alloc(c, cap * sizeof(jv));
        if (l->n) memcpy(nv, l->v, l->n * sizeof(jv));
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

jv *jdict_get(jdict *d, jv k) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->k[i], k)) return &d->v[i];
    return NULL;
}

jv *jdict_get_str(jdict *d, const char *s, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].u.s.n == n && !memcmp(d->k[i].u.s.p, s, n)) return &d->v[i];
    return NULL;
}

void jdict_set(jctx *c, jdict *d, jv k, jv v) {
    jv *slot = jdict_get(d, k);
    if (slot) { *slot = v; return; }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jv *nk = jinja_alloc(c, cap * sizeof(jv)), *nv = jinja_alloc(c, cap * sizeof(jv));
        if (d->n) { memcpy(nk, d->k, d->n * sizeof(jv)); memcpy(nv, d->v, d->n * sizeof(jv)); }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
}

jv jv_from_json(jctx *c, const json_value *j) {
    switch (j->type) {
    case JSON_NULL: return jv_none();
    case JSON_BOOL: return jv_bool(j->boolean);
    case JSON_NUMBER: return j->is_int ? jv_int(j->i) : jv_float(j->num);
    case JSON_STRING: return jv_str(jinja_strdup(c, j->str, j->len), j->len);
    case JSON_ARRAY: {
        jv l = jv_new_list(c, j->len);
        for (size_t i = 0; i < j->len; i++) l.u.l->v[i] = jv_from_json(c, j->items[i]);
        l.u.l->n = j->len;
        return l;
    }
    case JSON_OBJECT: {
        /* keys are already unique (json_parse resolves duplicates) */
        jv d = jv_new_dict(c, j->len);
        for (size_t i = 0; i < j->len; i++) {
            d.u.d->k[i] = jv_str(jinja_strdup(c, j->keys[i], j->key_lens[i]), j->key_lens[i]);
            d.u.d->v[i] = jv_from_json(c, j->items[i]);
        }
        d.u.d->n = j->len;
        return d;
    }
    }
    return jv_none();
}

int jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return 0;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s.n != 0;
    case JV_LIST: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->is_ns || v.u.d->n != 0;
    default: return 1;
    }
}

static int jv_is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double jv_num(jv v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b; }

int jv_equal(jv a, jv b) {
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            int64_t x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b;
            return x == y;
        }
        return jv_num(a) == jv_num(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return 1;
    case JV_STR: return a.u.s.n == b.u.s.n && !memcmp(a.u.s.p, b.u.s.p, a.u.s.n);
    case JV_LIST:
        if (a.u.l->n != b.u.l->n || a.u.l->is_tuple != b.u.l->is_tuple) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_equal(a.u.l->v[i], b.u.l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d == b.u.d) return 1;
        if (a.u.d->is_ns || b.u.d->is_ns || a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv *o = jdict_get(b.u.d, a.u.d->k[i]);
            if (!o || !jv_equal(a.u.d->v[i], *o)) return 0;
        }
        return 1;
    case JV_MACRO: return a.u.macro == b.u.macro;
    case JV_FUNC: return a.u.func == b.u.func;
    default: return 0;
    }
}

const char *jv_type_name(jv v) {
    switch (v.t) {
    case JV_UNDEF: return "undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return "list";
    case JV_DICT: return v.u.d->is_ns ? "Namespace" : "dict";
    case JV_MACRO: return "macro";
    default: return "function";
    }
}

static void put_repr_str(jctx *c, jsb *b, const char *p, size_t n) {
    int has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    jsb_put(c, b, &q, 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        char esc[8];
        if (ch == (unsigned char)q || ch == '\\') { esc[0] = '\\'; esc[1] = (char)ch; jsb_put(c, b, esc, 2); }
        else if (ch == '\n') jsb_put(c, b, "\\n", 2);
        else if (ch == '\r') jsb_put(c, b, "\\r", 2);
        else if (ch == '\t') jsb_put(c, b, "\\t", 2);
        else if (ch < 0x20 || ch == 0x7f) { snprintf(esc, sizeof esc, "\\x%02x", ch); jsb_put(c, b, esc, 4); }
        else jsb_put(c, b, (const char *)&p[i], 1);
    }
    jsb_put(c, b, &q, 1);
}

static void put_scalar(jctx *c, jsb *b, jv v) {
    char num[40];
    switch (v.t) {
    case JV_NONE: jsb_puts(c, b, "None"); break;
    case JV_BOOL: jsb_puts(c, b, v.u.b ? "True" : "False"); break;
    case JV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); jsb_puts(c, b, num); break;
    case JV_FLOAT: json_format_double(v.u.f, 0, num); jsb_puts(c, b, num); break;
    case JV_MACRO: jsb_puts(c, b, "<Macro>"); break;
    case JV_FUNC: jsb_puts(c, b, "<built-in function>"); break;
    default: break;
    }
}

void jv_repr(jctx *c, jsb *b, jv v) {
    switch (v.t) {
    case JV_UNDEF: break;
    case JV_STR: put_repr_str(c, b, v.u.s.p, v.u.s.n); break;
    case JV_LIST:
        jsb_put(c, b, v.u.l->is_tuple ? "(" : "[", 1);
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jsb_put(c, b, ", ", 2);
            jv_repr(c, b, v.u.l->v[i]);
        }
        if (v.u.l->is_tuple && v.u.l->n == 1) jsb_put(c, b, ",", 1);
        jsb_put(c, b, v.u.l->is_tuple ? ")" : "]", 1);
        break;
    case JV_DICT:
        if (v.u.d->is_ns) jsb_puts(c, b, "<Namespace ");
        jsb_put(c, b, "{", 1);
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) jsb_put(c, b, ", ", 2);
            jv_repr(c, b, v.u.d->k[i]);
            jsb_put(c, b, ": ", 2);
            jv_repr(c, b, v.u.d->v[i]);
        }
        jsb_put(c, b, "}", 1);
        if (v.u.d->is_ns) jsb_put(c, b, ">", 1);
        break;
    default: put_scalar(c, b, v); break;
    }
}

void jv_to_str(jctx *c, jsb *b, jv v) {
    if (v.t == JV_STR) jsb_put(c, b, v.u.s.p, v.u.s.n);
    else jv_repr(c, b, v);
}

jv jv_stringify(jctx *c, jv v) {
    if (v.t == JV_STR) return v;
    jsb b = {0};
    jv_to_str(c, &b, v);
    return jv_str(b.p ? b.p : "", b.n);
}

static void json_put_str(jctx *c, jsb *b, const char *p, size_t n, int ascii) {
    json_buf jb = {0};
    jb.max = c->lim.max_output;
    json_write_string(&jb, p, n, ascii);
    if (jb.failed) { json_buf_free(&jb); jinja_fail(c, JINJA_ERR_LIMIT, 0, "tojson output too large"); }
    jsb_put(c, b, jb.data, jb.len);
    json_buf_free(&jb);
}

static void json_newline(jctx *c, jsb *b, int indent, int level) {
    jsb_put(c, b, "\n", 1);
    for (int i = 0; i < indent * level; i++) jsb_put(c, b, " ", 1);
}

static void to_json_rec(jctx *c, jsb *b, jv v, int line, int indent, int sort_keys, int ascii, int level) {
    char num[40];
    if (level > 256) jinja_fail(c, JINJA_ERR_LIMIT, line, "tojson: value nested too deeply");
    switch (v.t) {
    case JV_NONE: jsb_puts(c, b, "null"); return;
    case JV_BOOL: jsb_puts(c, b, v.u.b ? "true" : "false"); return;
    case JV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); jsb_puts(c, b, num); return;
    case JV_FLOAT: json_format_double(v.u.f, 1, num); jsb_puts(c, b, num); return;
    case JV_STR: json_put_str(c, b, v.u.s.p, v.u.s.n, ascii); return;
    case JV_LIST: case JV_DICT: {
        int obj = v.t == JV_DICT;
        if (obj && v.u.d->is_ns) break;
        size_t n = obj ? v.u.d->n : v.u.l->n;
        jsb_put(c, b, obj ? "{" : "[", 1);
        if (!n) { jsb_put(c, b, obj ? "}" : "]", 1); return; }
        size_t *order = jinja_alloc(c, n * sizeof *order);
        for (size_t i = 0; i < n; i++) order[i] = i;
        if (obj && sort_keys) {
            /* insertion sort by key text: dicts in templates are small */
            for (size_t i = 1; i < n; i++) {
                size_t k = order[i], j = i;
                jv kk = jv_stringify(c, v.u.d->k[k]);
                while (j > 0) {
                    jv pk = jv_stringify(c, v.u.d->k[order[j - 1]]);
                    size_t m = pk.u.s.n < kk.u.s.n ? pk.u.s.n : kk.u.s.n;
                    int r = memcmp(pk.u.s.p, kk.u.s.p, m);
                    if (r < 0 || (r == 0 && pk.u.s.n <= kk.u.s.n)) break;
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = k;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (i) jsb_puts(c, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) json_newline(c, b, indent, level + 1);
            if (obj) {
                jv k = v.u.d->k[order[i]];
                if (k.t == JV_STR) json_put_str(c, b, k.u.s.p, k.u.s.n, ascii);
                else if (k.t == JV_INT || k.t == JV_FLOAT || k.t == JV_BOOL || k.t == JV_NONE) {
                    jsb kb = {0};
                    to_json_rec(c, &kb, k, line, -1, 0, ascii, level + 1);
                    json_put_str(c, b, kb.p, kb.n, ascii);
                } else jinja_fail(c, JINJA_ERR_RUNTIME, line, "tojson: keys must be str, int, float, bool or None, not %s", jv_type_name(k));
                jsb_put(c, b, ": ", 2);
                to_json_rec(c, b, v.u.d->v[order[i]], line, indent, sort_keys, ascii, level + 1);
            } else to_json_rec(c, b, v.u.l->v[i], line, indent, sort_keys, ascii, level + 1);
        }
        if (indent >= 0) json_newline(c, b, indent, level);
        jsb_put(c, b, obj ? "}" : "]", 1);
        return;
    }
    default: break;
    }
    jinja_fail(c, JINJA_ERR_RUNTIME, line, "tojson: Object of type %s is not JSON serializable", jv_type_name(v));
}

void jv_to_json(jctx *c, jsb *b, jv v, int line, int indent, int sort_keys, int ensure_ascii) {
    to_json_rec(c, b, v, line, indent, sort_keys, ensure_ascii, 0);
}

const char *ju_find(const char *hay, size_t hn, const char *needle, size_t nn) {
    if (nn == 0) return hay;
    if (nn > hn) return NULL;
    for (const char *p = hay, *end = hay + (hn - nn); p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (!memcmp(p, needle, nn)) return p;
    }
    return NULL;
}

size_t ju_len(const char *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) k++;
    return k;
}

size_t ju_offset(const char *p, size_t n, size_t k) {
    size_t i = 0;
    while (i < n && k > 0) {
        i++;
        while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80) i++;
        k--;
    }
    return i;
}

/* ---- dates ---- */

static int days_in_month(int y, int m) {
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}

int jinja_parse_date(const char *s, struct jinja_time *out) {
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return 0;
    memset(out, 0, sizeof *out);
    out->year = y;
    out->month = m;
    out->day = d;
    return 1;
}

/* 0 = Monday, as Python's weekday(); Sakamoto's method gives 0 = Sunday. */
static int weekday_mon0(int y, int m, int d) {
    static const int t[12] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    if (m < 3) y -= 1;
    int sun0 = (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
    return (sun0 + 6) % 7;
}

size_t jinja_strftime(const struct jinja_time *t, const char *fmt, size_t fmt_len, char *out, size_t size) {
    static const char *months[12] = {"January", "February", "March", "April", "May", "June", "July",
                                     "August", "September", "October", "November", "December"};
    static const char *days[7] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
    size_t n = 0;
    char tmp[64];
    for (size_t i = 0; i < fmt_len; i++) {
        const char *piece = tmp;
        size_t pl;
        if (fmt[i] != '%' || i + 1 >= fmt_len) { tmp[0] = fmt[i]; tmp[1] = 0; }
        else {
            char d = fmt[++i];
            int wd = weekday_mon0(t->year, t->month, t->day);
            int yday = t->day;
            for (int m = 1; m < t->month; m++) yday += days_in_month(t->year, m);
            switch (d) {
            case 'Y': snprintf(tmp, sizeof tmp, "%d", t->year); break;
            case 'y': snprintf(tmp, sizeof tmp, "%02d", t->year % 100); break;
            case 'm': snprintf(tmp, sizeof tmp, "%02d", t->month); break;
            case 'd': snprintf(tmp, sizeof tmp, "%02d", t->day); break;
            case 'e': snprintf(tmp, sizeof tmp, "%2d", t->day); break;
            case 'B': piece = months[t->month - 1]; break;
            case 'b': case 'h': snprintf(tmp, sizeof tmp, "%.3s", months[t->month - 1]); break;
            case 'A': piece = days[wd]; break;
            case 'a': snprintf(tmp, sizeof tmp, "%.3s", days[wd]); break;
            case 'H': snprintf(tmp, sizeof tmp, "%02d", t->hour); break;
            case 'I': snprintf(tmp, sizeof tmp, "%02d", t->hour % 12 ? t->hour % 12 : 12); break;
            case 'M': snprintf(tmp, sizeof tmp, "%02d", t->minute); break;
            case 'S': snprintf(tmp, sizeof tmp, "%02d", t->second); break;
            case 'p': piece = t->hour < 12 ? "AM" : "PM"; break;
            case 'j': snprintf(tmp, sizeof tmp, "%03d", yday); break;
            case 'u': snprintf(tmp, sizeof tmp, "%d", wd + 1); break;
            case 'w': snprintf(tmp, sizeof tmp, "%d", (wd + 1) % 7); break;
            case '%': piece = "%"; break;
            default: tmp[0] = '%'; tmp[1] = d; tmp[2] = 0; break;
            }
        }
        pl = strlen(piece);
        for (size_t k = 0; k < pl; k++, n++)
            if (n + 1 < size) out[n] = piece[k];
    }
    if (size) out[n < size ? n : size - 1] = 0;
    return n;
}
