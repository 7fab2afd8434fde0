/* jinja_builtins: the filters, tests, str/dict methods and global functions templates use, each
 * written to match jinja2 (filters/tests) or Python (methods) on the values chat templates see.
 * Dispatch is by name; a name that is not there is reported as an
 * unsupported construct with its line, never silently ignored. Case mapping covers ASCII and
 * Latin-1; whitespace follows Python's str.isspace. */
#define JINJA_INTERNAL
#include "template/jinja.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_IS(p, n, lit) ((n) == sizeof(lit) - 1 && !memcmp((p), lit, (n)))

static int py_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Code point at p[i] (input is valid UTF-8); *len gets its byte length. */
static uint32_t cp_at(const char *p, size_t n, size_t i, size_t *len) {
    uint32_t cp;
    int l = json_utf8_decode((const unsigned char *)p + i, n - i, &cp);
    if (!l) { cp = (unsigned char)p[i]; l = 1; }
    *len = (size_t)l;
    return cp;
}

/* Start of the code point ending at byte i (exclusive). */
static size_t cp_back(const char *p, size_t i) {
    do i--; while (i > 0 && ((unsigned char)p[i] & 0xC0) == 0x80);
    return i;
}

static int in_chars(uint32_t cp, jv chars) {
    if (chars.t != JV_STR) return py_space(cp);
    for (size_t i = 0, l; i < chars.u.s.n; i += l)
        if (cp_at(chars.u.s.p, chars.u.s.n, i, &l) == cp) return 1;
    return 0;
}

static jv str_strip(jv s, jv chars, int left, int right) {
    const char *p = s.u.s.p;
    size_t a = 0, b = s.u.s.n, l;
    if (left)
        while (a < b && in_chars(cp_at(p, b, a, &l), chars)) a += l;
    if (right)
        while (b > a) {
            size_t k = cp_back(p, b);
            if (!in_chars(cp_at(p, b, k, &l), chars)) break;
            b = k;
        }
    return jv_str(p + a, b - a);
}

static _Noreturn void bad_arg(jctx *c, const jnode *node, const char *what, const char *msg) {
    jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "%s: %s", what, msg);
}

static jv need_str(jctx *c, const jnode *node, const char *what, jv v) {
    if (v.t != JV_STR) {
        char m[96];
        snprintf(m, sizeof m, "expected a string, got %s", jv_type_name(v));
        bad_arg(c, node, what, m);
    }
    return v;
}

/* Keyword argument by name, else positional i, else def. */
static jv arg(jv *args, int n_args, const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw, int i, const char *name, jv def) {
    size_t nl = strlen(name);
    for (int k = 0; k < n_kw; k++)
        if (kw_ns[k] == nl && !memcmp(kw_names[k], name, nl)) return kw_vals[k];
    return i >= 0 && i < n_args ? args[i] : def;
}

/* Case mapping for ASCII and Latin-1 letters (other scripts pass through unchanged).
 * mode 0 lower, 1 upper, 2 capitalize, 3 Python str.title, 4 jinja2's title filter. */
static jv case_map(jctx *c, jv s, int mode) {
    jsb b = {0};
    int word_start = 1;
    size_t idx = 0;
    for (size_t i = 0, l; i < s.u.s.n; i += l, idx++) {
        uint32_t cp = cp_at(s.u.s.p, s.u.s.n, i, &l);
        int lower = (cp >= 'a' && cp <= 'z') || (cp >= 0xDF && cp <= 0xFF && cp != 0xF7);
        int upper = (cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) || cp == 0x178;
        int up = mode == 1 ? 1 : mode == 0 ? 0 : mode == 2 ? idx == 0 : word_start;
        uint32_t out = cp;
        if (up && cp == 0xDF) {
            jsb_puts(c, &b, mode == 1 ? "SS" : "Ss");
            out = 0x110000;
        } else if (up && lower) out = cp == 0xFF ? 0x178 : cp - 0x20;
        else if (!up && upper) out = cp == 0x178 ? 0xFF : cp + 0x20;
        if (out != 0x110000) {
            char u[4];
            jsb_put(c, &b, u, (size_t)json_utf8_encode(out, u));
        }
        if (mode == 3) word_start = !(lower || upper);
        else if (mode == 4) word_start = cp == '-' || py_space(cp) || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jv str_replace(jctx *c, jv s, jv old, jv rep, int64_t count) {
    jsb b = {0};
    size_t i = 0;
    int64_t done = 0;
    if (old.u.s.n == 0) {
        /* Python inserts rep between every character and at both ends */
        size_t l;
        for (; i <= s.u.s.n; i += l) {
            if (count >= 0 && done >= count) break;
            jsb_put(c, &b, rep.u.s.p, rep.u.s.n);
            done++;
            if (i == s.u.s.n) { i++; break; }
            cp_at(s.u.s.p, s.u.s.n, i, &l);
            jsb_put(c, &b, s.u.s.p + i, l);
        }
        if (i < s.u.s.n) jsb_put(c, &b, s.u.s.p + i, s.u.s.n - i);
        return jv_str(b.p ? b.p : "", b.n);
    }
    while (i < s.u.s.n) {
        const char *hit = (count < 0 || done < count) ? ju_find(s.u.s.p + i, s.u.s.n - i, old.u.s.p, old.u.s.n) : NULL;
        if (!hit) { jsb_put(c, &b, s.u.s.p + i, s.u.s.n - i); break; }
        size_t k = (size_t)(hit - s.u.s.p);
        jsb_put(c, &b, s.u.s.p + i, k - i);
        jsb_put(c, &b, rep.u.s.p, rep.u.s.n);
        i = k + old.u.s.n;
        done++;
    }
    return jv_str(b.p ? b.p : "", b.n);
}

static jv str_split(jctx *c, jv s, jv sep, int64_t maxsplit) {
    jv out = jv_new_list(c, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, i = 0, l;
    if (sep.t != JV_STR) {
        int64_t done = 0;
        for (;;) {
            while (i < n && py_space(cp_at(p, n, i, &l))) i += l;
            if (i >= n) break;
            if (maxsplit >= 0 && done >= maxsplit) {
                size_t e = n;
                while (e > i) { size_t k = cp_back(p, e); if (!py_space(cp_at(p, n, k, &l))) break; e = k; }
                jlist_push(c, out.u.l, jv_str(p + i, e - i));
                break;
            }
            size_t st = i;
            while (i < n && !py_space(cp_at(p, n, i, &l))) i += l;
            jlist_push(c, out.u.l, jv_str(p + st, i - st));
            done++;
        }
        return out;
    }
    int64_t done = 0;
    for (;;) {
        const char *hit = (maxsplit < 0 || done < maxsplit) ? ju_find(p + i, n - i, sep.u.s.p, sep.u.s.n) : NULL;
        if (!hit) { jlist_push(c, out.u.l, jv_str(p + i, n - i)); break; }
        size_t k = (size_t)(hit - p);
        jlist_push(c, out.u.l, jv_str(p + i, k - i));
        i = k + sep.u.s.n;
        done++;
    }
    return out;
}

static int64_t need_int(jctx *c, const jnode *node, const char *what, jv v) {
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    char m[96];
    snprintf(m, sizeof m, "expected an integer, got %s", jv_type_name(v));
    bad_arg(c, node, what, m);
}

static int affix_match(jv s, jv affix, int end) {
    if (affix.t != JV_STR || affix.u.s.n > s.u.s.n) return 0;
    const char *p = end ? s.u.s.p + s.u.s.n - affix.u.s.n : s.u.s.p;
    return !memcmp(p, affix.u.s.p, affix.u.s.n);
}

int jinja_method(jctx *c, const jnode *node, jv obj, const char *name, size_t n, jv *args, int n_args,
                 const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw, jv *res) {
#define A(i, nm, def) arg(args, n_args, kw_names, kw_ns, kw_vals, n_kw, i, nm, def)
    jv none = jv_none();
    if (obj.t == JV_STR) {
        if (NAME_IS(name, n, "startswith") || NAME_IS(name, n, "endswith")) {
            int end = name[0] == 'e';
            jv a = A(0, "prefix", none);
            int r = 0;
            if (a.t == JV_LIST) {
                for (size_t i = 0; i < a.u.l->n && !r; i++) r = affix_match(obj, need_str(c, node, "startswith", a.u.l->v[i]), end);
            } else r = affix_match(obj, need_str(c, node, end ? "endswith" : "startswith", a), end);
            *res = jv_bool(r);
            return 1;
        }
        if (NAME_IS(name, n, "strip") || NAME_IS(name, n, "lstrip") || NAME_IS(name, n, "rstrip")) {
            jv chars = A(0, "chars", none);
            if (chars.t != JV_NONE) need_str(c, node, "strip", chars);
            *res = str_strip(obj, chars, name[0] != 'r', name[0] != 'l');
            return 1;
        }
        if (NAME_IS(name, n, "split")) {
            jv sep = A(0, "sep", none);
            jv mx = A(1, "maxsplit", jv_int(-1));
            if (sep.t != JV_NONE) {
                need_str(c, node, "split", sep);
                if (!sep.u.s.n) bad_arg(c, node, "split", "empty separator");
            }
            *res = str_split(c, obj, sep, need_int(c, node, "split", mx));
            return 1;
        }
        if (NAME_IS(name, n, "replace")) {
            jv old = need_str(c, node, "replace", A(0, "old", none)), rep = need_str(c, node, "replace", A(1, "new", none));
            *res = str_replace(c, obj, old, rep, need_int(c, node, "replace", A(2, "count", jv_int(-1))));
            return 1;
        }
        if (NAME_IS(name, n, "upper")) { *res = case_map(c, obj, 1); return 1; }
        if (NAME_IS(name, n, "lower")) { *res = case_map(c, obj, 0); return 1; }
        if (NAME_IS(name, n, "title")) { *res = case_map(c, obj, 3); return 1; }
        if (NAME_IS(name, n, "capitalize")) { *res = case_map(c, case_map(c, obj, 0), 2); return 1; }
        if (NAME_IS(name, n, "find") || NAME_IS(name, n, "count")) {
            jv sub = need_str(c, node, "find", A(0, "sub", none));
            if (name[0] == 'f') {
                const char *hit = sub.u.s.n ? ju_find(obj.u.s.p, obj.u.s.n, sub.u.s.p, sub.u.s.n) : obj.u.s.p;
                *res = jv_int(hit ? (int64_t)ju_len(obj.u.s.p, (size_t)(hit - obj.u.s.p)) : -1);
            } else {
                int64_t k = 0;
                if (!sub.u.s.n) k = (int64_t)ju_len(obj.u.s.p, obj.u.s.n) + 1;
                else for (size_t i = 0; i + sub.u.s.n <= obj.u.s.n;) {
                    const char *hit = ju_find(obj.u.s.p + i, obj.u.s.n - i, sub.u.s.p, sub.u.s.n);
                    if (!hit) break;
                    k++;
                    i = (size_t)(hit - obj.u.s.p) + sub.u.s.n;
                }
                *res = jv_int(k);
            }
            return 1;
        }
        if (NAME_IS(name, n, "format")) {
            /* str.format with {} / {0} / {name} fields; conversions and format specs are not supported */
            jsb b = {0};
            int auto_idx = 0;
            const char *p = obj.u.s.p, *end = p + obj.u.s.n;
            while (p < end) {
                if ((*p == '{' || *p == '}') && p + 1 < end && p[1] == *p) { jsb_put(c, &b, p, 1); p += 2; continue; }
                if (*p == '}') jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "format: single '}' encountered in format string");
                if (*p != '{') { jsb_put(c, &b, p, 1); p++; continue; }
                const char *close = memchr(p, '}', (size_t)(end - p));
                if (!close) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "format: single '{' encountered in format string");
                const char *f = p + 1;
                size_t fl = (size_t)(close - f);
                if (memchr(f, ':', fl) || memchr(f, '!', fl) || memchr(f, '{', fl) || memchr(f, '.', fl) || memchr(f, '[', fl))
                    jinja_fail(c, JINJA_ERR_UNSUPPORTED, node->line, "unsupported str.format field '{%.*s}'", (int)(fl > 40 ? 40 : fl), f);
                jv v;
                int digits = fl > 0 && fl < 9;
                for (size_t i = 0; i < fl; i++) if (f[i] < '0' || f[i] > '9') digits = 0;
                if (fl == 0 || digits) {
                    int idx = fl == 0 ? auto_idx++ : atoi(f);
                    if (idx >= n_args) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "format: replacement index %d out of range", idx);
                    v = args[idx];
                } else {
                    int k = 0;
                    while (k < n_kw && !(kw_ns[k] == fl && !memcmp(kw_names[k], f, fl))) k++;
                    if (k == n_kw) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "format: missing argument '%.*s'", (int)(fl > 40 ? 40 : fl), f);
                    v = kw_vals[k];
                }
                jv_to_str(c, &b, v);
                p = close + 1;
            }
            *res = jv_str(b.p ? b.p : "", b.n);
            return 1;
        }
        if (NAME_IS(name, n, "join")) {
            jv *items;
            size_t k;
            jinja_iter(c, A(0, "iterable", none), node->line, &items, &k);
            jsb b = {0};
            for (size_t i = 0; i < k; i++) {
                if (i) jsb_put(c, &b, obj.u.s.p, obj.u.s.n);
                jv s = need_str(c, node, "join", items[i]);
                jsb_put(c, &b, s.u.s.p, s.u.s.n);
            }
            *res = jv_str(b.p ? b.p : "", b.n);
            return 1;
        }
        if (NAME_IS(name, n, "isdigit") || NAME_IS(name, n, "isspace") || NAME_IS(name, n, "isalpha")) {
            int r = obj.u.s.n > 0;
            for (size_t i = 0, l; i < obj.u.s.n && r; i += l) {
                uint32_t cp = cp_at(obj.u.s.p, obj.u.s.n, i, &l);
                if (name[2] == 'd') r = cp >= '0' && cp <= '9';
                else if (name[2] == 's') r = py_space(cp);
                else r = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
            }
            *res = jv_bool(r);
            return 1;
        }
        return 0;
    }
    if (obj.t == JV_DICT && !obj.u.d->is_ns) {
        jdict *d = obj.u.d;
        if (NAME_IS(name, n, "items") || NAME_IS(name, n, "keys") || NAME_IS(name, n, "values")) {
            jv out = jv_new_list(c, d->n);
            for (size_t i = 0; i < d->n; i++) {
                if (name[0] == 'i') {
                    jv pair = jv_new_list(c, 2);
                    pair.u.l->v[0] = d->k[i];
                    pair.u.l->v[1] = d->v[i];
                    pair.u.l->n = 2;
                    pair.u.l->is_tuple = 1;
                    out.u.l->v[i] = pair;
                } else out.u.l->v[i] = name[0] == 'k' ? d->k[i] : d->v[i];
            }
            out.u.l->n = d->n;
            *res = out;
            return 1;
        }
        if (NAME_IS(name, n, "cycle") && jdict_get_str(d, "index0", 6) && jdict_get_str(d, "depth0", 6)) {
            /* loop.cycle(a, b, ...) */
            if (n_args == 0) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "no items for cycling given");
            *res = args[jdict_get_str(d, "index0", 6)->u.i % n_args];
            return 1;
        }
        if (NAME_IS(name, n, "get")) {
            jv *v = jdict_get(d, A(0, "key", none));
            *res = v ? *v : A(1, "default", none);
            return 1;
        }
        return 0;
    }
    if (obj.t == JV_LIST || obj.t == JV_DICT) {
        static const char *const mut[] = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "sort", "reverse"};
        for (size_t i = 0; i < sizeof mut / sizeof mut[0]; i++)
            if (n == strlen(mut[i]) && !memcmp(name, mut[i], n))
                jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "access to attribute '%s' of '%s' object is unsafe (templates are immutable)",
                           mut[i], jv_type_name(obj));
    }
    return 0;
#undef A
}

/* ---- tests ---- */

static int run_test(jctx *c, const jnode *node, const char *name, size_t n, jv v, jv *args, int n_args) {
    jv a0 = n_args > 0 ? args[0] : jv_undef("argument", 8);
    if (NAME_IS(name, n, "defined")) return v.t != JV_UNDEF;
    if (NAME_IS(name, n, "undefined")) return v.t == JV_UNDEF;
    if (NAME_IS(name, n, "none")) return v.t == JV_NONE;
    if (NAME_IS(name, n, "string")) return v.t == JV_STR;
    if (NAME_IS(name, n, "mapping")) return v.t == JV_DICT && !v.u.d->is_ns;
    if (NAME_IS(name, n, "iterable")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_UNDEF || (v.t == JV_DICT && !v.u.d->is_ns);
    if (NAME_IS(name, n, "sequence")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_UNDEF || (v.t == JV_DICT && !v.u.d->is_ns);
    if (NAME_IS(name, n, "number")) return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
    if (NAME_IS(name, n, "integer")) return v.t == JV_INT;
    if (NAME_IS(name, n, "float")) return v.t == JV_FLOAT;
    if (NAME_IS(name, n, "boolean")) return v.t == JV_BOOL;
    if (NAME_IS(name, n, "true")) return v.t == JV_BOOL && v.u.b;
    if (NAME_IS(name, n, "false")) return v.t == JV_BOOL && !v.u.b;
    if (NAME_IS(name, n, "callable")) return v.t == JV_MACRO || v.t == JV_FUNC;
    if (NAME_IS(name, n, "equalto") || NAME_IS(name, n, "eq") || NAME_IS(name, n, "==")) return jv_equal(v, a0);
    if (NAME_IS(name, n, "ne") || NAME_IS(name, n, "!=")) return !jv_equal(v, a0);
    if (NAME_IS(name, n, "sameas")) return v.t == a0.t && jv_equal(v, a0) && (v.t <= JV_BOOL);
    if (NAME_IS(name, n, "odd") || NAME_IS(name, n, "even")) {
        if (v.t == JV_FLOAT) {
            double m = fmod(v.u.f, 2.0);
            if (m < 0) m += 2.0;
            return name[0] == 'o' ? m == 1.0 : m == 0.0;
        }
        int64_t x = need_int(c, node, "odd/even test", v);
        return (x % 2 != 0) == (name[0] == 'o');
    }
    if (NAME_IS(name, n, "divisibleby")) {
        int64_t x = need_int(c, node, "divisibleby", v), y = need_int(c, node, "divisibleby", a0);
        if (y == 0) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "integer division or modulo by zero");
        return x % y == 0;
    }
    if (NAME_IS(name, n, "lower") || NAME_IS(name, n, "upper")) {
        /* str(v).islower() / isupper(): some cased character, none of the other case (ASCII and Latin-1) */
        jv s = jv_stringify(c, v);
        int want_upper = name[0] == 'u', cased = 0;
        for (size_t i = 0, l; i < s.u.s.n; i += l) {
            uint32_t cp = cp_at(s.u.s.p, s.u.s.n, i, &l);
            int lo = (cp >= 'a' && cp <= 'z') || (cp >= 0xDF && cp <= 0xFF && cp != 0xF7);
            int up = (cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7);
            if ((lo && want_upper) || (up && !want_upper)) return 0;
            cased |= lo | up;
        }
        return cased;
    }
    static const struct { const char *t; int op; } cmps[] = {
        {"lt", OP_LT}, {"<", OP_LT}, {"lessthan", OP_LT}, {"le", OP_LE}, {"<=", OP_LE}, {"gt", OP_GT}, {">", OP_GT},
        {"greaterthan", OP_GT}, {"ge", OP_GE}, {">=", OP_GE}, {"in", OP_IN}};
    for (size_t i = 0; i < sizeof cmps / sizeof cmps[0]; i++) {
        if (n != strlen(cmps[i].t) || memcmp(name, cmps[i].t, n)) continue;
        /* reuse the expression semantics through a tiny synthetic comparison */
        jnode tmp;
        memset(&tmp, 0, sizeof tmp);
        if (cmps[i].op == OP_IN) {
            if (a0.t == JV_STR && v.t == JV_STR) return v.u.s.n == 0 || (v.u.s.n <= a0.u.s.n && ju_find(a0.u.s.p, a0.u.s.n, v.u.s.p, v.u.s.n));
            if (a0.t == JV_LIST) { for (size_t k = 0; k < a0.u.l->n; k++) if (jv_equal(v, a0.u.l->v[k])) return 1; return 0; }
            if (a0.t == JV_DICT) return jdict_get(a0.u.d, v) != NULL;
            jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "'in' test: argument of type '%s' is not iterable", jv_type_name(a0));
        }
        int numeric = (v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL) && (a0.t == JV_INT || a0.t == JV_FLOAT || a0.t == JV_BOOL);
        int cmp;
        if (numeric) {
            double x = v.t == JV_FLOAT ? v.u.f : (double)(v.t == JV_INT ? v.u.i : v.u.b);
            double y = a0.t == JV_FLOAT ? a0.u.f : (double)(a0.t == JV_INT ? a0.u.i : a0.u.b);
            cmp = x < y ? -1 : x > y;
        } else if (v.t == JV_STR && a0.t == JV_STR) {
            size_t m = v.u.s.n < a0.u.s.n ? v.u.s.n : a0.u.s.n;
            cmp = memcmp(v.u.s.p, a0.u.s.p, m);
            if (!cmp) cmp = v.u.s.n < a0.u.s.n ? -1 : v.u.s.n > a0.u.s.n;
        } else jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "'%.*s' test not supported between '%s' and '%s'", (int)n, name,
                          jv_type_name(v), jv_type_name(a0));
        switch (cmps[i].op) {
        case OP_LT: return cmp < 0;
        case OP_LE: return cmp <= 0;
        case OP_GT: return cmp > 0;
        default: return cmp >= 0;
        }
    }
    jinja_fail(c, JINJA_ERR_UNSUPPORTED, node->line, "unsupported test '%.*s'", (int)n, name);
}

int jinja_test(jctx *c, jframe *f, const jnode *node, jv val, jv *args, int n_args) {
    return run_test(c, node, node->name, node->name_n, val, args, n_args);
}

/* ---- filters ---- */

/* Attribute lookup by a dotted path ("function.name", "0"), as jinja2's make_attrgetter. */
static jv attr_path(jctx *c, jv item, jv path, int line) {
    if (path.t == JV_INT) return jinja_getitem(c, item, path, line);
    if (path.t != JV_STR) jinja_fail(c, JINJA_ERR_RUNTIME, line, "attribute must be a string");
    const char *p = path.u.s.p, *end = p + path.u.s.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        size_t l = (size_t)(dot - p);
        int digits = l > 0;
        for (size_t i = 0; i < l; i++) if (p[i] < '0' || p[i] > '9') digits = 0;
        if (item.t == JV_UNDEF) return item;
        if (digits && l < 18) item = jinja_getitem(c, item, jv_int(strtoll(p, NULL, 10)), line);
        else item = jinja_getitem(c, item, jv_str(p, l), line);
        p = dot + 1;
    }
    return item;
}

static jv filter_select(jctx *c, const jnode *node, jv val, jv *args, int n_args, int by_attr, int keep) {
    jv *items = NULL;
    size_t n = 0;
    /* jinja2's select_or_reject skips a falsy input (none, undefined) instead of iterating it */
    if (jv_truthy(val)) jinja_iter(c, val, node->line, &items, &n);
    jv out = jv_new_list(c, 0);
    int first_test = by_attr ? 1 : 0;
    if (by_attr && n_args < 1) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "%.*s: missing attribute", (int)node->name_n, node->name);
    for (size_t i = 0; i < n; i++) {
        jinja_step(c, node->line);
        jv x = by_attr ? attr_path(c, items[i], args[0], node->line) : items[i];
        int r;
        if (n_args <= first_test) r = jv_truthy(x);
        else {
            jv tn = args[first_test];
            if (tn.t != JV_STR) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "test name must be a string");
            r = run_test(c, node, tn.u.s.p, tn.u.s.n, x, args + first_test + 1, n_args - first_test - 1);
        }
        if (r == keep) jlist_push(c, out.u.l, items[i]);
    }
    return out;
}

static jv to_list(jctx *c, const jnode *node, jv v) {
    jv *items;
    size_t n;
    jinja_iter(c, v, node->line, &items, &n);
    jv out = jv_new_list(c, n);
    if (n) memcpy(out.u.l->v, items, n * sizeof(jv));
    out.u.l->n = n;
    return out;
}

/* The whole stripped string as a double (the `int` and `float` filters' string case). */
static int str_to_double(jv s, double *out) {
    char buf[64];
    jv t = str_strip(s, jv_none(), 1, 1);
    if (t.u.s.n == 0 || t.u.s.n >= sizeof buf) return 0;
    memcpy(buf, t.u.s.p, t.u.s.n);
    buf[t.u.s.n] = 0;
    char *end;
    *out = strtod(buf, &end);
    return !*end;
}

static int parse_int_str(jv s, int64_t *out) {
    char buf[64];
    jv t = str_strip(s, jv_none(), 1, 1);
    if (t.u.s.n == 0 || t.u.s.n >= sizeof buf) return 0;
    size_t k = 0;
    for (size_t i = 0; i < t.u.s.n; i++) if (t.u.s.p[i] != '_') buf[k++] = t.u.s.p[i];
    buf[k] = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end) return 0;
    *out = v;
    return 1;
}

/* Orders two values as jinja2's sort filters do: numbers by value, strings by code point
 * (ASCII-case-folded unless case_sensitive); other mixes are errors. */
static int sort_cmp(jctx *c, const jnode *node, jv a, jv b, int case_sensitive) {
    int an = a.t == JV_INT || a.t == JV_FLOAT || a.t == JV_BOOL, bn = b.t == JV_INT || b.t == JV_FLOAT || b.t == JV_BOOL;
    if (an && bn) {
        double x = a.t == JV_FLOAT ? a.u.f : (double)(a.t == JV_INT ? a.u.i : a.u.b);
        double y = b.t == JV_FLOAT ? b.u.f : (double)(b.t == JV_INT ? b.u.i : b.u.b);
        return x < y ? -1 : x > y;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t m = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        for (size_t i = 0; i < m; i++) {
            unsigned char x = (unsigned char)a.u.s.p[i], y = (unsigned char)b.u.s.p[i];
            if (!case_sensitive) {
                if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
                if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
            }
            if (x != y) return x < y ? -1 : 1;
        }
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    }
    jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a), jv_type_name(b));
}

/* Stable insertion sort of items by keys (templates sort a handful of items). */
static void sort_values(jctx *c, const jnode *node, jv *items, jv *keys, size_t n, int case_sensitive, int reverse) {
    for (size_t i = 1; i < n; i++) {
        jv it = items[i], k = keys[i];
        size_t j = i;
        while (j > 0) {
            jinja_step(c, node->line);
            int r = sort_cmp(c, node, keys[j - 1], k, case_sensitive);
            if (reverse ? r >= 0 : r <= 0) break;
            items[j] = items[j - 1];
            keys[j] = keys[j - 1];
            j--;
        }
        items[j] = it;
        keys[j] = k;
    }
}

jv jinja_filter(jctx *c, jframe *f, const jnode *node, jv val, jv *args, int n_args,
                const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw) {
#define A(i, nm, def) arg(args, n_args, kw_names, kw_ns, kw_vals, n_kw, i, nm, def)
    const char *name = node->name;
    size_t n = node->name_n;
    jv none = jv_none();
    if (NAME_IS(name, n, "default") || NAME_IS(name, n, "d")) {
        jv def = A(0, "default_value", jv_str("", 0));
        int boolean = jv_truthy(A(1, "boolean", jv_bool(0)));
        if (val.t == JV_UNDEF || (boolean && !jv_truthy(val))) return def;
        return val;
    }
    if (NAME_IS(name, n, "length") || NAME_IS(name, n, "count")) {
        switch (val.t) {
        case JV_UNDEF: return jv_int(0);
        case JV_STR: return jv_int((int64_t)ju_len(val.u.s.p, val.u.s.n));
        case JV_LIST: return jv_int((int64_t)val.u.l->n);
        case JV_DICT: if (!val.u.d->is_ns) return jv_int((int64_t)val.u.d->n); break;
        default: break;
        }
        jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "object of type '%s' has no len()", jv_type_name(val));
    }
    if (NAME_IS(name, n, "string")) return jv_stringify(c, val);
    if (NAME_IS(name, n, "safe")) return val;
    if (NAME_IS(name, n, "list")) return to_list(c, node, val);
    if (NAME_IS(name, n, "tojson")) {
        jv ind = A(1, "indent", none);
        jv ea = A(0, "ensure_ascii", jv_bool(0));
        jv sep = A(2, "separators", none);
        jv sk = A(3, "sort_keys", jv_bool(0));
        if (sep.t != JV_NONE) jinja_fail(c, JINJA_ERR_UNSUPPORTED, node->line, "unsupported tojson argument 'separators'");
        int indent = -1;
        if (ind.t != JV_NONE) {
            int64_t k = need_int(c, node, "tojson indent", ind);
            indent = k < 0 ? 0 : k > 64 ? 64 : (int)k;
        }
        jsb b = {0};
        jv_to_json(c, &b, val, node->line, indent, jv_truthy(sk), jv_truthy(ea));
        return jv_str(b.p ? b.p : "", b.n);
    }
    if (NAME_IS(name, n, "items")) {
        if (val.t == JV_UNDEF) return jv_new_list(c, 0);
        if (val.t != JV_DICT || val.u.d->is_ns) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "Can only get item pairs from a mapping.");
        jv r;
        jinja_method(c, node, val, "items", 5, NULL, 0, NULL, NULL, NULL, 0, &r);
        return r;
    }
    if (NAME_IS(name, n, "first") || NAME_IS(name, n, "last")) {
        jv *items;
        size_t k;
        jinja_iter(c, val, node->line, &items, &k);
        if (!k) return jv_undef(name, n);
        return name[0] == 'f' ? items[0] : items[k - 1];
    }
    if (NAME_IS(name, n, "reverse")) {
        if (val.t == JV_STR) {
            jsb b = {0};
            for (size_t e = val.u.s.n; e > 0;) { size_t s = cp_back(val.u.s.p, e); jsb_put(c, &b, val.u.s.p + s, e - s); e = s; }
            return jv_str(b.p ? b.p : "", b.n);
        }
        jv l = to_list(c, node, val);
        for (size_t i = 0, j = l.u.l->n; i + 1 < j; i++, j--) { jv t = l.u.l->v[i]; l.u.l->v[i] = l.u.l->v[j - 1]; l.u.l->v[j - 1] = t; }
        return l;
    }
    if (NAME_IS(name, n, "join")) {
        jv sep = A(0, "d", jv_str("", 0));
        jv attr = A(1, "attribute", none);
        jv *items;
        size_t k;
        jinja_iter(c, val, node->line, &items, &k);
        jsb b = {0};
        for (size_t i = 0; i < k; i++) {
            if (i) jv_to_str(c, &b, sep);
            jv_to_str(c, &b, attr.t == JV_NONE ? items[i] : attr_path(c, items[i], attr, node->line));
        }
        return jv_str(b.p ? b.p : "", b.n);
    }
    if (NAME_IS(name, n, "map")) {
        jv *items = NULL;
        size_t k = 0;
        if (jv_truthy(val)) jinja_iter(c, val, node->line, &items, &k);
        jv attr = A(-1, "attribute", none);
        jv out = jv_new_list(c, k);
        if (attr.t != JV_NONE) {
            jv def = A(-1, "default", jv_undef("default", 7));
            for (size_t i = 0; i < k; i++) {
                jv x = attr_path(c, items[i], attr, node->line);
                out.u.l->v[i] = (x.t == JV_UNDEF && def.t != JV_UNDEF) ? def : x;
            }
        } else {
            if (n_args < 1 || args[0].t != JV_STR) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "map: expected a filter name or attribute=");
            jnode sub = *node;
            sub.name = args[0].u.s.p;
            sub.name_n = args[0].u.s.n;
            for (size_t i = 0; i < k; i++)
                out.u.l->v[i] = jinja_filter(c, f, &sub, items[i], args + 1, n_args - 1, kw_names, kw_ns, kw_vals, n_kw);
        }
        out.u.l->n = k;
        return out;
    }
    if (NAME_IS(name, n, "selectattr")) return filter_select(c, node, val, args, n_args, 1, 1);
    if (NAME_IS(name, n, "rejectattr")) return filter_select(c, node, val, args, n_args, 1, 0);
    if (NAME_IS(name, n, "select")) return filter_select(c, node, val, args, n_args, 0, 1);
    if (NAME_IS(name, n, "reject")) return filter_select(c, node, val, args, n_args, 0, 0);
    if ((NAME_IS(name, n, "int") || NAME_IS(name, n, "float")) && val.t == JV_UNDEF)
        jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "'%.*s' is undefined", (int)(val.u.s.n > 60 ? 60 : val.u.s.n), val.u.s.p);
    if (NAME_IS(name, n, "int")) {
        jv def = A(0, "default", jv_int(0));
        int64_t r;
        switch (val.t) {
        case JV_INT: return val;
        case JV_BOOL: return jv_int(val.u.b);
        case JV_FLOAT: if (isfinite(val.u.f) && fabs(val.u.f) < 9.2e18) return jv_int((int64_t)val.u.f); return def;
        case JV_STR:
            if (parse_int_str(val, &r)) return jv_int(r);
            {
                double d;
                if (str_to_double(val, &d) && isfinite(d) && fabs(d) < 9.2e18) return jv_int((int64_t)d);
            }
            return def;
        default: return def;
        }
    }
    if (NAME_IS(name, n, "float")) {
        jv def = A(0, "default", jv_float(0.0));
        if (val.t == JV_FLOAT) return val;
        if (val.t == JV_INT || val.t == JV_BOOL) return jv_float(val.t == JV_INT ? (double)val.u.i : val.u.b);
        double d;
        if (val.t == JV_STR && str_to_double(val, &d)) return jv_float(d);
        return def;
    }
    if (NAME_IS(name, n, "abs")) {
        if (val.t == JV_INT) {
            if (val.u.i == INT64_MIN) jinja_fail(c, JINJA_ERR_UNSUPPORTED, node->line, "integer overflow");
            return jv_int(val.u.i < 0 ? -val.u.i : val.u.i);
        }
        if (val.t == JV_BOOL) return jv_int(val.u.b);
        if (val.t == JV_FLOAT) return jv_float(fabs(val.u.f));
        jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "bad operand type for abs(): '%s'", jv_type_name(val));
    }
    if (NAME_IS(name, n, "unique")) {
        jv *items;
        size_t k;
        jinja_iter(c, val, node->line, &items, &k);
        jv out = jv_new_list(c, 0);
        for (size_t i = 0; i < k; i++) {
            int seen = 0;
            for (size_t j = 0; j < out.u.l->n && !seen; j++) seen = jv_equal(out.u.l->v[j], items[i]);
            if (!seen) jlist_push(c, out.u.l, items[i]);
        }
        return out;
    }
    if (NAME_IS(name, n, "sort") || NAME_IS(name, n, "dictsort")) {
        int dict = name[0] == 'd';
        int reverse = jv_truthy(A(dict ? 2 : 0, "reverse", jv_bool(0)));
        int cs = jv_truthy(A(dict ? 0 : 1, "case_sensitive", jv_bool(0)));
        jv attr = dict ? none : A(2, "attribute", none);
        jv out;
        if (dict) {
            if (val.t != JV_DICT || val.u.d->is_ns) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "dictsort: expected a mapping");
            jinja_method(c, node, val, "items", 5, NULL, 0, NULL, NULL, NULL, 0, &out);
        } else out = to_list(c, node, val);
        jv by = dict ? A(1, "by", jv_str("key", 3)) : none;
        int by_value = by.t == JV_STR && NAME_IS(by.u.s.p, by.u.s.n, "value");
        size_t k = out.u.l->n;
        jv *keys = jinja_alloc(c, (k + 1) * sizeof(jv));
        for (size_t i = 0; i < k; i++)
            keys[i] = dict ? out.u.l->v[i].u.l->v[by_value] : attr.t != JV_NONE ? attr_path(c, out.u.l->v[i], attr, node->line) : out.u.l->v[i];
        sort_values(c, node, out.u.l->v, keys, k, cs, reverse);
        return out;
    }
    if (NAME_IS(name, n, "min") || NAME_IS(name, n, "max")) {
        jv l = to_list(c, node, val);
        int cs = jv_truthy(A(0, "case_sensitive", jv_bool(0)));
        jv attr = A(1, "attribute", none);
        if (!l.u.l->n) return jv_undef(name, n);
        size_t best = 0;
        for (size_t i = 1; i < l.u.l->n; i++) {
            jv a = attr.t != JV_NONE ? attr_path(c, l.u.l->v[i], attr, node->line) : l.u.l->v[i];
            jv b = attr.t != JV_NONE ? attr_path(c, l.u.l->v[best], attr, node->line) : l.u.l->v[best];
            int r = sort_cmp(c, node, a, b, cs);
            if (name[1] == 'i' ? r < 0 : r > 0) best = i;
        }
        return l.u.l->v[best];
    }
    if (NAME_IS(name, n, "sum")) {
        jv attr = A(0, "attribute", none);
        jv acc = A(1, "start", jv_int(0));
        jv *items;
        size_t k;
        jinja_iter(c, val, node->line, &items, &k);
        for (size_t i = 0; i < k; i++) {
            jv x = attr.t != JV_NONE ? attr_path(c, items[i], attr, node->line) : items[i];
            int xi = x.t == JV_INT || x.t == JV_BOOL, ai = acc.t == JV_INT || acc.t == JV_BOOL;
            if (!(xi || x.t == JV_FLOAT) || !(ai || acc.t == JV_FLOAT))
                jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "sum: unsupported operand types '%s' and '%s'", jv_type_name(acc), jv_type_name(x));
            if (xi && ai) {
                int64_t r;
                if (__builtin_add_overflow(acc.t == JV_INT ? acc.u.i : acc.u.b, x.t == JV_INT ? x.u.i : x.u.b, &r))
                    jinja_fail(c, JINJA_ERR_UNSUPPORTED, node->line, "integer overflow");
                acc = jv_int(r);
            } else {
                double a = acc.t == JV_FLOAT ? acc.u.f : (double)(acc.t == JV_INT ? acc.u.i : acc.u.b);
                double b = x.t == JV_FLOAT ? x.u.f : (double)(x.t == JV_INT ? x.u.i : x.u.b);
                acc = jv_float(a + b);
            }
        }
        return acc;
    }
    if (NAME_IS(name, n, "indent")) {
        /* jinja2's indent: every line after the first (and the first with first=true), blank
         * lines only with blank=true; lines split at "\n" */
        jv s = jv_stringify(c, val);
        jv w = A(0, "width", jv_int(4));
        int first = jv_truthy(A(1, "first", jv_bool(0))), blank = jv_truthy(A(2, "blank", jv_bool(0)));
        jsb ind = {0};
        if (w.t == JV_STR) jsb_put(c, &ind, w.u.s.p, w.u.s.n);
        else for (int64_t i = 0, k = need_int(c, node, "indent", w); i < k && i < 256; i++) jsb_put(c, &ind, " ", 1);
        jsb b = {0};
        if (first && (blank || s.u.s.n)) jsb_put(c, &b, ind.p, ind.n);
        for (size_t i = 0; i < s.u.s.n; i++) {
            jsb_put(c, &b, s.u.s.p + i, 1);
            if (s.u.s.p[i] == '\n' && i + 1 < s.u.s.n && (blank || s.u.s.p[i + 1] != '\n')) jsb_put(c, &b, ind.p, ind.n);
        }
        return jv_str(b.p ? b.p : "", b.n);
    }
    /* the rest work on text */
    int str_filter = NAME_IS(name, n, "trim") || NAME_IS(name, n, "lower") || NAME_IS(name, n, "upper") ||
                     NAME_IS(name, n, "capitalize") || NAME_IS(name, n, "title") || NAME_IS(name, n, "replace");
    if (!str_filter) jinja_fail(c, JINJA_ERR_UNSUPPORTED, node->line, "unsupported filter '%.*s'", (int)n, name);
    jv s = jv_stringify(c, val);
    if (NAME_IS(name, n, "trim")) {
        jv chars = A(0, "chars", none);
        if (chars.t != JV_NONE) need_str(c, node, "trim", chars);
        return str_strip(s, chars, 1, 1);
    }
    if (NAME_IS(name, n, "lower")) return case_map(c, s, 0);
    if (NAME_IS(name, n, "upper")) return case_map(c, s, 1);
    if (NAME_IS(name, n, "capitalize")) return case_map(c, case_map(c, s, 0), 2);
    if (NAME_IS(name, n, "title")) return case_map(c, s, 4);
    jv old = jv_stringify(c, A(0, "old", jv_str("", 0))), rep = jv_stringify(c, A(1, "new", jv_str("", 0)));
    jv cnt = A(2, "count", none);
    return str_replace(c, s, old, rep, cnt.t == JV_NONE ? -1 : need_int(c, node, "replace", cnt));
#undef A
}

/* ---- global functions ---- */

jv jinja_call_func(jctx *c, jframe *f, const jnode *node, int func, jv *args, int n_args,
                   const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw) {
    switch (func) {
    case JF_RAISE: {
        jsb b = {0};
        if (n_args > 0) jv_to_str(c, &b, args[0]);
        jinja_fail(c, JINJA_ERR_RAISED, node->line, "%.*s", (int)b.n, b.p ? b.p : "");
    }
    case JF_STRFTIME: {
        if (n_args < 1 || args[0].t != JV_STR) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "strftime_now: expected a format string");
        size_t need = jinja_strftime(&c->now, args[0].u.s.p, args[0].u.s.n, NULL, 0);
        char *o = jinja_alloc(c, need + 1);
        jinja_strftime(&c->now, args[0].u.s.p, args[0].u.s.n, o, need + 1);
        return jv_str(o, need);
    }
    case JF_RANGE: {
        int64_t a = 0, b, st = 1;
        if (n_args < 1 || n_args > 3) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "range expected 1 to 3 arguments, got %d", n_args);
        if (n_args == 1) b = need_int(c, node, "range", args[0]);
        else { a = need_int(c, node, "range", args[0]); b = need_int(c, node, "range", args[1]); }
        if (n_args == 3) st = need_int(c, node, "range", args[2]);
        if (st == 0) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "range() arg 3 must not be zero");
        double cnt = st > 0 ? ceil(((double)b - (double)a) / (double)st) : ceil(((double)a - (double)b) / (double)-st);
        if (cnt < 0) cnt = 0;
        /* jinja2's sandbox caps ranges at 100000 items (MAX_RANGE) */
        if (cnt > 100000) jinja_fail(c, JINJA_ERR_LIMIT, node->line, "range too big (%.0f items, limit 100000)", cnt);
        jv out = jv_new_list(c, (size_t)cnt);
        for (int64_t i = 0; i < (int64_t)cnt; i++) out.u.l->v[i] = jv_int(a + i * st);
        out.u.l->n = (size_t)cnt;
        return out;
    }
    case JF_NAMESPACE: case JF_DICT: {
        jv d = jv_new_dict(c, 0);
        d.u.d->is_ns = func == JF_NAMESPACE;
        for (int i = 0; i < n_args; i++) {
            if (args[i].t != JV_DICT) jinja_fail(c, JINJA_ERR_RUNTIME, node->line, "%s() positional argument must be a dict", func == JF_DICT ? "dict" : "namespace");
            for (size_t k = 0; k < args[i].u.d->n; k++) jdict_set(c, d.u.d, args[i].u.d->k[k], args[i].u.d->v[k]);
        }
        for (int k = 0; k < n_kw; k++) jdict_set(c, d.u.d, jv_str(kw_names[k], kw_ns[k]), kw_vals[k]);
        return d;
    }
    default: break;
    }
    jinja_fail(c, JINJA_ERR_UNSUPPORTED, node->line, "unsupported function");
}
