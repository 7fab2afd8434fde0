/* jinja_eval: walks the AST. Statements write into c->out (a string builder that macro calls and
 * {% set %} blocks redirect); expressions return values. Scopes are a chain of frames: builtins,
 * then the caller's variables (where top-level {% set %} writes), then one fresh frame per loop
 * iteration and per macro call, as jinja2 scopes them. Every node evaluated costs one step, and
 * macro calls count towards the depth limit. This file also holds the entry point jinja_render. */
#define _POSIX_C_SOURCE 200809L /* localtime_r */
#define JINJA_INTERNAL
#include "template/jinja.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void render_body(jctx *c, jnode *const *body, int n, jframe *f);
static void render_node(jctx *c, const jnode *n, jframe *f);

static jframe *new_frame(jctx *c, jframe *parent) {
    jframe *f = jinja_alloc(c, sizeof *f);
    memset(f, 0, sizeof *f);
    f->parent = parent;
    return f;
}

static void frame_set(jctx *c, jframe *f, const char *name, size_t n, jv v) {
    jdict_set(c, &f->vars, jv_str(name, n), v);
}

jv jinja_lookup(jctx *c, jframe *f, const char *name, size_t n) {
    for (; f; f = f->parent) {
        jv *v = jdict_get_str(&f->vars, name, n);
        if (v) return *v;
    }
    return jv_undef(name, n);
}

static _Noreturn void undefined_error(jctx *c, jv u, int line) {
    jinja_fail(c, JINJA_ERR_RUNTIME, line, "'%.*s' is undefined", (int)(u.u.s.n > 60 ? 60 : u.u.s.n), u.u.s.p);
}

jv jinja_getattr(jctx *c, jv obj, const char *name, size_t n, int line) {
    if (obj.t == JV_UNDEF) undefined_error(c, obj, line);
    if (obj.t == JV_DICT) {
        jv *v = jdict_get_str(obj.u.d, name, n);
        if (v) return *v;
    }
    return jv_undef(name, n);
}

static int as_index(jv k, int64_t *out) {
    if (k.t == JV_INT) { *out = k.u.i; return 1; }
    if (k.t == JV_BOOL) { *out = k.u.b; return 1; }
    return 0;
}

jv jinja_getitem(jctx *c, jv obj, jv key, int line) {
    int64_t i;
    if (obj.t == JV_UNDEF) undefined_error(c, obj, line);
    if (obj.t == JV_DICT) {
        jv *v = jdict_get(obj.u.d, key);
        if (v) return *v;
    } else if (obj.t == JV_LIST && as_index(key, &i)) {
        int64_t n = (int64_t)obj.u.l->n;
        if (i < 0) i += n;
        if (i >= 0 && i < n) return obj.u.l->v[i];
    } else if (obj.t == JV_STR && as_index(key, &i)) {
        int64_t n = (int64_t)ju_len(obj.u.s.p, obj.u.s.n);
        if (i < 0) i += n;
        if (i >= 0 && i < n) {
            size_t a = ju_offset(obj.u.s.p, obj.u.s.n, (size_t)i);
            size_t b = ju_offset(obj.u.s.p, obj.u.s.n, (size_t)i + 1);
            return jv_str(obj.u.s.p + a, b - a);
        }
    }
    if (key.t == JV_STR) return jv_undef(key.u.s.p, key.u.s.n);
    return jv_undef("item", 4);
}

int jinja_iter(jctx *c, jv v, int line, jv **items, size_t *n) {
    switch (v.t) {
    case JV_UNDEF: *items = NULL; *n = 0; return 1;
    case JV_LIST: *items = v.u.l->v; *n = v.u.l->n; return 1;
    case JV_DICT:
        if (v.u.d->is_ns) break;
        *items = v.u.d->k; *n = v.u.d->n; return 1;
    case JV_STR: {
        size_t k = ju_len(v.u.s.p, v.u.s.n);
        jv *out = k ? jinja_alloc(c, k * sizeof(jv)) : NULL;
        size_t off = 0;
        for (size_t i = 0; i < k; i++) {
            size_t e = off + ju_offset(v.u.s.p + off, v.u.s.n - off, 1);
            out[i] = jv_str(v.u.s.p + off, e - off);
            off = e;
        }
        *items = out;
        *n = k;
        return 1;
    }
    default: break;
    }
    jinja_fail(c, JINJA_ERR_RUNTIME, line, "'%s' object is not iterable", jv_type_name(v));
}

/* Python slice index adjustment (PySlice_AdjustIndices). */
static void slice_indices(int64_t len, int has_a, int64_t a, int has_b, int64_t b, int64_t step, int64_t *start, int64_t *stop) {
    int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? len - 1 : len;
    if (!has_a) *start = step < 0 ? upper : lower;
    else {
        if (a < 0) { a += len; if (a < lower) a = lower; }
        else if (a > upper) a = upper;
        *start = a;
    }
    if (!has_b) *stop = step < 0 ? lower : upper;
    else {
        if (b < 0) { b += len; if (b < lower) b = lower; }
        else if (b > upper) b = upper;
        *stop = b;
    }
}

static jv eval_slice(jctx *c, const jnode *e, jframe *f) {
    jv obj = jinja_eval(c, e->a, f);
    int64_t v[3] = {0, 0, 1};
    int has[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (!e->kids[k]) continue;
        jv x = jinja_eval(c, e->kids[k], f);
        if (x.t == JV_NONE) continue;
        if (!as_index(x, &v[k]))
            jinja_fail(c, JINJA_ERR_RUNTIME, e->line, "slice indices must be integers or None, not %s", jv_type_name(x));
        has[k] = 1;
    }
    if (v[2] == 0) jinja_fail(c, JINJA_ERR_RUNTIME, e->line, "slice step cannot be zero");
    if (obj.t == JV_UNDEF) undefined_error(c, obj, e->line);
    if (obj.t != JV_LIST && obj.t != JV_STR)
        jinja_fail(c, JINJA_ERR_RUNTIME, e->line, "'%s' object is not subscriptable", jv_type_name(obj));
    size_t *offs = NULL;
    int64_t len;
    if (obj.t == JV_LIST) len = (int64_t)obj.u.l->n;
    else {
        len = (int64_t)ju_len(obj.u.s.p, obj.u.s.n);
        offs = jinja_alloc(c, ((size_t)len + 1) * sizeof *offs);
        size_t off = 0;
        for (int64_t i = 0; i <= len; i++) {
            offs[i] = off;
            if (i < len) off += ju_offset(obj.u.s.p + off, obj.u.s.n - off, 1);
        }
    }
    int64_t start, stop, step = v[2];
    slice_indices(len, has[0], v[0], has[1], v[1], step, &start, &stop);
    if (obj.t == JV_LIST) {
        jv out = jv_new_list(c, 0);
        out.u.l->is_tuple = obj.u.l->is_tuple;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) jlist_push(c, out.u.l, obj.u.l->v[i]);
        return out;
    }
    if (step == 1) return stop > start ? jv_str(obj.u.s.p + offs[start], offs[stop] - offs[start]) : jv_str("", 0);
    jsb b = {0};
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        jsb_put(c, &b, obj.u.s.p + offs[i], offs[i + 1] - offs[i]);
    return jv_str(b.p ? b.p : "", b.n);
}

static int is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static int is_intlike(jv v) { return v.t == JV_INT || v.t == JV_BOOL; }
static int64_t ival(jv v) { return v.t == JV_INT ? v.u.i : v.u.b; }
static double fval(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)ival(v); }

static const char *op_sym(int op) {
    static const char *const s[] = {"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=", "in", "not in"};
    return s[op];
}

static _Noreturn void bad_operands(jctx *c, int line, int op, jv a, jv b) {
    if (a.t == JV_UNDEF) undefined_error(c, a, line);
    if (b.t == JV_UNDEF) undefined_error(c, b, line);
    jinja_fail(c, JINJA_ERR_RUNTIME, line, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym(op),
               jv_type_name(a), jv_type_name(b));
}

static jv repeat(jctx *c, jv seq, int64_t k) {
    if (k < 0) k = 0;
    if (seq.t == JV_STR) {
        if (seq.u.s.n && (uint64_t)k > c->lim.max_output / seq.u.s.n)
            jinja_fail(c, JINJA_ERR_LIMIT, 0, "string repetition exceeds the output limit");
        jsb b = {0};
        for (int64_t i = 0; i < k; i++) jsb_put(c, &b, seq.u.s.p, seq.u.s.n);
        return jv_str(b.p ? b.p : "", b.n);
    }
    if (seq.u.l->n && (uint64_t)k > c->lim.max_memory / (seq.u.l->n * sizeof(jv)))
        jinja_fail(c, JINJA_ERR_LIMIT, 0, "list repetition exceeds the memory limit");
    jv out = jv_new_list(c, 0);
    for (int64_t i = 0; i < k; i++)
        for (size_t j = 0; j < seq.u.l->n; j++) jlist_push(c, out.u.l, seq.u.l->v[j]);
    return out;
}

static jv arith(jctx *c, int line, int op, jv a, jv b) {
    if (op == OP_CONCAT) {
        jsb s = {0};
        jv_to_str(c, &s, a);
        jv_to_str(c, &s, b);
        return jv_str(s.p ? s.p : "", s.n);
    }
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b) && op != OP_DIV) {
            int64_t x = ival(a), y = ival(b), r = 0;
            int ovf = 0;
            switch (op) {
            case OP_ADD: ovf = __builtin_add_overflow(x, y, &r); break;
            case OP_SUB: ovf = __builtin_sub_overflow(x, y, &r); break;
            case OP_MUL: ovf = __builtin_mul_overflow(x, y, &r); break;
            case OP_FLOORDIV: case OP_MOD:
                if (y == 0) jinja_fail(c, JINJA_ERR_RUNTIME, line, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) { ovf = 1; break; }
                {
                    int64_t q = x / y, m = x % y;
                    if (m != 0 && ((m < 0) != (y < 0))) { q--; m += y; }
                    r = op == OP_FLOORDIV ? q : m;
                }
                break;
            case OP_POW:
                if (y < 0) return jv_float(pow((double)x, (double)y));
                r = 1;
                for (int64_t i = 0; i < y && !ovf; i++) ovf = __builtin_mul_overflow(r, x, &r);
                break;
            }
            if (ovf) jinja_fail(c, JINJA_ERR_UNSUPPORTED, line, "integer overflow (big integers are not supported)");
            return jv_int(r);
        }
        double x = fval(a), y = fval(b);
        switch (op) {
        case OP_ADD: return jv_float(x + y);
        case OP_SUB: return jv_float(x - y);
        case OP_MUL: return jv_float(x * y);
        case OP_DIV:
            if (y == 0) jinja_fail(c, JINJA_ERR_RUNTIME, line, "division by zero");
            return jv_float(x / y);
        case OP_FLOORDIV:
            if (y == 0) jinja_fail(c, JINJA_ERR_RUNTIME, line, "float floor division by zero");
            return jv_float(floor(x / y));
        case OP_MOD: {
            if (y == 0) jinja_fail(c, JINJA_ERR_RUNTIME, line, "float modulo");
            double m = fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return jv_float(m);
        }
        case OP_POW: return jv_float(pow(x, y));
        }
    }
    if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR) {
        jsb s = {0};
        jsb_put(c, &s, a.u.s.p, a.u.s.n);
        jsb_put(c, &s, b.u.s.p, b.u.s.n);
        return jv_str(s.p ? s.p : "", s.n);
    }
    if (op == OP_ADD && a.t == JV_LIST && b.t == JV_LIST) {
        jv out = jv_new_list(c, a.u.l->n + b.u.l->n);
        for (size_t i = 0; i < a.u.l->n; i++) jlist_push(c, out.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++) jlist_push(c, out.u.l, b.u.l->v[i]);
        return out;
    }
    if (op == OP_MUL && (a.t == JV_STR || a.t == JV_LIST) && is_intlike(b)) return repeat(c, a, ival(b));
    if (op == OP_MUL && (b.t == JV_STR || b.t == JV_LIST) && is_intlike(a)) return repeat(c, b, ival(a));
    if (op == OP_MOD && a.t == JV_STR)
        jinja_fail(c, JINJA_ERR_UNSUPPORTED, line, "unsupported construct: %%-formatting of strings");
    bad_operands(c, line, op, a, b);
}

static int compare(jctx *c, int line, int op, jv a, jv b) {
    if (op == OP_EQ) return jv_equal(a, b);
    if (op == OP_NE) return !jv_equal(a, b);
    if (op == OP_IN || op == OP_NOTIN) {
        int r = 0;
        if (b.t == JV_STR) {
            if (a.t != JV_STR) {
                if (a.t == JV_UNDEF) undefined_error(c, a, line);
                jinja_fail(c, JINJA_ERR_RUNTIME, line, "'in <string>' requires string as left operand, not %s", jv_type_name(a));
            }
            if (a.u.s.n == 0) r = 1;
            else if (a.u.s.n <= b.u.s.n) r = ju_find(b.u.s.p, b.u.s.n, a.u.s.p, a.u.s.n) != NULL;
        } else if (b.t == JV_LIST) {
            for (size_t i = 0; i < b.u.l->n && !r; i++) r = jv_equal(a, b.u.l->v[i]);
        } else if (b.t == JV_DICT && !b.u.d->is_ns) {
            r = jdict_get(b.u.d, a) != NULL;
        } else if (b.t != JV_UNDEF) {
            jinja_fail(c, JINJA_ERR_RUNTIME, line, "argument of type '%s' is not iterable", jv_type_name(b));
        }
        return op == OP_IN ? r : !r;
    }
    int cmp;
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) cmp = ival(a) < ival(b) ? -1 : ival(a) > ival(b);
        else cmp = fval(a) < fval(b) ? -1 : fval(a) > fval(b) ? 1 : 0;
        if (isnan(fval(a)) || isnan(fval(b))) return 0;
    } else if (a.t == JV_STR && b.t == JV_STR) {
        size_t m = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        cmp = memcmp(a.u.s.p, b.u.s.p, m);
        if (!cmp) cmp = a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    } else {
        if (a.t == JV_UNDEF) undefined_error(c, a, line);
        if (b.t == JV_UNDEF) undefined_error(c, b, line);
        jinja_fail(c, JINJA_ERR_RUNTIME, line, "'%s' not supported between instances of '%s' and '%s'", op_sym(op),
                   jv_type_name(a), jv_type_name(b));
    }
    switch (op) {
    case OP_LT: return cmp < 0;
    case OP_LE: return cmp <= 0;
    case OP_GT: return cmp > 0;
    default: return cmp >= 0;
    }
}

/* Evaluated arguments of a call, filter or test node. */
struct args {
    jv *pos;
    int n;
    jv *kw;
};

static struct args eval_args(jctx *c, const jnode *e, jframe *f) {
    struct args a;
    a.n = e->n_kids;
    a.pos = jinja_alloc(c, (size_t)(e->n_kids + 1) * sizeof(jv));
    a.kw = jinja_alloc(c, (size_t)(e->n_kw + 1) * sizeof(jv));
    for (int i = 0; i < e->n_kids; i++) a.pos[i] = jinja_eval(c, e->kids[i], f);
    for (int i = 0; i < e->n_kw; i++) a.kw[i] = jinja_eval(c, e->kw_vals[i], f);
    return a;
}

jv jinja_call_macro(jctx *c, jframe *f, const jnode *call, jv macro, jv *args, int n_args,
                    const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw) {
    const jnode *m = macro.u.macro->node;
    int line = call ? call->line : m->line;
    if (n_args > m->n_names)
        jinja_fail(c, JINJA_ERR_RUNTIME, line, "macro '%.*s' takes not more than %d argument(s)", (int)m->name_n, m->name, m->n_names);
    if (c->depth >= c->lim.max_depth)
        jinja_fail(c, JINJA_ERR_LIMIT, line, "macro calls nested deeper than %d (endless recursion?)", c->lim.max_depth);
    jframe *mf = new_frame(c, macro.u.macro->frame);
    for (int k = 0; k < n_kw; k++) {
        int found = 0;
        for (int i = 0; i < m->n_names; i++)
            if (m->name_ns[i] == kw_ns[k] && !memcmp(m->names[i], kw_names[k], kw_ns[k])) found = 1;
        if (!found)
            jinja_fail(c, JINJA_ERR_RUNTIME, line, "macro '%.*s' has no parameter '%.*s'", (int)m->name_n, m->name, (int)kw_ns[k], kw_names[k]);
    }
    for (int i = 0; i < m->n_names; i++) {
        jv v;
        int set = 0;
        if (i < n_args) { v = args[i]; set = 1; }
        for (int k = 0; k < n_kw; k++)
            if (m->name_ns[i] == kw_ns[k] && !memcmp(m->names[i], kw_names[k], kw_ns[k])) { v = kw_vals[k]; set = 1; }
        if (!set) v = m->kids[i] ? jinja_eval(c, m->kids[i], mf) : jv_undef(m->names[i], m->name_ns[i]);
        frame_set(c, mf, m->names[i], m->name_ns[i], v);
    }
    jsb *saved = c->out;
    jsb capture = {0};
    c->out = &capture;
    c->depth++;
    int saved_ctl = c->loop_ctl;
    render_body(c, m->body, m->n_body, mf);
    c->loop_ctl = saved_ctl;
    c->depth--;
    c->out = saved;
    return jv_str(capture.p ? capture.p : "", capture.n);
}

static jv eval_call(jctx *c, const jnode *e, jframe *f) {
    jv callee;
    if (e->a->kind == E_ATTR) {
        jv obj = jinja_eval(c, e->a->a, f);
        struct args a = eval_args(c, e, f);
        jv res;
        if (obj.t == JV_UNDEF) undefined_error(c, obj, e->line);
        if (jinja_method(c, e, obj, e->a->name, e->a->name_n, a.pos, a.n, e->kw_names, e->kw_name_ns, a.kw, e->n_kw, &res))
            return res;
        callee = jinja_getattr(c, obj, e->a->name, e->a->name_n, e->line);
        if (callee.t == JV_UNDEF)
            jinja_fail(c, JINJA_ERR_UNSUPPORTED, e->line, "unsupported method '%.*s' of a %s value", (int)e->a->name_n,
                       e->a->name, jv_type_name(obj));
        if (callee.t == JV_MACRO) return jinja_call_macro(c, f, e, callee, a.pos, a.n, e->kw_names, e->kw_name_ns, a.kw, e->n_kw);
        if (callee.t == JV_FUNC) return jinja_call_func(c, f, e, callee.u.func, a.pos, a.n, e->kw_names, e->kw_name_ns, a.kw, e->n_kw);
        jinja_fail(c, JINJA_ERR_RUNTIME, e->line, "'%s' object is not callable", jv_type_name(callee));
    }
    callee = jinja_eval(c, e->a, f);
    if (callee.t == JV_UNDEF) {
        if (e->a->kind == E_NAME)
            jinja_fail(c, JINJA_ERR_UNSUPPORTED, e->line, "unsupported function '%.*s'", (int)callee.u.s.n, callee.u.s.p);
        undefined_error(c, callee, e->line);
    }
    struct args a = eval_args(c, e, f);
    if (callee.t == JV_MACRO) return jinja_call_macro(c, f, e, callee, a.pos, a.n, e->kw_names, e->kw_name_ns, a.kw, e->n_kw);
    if (callee.t == JV_FUNC) return jinja_call_func(c, f, e, callee.u.func, a.pos, a.n, e->kw_names, e->kw_name_ns, a.kw, e->n_kw);
    jinja_fail(c, JINJA_ERR_RUNTIME, e->line, "'%s' object is not callable", jv_type_name(callee));
}

static jv eval_inner(jctx *c, const jnode *e, jframe *f) {
    switch (e->kind) {
    case E_LIT: return e->lit;
    case E_NAME: return jinja_lookup(c, f, e->name, e->name_n);
    case E_ATTR: return jinja_getattr(c, jinja_eval(c, e->a, f), e->name, e->name_n, e->line);
    case E_ITEM: {
        jv obj = jinja_eval(c, e->a, f);
        return jinja_getitem(c, obj, jinja_eval(c, e->b, f), e->line);
    }
    case E_SLICE: return eval_slice(c, e, f);
    case E_CALL: return eval_call(c, e, f);
    case E_FILTER: {
        jv v = jinja_eval(c, e->a, f);
        struct args a = eval_args(c, e, f);
        return jinja_filter(c, f, e, v, a.pos, a.n, e->kw_names, e->kw_name_ns, a.kw, e->n_kw);
    }
    case E_TEST: {
        jv v = jinja_eval(c, e->a, f);
        struct args a = eval_args(c, e, f);
        int r = jinja_test(c, f, e, v, a.pos, a.n);
        return jv_bool(e->op ? !r : r);
    }
    case E_NEG: case E_POS: {
        jv v = jinja_eval(c, e->a, f);
        if (v.t == JV_INT || v.t == JV_BOOL) {
            int64_t x = ival(v);
            if (e->kind == E_POS) return jv_int(x);
            if (x == INT64_MIN) jinja_fail(c, JINJA_ERR_UNSUPPORTED, e->line, "integer overflow");
            return jv_int(-x);
        }
        if (v.t == JV_FLOAT) return jv_float(e->kind == E_NEG ? -v.u.f : v.u.f);
        if (v.t == JV_UNDEF) undefined_error(c, v, e->line);
        jinja_fail(c, JINJA_ERR_RUNTIME, e->line, "bad operand type for unary %s: '%s'", e->kind == E_NEG ? "-" : "+", jv_type_name(v));
    }
    case E_NOT: return jv_bool(!jv_truthy(jinja_eval(c, e->a, f)));
    case E_AND: {
        jv a = jinja_eval(c, e->a, f);
        return jv_truthy(a) ? jinja_eval(c, e->b, f) : a;
    }
    case E_OR: {
        jv a = jinja_eval(c, e->a, f);
        return jv_truthy(a) ? a : jinja_eval(c, e->b, f);
    }
    case E_BIN: {
        jv a = jinja_eval(c, e->a, f);
        jv b = jinja_eval(c, e->b, f);
        return arith(c, e->line, e->op, a, b);
    }
    case E_CMP: {
        jv a = jinja_eval(c, e->a, f);
        for (int i = 0; i < e->n_kids; i++) {
            jv b = jinja_eval(c, e->kids[i], f);
            if (!compare(c, e->line, e->ops[i], a, b)) return jv_bool(0);
            a = b;
        }
        return jv_bool(1);
    }
    case E_COND:
        if (jv_truthy(jinja_eval(c, e->a, f))) return jinja_eval(c, e->b, f);
        return e->c ? jinja_eval(c, e->c, f) : jv_undef("inline if", 9);
    case E_LIST: {
        jv l = jv_new_list(c, (size_t)e->n_kids);
        for (int i = 0; i < e->n_kids; i++) l.u.l->v[i] = jinja_eval(c, e->kids[i], f);
        l.u.l->n = (size_t)e->n_kids;
        l.u.l->is_tuple = e->op == 1;
        return l;
    }
    case E_DICT: {
        jv d = jv_new_dict(c, (size_t)e->n_kids);
        for (int i = 0; i < e->n_kids; i++) {
            jv k = jinja_eval(c, e->kids[i], f);
            if (k.t == JV_LIST || k.t == JV_DICT || k.t == JV_UNDEF)
                jinja_fail(c, JINJA_ERR_RUNTIME, e->line, "unhashable dict key of type '%s'", jv_type_name(k));
            jdict_set(c, d.u.d, k, jinja_eval(c, e->kw_vals[i], f));
        }
        return d;
    }
    default: break;
    }
    jinja_fail(c, JINJA_ERR_SYNTAX, e->line, "internal: statement used as an expression");
}

/* Binds loop targets: one name gets the item; several unpack a list (or a dict's keys). */
static void bind_targets(jctx *c, jframe *f, const jnode *n, jv item) {
    if (n->n_names == 1) { frame_set(c, f, n->names[0], n->name_ns[0], item); return; }
    jv *items;
    size_t k;
    if (item.t != JV_LIST && item.t != JV_DICT && item.t != JV_STR)
        jinja_fail(c, JINJA_ERR_RUNTIME, n->line, "cannot unpack non-iterable %s object", jv_type_name(item));
    jinja_iter(c, item, n->line, &items, &k);
    if (k != (size_t)n->n_names)
        jinja_fail(c, JINJA_ERR_RUNTIME, n->line, "cannot unpack %zu values into %d names", k, n->n_names);
    for (int i = 0; i < n->n_names; i++) frame_set(c, f, n->names[i], n->name_ns[i], items[i]);
}

static void render_for(jctx *c, const jnode *n, jframe *f) {
    jv seq = jinja_eval(c, n->a, f);
    jv *items;
    size_t count;
    jinja_iter(c, seq, n->line, &items, &count);
    if (n->b) {
        /* for-if: filter first, so loop.index / length count only kept items */
        jv *kept = count ? jinja_alloc(c, count * sizeof(jv)) : NULL;
        size_t k = 0;
        jframe *tf = new_frame(c, f);
        for (size_t i = 0; i < count; i++) {
            jinja_step(c, n->line);
            tf->vars.n = 0;
            bind_targets(c, tf, n, items[i]);
            if (jv_truthy(jinja_eval(c, n->b, tf))) kept[k++] = items[i];
        }
        items = kept;
        count = k;
    }
    if (count == 0) {
        if (n->n_else) render_body(c, n->else_body, n->n_else, f);
        return;
    }
    jv loop = jv_new_dict(c, 12);
    static const char *const keys[] = {"index", "index0", "revindex", "revindex0", "first", "last",
                                       "length", "previtem", "nextitem", "depth", "depth0"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) jdict_set(c, loop.u.d, jv_cstr(keys[k]), jv_none());
    jv *lv = loop.u.d->v;
    jframe *it = new_frame(c, f);
    /* jinja2 clears its "run the else block" flag at the end of the body, so an else block also
     * runs when every iteration ended in break or continue */
    int completed = 0;
    for (size_t i = 0; i < count; i++) {
        jinja_step(c, n->line);
        lv[0] = jv_int((int64_t)i + 1);
        lv[1] = jv_int((int64_t)i);
        lv[2] = jv_int((int64_t)(count - i));
        lv[3] = jv_int((int64_t)(count - i - 1));
        lv[4] = jv_bool(i == 0);
        lv[5] = jv_bool(i + 1 == count);
        lv[6] = jv_int((int64_t)count);
        lv[7] = i ? items[i - 1] : jv_undef("previtem", 8);
        lv[8] = i + 1 < count ? items[i + 1] : jv_undef("nextitem", 8);
        lv[9] = jv_int(1);
        lv[10] = jv_int(0);
        /* a fresh scope per iteration: {% set %} inside the body does not leak out */
        it->vars.n = 0;
        frame_set(c, it, "loop", 4, loop);
        bind_targets(c, it, n, items[i]);
        render_body(c, n->body, n->n_body, it);
        if (!c->loop_ctl) completed = 1;
        if (c->loop_ctl == 1) { c->loop_ctl = 0; break; }
        c->loop_ctl = 0;
    }
    if (!completed && n->n_else) render_body(c, n->else_body, n->n_else, f);
}

static void render_inner(jctx *c, const jnode *n, jframe *f) {
    switch (n->kind) {
    case N_TEXT: jsb_put(c, c->out, n->lit.u.s.p, n->lit.u.s.n); return;
    case N_OUTPUT: jv_to_str(c, c->out, jinja_eval(c, n->a, f)); return;
    case N_IF:
        if (jv_truthy(jinja_eval(c, n->a, f))) render_body(c, n->body, n->n_body, f);
        else render_body(c, n->else_body, n->n_else, f);
        return;
    case N_FOR: render_for(c, n, f); return;
    case N_SET: {
        jv v = jinja_eval(c, n->a, f);
        bind_targets(c, f, n, v);
        return;
    }
    case N_SET_ATTR: {
        jv ns = jinja_lookup(c, f, n->name, n->name_n);
        if (ns.t != JV_DICT || !ns.u.d->is_ns)
            jinja_fail(c, JINJA_ERR_RUNTIME, n->line, "cannot assign attribute on non-namespace object");
        jdict_set(c, ns.u.d, jv_str(n->attr, n->attr_n), jinja_eval(c, n->a, f));
        return;
    }
    case N_SET_BLOCK: {
        jsb *saved = c->out;
        jsb capture = {0};
        c->out = &capture;
        /* the block's own {% set %}s stay inside it */
        render_body(c, n->body, n->n_body, new_frame(c, f));
        c->out = saved;
        frame_set(c, f, n->name, n->name_n, jv_str(capture.p ? capture.p : "", capture.n));
        return;
    }
    case N_WITH: {
        /* values are evaluated in the outer scope, then bound in the block's own */
        jframe *wf = new_frame(c, f);
        for (int i = 0; i < n->n_kids; i++) frame_set(c, wf, n->names[i], n->name_ns[i], jinja_eval(c, n->kids[i], f));
        render_body(c, n->body, n->n_body, wf);
        return;
    }
    case N_FILTER_BLOCK: {
        jsb *saved = c->out;
        jsb capture = {0};
        c->out = &capture;
        render_body(c, n->body, n->n_body, f);
        c->out = saved;
        /* the placeholder is set right before the chain is evaluated, after any nested use */
        ((jnode *)n->b)->lit = jv_str(capture.p ? capture.p : "", capture.n);
        jv_to_str(c, c->out, jinja_eval(c, n->a, f));
        return;
    }
    case N_MACRO: {
        jmacro *m = jinja_alloc(c, sizeof *m);
        m->node = n;
        m->frame = f;
        jv v;
        v.t = JV_MACRO;
        v.u.macro = m;
        frame_set(c, f, n->name, n->name_n, v);
        return;
    }
    case N_BREAK: c->loop_ctl = 1; return;
    case N_CONTINUE: c->loop_ctl = 2; return;
    default: jinja_fail(c, JINJA_ERR_SYNTAX, n->line, "internal: expression used as a statement");
    }
}

/* Both recursions run on the C stack: their combined depth is bounded (macro recursion times
 * syntax nesting could otherwise overflow it). */
static void enter_eval(jctx *c, int line) {
    jinja_step(c, line);
    if (++c->rdepth > c->lim.max_depth * 10)
        jinja_fail(c, JINJA_ERR_LIMIT, line, "template nested too deeply while rendering (limit %d)", c->lim.max_depth * 10);
}

jv jinja_eval(jctx *c, const jnode *e, jframe *f) {
    enter_eval(c, e->line);
    jv v = eval_inner(c, e, f);
    c->rdepth--;
    return v;
}

static void render_node(jctx *c, const jnode *n, jframe *f) {
    enter_eval(c, n->line);
    render_inner(c, n, f);
    c->rdepth--;
}

static void render_body(jctx *c, jnode *const *body, int n, jframe *f) {
    for (int i = 0; i < n && !c->loop_ctl; i++) render_node(c, body[i], f);
}

static void today(struct jinja_time *t) {
    time_t now = time(NULL);
    struct tm tm;
    memset(t, 0, sizeof *t);
    if (!localtime_r(&now, &tm)) { t->year = 1970; t->month = 1; t->day = 1; return; }
    t->year = tm.tm_year + 1900;
    t->month = tm.tm_mon + 1;
    t->day = tm.tm_mday;
    t->hour = tm.tm_hour;
    t->minute = tm.tm_min;
    t->second = tm.tm_sec;
}

/* Runs lex, parse and render; errors longjmp back here and return 0 (status in c->st). */
static int render_job(jctx *c, const char *src, size_t len, const struct jinja_var *vars, int n_vars,
                      char **out, size_t *out_len) {
    if (setjmp(c->jb)) return 0;
    jinja_lex(c, src ? src : "", src ? len : 0);
    jnode *root = jinja_parse(c);
    c->depth = 0;
    c->globals = new_frame(c, NULL);
    static const struct { const char *name; int id; } funcs[] = {
        {"range", JF_RANGE}, {"namespace", JF_NAMESPACE}, {"raise_exception", JF_RAISE},
        {"strftime_now", JF_STRFTIME}, {"dict", JF_DICT}};
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++) {
        jv v;
        v.t = JV_FUNC;
        v.u.func = funcs[i].id;
        frame_set(c, c->globals, funcs[i].name, strlen(funcs[i].name), v);
    }
    jframe *top = new_frame(c, c->globals);
    for (int i = 0; i < n_vars; i++)
        if (vars[i].name && vars[i].value)
            frame_set(c, top, vars[i].name, strlen(vars[i].name), jv_from_json(c, vars[i].value));
    jsb result = {0};
    c->out = &result;
    render_body(c, root->body, root->n_body, top);
    char *s = malloc(result.n + 1);
    if (!s) jinja_fail(c, JINJA_ERR_NOMEM, 0, "out of memory");
    if (result.n) memcpy(s, result.p, result.n);
    s[result.n] = 0;
    *out = s;
    if (out_len) *out_len = result.n;
    return 1;
}

jinja_status jinja_render(const char *src, size_t len, const struct jinja_var *vars, int n_vars,
                          const struct jinja_time *now, const struct jinja_limits *limits,
                          char **out, size_t *out_len, char *err, size_t err_size) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (err && err_size) err[0] = 0;
    jctx *c = calloc(1, sizeof *c);
    if (!c) {
        if (err && err_size) snprintf(err, err_size, "out of memory");
        return JINJA_ERR_NOMEM;
    }
    c->err = err;
    c->err_size = err_size;
    c->lim = limits ? *limits : jinja_default_limits();
    if (now) c->now = *now;
    else today(&c->now);
    jinja_status st = render_job(c, src, len, vars, n_vars, out, out_len) ? JINJA_OK : c->st;
    jinja_arena_free(c);
    free(c);
    return st;
}
