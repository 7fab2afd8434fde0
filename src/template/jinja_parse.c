/* jinja_parse: recursive-descent parser from tokens to the AST (jnode, see jinja.h), following
 * jinja2's grammar and operator precedence: condexpr < or < and < not < compare (in, ==, <, ...)
 * < + - < ~ < * / // % < ** < unary - < postfix (.attr [item] (call)) with filters "|f" and
 * tests "is t" binding tightest. Nesting is bounded so a hostile template cannot exhaust the
 * stack; unknown tags are reported as unsupported constructs with their line. */
#define JINJA_INTERNAL
#include "template/jinja.h"
#include <stdio.h>
#include <string.h>

typedef struct nvec { jnode **v; int n, cap; } nvec;

static void nv_push(jctx *c, nvec *v, jnode *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        jnode **nv = jinja_alloc(c, (size_t)cap * sizeof *nv);
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

static jtok *cur(jctx *c) { return &c->toks[c->tok_pos]; }
static jtok *peek_at(jctx *c, size_t k) {
    size_t i = c->tok_pos + k;
    return &c->toks[i < c->n_toks ? i : c->n_toks - 1];
}
static jtok *next(jctx *c) {
    jtok *t = cur(c);
    if (t->t != TK_EOF) c->tok_pos++;
    return t;
}
static int is_op(jtok *t, const char *op) { return t->t == TK_OP && t->n == strlen(op) && !memcmp(t->p, op, t->n); }
static int is_name(jtok *t, const char *w) { return t->t == TK_NAME && t->n == strlen(w) && !memcmp(t->p, w, t->n); }

static const char *tok_desc(jtok *t, char *buf, size_t size) {
    switch (t->t) {
    case TK_EOF: return "end of template";
    case TK_TEXT: return "template text";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_VAR_END: return "'}}'";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_BLOCK_END: return "'%}'";
    case TK_STRING: return "string literal";
    case TK_INT: case TK_FLOAT: return "number";
    default: snprintf(buf, size, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p); return buf;
    }
}

static _Noreturn void unexpected(jctx *c, const char *wanted) {
    char b[64];
    jtok *t = cur(c);
    jinja_fail(c, JINJA_ERR_SYNTAX, t->line, "expected %s, got %s", wanted, tok_desc(t, b, sizeof b));
}

static void expect_op(jctx *c, const char *op) {
    if (!is_op(cur(c), op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        unexpected(c, w);
    }
    next(c);
}

static jtok *expect_name(jctx *c) {
    if (cur(c)->t != TK_NAME) unexpected(c, "a name");
    return next(c);
}

static void expect_block_end(jctx *c) {
    if (cur(c)->t != TK_BLOCK_END) unexpected(c, "end of tag '%}'");
    next(c);
}

static jnode *new_node(jctx *c, enum jnode_kind k, int line) {
    jnode *n = jinja_alloc(c, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = k;
    n->line = line;
    return n;
}

static void enter(jctx *c) {
    if (++c->depth > c->lim.max_depth * 2)
        jinja_fail(c, JINJA_ERR_LIMIT, cur(c)->line, "template nested too deeply (limit %d)", c->lim.max_depth * 2);
}
static void leave(jctx *c) { c->depth--; }

static jnode *parse_expr(jctx *c);
static jnode *parse_or(jctx *c);
static jnode *parse_unary(jctx *c, int with_filter);
static jnode *parse_primary(jctx *c);
static jnode *parse_postfix(jctx *c, jnode *n);

/* Arguments of a call "(a, b, k=v)"; the '(' is current. */
static void parse_args(jctx *c, jnode *n) {
    expect_op(c, "(");
    nvec args = {0}, kwv = {0};
    int n_kw = 0, cap_kw = 0;
    while (!is_op(cur(c), ")")) {
        if (args.n + kwv.n) expect_op(c, ",");
        if (is_op(cur(c), ")")) break;
        if (is_op(cur(c), "*") || is_op(cur(c), "**"))
            jinja_fail(c, JINJA_ERR_UNSUPPORTED, cur(c)->line, "unsupported construct '*args' in call");
        if (cur(c)->t == TK_NAME && is_op(peek_at(c, 1), "=")) {
            jtok *k = next(c);
            next(c);
            if (n_kw == cap_kw) {
                cap_kw = cap_kw ? cap_kw * 2 : 4;
                const char **nn = jinja_alloc(c, (size_t)cap_kw * sizeof *nn);
                size_t *nl = jinja_alloc(c, (size_t)cap_kw * sizeof *nl);
                if (n_kw) { memcpy(nn, n->kw_names, (size_t)n_kw * sizeof *nn); memcpy(nl, n->kw_name_ns, (size_t)n_kw * sizeof *nl); }
                n->kw_names = nn;
                n->kw_name_ns = nl;
            }
            n->kw_names[n_kw] = k->p;
            n->kw_name_ns[n_kw] = k->n;
            n_kw++;
            nv_push(c, &kwv, parse_expr(c));
        } else {
            if (kwv.n) jinja_fail(c, JINJA_ERR_SYNTAX, cur(c)->line, "positional argument after keyword argument");
            nv_push(c, &args, parse_expr(c));
        }
    }
    next(c);
    n->kids = args.v;
    n->n_kids = args.n;
    n->kw_vals = kwv.v;
    n->n_kw = n_kw;
}

static jnode *parse_subscript(jctx *c, jnode *obj, int line) {
    jnode *parts[3] = {NULL, NULL, NULL};
    int slice = 0, k = 0;
    for (;;) {
        if (is_op(cur(c), "]")) break;
        if (is_op(cur(c), ":")) {
            if (++k > 2) unexpected(c, "']'");
            slice = 1;
            next(c);
            continue;
        }
        if (parts[k]) unexpected(c, "':' or ']'");
        parts[k] = parse_expr(c);
    }
    next(c);
    if (!slice) {
        if (!parts[0]) jinja_fail(c, JINJA_ERR_SYNTAX, line, "empty subscript");
        jnode *n = new_node(c, E_ITEM, line);
        n->a = obj;
        n->b = parts[0];
        return n;
    }
    jnode *n = new_node(c, E_SLICE, line);
    n->a = obj;
    n->kids = jinja_alloc(c, 3 * sizeof(jnode *));
    memcpy(n->kids, parts, sizeof parts);
    n->n_kids = 3;
    return n;
}

static jnode *parse_postfix(jctx *c, jnode *n) {
    for (;;) {
        jtok *t = cur(c);
        if (is_op(t, ".")) {
            next(c);
            jtok *a = cur(c);
            if (a->t == TK_NAME) {
                next(c);
                jnode *x = new_node(c, E_ATTR, a->line);
                x->a = n;
                x->name = a->p;
                x->name_n = a->n;
                n = x;
            } else if (a->t == TK_INT) {
                next(c);
                jnode *x = new_node(c, E_ITEM, a->line);
                x->a = n;
                x->b = new_node(c, E_LIT, a->line);
                x->b->lit = jv_int(a->i);
                n = x;
            } else unexpected(c, "an attribute name");
        } else if (is_op(t, "[")) {
            next(c);
            n = parse_subscript(c, n, t->line);
        } else if (is_op(t, "(")) {
            jnode *x = new_node(c, E_CALL, t->line);
            x->a = n;
            parse_args(c, x);
            n = x;
        } else return n;
    }
}

static jnode *parse_filter_expr(jctx *c, jnode *n) {
    for (;;) {
        jtok *t = cur(c);
        if (is_op(t, "|")) {
            next(c);
            jtok *name = expect_name(c);
            jnode *x = new_node(c, E_FILTER, name->line);
            x->a = n;
            x->name = name->p;
            x->name_n = name->n;
            if (is_op(cur(c), "(")) parse_args(c, x);
            n = x;
        } else if (is_name(t, "is")) {
            next(c);
            jnode *x = new_node(c, E_TEST, t->line);
            if (is_name(cur(c), "not")) { next(c); x->op = 1; }
            jtok *name = expect_name(c);
            x->a = n;
            x->name = name->p;
            x->name_n = name->n;
            jtok *a = cur(c);
            if (is_op(a, "(")) parse_args(c, x);
            else if ((a->t == TK_NAME || a->t == TK_STRING || a->t == TK_INT || a->t == TK_FLOAT ||
                      is_op(a, "[") || is_op(a, "{")) &&
                     !is_name(a, "else") && !is_name(a, "or") && !is_name(a, "and") && !is_name(a, "is")) {
                x->kids = jinja_alloc(c, sizeof(jnode *));
                x->kids[0] = parse_postfix(c, parse_primary(c));
                x->n_kids = 1;
            }
            n = x;
        } else if (is_op(t, "(")) {
            jnode *x = new_node(c, E_CALL, t->line);
            x->a = n;
            parse_args(c, x);
            n = x;
        } else return n;
    }
}

/* Comma-separated expressions up to close (already past the opener). */
static void parse_seq(jctx *c, nvec *items, const char *close) {
    while (!is_op(cur(c), close)) {
        if (items->n) expect_op(c, ",");
        if (is_op(cur(c), close)) break;
        nv_push(c, items, parse_expr(c));
    }
    next(c);
}

static jnode *parse_primary(jctx *c) {
    jtok *t = cur(c);
    jnode *n;
    if (t->t == TK_NAME) {
        next(c);
        n = new_node(c, E_LIT, t->line);
        if (is_name(t, "true") || is_name(t, "True")) n->lit = jv_bool(1);
        else if (is_name(t, "false") || is_name(t, "False")) n->lit = jv_bool(0);
        else if (is_name(t, "none") || is_name(t, "None")) n->lit = jv_none();
        else {
            n->kind = E_NAME;
            n->name = t->p;
            n->name_n = t->n;
        }
        return n;
    }
    if (t->t == TK_STRING) {
        next(c);
        n = new_node(c, E_LIT, t->line);
        if (cur(c)->t != TK_STRING) { n->lit = jv_str(t->p, t->n); return n; }
        jsb b = {0};
        jsb_put(c, &b, t->p, t->n);
        while (cur(c)->t == TK_STRING) { jtok *s = next(c); jsb_put(c, &b, s->p, s->n); }
        n->lit = jv_str(b.p ? b.p : "", b.n);
        return n;
    }
    if (t->t == TK_INT || t->t == TK_FLOAT) {
        next(c);
        n = new_node(c, E_LIT, t->line);
        n->lit = t->t == TK_INT ? jv_int(t->i) : jv_float(t->f);
        return n;
    }
    if (is_op(t, "(")) {
        next(c);
        if (is_op(cur(c), ")")) { next(c); n = new_node(c, E_LIST, t->line); n->op = 1; return n; }
        jnode *e = parse_expr(c);
        if (is_op(cur(c), ")")) { next(c); return e; }
        nvec items = {0};
        nv_push(c, &items, e);
        parse_seq(c, &items, ")");
        n = new_node(c, E_LIST, t->line);
        n->op = 1;
        n->kids = items.v;
        n->n_kids = items.n;
        return n;
    }
    if (is_op(t, "[")) {
        next(c);
        nvec items = {0};
        parse_seq(c, &items, "]");
        n = new_node(c, E_LIST, t->line);
        n->kids = items.v;
        n->n_kids = items.n;
        return n;
    }
    if (is_op(t, "{")) {
        next(c);
        nvec keys = {0}, vals = {0};
        while (!is_op(cur(c), "}")) {
            if (keys.n) expect_op(c, ",");
            if (is_op(cur(c), "}")) break;
            nv_push(c, &keys, parse_expr(c));
            expect_op(c, ":");
            nv_push(c, &vals, parse_expr(c));
        }
        next(c);
        n = new_node(c, E_DICT, t->line);
        n->kids = keys.v;
        n->n_kids = keys.n;
        n->kw_vals = vals.v;
        n->n_kw = vals.n;
        return n;
    }
    unexpected(c, "an expression");
}

static jnode *parse_unary(jctx *c, int with_filter) {
    enter(c);
    jtok *t = cur(c);
    jnode *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        next(c);
        n = new_node(c, is_op(t, "-") ? E_NEG : E_POS, t->line);
        n->a = parse_unary(c, 0);
    } else n = parse_primary(c);
    n = parse_postfix(c, n);
    if (with_filter) n = parse_filter_expr(c, n);
    leave(c);
    return n;
}

static jnode *bin(jctx *c, int op, jnode *a, jnode *b, int line) {
    jnode *n = new_node(c, E_BIN, line);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(jctx *c) {
    jnode *n = parse_unary(c, 1);
    while (is_op(cur(c), "**")) { int l = next(c)->line; n = bin(c, OP_POW, n, parse_unary(c, 1), l); }
    return n;
}

static jnode *parse_math2(jctx *c) {
    jnode *n = parse_pow(c);
    for (;;) {
        jtok *t = cur(c);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FLOORDIV : is_op(t, "%") ? OP_MOD : -1;
        if (op < 0) return n;
        next(c);
        n = bin(c, op, n, parse_pow(c), t->line);
    }
}

static jnode *parse_concat(jctx *c) {
    jnode *n = parse_math2(c);
    while (is_op(cur(c), "~")) { int l = next(c)->line; n = bin(c, OP_CONCAT, n, parse_math2(c), l); }
    return n;
}

static jnode *parse_math1(jctx *c) {
    jnode *n = parse_concat(c);
    for (;;) {
        jtok *t = cur(c);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : -1;
        if (op < 0) return n;
        next(c);
        n = bin(c, op, n, parse_concat(c), t->line);
    }
}

static jnode *parse_compare(jctx *c) {
    jnode *first = parse_math1(c);
    nvec rhs = {0};
    int ops[64];
    int line = cur(c)->line;
    for (;;) {
        jtok *t = cur(c);
        int op = is_op(t, "==") ? OP_EQ : is_op(t, "!=") ? OP_NE : is_op(t, "<") ? OP_LT : is_op(t, "<=") ? OP_LE
               : is_op(t, ">") ? OP_GT : is_op(t, ">=") ? OP_GE : is_name(t, "in") ? OP_IN : -1;
        if (op < 0 && is_name(t, "not") && is_name(peek_at(c, 1), "in")) { next(c); op = OP_NOTIN; }
        if (op < 0) break;
        next(c);
        if (rhs.n >= 64) jinja_fail(c, JINJA_ERR_LIMIT, t->line, "comparison chain too long");
        ops[rhs.n] = op;
        nv_push(c, &rhs, parse_math1(c));
    }
    if (!rhs.n) return first;
    jnode *n = new_node(c, E_CMP, line);
    n->a = first;
    n->kids = rhs.v;
    n->n_kids = rhs.n;
    n->ops = jinja_alloc(c, (size_t)rhs.n * sizeof(int));
    memcpy(n->ops, ops, (size_t)rhs.n * sizeof(int));
    return n;
}

static jnode *parse_not(jctx *c) {
    if (is_name(cur(c), "not")) {
        enter(c);
        jnode *n = new_node(c, E_NOT, next(c)->line);
        n->a = parse_not(c);
        leave(c);
        return n;
    }
    return parse_compare(c);
}

static jnode *parse_and(jctx *c) {
    jnode *n = parse_not(c);
    while (is_name(cur(c), "and")) {
        jnode *x = new_node(c, E_AND, next(c)->line);
        x->a = n;
        x->b = parse_not(c);
        n = x;
    }
    return n;
}

static jnode *parse_or(jctx *c) {
    jnode *n = parse_and(c);
    while (is_name(cur(c), "or")) {
        jnode *x = new_node(c, E_OR, next(c)->line);
        x->a = n;
        x->b = parse_and(c);
        n = x;
    }
    return n;
}

static jnode *parse_expr(jctx *c) {
    enter(c);
    jnode *n = parse_or(c);
    while (is_name(cur(c), "if")) {
        jnode *x = new_node(c, E_COND, next(c)->line);
        x->b = n;
        x->a = parse_or(c);
        if (is_name(cur(c), "else")) { next(c); x->c = parse_expr(c); }
        n = x;
    }
    leave(c);
    return n;
}

/* Assignment targets: "a" or "a, b" (optionally parenthesized). */
static void parse_targets(jctx *c, jnode *n) {
    int paren = is_op(cur(c), "(");
    if (paren) next(c);
    const char *names[16];
    size_t lens[16];
    int k = 0;
    for (;;) {
        jtok *t = expect_name(c);
        if (k == 16) jinja_fail(c, JINJA_ERR_UNSUPPORTED, t->line, "too many unpacking targets");
        names[k] = t->p;
        lens[k++] = t->n;
        if (!is_op(cur(c), ",")) break;
        next(c);
    }
    if (paren) expect_op(c, ")");
    n->names = jinja_alloc(c, (size_t)k * sizeof(char *));
    n->name_ns = jinja_alloc(c, (size_t)k * sizeof(size_t));
    memcpy(n->names, names, (size_t)k * sizeof(char *));
    memcpy(n->name_ns, lens, (size_t)k * sizeof(size_t));
    n->n_names = k;
}

static jnode **parse_body(jctx *c, const char *const *stops, int *n_out, jtok **stopped);

static const char *const stop_if[] = {"elif", "else", "endif", NULL};
static const char *const stop_for[] = {"else", "endfor", NULL};
static const char *const stop_endfor[] = {"endfor", NULL};
static const char *const stop_endset[] = {"endset", NULL};
static const char *const stop_endmacro[] = {"endmacro", NULL};
static const char *const stop_endgen[] = {"endgeneration", NULL};
static const char *const stop_endfilter[] = {"endfilter", NULL};
static const char *const stop_endwith[] = {"endwith", NULL};

static jnode *parse_if(jctx *c, int line) {
    jnode *n = new_node(c, N_IF, line);
    n->a = parse_expr(c);
    expect_block_end(c);
    jtok *stop;
    n->body = parse_body(c, stop_if, &n->n_body, &stop);
    if (is_name(stop, "elif")) {
        n->else_body = jinja_alloc(c, sizeof(jnode *));
        n->else_body[0] = parse_if(c, stop->line);
        n->n_else = 1;
        return n;
    }
    if (is_name(stop, "else")) {
        expect_block_end(c);
        n->else_body = parse_body(c, stop_if + 2, &n->n_else, &stop);
    }
    expect_block_end(c);
    return n;
}

static jnode *parse_statement(jctx *c) {
    jtok *kw = expect_name(c);
    int line = kw->line;
    if (is_name(kw, "if")) return parse_if(c, line);
    if (is_name(kw, "for")) {
        jnode *n = new_node(c, N_FOR, line);
        parse_targets(c, n);
        if (!is_name(cur(c), "in")) unexpected(c, "'in'");
        next(c);
        n->a = parse_or(c);
        if (is_name(cur(c), "if")) { next(c); n->b = parse_expr(c); }
        if (is_name(cur(c), "recursive"))
            jinja_fail(c, JINJA_ERR_UNSUPPORTED, line, "unsupported construct 'recursive' loop");
        expect_block_end(c);
        jtok *stop;
        c->parse_loops++;
        n->body = parse_body(c, stop_for, &n->n_body, &stop);
        c->parse_loops--;
        if (is_name(stop, "else")) {
            expect_block_end(c);
            n->else_body = parse_body(c, stop_endfor, &n->n_else, &stop);
        }
        expect_block_end(c);
        return n;
    }
    if (is_name(kw, "set")) {
        jtok *t = expect_name(c);
        if (is_op(cur(c), ".")) {
            next(c);
            jtok *attr = expect_name(c);
            jnode *n = new_node(c, N_SET_ATTR, line);
            n->name = t->p;
            n->name_n = t->n;
            n->attr = attr->p;
            n->attr_n = attr->n;
            expect_op(c, "=");
            n->a = parse_expr(c);
            expect_block_end(c);
            return n;
        }
        c->tok_pos--;
        if (cur(c)->t == TK_NAME && peek_at(c, 1)->t == TK_BLOCK_END) {
            jnode *n = new_node(c, N_SET_BLOCK, line);
            n->name = t->p;
            n->name_n = t->n;
            next(c);
            expect_block_end(c);
            jtok *stop;
            n->body = parse_body(c, stop_endset, &n->n_body, &stop);
            expect_block_end(c);
            return n;
        }
        jnode *n = new_node(c, N_SET, line);
        parse_targets(c, n);
        expect_op(c, "=");
        n->a = parse_expr(c);
        if (is_op(cur(c), ",")) {
            /* set a, b = x, y: the right side is a tuple */
            jnode *tup = new_node(c, E_LIST, line);
            tup->op = 1;
            nvec items = {0};
            nv_push(c, &items, n->a);
            while (is_op(cur(c), ",")) { next(c); nv_push(c, &items, parse_expr(c)); }
            tup->kids = items.v;
            tup->n_kids = items.n;
            n->a = tup;
        }
        expect_block_end(c);
        return n;
    }
    if (is_name(kw, "macro")) {
        jnode *n = new_node(c, N_MACRO, line);
        jtok *name = expect_name(c);
        n->name = name->p;
        n->name_n = name->n;
        expect_op(c, "(");
        const char *pn[32];
        size_t pl[32];
        jnode *defs[32];
        int k = 0;
        while (!is_op(cur(c), ")")) {
            if (k) expect_op(c, ",");
            if (is_op(cur(c), ")")) break;
            jtok *p = expect_name(c);
            if (k == 32) jinja_fail(c, JINJA_ERR_UNSUPPORTED, p->line, "too many macro parameters");
            pn[k] = p->p;
            pl[k] = p->n;
            defs[k] = NULL;
            if (is_op(cur(c), "=")) { next(c); defs[k] = parse_expr(c); }
            k++;
        }
        next(c);
        expect_block_end(c);
        n->names = jinja_alloc(c, (size_t)(k ? k : 1) * sizeof(char *));
        n->name_ns = jinja_alloc(c, (size_t)(k ? k : 1) * sizeof(size_t));
        n->kids = jinja_alloc(c, (size_t)(k ? k : 1) * sizeof(jnode *));
        if (k) {
            memcpy(n->names, pn, (size_t)k * sizeof(char *));
            memcpy(n->name_ns, pl, (size_t)k * sizeof(size_t));
            memcpy(n->kids, defs, (size_t)k * sizeof(jnode *));
        }
        n->n_names = n->n_kids = k;
        jtok *stop;
        int loops = c->parse_loops;
        c->parse_loops = 0; /* a macro body is a function: loops around it do not count */
        n->body = parse_body(c, stop_endmacro, &n->n_body, &stop);
        c->parse_loops = loops;
        expect_block_end(c);
        return n;
    }
    if (is_name(kw, "break") || is_name(kw, "continue")) {
        if (!c->parse_loops) jinja_fail(c, JINJA_ERR_SYNTAX, line, "'%s' outside of a loop", is_name(kw, "break") ? "break" : "continue");
        jnode *n = new_node(c, is_name(kw, "break") ? N_BREAK : N_CONTINUE, line);
        expect_block_end(c);
        return n;
    }
    if (is_name(kw, "generation")) {
        /* Hugging Face's AssistantTracker tag: renders its body unchanged */
        expect_block_end(c);
        jnode *n = new_node(c, N_IF, line);
        n->a = new_node(c, E_LIT, line);
        n->a->lit = jv_bool(1);
        jtok *stop;
        n->body = parse_body(c, stop_endgen, &n->n_body, &stop);
        expect_block_end(c);
        return n;
    }
    if (is_name(kw, "filter")) {
        /* {% filter f(args)|g %}body{% endfilter %}: the chain is parsed on a placeholder literal */
        jnode *n = new_node(c, N_FILTER_BLOCK, line);
        n->b = new_node(c, E_LIT, line);
        n->b->lit = jv_str("", 0);
        jtok *name = expect_name(c);
        jnode *f = new_node(c, E_FILTER, name->line);
        f->a = n->b;
        f->name = name->p;
        f->name_n = name->n;
        if (is_op(cur(c), "(")) parse_args(c, f);
        n->a = parse_filter_expr(c, f);
        expect_block_end(c);
        jtok *stop;
        n->body = parse_body(c, stop_endfilter, &n->n_body, &stop);
        expect_block_end(c);
        return n;
    }
    if (is_name(kw, "with")) {
        jnode *n = new_node(c, N_WITH, line);
        const char *nm[32];
        size_t nl[32];
        nvec vals = {0};
        while (cur(c)->t != TK_BLOCK_END) {
            if (vals.n) expect_op(c, ",");
            jtok *t = expect_name(c);
            if (vals.n == 32) jinja_fail(c, JINJA_ERR_UNSUPPORTED, t->line, "too many with-assignments");
            nm[vals.n] = t->p;
            nl[vals.n] = t->n;
            expect_op(c, "=");
            nv_push(c, &vals, parse_expr(c));
        }
        next(c);
        n->names = jinja_alloc(c, (size_t)(vals.n + 1) * sizeof(char *));
        n->name_ns = jinja_alloc(c, (size_t)(vals.n + 1) * sizeof(size_t));
        if (vals.n) {
            memcpy(n->names, nm, (size_t)vals.n * sizeof(char *));
            memcpy(n->name_ns, nl, (size_t)vals.n * sizeof(size_t));
        }
        n->n_names = vals.n;
        n->kids = vals.v;
        n->n_kids = vals.n;
        jtok *stop;
        n->body = parse_body(c, stop_endwith, &n->n_body, &stop);
        expect_block_end(c);
        return n;
    }
    static const char *const known[] = {"call", "include", "import", "from", "extends", "block", "do", "autoescape", "trans", NULL};
    for (int i = 0; known[i]; i++)
        if (is_name(kw, known[i]))
            jinja_fail(c, JINJA_ERR_UNSUPPORTED, line, "unsupported tag '%s'", known[i]);
    jinja_fail(c, JINJA_ERR_SYNTAX, line, "unknown tag '%.*s'", (int)(kw->n > 40 ? 40 : kw->n), kw->p);
}

/* Statements until a block tag whose keyword is in stops (then *stopped is that keyword and the
 * keyword is consumed) or the end of the template (only allowed when stops is NULL). */
static jnode **parse_body(jctx *c, const char *const *stops, int *n_out, jtok **stopped) {
    enter(c);
    nvec body = {0};
    int open_line = cur(c)->line;
    for (;;) {
        jtok *t = cur(c);
        if (t->t == TK_EOF) {
            if (stops) {
                jinja_fail(c, JINJA_ERR_SYNTAX, open_line, "unexpected end of template: missing '{%% %s %%}'",
                           stops[1] ? stops[stops[2] ? 2 : 1] : stops[0]);
            }
            break;
        }
        if (t->t == TK_TEXT) {
            next(c);
            jnode *n = new_node(c, N_TEXT, t->line);
            n->lit = jv_str(t->p, t->n);
            nv_push(c, &body, n);
        } else if (t->t == TK_VAR_BEGIN) {
            next(c);
            jnode *n = new_node(c, N_OUTPUT, t->line);
            n->a = parse_expr(c);
            if (cur(c)->t != TK_VAR_END) unexpected(c, "end of print statement '}}'");
            next(c);
            nv_push(c, &body, n);
        } else if (t->t == TK_BLOCK_BEGIN) {
            jtok *kw = peek_at(c, 1);
            int hit = 0;
            for (int i = 0; stops && stops[i]; i++)
                if (is_name(kw, stops[i])) hit = 1;
            if (hit) {
                next(c);
                *stopped = next(c);
                break;
            }
            if (kw->t == TK_NAME && (is_name(kw, "endif") || is_name(kw, "endfor") || is_name(kw, "else") ||
                                     is_name(kw, "elif") || is_name(kw, "endmacro") || is_name(kw, "endset") ||
                                     is_name(kw, "endfilter") || is_name(kw, "endwith")))
                jinja_fail(c, JINJA_ERR_SYNTAX, kw->line, "unexpected '%.*s'", (int)kw->n, kw->p);
            next(c);
            nv_push(c, &body, parse_statement(c));
        } else unexpected(c, "template text or a tag");
    }
    leave(c);
    *n_out = body.n;
    return body.v;
}

jnode *jinja_parse(jctx *c) {
    c->tok_pos = 0;
    c->depth = 0;
    c->parse_loops = 0;
    jnode *root = new_node(c, N_IF, 1);
    root->a = new_node(c, E_LIT, 1);
    root->a->lit = jv_bool(1);
    jtok *stop = NULL;
    root->body = parse_body(c, NULL, &root->n_body, &stop);
    return root;
}
