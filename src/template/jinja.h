/* jinja: a Jinja2-subset interpreter for chat templates, with Hugging Face apply_chat_template
 * semantics (trim_blocks, lstrip_blocks, no autoescape, keep_trailing_newline off, HF's tojson,
 * raise_exception, strftime_now). A render is one self-contained job: the source is lexed into
 * tokens, parsed into an AST and evaluated, with every object (tokens, nodes, values, captured
 * output) in one arena freed at the end; errors unwind with longjmp to the entry point. Steps,
 * call depth, nesting, output size and arena memory are bounded, so hostile templates stop with
 * a message instead of hanging or exhausting memory.
 *
 * Files: jinja_lex.c (text/tag splitting, whitespace control, tokens), jinja_parse.c (AST),
 * jinja_eval.c (statements, expressions, entry point), jinja_builtins.c (filters, tests, methods,
 * globals), jinja_value.c (arena, values, conversions to text and JSON). */
#ifndef EDGELLM_JINJA_H
#define EDGELLM_JINJA_H
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include "template/json.h"

typedef enum jinja_status {
    JINJA_OK = 0,
    JINJA_ERR_SYNTAX = 1,       /* the template does not parse */
    JINJA_ERR_UNSUPPORTED = 2,  /* a valid Jinja construct this interpreter does not implement */
    JINJA_ERR_RUNTIME = 3,      /* an error jinja2 would raise too (type errors, undefined use, ...) */
    JINJA_ERR_RAISED = 4,       /* raise_exception(msg): err holds msg exactly */
    JINJA_ERR_LIMIT = 5,        /* steps, depth, output size or memory bound exceeded */
    JINJA_ERR_NOMEM = 6,
} jinja_status;

struct jinja_limits {
    uint64_t max_steps;   /* evaluation steps (nodes evaluated, loop iterations) */
    int max_depth;        /* macro call depth and syntax nesting depth */
    size_t max_output;    /* bytes of rendered text (also the longest string value) */
    size_t max_memory;    /* bytes of the render's arena */
};

/* Defaults: 20M steps, depth 100, 16 MiB output, 256 MiB memory. */
struct jinja_limits jinja_default_limits(void);

struct jinja_var {
    const char *name;
    const json_value *value;  /* converted to a template value (lists, dicts, strings, ...) */
};

/* Calendar time that strftime_now formats. */
struct jinja_time {
    int year, month, day;     /* month 1..12, day 1..31 */
    int hour, minute, second;
};

/* Renders src[0..len) with the given variables. On success *out is a malloc'd NUL-terminated
 * string (free()) of *out_len bytes. On failure err holds one line. */
jinja_status jinja_render(const char *src, size_t len, const struct jinja_var *vars, int n_vars,
                          const struct jinja_time *now, const struct jinja_limits *limits,
                          char **out, size_t *out_len, char *err, size_t err_size);

/* Parses "YYYY-MM-DD" (time 00:00:00); returns 0 if malformed or not a real date. */
int jinja_parse_date(const char *s, struct jinja_time *out);
/* Python strftime for the directives %Y %y %m %d %e %B %b %h %A %a %H %I %M %S %p %j %%. */
size_t jinja_strftime(const struct jinja_time *t, const char *fmt, size_t fmt_len, char *out, size_t size);

/* ========================================================================= */
/* Internals shared by the jinja_*.c files.                                   */
#ifdef JINJA_INTERNAL

typedef enum jv_type { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_MACRO, JV_FUNC } jv_type;

struct jlist;
struct jdict;
struct jnode;
struct jmacro;
struct jframe;

/* A template value. Strings are arena-owned UTF-8 (not NUL-terminated); an undefined value keeps
 * its variable name in s for messages. Lists and dicts are shared by reference. */
typedef struct jv {
    jv_type t;
    union {
        int b;
        int64_t i;
        double f;
        struct { const char *p; size_t n; } s;
        struct jlist *l;
        struct jdict *d;
        const struct jmacro *macro;
        int func;
    } u;
} jv;

typedef struct jlist { jv *v; size_t n, cap; int is_tuple; } jlist;  /* tuples print as (a, b) */
/* A macro: its definition and the frame it was defined in (its closure). */
typedef struct jmacro { const struct jnode *node; struct jframe *frame; } jmacro;
typedef struct jdict { jv *k, *v; size_t n, cap; int is_ns; } jdict;

/* Tokens. Text, names and strings point at arena copies (string escapes already decoded). */
enum jtok_type { TK_EOF, TK_TEXT, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
                 TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP };
typedef struct jtok {
    enum jtok_type t;
    int line;
    const char *p;   /* TK_TEXT/NAME/STRING/OP text */
    size_t n;
    int64_t i;
    double f;
} jtok;

enum jnode_kind {
    /* statements */
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_ATTR, N_SET_BLOCK, N_MACRO, N_BREAK, N_CONTINUE, N_FILTER_BLOCK, N_WITH,
    /* expressions */
    E_LIT, E_NAME, E_ATTR, E_ITEM, E_SLICE, E_CALL, E_FILTER, E_TEST, E_NEG, E_POS, E_NOT,
    E_AND, E_OR, E_BIN, E_CMP, E_COND, E_LIST, E_DICT,
};

/* Binary operators (E_BIN) and comparisons (E_CMP). */
enum jop { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
           OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN };

/* One AST node. Slots by kind:
 *  N_TEXT lit; N_OUTPUT a; N_IF a=cond body/else_body; N_FOR names[n_names] a=iter b=filter
 *  body/else_body; N_SET names[n_names] a; N_SET_ATTR name(target) attr a; N_SET_BLOCK name body;
 *  N_MACRO name names[n_names]=params kids[n_kids]=defaults (NULL: none) body;
 *  N_FILTER_BLOCK a=filter chain applied to b (an E_LIT that receives the rendered body) body;
 *  N_WITH names[n_names] kids[n_kids]=values body (a scope of its own);
 *  E_LIT lit; E_NAME name; E_ATTR a name; E_ITEM a b; E_SLICE a kids[3] (NULL: omitted);
 *  E_CALL a=callee kids=args kw_names/kw_vals; E_FILTER/E_TEST a=operand name kids kw (E_TEST
 *  op=1 for "is not"); E_NEG/E_POS/E_NOT a; E_AND/E_OR a b; E_BIN op a b;
 *  E_CMP a kids[n_kids] ops[n_kids]; E_COND a=cond b=then c=else (NULL: undefined);
 *  E_LIST kids (op=1: a parenthesized tuple); E_DICT kids=keys kw_vals=values (n_kw). */
typedef struct jnode {
    enum jnode_kind kind;
    int line;
    int op;
    const char *name;
    size_t name_n;
    const char *attr;
    size_t attr_n;
    jv lit;
    struct jnode *a, *b, *c;
    struct jnode **kids;
    int n_kids;
    int *ops;
    const char **kw_names;
    size_t *kw_name_ns;
    struct jnode **kw_vals;
    int n_kw;
    const char **names;
    size_t *name_ns;
    int n_names;
    struct jnode **body;
    int n_body;
    struct jnode **else_body;
    int n_else;
} jnode;

struct jblock;

/* Growable string in the arena (used for output, captures and string building). */
typedef struct jsb { char *p; size_t n, cap; } jsb;

typedef struct jframe {
    struct jframe *parent;
    jdict vars;
} jframe;

typedef struct jctx {
    jmp_buf jb;
    jinja_status st;
    char *err;
    size_t err_size;
    struct jinja_limits lim;
    struct jblock *blocks;
    size_t mem_used;
    uint64_t steps;
    int depth;               /* macro call depth (parser: syntax nesting) */
    int rdepth;              /* nested evaluations on the C stack */
    int loop_ctl;            /* 0, 1 = break, 2 = continue pending */
    int parse_loops;         /* parser: enclosing for bodies (break/continue allowed) */
    struct jinja_time now;
    jtok *toks;
    size_t n_toks, tok_pos;
    jframe *globals;
    jsb *out;                /* where rendering writes (redirected for macro calls and set blocks) */
} jctx;

/* jinja_value.c */
_Noreturn void jinja_fail(jctx *c, jinja_status st, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void *jinja_alloc(jctx *c, size_t n);
void jinja_arena_free(jctx *c);
char *jinja_strdup(jctx *c, const char *s, size_t n);
void jsb_put(jctx *c, jsb *b, const char *s, size_t n);
void jsb_puts(jctx *c, jsb *b, const char *s);
jv jv_str(const char *p, size_t n);
jv jv_cstr(const char *s);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_bool(int b);
jv jv_none(void);
jv jv_undef(const char *name, size_t n);
jv jv_new_list(jctx *c, size_t cap);
jv jv_new_dict(jctx *c, size_t cap);
void jlist_push(jctx *c, jlist *l, jv v);
void jdict_set(jctx *c, jdict *d, jv k, jv v);
/* Value for key, or NULL. */
jv *jdict_get(jdict *d, jv k);
jv *jdict_get_str(jdict *d, const char *s, size_t n);
jv jv_from_json(jctx *c, const json_value *j);
int jv_truthy(jv v);
int jv_equal(jv a, jv b);
/* Python str(v) appended to b (undefined renders as nothing). */
void jv_to_str(jctx *c, jsb *b, jv v);
/* str(v) as a value (strings returned as is). */
jv jv_stringify(jctx *c, jv v);
void jv_repr(jctx *c, jsb *b, jv v);
/* HF tojson: json.dumps(v, ensure_ascii, indent=indent (<0: None), sort_keys). */
void jv_to_json(jctx *c, jsb *b, jv v, int line, int indent, int sort_keys, int ensure_ascii);
const char *jv_type_name(jv v);
/* Number of code points of a UTF-8 string; byte offset of code point k. */
size_t ju_len(const char *p, size_t n);
/* First occurrence of needle in hay (memmem, which is not ISO C), or NULL. */
const char *ju_find(const char *hay, size_t hn, const char *needle, size_t nn);
size_t ju_offset(const char *p, size_t n, size_t k);
void jinja_step(jctx *c, int line);

/* jinja_lex.c */
void jinja_lex(jctx *c, const char *src, size_t n);

/* jinja_parse.c */
jnode *jinja_parse(jctx *c);

/* jinja_eval.c */
jv jinja_eval(jctx *c, const jnode *e, jframe *f);
jv jinja_lookup(jctx *c, jframe *f, const char *name, size_t n);
jv jinja_call_macro(jctx *c, jframe *f, const jnode *call, jv macro, jv *args, int n_args,
                    const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw);
int jinja_iter(jctx *c, jv v, int line, jv **items, size_t *n);
jv jinja_getattr(jctx *c, jv obj, const char *name, size_t n, int line);
jv jinja_getitem(jctx *c, jv obj, jv key, int line);

/* jinja_builtins.c: each receives already evaluated arguments. */
enum { JF_RANGE = 1, JF_NAMESPACE, JF_RAISE, JF_STRFTIME, JF_DICT };
jv jinja_filter(jctx *c, jframe *f, const jnode *node, jv val, jv *args, int n_args,
                const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw);
int jinja_test(jctx *c, jframe *f, const jnode *node, jv val, jv *args, int n_args);
/* Returns 1 and sets *res when obj.name(...) is a known method. */
int jinja_method(jctx *c, const jnode *node, jv obj, const char *name, size_t n, jv *args, int n_args,
                 const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw, jv *res);
jv jinja_call_func(jctx *c, jframe *f, const jnode *node, int func, jv *args, int n_args,
                   const char **kw_names, size_t *kw_ns, jv *kw_vals, int n_kw);
#endif /* JINJA_INTERNAL */
#endif
