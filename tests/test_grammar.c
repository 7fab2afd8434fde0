/* Constrained decoding: every .gbnf of ../shared/grammars compiles; text sampled under each (random
 * logits over the real 151k qwen2 vocabulary and the llama SPM one, several seeds, plain
 * temperature and truncation samplers, a token budget) finishes within the budget and is accepted
 * by an independent checker — the project's JSON parser for json/json_arr, an evaluator for
 * arithmetic, a POSIX regex for list, and for the others a backtracking recognizer over the
 * compiled rules (not the incremental matcher); hand-written strings each grammar must reject are
 * rejected by both; accepting a forbidden token is EDGELLM_ERR_ARG; bad GBNF gives line and col. */
#include <math.h>
#include <regex.h>
#include <stdint.h>

#include "edgellm.h"
#include "grammar/grammar.h"
#include "template/json.h"
#include "testutil.h"

/* ---- the backtracking recognizer over the rules ---- */
typedef struct bt_cont {
    int32_t pos;
    const struct bt_cont *next;
} bt_cont;

static long bt_steps;

static int bt_match(const struct edgellm_grammar *g, int32_t p, const bt_cont *k, const unsigned char *s, size_t n,
                    size_t i) {
    if (++bt_steps > 50000000) return 0;
    int32_t e = g->elems[p];
    if (e == GRAMMAR_END) return k ? bt_match(g, k->pos, k->next, s, n, i) : i == n;
    if (e < 0) return i < n && grammar_set_has(g, e, s[i]) && bt_match(g, p + 1, k, s, n, i + 1);
    bt_cont c = {p + 1, k};
    for (int32_t a = 0; a < g->rule_nalt[e]; a++)
        if (bt_match(g, g->alt_pos[g->rule_alt0[e] + a], &c, s, n, i)) return 1;
    return 0;
}

static int bt_accepts(const struct edgellm_grammar *g, const char *s) {
    bt_steps = 0;
    for (int32_t a = 0; a < g->rule_nalt[g->root]; a++)
        if (bt_match(g, g->alt_pos[g->rule_alt0[g->root] + a], NULL, (const unsigned char *)s, strlen(s), 0)) return 1;
    return 0;
}

/* ---- the arithmetic evaluator: (expr "=" ws term "\n")+ ---- */
static const char *ar_p;
static int ar_ws(void) { while (*ar_p == ' ' || *ar_p == '\t' || *ar_p == '\n') ar_p++; return 1; }
static int ar_expr(void);
static int ar_term(void) {
    if (*ar_p >= 'a' && *ar_p <= 'z') {
        while ((*ar_p >= 'a' && *ar_p <= 'z') || (*ar_p >= '0' && *ar_p <= '9') || *ar_p == '_') ar_p++;
        return ar_ws();
    }
    if (*ar_p >= '0' && *ar_p <= '9') {
        while (*ar_p >= '0' && *ar_p <= '9') ar_p++;
        return ar_ws();
    }
    if (*ar_p == '(') {
        ar_p++;
        ar_ws();
        if (!ar_expr() || *ar_p != ')') return 0;
        ar_p++;
        return ar_ws();
    }
    return 0;
}
static int ar_expr(void) {
    if (!ar_term()) return 0;
    while (*ar_p && strchr("+-*/", *ar_p)) {
        ar_p++;
        if (!ar_term()) return 0;
    }
    return 1;
}
static int arith_ok(const char *s) {
    ar_p = s;
    int n = 0;
    while (*ar_p) {
        /* expr "=" ws term "\n": the term's own ws may eat the newline, so the line ends at the
         * last newline of the term's trailing whitespace */
        if (!ar_expr() || *ar_p != '=') return 0;
        ar_p++;
        ar_ws();
        const char *t0 = ar_p;
        if (!ar_term()) return 0;
        if (ar_p == t0 || ar_p[-1] != '\n') return 0;
        n++;
    }
    return n > 0;
}

static int list_ok(const char *s) {
    regex_t re;
    if (regcomp(&re, "^(- [^\r\n\v\f]+\n)+$", REG_EXTENDED | REG_NOSUB) != 0) return 0;
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok && !strstr(s, "\xc2\x85") && !strstr(s, "\xe2\x80\xa8") && !strstr(s, "\xe2\x80\xa9");
}

static int json_ok(const char *s) {
    char err[128];
    json_value *v = json_parse(s, strlen(s), err, sizeof err);
    int ok = v != NULL;
    json_free(v);
    return ok;
}

static const char *const GRAMMARS[] = {"json", "json_arr", "arithmetic", "list", "c", "chess", "english", "japanese"};

/* strings each grammar must reject */
static const char *const REJECT[][5] = {
    {"", "[1]", "{\"a\":}", "{\"a\":1,}", "{\"a\":\"\x01\"}"},
    {"[1]", "[\n1,2]", "[\n{]", "[\n\"x]", "[\n1]\n"},
    {"", "a=b", "a+=b\n", "(a=b\n", "1 2=3\n"},
    {"", "-x\n", "- \n", "- a", "- a\rb\n"},
    {"int f(", "int f(){x = 1}", "float 1x(){}", "int f(){ return 1; }", "char f(){/* x }"},
    {"1. e4 e5", "e4 e5\n", "1. e9 e5\n", "1. Zf3 e5\n", "1. e4  e5\n"},
    {"", " hello", "hello  world", "héllo", "a\t"},
    {"", "abc", "ぁ ", " ぁ", "ぁ  ぁ"},
};

static char *read_grammar(const char *shared, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/grammars/%s.gbnf", shared, name);
    return tu_read_file(path, NULL);
}

static int independent_ok(const char *name, const struct edgellm_grammar *g, const char *text) {
    if (!strcmp(name, "json") || !strcmp(name, "json_arr")) return json_ok(text) && bt_accepts(g, text);
    if (!strcmp(name, "arithmetic")) return arith_ok(text);
    if (!strcmp(name, "list")) return list_ok(text);
    return bt_accepts(g, text);
}

static uint64_t rng_state;
static float rnd(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 16777216.0f;
}

/* Samples one text under g with random logits; returns it (malloc'd) or NULL when it did not
 * finish within budget tokens or a step failed. */
static char *sample_text(struct edgellm_model *model, const struct edgellm_grammar *g, const struct edgellm_sampler_params *sp,
                         int budget, int *n_tokens) {
    int32_t nv = edgellm_model_n_vocab(model);
    struct edgellm_sampler *s = NULL;
    if (edgellm_sampler_new(sp, nv, &s) != EDGELLM_OK) return NULL;
    if (edgellm_sampler_set_grammar(s, model, g) != EDGELLM_OK) { edgellm_sampler_free(s); return NULL; }
    edgellm_sampler_set_budget(s, budget);
    float *logits = malloc((size_t)nv * sizeof *logits);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    int done = 0, n = 0;
    for (; n < budget && logits && text; n++) {
        for (int32_t i = 0; i < nv; i++) logits[i] = rnd() * 8.0f;
        edgellm_token t = edgellm_sampler_sample(s, logits);
        if (t < 0 || edgellm_sampler_accept(s, t) != EDGELLM_OK) break;
        if (edgellm_token_is_eog(model, t)) { done = 1; n++; break; }
        char piece[512];
        int k = edgellm_token_to_piece(model, t, 0, piece, sizeof piece);
        if (k < 0 || len + (size_t)k + 1 >= cap) break;
        memcpy(text + len, piece, (size_t)k);
        len += (size_t)k;
    }
    *n_tokens = n;
    free(logits);
    edgellm_sampler_free(s);
    if (!done) { free(text); return NULL; }
    text[len] = 0;
    return text;
}

static void test_grammars(const char *shared, struct edgellm_model *model, const char *vname) {
    for (size_t gi = 0; gi < sizeof GRAMMARS / sizeof *GRAMMARS; gi++) {
        const char *name = GRAMMARS[gi];
        char *src = read_grammar(shared, name);
        CHECKF(src != NULL, "read %s", name);
        if (!src) continue;
        struct edgellm_grammar *g = NULL;
        char err[256] = "";
        edgellm_status st = edgellm_grammar_from_gbnf(src, NULL, &g, err, sizeof err);
        CHECKF(st == EDGELLM_OK, "%s: %s", name, err);
        free(src);
        if (!g) continue;
        if (model == NULL) {
            for (int r = 0; r < 5; r++) {
                CHECKF(!grammar_accepts(g, REJECT[gi][r], strlen(REJECT[gi][r])), "%s: matcher accepts \"%s\"", name, REJECT[gi][r]);
                CHECKF(!independent_ok(name, g, REJECT[gi][r]), "%s: checker accepts \"%s\"", name, REJECT[gi][r]);
            }
            edgellm_grammar_free(g);
            continue;
        }
        for (int seed = 0; seed < 6; seed++) {
            struct edgellm_sampler_params sp = edgellm_sampler_default_params();
            sp.seed = (uint64_t)seed * 7919 + gi;
            sp.repeat_penalty = 1.0f;
            if (seed % 3 == 0) { sp.temperature = 1.0f; sp.top_k = 0; sp.top_p = 1.0f; sp.min_p = 0.0f; } /* check-then-mask */
            else if (seed % 3 == 1) { sp.temperature = 0.9f; } /* top-k/top-p/min-p: full masks */
            else sp.temperature = 0.0f; /* greedy */
            rng_state = (uint64_t)seed * 1000003u + gi * 17;
            int budget = 40 + 30 * seed, n = 0;
            char *text = sample_text(model, g, &sp, budget, &n);
            CHECKF(text != NULL, "%s/%s seed %d: no complete text within %d tokens", vname, name, seed, budget);
            if (!text) continue;
            CHECKF(n <= budget, "%s: %d tokens > budget %d", name, n, budget);
            if (getenv("GRAMMAR_TEST_VERBOSE")) fprintf(stderr, "%s/%s seed %d (%d tokens): %s\n---\n", vname, name, seed, n, text);
            int ok = independent_ok(name, g, text);
            CHECKF(ok, "%s/%s seed %d: the checker rejects \"%s\"", vname, name, seed, text);
            CHECKF(grammar_accepts(g, text, strlen(text)), "%s: matcher rejects its own text", name);
            free(text);
        }
        edgellm_grammar_free(g);
    }
}

static void test_errors(void) {
    struct { const char *src; const char *want; } bad[] = {
        {"root ::= foo\n", "undefined rule 'foo' at line 1 col 10"},
        {"root ::= \"a\"\n  x ::= [b\n", "unterminated character class at line 2 col 9"},
        {"root ::= \"abc\n", "unterminated literal at line 1 col 10"},
        {"root ::= ( \"a\" \n", "expected ')'"},
        {"root ::= * \"a\"\n", "repetition '*' without an element before it at line 1 col 10"},
        {"root ::= root \"a\" | \"b\"\n", "left-recursive"},
        {"root ::= \"a\" root\n", "can never finish"},
        {"root := \"a\"\n", "expected '::=' at line 1 col 6"},
        {"x ::= \"a\"\n", "no rule named 'root'"},
        {"root ::= \"\\q\"\n", "unknown escape at line 1 col 11"},
        {"root ::= \"a\"\nroot ::= \"b\"\n", "defined twice at line 2 col 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct edgellm_grammar *g = (struct edgellm_grammar *)1;
        char err[256] = "";
        edgellm_status st = edgellm_grammar_from_gbnf(bad[i].src, NULL, &g, err, sizeof err);
        CHECKF(st == EDGELLM_ERR_FORMAT && g == NULL, "bad grammar %zu accepted", i);
        CHECKF(strstr(err, bad[i].want) != NULL, "bad grammar %zu: \"%s\" lacks \"%s\"", i, err, bad[i].want);
    }
    /* constructs: repetition counts, classes, escapes, comments, named root */
    struct { const char *src; const char *yes[3]; const char *no[3]; } ok[] = {
        {"root ::= [a-c]{2,3} # c\n", {"ab", "abc", "cca"}, {"a", "abca", "ad"}},
        {"root ::= \"x\"{3}\n", {"xxx", NULL, NULL}, {"xx", "xxxx", ""}},
        {"root ::= (\"a\" | \"b\")+ \"\\x21\"\n", {"a!", "abba!", NULL}, {"!", "ab", "c!"}},
        {"root ::= [^a-z]? \"\\u00e9\"\n", {"é", "Xé", "éé"}, {"aé", "e", ""}},
        {"root ::= .{1,2}\n", {"\xf0\x9f\x98\x80", "ab", "\n"}, {"abc", "\xed\xa0\x80", "\xff"}},
        {"root ::=\n  \"a\" |\n  \"b\" x\nx ::= \"c\"*\n", {"a", "bccc", "b"}, {"ac", "c", ""}},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        struct edgellm_grammar *g = NULL;
        char err[256] = "";
        CHECKF(edgellm_grammar_from_gbnf(ok[i].src, NULL, &g, err, sizeof err) == EDGELLM_OK, "grammar %zu: %s", i, err);
        if (!g) continue;
        for (int k = 0; k < 3; k++) {
            if (ok[i].yes[k]) {
                CHECKF(grammar_accepts(g, ok[i].yes[k], strlen(ok[i].yes[k])), "grammar %zu rejects \"%s\"", i, ok[i].yes[k]);
                CHECKF(bt_accepts(g, ok[i].yes[k]), "grammar %zu: recognizer rejects \"%s\"", i, ok[i].yes[k]);
            }
            if (ok[i].no[k]) {
                CHECKF(!grammar_accepts(g, ok[i].no[k], strlen(ok[i].no[k])), "grammar %zu accepts \"%s\"", i, ok[i].no[k]);
                CHECKF(!bt_accepts(g, ok[i].no[k]), "grammar %zu: recognizer accepts \"%s\"", i, ok[i].no[k]);
            }
        }
        edgellm_grammar_free(g);
    }
    struct edgellm_grammar *g = NULL;
    CHECK(edgellm_grammar_from_gbnf("a ::= \"x\"\n", "a", &g, NULL, 0) == EDGELLM_OK);
    edgellm_grammar_free(g);
    CHECK(edgellm_grammar_from_gbnf(NULL, NULL, &g, NULL, 0) == EDGELLM_ERR_ARG);
    CHECK(edgellm_grammar_from_gbnf("root ::= \"a\"", NULL, NULL, NULL, 0) == EDGELLM_ERR_ARG);
}

/* Accepting a forbidden token; greedy picks the best allowed token; EOG only when complete. */
static void test_sampler_rules(struct edgellm_model *model) {
    int32_t nv = edgellm_model_n_vocab(model);
    struct edgellm_grammar *g = NULL;
    CHECK(edgellm_grammar_from_gbnf("root ::= \"yes\" | \"no\"\n", NULL, &g, NULL, 0) == EDGELLM_OK);
    struct edgellm_sampler_params sp = edgellm_sampler_default_params();
    sp.temperature = 0.0f;
    struct edgellm_sampler *s = NULL;
    CHECK(edgellm_sampler_new(&sp, nv, &s) == EDGELLM_OK);
    CHECK(edgellm_sampler_set_grammar(s, model, g) == EDGELLM_OK);
    edgellm_token tk[8];
    int32_t n = 0;
    CHECK(edgellm_tokenize(model, "maybe", 5, 0, 0, tk, 8, &n, NULL, 0) == EDGELLM_OK && n >= 1);
    CHECK(edgellm_sampler_accept(s, tk[0]) == EDGELLM_ERR_ARG);
    struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
    edgellm_model_describe(model, &d);
    CHECK(d.eos >= 0 && edgellm_sampler_accept(s, d.eos) == EDGELLM_ERR_ARG); /* not complete yet */
    float *logits = calloc((size_t)nv, sizeof *logits);
    CHECK(edgellm_tokenize(model, "no", 2, 0, 0, tk, 8, &n, NULL, 0) == EDGELLM_OK && n == 1);
    edgellm_token no = tk[0];
    CHECK(edgellm_tokenize(model, "maybe", 5, 0, 0, tk, 8, &n, NULL, 0) == EDGELLM_OK);
    logits[tk[0]] = 10.0f; /* the best token is forbidden */
    logits[no] = 1.0f;     /* the best allowed one */
    CHECK(edgellm_sampler_sample(s, logits) == no);
    CHECK(edgellm_sampler_accept(s, no) == EDGELLM_OK);
    CHECK(edgellm_sampler_grammar_complete(s));
    edgellm_token t = edgellm_sampler_sample(s, logits);
    CHECK(edgellm_token_is_eog(model, t));
    CHECK(edgellm_sampler_accept(s, t) == EDGELLM_OK);
    edgellm_sampler_reset(s); /* back to the start */
    CHECK(!edgellm_sampler_grammar_complete(s));
    CHECK(edgellm_sampler_accept(s, no) == EDGELLM_OK);
    CHECK(edgellm_sampler_set_grammar(s, model, NULL) == EDGELLM_OK);
    CHECK(edgellm_sampler_accept(s, tk[0]) == EDGELLM_OK); /* no grammar: anything */
    edgellm_sampler_free(s);
    CHECK(edgellm_sampler_new(&sp, nv + 1, &s) == EDGELLM_OK);
    CHECK(edgellm_sampler_set_grammar(s, model, g) == EDGELLM_ERR_ARG); /* vocabulary size differs */
    edgellm_sampler_free(s);
    free(logits);
    edgellm_grammar_free(g);
}

/* JSON schema compiler: acceptance of hand-written texts (each checked by the matcher), strict
 * mode, and integer ranges against plain arithmetic. */
static int schema_accepts(const char *schema, const char *text) {
    struct edgellm_grammar *g = NULL;
    char err[256] = "";
    if (edgellm_grammar_from_json_schema(schema, &g, err, sizeof err) != EDGELLM_OK) {
        fprintf(stderr, "schema %s: %s\n", schema, err);
        return -1;
    }
    int ok = grammar_accepts(g, text, strlen(text));
    edgellm_grammar_free(g);
    return ok;
}

static void test_schema(void) {
    struct { const char *schema, *text; int want; } cases[] = {
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-29\"", 1},
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"2000-02-29\"", 1},
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"2023-02-29\"", 0},
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"1900-02-29\"", 0},
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-04-31\"", 0},
        {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-12-31\"", 1},
        {"{\"type\":\"string\",\"format\":\"date-time\"}", "\"2024-01-02T03:04:05.25+02:00\"", 1},
        {"{\"type\":\"string\",\"format\":\"time\"}", "\"24:00:00Z\"", 0},
        {"{\"type\":\"string\",\"format\":\"uuid\"}", "\"123e4567-e89b-12d3-a456-426614174000\"", 1},
        {"{\"type\":\"string\",\"format\":\"email\"}", "\"a.b@example.com\"", 1},
        {"{\"type\":\"string\",\"format\":\"email\"}", "\"a..b@example.com\"", 0},
        {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":2}", "\"a\\n\"", 1},
        {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":2}", "\"a\\u00e9\"", 1},
        {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":2}", "\"abc\"", 0},
        {"{\"type\":\"string\"}", "\"a\x01\"", 0},
        {"{\"type\":\"string\"}", "\"\\ud800\"", 0},
        {"{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-\\\\d{2,4}$\"}", "\"ABC-123\"", 1},
        {"{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-\\\\d{2,4}$\"}", "\"AB-123\"", 0},
        {"{\"type\":\"string\",\"pattern\":\"b+\"}", "\"xxbby\"", 1},
        {"{\"enum\":[\"a\",1,null,[true]]}", "[true]", 1},
        {"{\"enum\":[\"a\",1,null,[true]]}", "2", 0},
        {"{\"const\":{\"k\":\"v\"}}", "{\"k\": \"v\"}", 1},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}", "{\"a\":1}", 1},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}", "{\"a\":1,\"b\":2}", 0},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}", "{}", 0},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{}}}", "{\"b\":[1]}", 1},
        {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x\":1,\"y\":2}", 1},
        {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x\":\"1\"}", 0},
        {"{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":2,\"maxItems\":3}", "[true,false]", 1},
        {"{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":2,\"maxItems\":3}", "[true]", 0},
        {"{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":2,\"maxItems\":3}", "[true,true,true,true]", 0},
        /* maxItems alone (the first element stands before the bounded tail), 0, with prefixItems, and large */
        {"{\"type\":\"array\",\"maxItems\":2}", "[]", 1},
        {"{\"type\":\"array\",\"maxItems\":2}", "[1,\"x\"]", 1},
        {"{\"type\":\"array\",\"maxItems\":2}", "[1,2,3]", 0},
        {"{\"type\":\"array\",\"maxItems\":0}", "[]", 1},
        {"{\"type\":\"array\",\"maxItems\":0}", "[1]", 0},
        {"{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":{\"type\":\"boolean\"},\"maxItems\":3}", "[1]", 1},
        {"{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":{\"type\":\"boolean\"},\"maxItems\":3}", "[1,true,false]", 1},
        {"{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":{\"type\":\"boolean\"},\"maxItems\":3}", "[1,true,false,true]", 0},
        {"{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":{\"type\":\"boolean\"},\"maxItems\":3}", "[1,2]", 0},
        {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":10000}", "[1,2,3]", 1},
        {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":10000}", "[]", 0},
        /* bounds past what a long long holds (a plain cast was undefined; a fuzzer found it): an
         * empty range is a compile error (-1), a far bound on the open side holds the rest */
        {"{\"type\":\"integer\",\"exclusiveMinimum\":3e70,\"exclusiveMaximum\":8}", "5", -1},
        {"{\"type\":\"integer\",\"minimum\":-1e300,\"maximum\":8}", "-5", 1},
        {"{\"type\":\"integer\",\"minimum\":-1e300,\"maximum\":8}", "9", 0},
        {"{\"type\":\"number\",\"minimum\":-1e300,\"exclusiveMaximum\":1e300}", "-2.5", 1},
        {"{\"type\":\"number\",\"minimum\":1e300}", "2.5", -1},
        {"{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"null\"}],\"items\":false}", "[\"a\",null]", 1},
        {"{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"null\"}],\"items\":false}", "[\"a\",null,1]", 0},
        {"{\"type\":[\"integer\",\"null\"]}", "null", 1},
        {"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"boolean\"}]}", "\"x\"", 0},
        {"{\"$defs\":{\"n\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"}}},\"$ref\":\"#/$defs/n\"}", "[[],[[]]]", 1},
        {"{\"type\":\"number\",\"minimum\":0,\"maximum\":1}", "0.5", 1},
        {"{\"type\":\"number\",\"minimum\":0,\"maximum\":1}", "1.5", 0},
        {"{\"type\":\"number\",\"exclusiveMinimum\":-3,\"maximum\":-1}", "-2.5", 1},
        {"{\"type\":\"number\",\"exclusiveMinimum\":-3,\"maximum\":-1}", "-3", 0},
        {"{\"type\":\"number\",\"exclusiveMinimum\":-3,\"maximum\":-1}", "-0.5", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int got = schema_accepts(cases[i].schema, cases[i].text);
        CHECKF(got == cases[i].want, "schema %s on %s: %d, want %d", cases[i].schema, cases[i].text, got, cases[i].want);
    }
    /* integer ranges against arithmetic */
    const long bounds[][2] = {{-15, 123}, {0, 9}, {7, 7}, {-1000, -990}, {99, 1001}};
    for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) {
        char schema[128];
        snprintf(schema, sizeof schema, "{\"type\":\"integer\",\"minimum\":%ld,\"maximum\":%ld}", bounds[b][0], bounds[b][1]);
        struct edgellm_grammar *g = NULL;
        CHECK(edgellm_grammar_from_json_schema(schema, &g, NULL, 0) == EDGELLM_OK);
        if (!g) continue;
        int bad = 0;
        for (long v = bounds[b][0] - 30; v <= bounds[b][1] + 30; v++) {
            char t[32];
            snprintf(t, sizeof t, "%ld", v);
            if (grammar_accepts(g, t, strlen(t)) != (v >= bounds[b][0] && v <= bounds[b][1])) bad++;
        }
        CHECKF(bad == 0, "%s: %d integers misjudged", schema, bad);
        CHECK(!grammar_accepts(g, "007", 3) && !grammar_accepts(g, "-0", 2));
        edgellm_grammar_free(g);
    }
    /* strict: an unknown keyword is an error naming it; otherwise ignored */
    struct edgellm_grammar *g = NULL;
    char err[256] = "";
    CHECK(edgellm_grammar_from_json_schema_ex("{\"type\":\"string\",\"contentEncoding\":\"base64\"}", 1, &g, err, sizeof err) ==
          EDGELLM_ERR_UNSUPPORTED);
    CHECKF(strstr(err, "'contentEncoding'") != NULL, "%s", err);
    CHECK(edgellm_grammar_from_json_schema_ex("{\"type\":\"string\",\"contentEncoding\":\"base64\"}", 0, &g, err, sizeof err) == EDGELLM_OK);
    edgellm_grammar_free(g);
    CHECK(edgellm_grammar_from_json_schema_ex("{\"title\":\"t\",\"description\":\"d\",\"default\":1,\"examples\":[],\"$schema\":\"x\",\"type\":\"null\"}",
                                              1, &g, err, sizeof err) == EDGELLM_OK);
    edgellm_grammar_free(g);
    CHECK(edgellm_grammar_from_json_schema("{\"type\":\"array\",\"minItems\":1e12}", &g, err, sizeof err) ==
          EDGELLM_ERR_UNSUPPORTED && strstr(err, "10000"));
    CHECK(edgellm_grammar_from_json_schema("{\"$ref\":\"#/$defs/missing\"}", &g, err, sizeof err) == EDGELLM_ERR_FORMAT);
    CHECK(edgellm_grammar_from_json_schema("{\"type\":", &g, err, sizeof err) == EDGELLM_ERR_FORMAT && strstr(err, "line 1"));
}

/* Exactness: under "root ::= [a-c]" the draws follow the softmax over a, b, c only — through the
 * check-then-mask path (plain temperature) and the full-mask path (top-k / top-p), expected
 * frequencies computed here by hand. */
static void test_exact(struct edgellm_model *model) {
    int32_t nv = edgellm_model_n_vocab(model);
    struct edgellm_grammar *g = NULL;
    CHECK(edgellm_grammar_from_gbnf("root ::= [a-c]\n", NULL, &g, NULL, 0) == EDGELLM_OK);
    edgellm_token id[3];
    for (int i = 0; i < 3; i++) {
        char ch = (char)('a' + i);
        int32_t n = 0;
        CHECK(edgellm_tokenize(model, &ch, 1, 0, 0, &id[i], 1, &n, NULL, 0) == EDGELLM_OK && n == 1);
    }
    float *logits = calloc((size_t)nv, sizeof *logits);
    const float la[3] = {3.0f, 2.0f, 1.0f};
    for (int i = 0; i < 3; i++) logits[id[i]] = la[i];
    /* modes 2, 3: logit bias first, then the grammar: 'c' +3 (4.0), 'a' -100, and 'z' (outside
     * the grammar) +10 so that the unconstrained draw is mostly rejected; mode 3 is greedy */
    char zc = 'z';
    edgellm_token zid = -1;
    int32_t nz = 0;
    CHECK(edgellm_tokenize(model, &zc, 1, 0, 0, &zid, 1, &nz, NULL, 0) == EDGELLM_OK && nz == 1);
    const struct edgellm_logit_bias bias[3] = {{id[2], 3.0f}, {id[0], -100.0f}, {zid, 10.0f}};
    for (int mode = 0; mode < 4; mode++) {
        struct edgellm_sampler_params sp = edgellm_sampler_default_params();
        sp.repeat_penalty = 1.0f;
        sp.temperature = mode == 3 ? 0.0f : 0.7f;
        sp.seed = 99;
        if (mode == 1) { sp.top_k = 2; sp.top_p = 1.0f; sp.min_p = 0.0f; } /* top-2 of the allowed: a, b */
        else { sp.top_k = 0; sp.top_p = 1.0f; sp.min_p = 0.0f; }
        if (mode >= 2) { sp.logit_bias = bias; sp.n_logit_bias = 3; }
        const float lb[3] = {la[0] - 100.0f, la[1], la[2] + 3.0f};
        double e[3], z = 0;
        for (int i = 0; i < 3; i++)
            z += e[i] = mode == 3 ? (i == 2) : (mode == 1 && i == 2) ? 0.0 : exp((mode == 2 ? lb[i] : la[i]) / 0.7);
        struct edgellm_sampler *s = NULL;
        CHECK(edgellm_sampler_new(&sp, nv, &s) == EDGELLM_OK && edgellm_sampler_set_grammar(s, model, g) == EDGELLM_OK);
        int count[3] = {0}, other = 0;
        const int draws = 4000;
        for (int d = 0; d < draws; d++) {
            edgellm_token t = edgellm_sampler_sample(s, logits);
            int k = t == id[0] ? 0 : t == id[1] ? 1 : t == id[2] ? 2 : -1;
            if (k < 0) other++;
            else count[k]++;
        }
        CHECKF(other == 0, "mode %d: %d draws outside the grammar", mode, other);
        for (int i = 0; i < 3; i++)
            CHECKF(fabs((double)count[i] / draws - e[i] / z) < 0.03, "mode %d: '%c' %.3f, expected %.3f", mode, 'a' + i,
                   (double)count[i] / draws, e[i] / z);
        edgellm_sampler_free(s);
    }
    free(logits);
    edgellm_grammar_free(g);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    test_errors();
    test_schema();
    test_grammars(shared, NULL, "bytes");
    const char *vocabs[] = {"ggml-vocab-qwen2.gguf", "ggml-vocab-llama-spm.gguf"};
    for (int v = 0; v < 2; v++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/vocab/%s", shared, vocabs[v]);
        struct edgellm_model_params mp = edgellm_model_default_params();
        mp.vocab_only = 1;
        struct edgellm_model *model = NULL;
        char err[256];
        CHECKF(edgellm_model_load(path, &mp, &model, err, sizeof err) == EDGELLM_OK, "%s: %s", path, err);
        if (!model) continue;
        if (v == 0) test_sampler_rules(model);
        if (v == 0) test_exact(model);
        test_grammars(shared, model, vocabs[v]);
        edgellm_model_free(model);
    }
    return TEST_DONE();
}
