/* Tests of the chat-template interpreter and the JSON parser: the 42 Hugging Face renderings in
 * shared/templates/expected.json byte for byte, one case per construct with expectations worked
 * out by hand from jinja2's semantics (trim_blocks + lstrip_blocks, as HF sets them), JSON
 * parsing of valid and hostile input, and the bounds on loops, recursion and nesting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgellm.h"
#include "template/jinja.h"
#include "template/json.h"
#include "testutil.h"

#define DATE "2026-11-25"

/* Renders tpl with messages/kwargs; returns malloc'd output or NULL (err filled). */
static char *render_full(const char *tpl, const char *msgs, const char *kwargs, int agp, const char *bos,
                         const char *eos, edgellm_status *st_out, char *err, size_t err_size) {
    struct edgellm_template_params p = edgellm_template_default_params();
    p.add_generation_prompt = agp;
    p.bos_token = bos;
    p.eos_token = eos;
    p.date = DATE;
    p.kwargs_json = kwargs;
    char *out = NULL;
    edgellm_status st = edgellm_template_render(tpl, msgs ? msgs : "[]", &p, &out, err, err_size);
    if (st_out) *st_out = st;
    return st == EDGELLM_OK ? out : NULL;
}

static int n_checked;

/* Checks that tpl renders exactly to want (with kwargs_json as variables). */
static void expect_kw(int line, const char *tpl, const char *kwargs, const char *want) {
    char err[512];
    edgellm_status st;
    char *got = render_full(tpl, "[{\"role\": \"user\", \"content\": \"hi\"}]", kwargs, 0, "<s>", "</s>", &st, err, sizeof err);
    n_checked++;
    if (!got) {
        CHECKF(0, "line %d: template %s failed: %s", line, tpl, err);
        return;
    }
    CHECKF(!strcmp(got, want), "line %d: template %s\n  got  [%s]\n  want [%s]", line, tpl, got, want);
    free(got);
}
#define EXPECT(tpl, want) expect_kw(__LINE__, tpl, NULL, want)
#define EXPECT_KW(tpl, kw, want) expect_kw(__LINE__, tpl, kw, want)

/* Checks that tpl fails with status st and a message containing frag. */
static void expect_err(int line, const char *tpl, edgellm_status want_st, const char *frag) {
    char err[512];
    edgellm_status st;
    char *got = render_full(tpl, "[]", NULL, 0, NULL, NULL, &st, err, sizeof err);
    if (got) {
        CHECKF(0, "line %d: template %s rendered [%s], expected an error with '%s'", line, tpl, got, frag);
        free(got);
        return;
    }
    CHECKF(st == want_st, "line %d: status %d, want %d (%s)", line, st, want_st, err);
    CHECKF(strstr(err, frag) != NULL, "line %d: error [%s] lacks [%s]", line, err, frag);
}
#define EXPECT_ERR(tpl, frag) expect_err(__LINE__, tpl, EDGELLM_ERR_TEMPLATE, frag)

static void test_expected_json(const char *shared) {
    char path[1024];
    snprintf(path, sizeof path, "%s/templates/expected.json", shared);
    size_t len;
    char *text = tu_read_file(path, &len);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return;
    char jerr[256];
    json_value *root = json_parse(text, len, jerr, sizeof jerr);
    CHECKF(root != NULL, "expected.json: %s", jerr);
    free(text);
    if (!root) return;
    const json_value *convs = json_get(root, "conversations"), *cases = json_get(root, "cases");
    const json_value *date = json_get(root, "date");
    CHECK(date && date->type == JSON_STRING && !strcmp(date->str, DATE));
    CHECK(cases && cases->type == JSON_ARRAY && cases->len == 42);
    int n_ok = 0, n_err_ok = 0;
    for (size_t i = 0; cases && i < cases->len; i++) {
        const json_value *cs = cases->items[i];
        const char *tname = json_get(cs, "template")->str;
        const json_value *conv = json_get(convs, json_get(cs, "conversation")->str);
        const json_value *want = json_get(cs, "expected");
        const json_value *kw = json_get(cs, "kwargs");
        const json_value *bos = json_get(cs, "bos_token"), *eos = json_get(cs, "eos_token");
        int agp = json_get(cs, "add_generation_prompt")->boolean;
        snprintf(path, sizeof path, "%s/templates/%s", shared, tname);
        char *tpl = tu_read_file(path, NULL);
        CHECKF(tpl != NULL, "cannot read %s", path);
        if (!tpl) continue;
        json_buf mb = {0}, kb = {0};
        json_write(&mb, conv, -1, 0);
        if (kw) json_write(&kb, kw, -1, 0);
        char err[512];
        edgellm_status st;
        char *got = render_full(tpl, mb.data, kw ? kb.data : NULL, agp, bos && bos->type == JSON_STRING ? bos->str : NULL,
                                eos && eos->type == JSON_STRING ? eos->str : NULL, &st, err, sizeof err);
        if (want->type == JSON_NULL) {
            const json_value *werr = json_get(cs, "error");
            CHECKF(!got && st == EDGELLM_ERR_TEMPLATE, "case %zu (%s): expected an error", i, tname);
            CHECKF(!got && werr && !strcmp(err, werr->str), "case %zu: error [%s] want [%s]", i, err, werr ? werr->str : "?");
            if (!got && werr && !strcmp(err, werr->str)) n_err_ok++;
        } else {
            CHECKF(got != NULL, "case %zu (%s, %s, agp=%d) failed: %s", i, tname, json_get(cs, "conversation")->str, agp, err);
            if (got) {
                int same = strlen(got) == want->len && !memcmp(got, want->str, want->len);
                CHECKF(same, "case %zu (%s, %s, agp=%d):\n--- got\n%s\n--- want\n%s\n---", i, tname,
                       json_get(cs, "conversation")->str, agp, got, want->str);
                n_ok += same;
            }
        }
        free(got);
        json_buf_free(&mb);
        json_buf_free(&kb);
        free(tpl);
    }
    printf("expected.json: %d renderings byte-exact, %d errors as expected\n", n_ok, n_err_ok);
    json_free(root);
}

static void test_json(void) {
    char err[256];
    const char *src = " {\"a\": [1, -2.5e1, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"], \"b\": {}} ";
    json_value *v = json_parse(src, strlen(src), err, sizeof err);
    CHECKF(v != NULL, "%s", err);
    if (v) {
        const json_value *a = json_get(v, "a");
        CHECK(a && a->type == JSON_ARRAY && a->len == 6);
        CHECK(a->items[0]->is_int && a->items[0]->i == 1);
        CHECK(!a->items[1]->is_int && a->items[1]->num == -25.0);
        CHECK(a->items[2]->type == JSON_BOOL && a->items[2]->boolean);
        CHECK(a->items[4]->type == JSON_NULL);
        CHECK(a->items[5]->len == 1 + 2 + 4 + 1 && !memcmp(a->items[5]->str, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8));
        json_buf b = {0};
        json_write(&b, v, -1, 0);
        CHECKF(!strcmp(b.data, "{\"a\": [1, -25.0, true, false, null, \"x\xc3\xa9\xf0\x9f\x98\x80\\n\"], \"b\": {}}"), "%s", b.data);
        json_buf_free(&b);
        json_write(&b, v, 2, 1);
        CHECKF(!strcmp(b.data, "{\n  \"a\": [\n    1,\n    -25.0,\n    true,\n    false,\n    null,\n    \"x\\u00e9\\ud83d\\ude00\\n\"\n  ],\n  \"b\": {}\n}"), "%s", b.data);
        json_buf_free(&b);
        json_free(v);
    }
    /* duplicates: first position, last value (Python's dict) */
    v = json_parse("{\"k\": 1, \"j\": 2, \"k\": 3}", 24, err, sizeof err);
    CHECK(v && v->len == 2 && !strcmp(v->keys[0], "k") && v->items[0]->i == 3 && v->items[1]->i == 2);
    json_free(v);
    static const char *const bad[] = {
        "", "[", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "-", ".5", "1e", "tru", "nul", "[1] x",
        "\"abc", "\"a\\qb\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\u12G4\"", "\"a\tb\"",
        "\"\xff\"", "\"\xc3\"", "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\"", "{1: 2}", "[1 2]", "'a'", "NaN",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_value *x = json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        CHECKF(x == NULL, "accepted invalid JSON [%s]", bad[i]);
        CHECKF(x != NULL || strncmp(err, "json: ", 6) == 0, "message [%s]", err);
        json_free(x);
    }
    /* deep nesting: bounded, not a stack overflow */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = 0;
    v = json_parse(deep, 2 * depth, err, sizeof err);
    CHECKF(v == NULL && strstr(err, "nesting"), "deep nesting: %s", err);
    v = json_parse(deep + depth - 200, 400, err, sizeof err);
    CHECKF(v != NULL, "200 levels should parse: %s", err);
    json_free(v);
    free(deep);
    /* integers beyond int64 become floats, never a wrong integer */
    v = json_parse("[9223372036854775807, 9223372036854775808, -9223372036854775808]", 64, err, sizeof err);
    CHECK(v && v->items[0]->is_int && v->items[0]->i == INT64_MAX && !v->items[1]->is_int && v->items[2]->is_int && v->items[2]->i == INT64_MIN);
    json_free(v);
    /* embedded NUL via escape keeps its length */
    v = json_parse("\"a\\u0000b\"", 10, err, sizeof err);
    CHECK(v && v->len == 3 && v->str[1] == 0 && v->str[2] == 'b');
    json_free(v);
    char num[40];
    json_format_double(0.1, 0, num); CHECKF(!strcmp(num, "0.1"), "%s", num);
    json_format_double(1e16, 0, num); CHECKF(!strcmp(num, "1e+16"), "%s", num);
    json_format_double(123456.0, 0, num); CHECKF(!strcmp(num, "123456.0"), "%s", num);
    json_format_double(0.0001, 0, num); CHECKF(!strcmp(num, "0.0001"), "%s", num);
    json_format_double(0.00001, 0, num); CHECKF(!strcmp(num, "1e-05"), "%s", num);
    json_format_double(-2.5, 0, num); CHECKF(!strcmp(num, "-2.5"), "%s", num);
}

static void test_whitespace(void) {
    EXPECT("{% if true %}\nyes\n{% endif %}\n", "yes\n");
    EXPECT("  {% if true %}\n  x\n  {% endif %}\nend", "  x\nend");
    EXPECT("a  {%- if true -%}  b  {%- endif -%}  c", "abc");
    EXPECT("{{ 'a' }}\n{{ 'b' }}", "a\nb");
    EXPECT("a {{- 'b' -}} c", "abc");
    EXPECT("a{# c #}\nb", "ab");
    EXPECT("  {# c #}\nx", "x");
    EXPECT("x {# c -#}   \n y", "x y");
    EXPECT("  {%+ if true %}x{% endif %}", "  x");
    EXPECT("{% if true +%}\nx{% endif %}", "\nx");
    EXPECT("{% raw %}{{ x }}{% if %}{% endraw %}", "{{ x }}{% if %}");
    EXPECT("{% raw %}x\n  {% endraw %}|  {% raw %}a{% endraw %}\n  {% raw -%}  b  {%+ endraw %}", "x\n|  ab  ");
    EXPECT("x\n", "x");
    EXPECT("x\n\n", "x\n");
    EXPECT("a\r\nb", "a\nb");
    EXPECT("{% for x in [1, 2] %}\n  {{ x }}\n{% endfor %}", "  1\n  2\n");
    EXPECT("{{ 'a' }}  {% if true %}b{% endif %}", "a  b");
}

static void test_control(void) {
    EXPECT("{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %}", "c");
    EXPECT("{% if none %}a{% else %}d{% endif %}", "d");
    EXPECT("{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
           "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
           "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|");
    EXPECT("{% for x in [1,2,3] %}{{ loop.previtem|default('-') }}{{ loop.nextitem|default('-') }} {% endfor %}", "-2 13 2- ");
    EXPECT("{% for x in [1,2,3,4,5] if x is odd %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", "1:1,2:3,3:5");
    EXPECT("{% for x in [] %}a{% else %}empty{% endfor %}", "empty");
    EXPECT("{% for x in [0] if x %}a{% else %}none kept{% endfor %}", "none kept");
    EXPECT("{% for x in [1, 2] %}{{ x }}{% break %}{% else %}E{% endfor %}|{% for x in [1, 2] %}{{ x }}{% if x == 1 %}{% break %}{% endif %}{% else %}E{% endfor %}",
           "1E|1E");
    EXPECT("{% for x in [1, 2] %}{{ x }}{% if x == 2 %}{% continue %}{% endif %}{% else %}E{% endfor %}", "12");
    EXPECT("{% set s %}{% set inner = 1 %}b{% endset %}{{ s }}{{ inner is defined }}", "bFalse");
    EXPECT_ERR("{% break %}", "'break' outside of a loop");
    EXPECT_ERR("{% for x in [1] %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", "'continue' outside of a loop");
    EXPECT("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;");
    EXPECT("{% for k, v in {'a': 1}|items %}{{ k }}{{ v }}{% endfor %}", "a1");
    EXPECT("{% for (a, b) in [[1, 2], [3, 4]] %}{{ b }}{{ a }}{% endfor %}", "2143");
    EXPECT("{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}", "xy");
    EXPECT("{% for ch in 'h\xc3\xa9' %}[{{ ch }}]{% endfor %}", "[h][\xc3\xa9]");
    EXPECT("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", "0134");
    EXPECT("{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }};{% endfor %}",
           "1x1 1y2 1;2x1 2y2 2;");
    EXPECT("{% for i in range(3) %}{% for j in range(3) %}{% if j == 1 %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}",
           "00 10 20 ");
    EXPECT("{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(3, 0, -1)|list }}", "[0, 1, 2][1, 3, 5][3, 2, 1]");
    EXPECT("{% set x = 1 %}{% for i in [1] %}{% set x = 5 %}{{ x }}{% endfor %}{{ x }}", "51");
    EXPECT("{% set ns = namespace(total=0, s='') %}{% for i in [1,2,3] %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}", "6");
    EXPECT("{% set a, b = 1, 2 %}{{ a }}{{ b }}", "12");
    EXPECT("{% set a, b = [3, 4] %}{{ b }}{{ a }}", "43");
    EXPECT("{% set s %}x{{ 1 + 1 }}y{% endset %}[{{ s }}]", "[x2y]");
    EXPECT("{% if true %}{% set y = 'in' %}{% endif %}{{ y }}", "in");
    EXPECT("{% set messages = messages[1:] %}{{ messages|length }}", "0");
    EXPECT("{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }}",
           "Hello Bob! Hello Al?");
    EXPECT("{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}", "G");
    EXPECT("{% macro m(a, b) %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}", "[1]");
    EXPECT("{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(3) }}", "321");
    EXPECT("{% macro m() %}{% set inner = 1 %}{% endmacro %}{{ m() }}{{ inner is defined }}", "False");
    EXPECT_ERR("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "takes not more than 1 argument");
    EXPECT("{% generation %}g{% endgeneration %}", "g");
    EXPECT("{% set a = 5 %}{% with a = 1, b = a %}{{ a }}{{ b }}{% set c = 3 %}{% endwith %}{{ a }}{{ c is defined }}", "155False");
    EXPECT("{% filter upper %}a{{ 'b' }}{% filter trim|replace('x', 'y') %}  x  {% endfilter %}{% endfilter %}|", "ABY|");
}

static void test_expressions(void) {
    EXPECT("{{ 'a' if 1 > 2 else 'b' }}|{{ 'a' if false }}|{{ 'x' if true else 'y' }}", "b||x");
    EXPECT("{{ [1,2,3,4][1:] }}{{ [1,2,3,4][:-1] }}{{ [1,2,3,4][::-1] }}{{ [1,2,3,4][::2] }}", "[2, 3, 4][1, 2, 3][4, 3, 2, 1][1, 3]");
    EXPECT("{{ [1,2,3,4][-2:] }}{{ [1,2,3,4][1:-1:2] }}{{ [1,2,3,4][5:] }}{{ [1,2,3,4][-100:2] }}{{ [1,2,3,4][3:0:-1] }}",
           "[3, 4][2][][1, 2][4, 3, 2]");
    EXPECT("{{ 'h\xc3\xa9llo'[::-1] }}|{{ 'h\xc3\xa9llo'[1:3] }}|{{ 'abc'[-1] }}|{{ 'h\xc3\xa9llo'|length }}|{{ 'abc'[10] }}",
           "oll\xc3\xa9h|\xc3\xa9l|c|5|");
    EXPECT("{{ (1, 2, 3)[1:] }}", "(2, 3)");
    EXPECT("{{ [1, 2][-1] }}{{ [1, 2].1 }}{{ {'a': {'b': 'c'}}['a'].b }}", "22c");
    EXPECT("{{ 1 ~ 'a' ~ none ~ true }}|{{ nope ~ 'x' }}", "1aNoneTrue|x");
    EXPECT("{{ 'b' in 'abc' }}{{ 2 in [1,2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [1] }}{{ 'z' in 'abc' }}{{ 'a' in nope }}",
           "TrueTrueTrueTrueFalseFalse");
    EXPECT("{{ 1 < 2 }}{{ 2 <= 1 }}{{ 'a' < 'b' }}{{ 1 == 1.0 }}{{ 1 != 2 }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}",
           "TrueFalseTrueTrueTrueTrueFalse");
    EXPECT("{{ [1, 'a'] == [1, 'a'] }}{{ {'a': 1} == {'a': 1} }}{{ none == false }}{{ true == 1 }}", "TrueTrueFalseTrue");
    EXPECT("{{ 1 and 'x' }}{{ 0 or 'y' }}{{ not 0 }}{{ '' or [] }}{{ none and 1 }}{{ not 1 == 2 }}", "xyTrue[]NoneTrue");
    EXPECT("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }}",
           "3 -4 1 2 3.5 1024 7 9");
    EXPECT("{{ 4 / 2 }} {{ 1.5 + 1 }} {{ 'ab' * 3 }} {{ 10 - 3 - 2 }} {{ 0.1 + 0.2 }} {{ 1e3 }} {{ 2 * 1.5 }}",
           "2.0 2.5 ababab 5 0.30000000000000004 1000.0 3.0");
    EXPECT("{{ -3|abs }} {{ -(2) }} {{ - 1 + 5 }}", "3 -2 4");
    EXPECT("{{ 'a\\nb\\t\\'q\\' \\u00e9 \\x41 \\\\' }}|{{ \"d\\\"q\" }}", "a\nb\t'q' \xc3\xa9 A \\|d\"q");
    EXPECT("{{ 'a' 'b' }}{{ [1, 2,] }}{{ {'k': 'v',} }}", "ab[1, 2]{'k': 'v'}");
    EXPECT("{{ none }}|{{ true }}|{{ [none, true, 'it\\'s'] }}|{{ {1: 2.5} }}", "None|True|[None, True, \"it's\"]|{1: 2.5}");
    EXPECT("{{ messages[0].role }}:{{ messages[0]['content'] }}|{{ messages[0].missing }}|{{ messages[5] }}|{{ none.x }}", "user:hi|||");
    EXPECT("{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}", "<s></s>False");
    EXPECT_KW("{{ flag }} {{ n + 1 }} {{ items|join(',') }} {{ obj.k }}", "{\"flag\": true, \"n\": 41, \"items\": [\"a\", \"b\"], \"obj\": {\"k\": \"v\"}}",
              "True 42 a,b v");
}

static void test_tests_filters(void) {
    EXPECT("{{ x is defined }}{{ messages is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}",
           "FalseTrueTrueTrueTrueTrue");
    EXPECT("{{ [] is iterable }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ 1 is number }}{{ 1.5 is number }}{{ 'a' is number }}",
           "TrueTrueFalseTrueTrueFalse");
    EXPECT("{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 2 is equalto 2 }}{{ 2 is eq(3) }}{{ 3 is not none }}{{ [] is mapping }}",
           "TrueFalseTrueTrueFalseTrueFalse");
    EXPECT("{{ 4 is even }}{{ 4 is divisibleby 3 }}{{ 'ab' is lower }}{{ 3 is gt 2 }}{{ 'a' is in 'abc' }}", "TrueFalseTrueTrueTrue");
    EXPECT("{{ '2.5' is lower }}{{ {'a': 1} is lower }}{{ '\xc3\xa9' is upper }}{{ '\xc3\x89T' is upper }}{{ nope is sequence }}", "FalseTrueFalseTrueTrue");
    EXPECT_ERR("{{ nope|int }}", "'nope' is undefined");
    EXPECT("{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ '\\n hi \\u3000'|trim }}", "x|hi|hi");
    EXPECT("{{ [1,2]|length }}{{ 'abc'|count }}{{ {'a':1}|length }}{{ 'ab'|list }}{{ 12|string ~ 'x' }}", "231['a', 'b']12x");
    EXPECT("{{ [1, 'a', none]|join(', ') }}|{{ [{'n':'a'},{'n':'b'}]|join('-', attribute='n') }}|{{ [1, 2]|join }}", "1, a, None|a-b|12");
    EXPECT("{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'a-b'|replace('-', '') }}|{{ 'ab'|replace('', '.') }}", "bba|ab|.a.b.");
    EXPECT("{{ '\xc3\x80\xc3\xa9\xc3\xbf\xc3\x9f\xc3\x89'|lower }}|{{ '\xc3\xa0\xc3\xa9\xc3\xbf\xc3\x9f'|upper }}|{{ '\xc3\xa9" "a'|title }}|{{ '\xc3\xa9" "a b'.title() }}|{{ '\xc3\xa9'|capitalize }}",
           "\xc3\xa0\xc3\xa9\xc3\xbf\xc3\x9f\xc3\xa9|\xc3\x80\xc3\x89\xc5\xb8SS|\xc3\x89" "a|\xc3\x89" "a B|\xc3\x89");
    EXPECT("{{ 'HeLLo'|lower }} {{ 'hi'|upper }} {{ 'hELLO wORLD'|capitalize }} {{ 'hello big-world (x)'|title }}",
           "hello HI Hello world Hello Big-World (X)");
    EXPECT("{{ nope|default('d') }}{{ ''|default('e') }}{{ ''|default('f', true) }}{{ none|default('g') }}{{ nope|d('h') }}", "dfNoneh");
    const char *kw = "{\"msgs\": [{\"role\": \"user\", \"c\": \"1\"}, {\"role\": \"bot\", \"c\": \"2\"}, {\"role\": \"user\", \"c\": \"3\"}],"
                     " \"xs\": [{\"x\": 1}, {\"x\": 0}, {}], \"tools\": [{\"function\": {\"name\": \"f\"}}, {\"function\": {\"name\": \"g\"}}]}";
    EXPECT_KW("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='c')|join(',') }}|"
              "{{ msgs|rejectattr('role', 'equalto', 'user')|map(attribute='c')|join(',') }}|"
              "{{ xs|selectattr('x')|list|length }}|{{ xs|rejectattr('x')|list|length }}|{{ tools|map(attribute='function.name')|join }}",
              kw, "1,3|2|1|2|fg");
    EXPECT_KW("{{ msgs|selectattr('role', 'eq', 'bot')|first|tojson }}", kw, "{\"role\": \"bot\", \"c\": \"2\"}");
    EXPECT("{{ ['a','b']|map('upper')|join }}{{ [1, 2, 3]|select('odd')|list }}{{ ['a', 'b', 'c']|reject('equalto', 'b')|join }}", "AB[1, 3]ac");
    EXPECT("{{ [1,2,3]|first }}{{ [1,2,3]|last }}{{ 'abc'|first }}{{ []|first }}", "13a");
    EXPECT("{{ {'a': [1, 2.0, '\xc3\xa9\"\\n'], 'b': none, 'c': true}|tojson }}", "{\"a\": [1, 2.0, \"\xc3\xa9\\\"\\n\"], \"b\": null, \"c\": true}");
    EXPECT("{{ {'a': [1], 'b': {}}|tojson(indent=2) }}", "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
    EXPECT("{{ 'x'|tojson }}{{ [[]]|tojson }}{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}", "\"x\"[[]]{\"a\": 2, \"b\": 1}");
    EXPECT("{{ '42'|int + 1 }}{{ '4.7'|int }}{{ 'x'|int }}{{ 3.9|int }}{{ 'x'|int(7) }}", "434037");
    EXPECT("{{ ['b', 'A', 'c']|sort|join }}{{ [3, 1, 2]|sort(reverse=true)|list }}{{ [{'n': 2}, {'n': 1}]|sort(attribute='n')|map(attribute='n')|join }}",
           "Abc[3, 2, 1]12");
    EXPECT("{{ {'b': 1, 'a': 2}|dictsort }}{{ {'b': 1, 'a': 2}|dictsort(by='value')|first }}", "[('a', 2), ('b', 1)]('b', 1)");
    EXPECT("{{ [3, 1, 2]|min }}{{ [3, 1, 2]|max }}{{ ['b', 'A']|min }}{{ [1, 2.5]|sum }}{{ [{'v': 2}, {'v': 3}]|sum(attribute='v') }}", "13A3.55");
    EXPECT("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n'|indent }}|{{ 'a\n\nb'|indent(1, blank=true) }}",
           "a\n  b\n\n  c|  a\n  b|a\n|a\n \n b");
    EXPECT("{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{% endfor %}", "aba");
    EXPECT("{{ none|selectattr('a')|list }}{{ none|map(attribute='a')|list }}{{ nope|reject('none')|list }}", "[][][]");
    EXPECT("{{ {'k': '\xc3\xa9\xf0\x9f\x98\x80'}|tojson(ensure_ascii=true) }}", "{\"k\": \"\\u00e9\\ud83d\\ude00\"}");
    EXPECT("{{ '<{0}|{0}|{name}|{{x}}>'.format('a', name=2) }}{{ '{}-{}'.format(1, 'b') }}", "<a|a|2|{x}>1-b");
    EXPECT("{{ -5|abs }}{{ (-2.5)|abs }}{{ [3, 1, 3]|unique|list }}{{ [1, 2]|reverse|list }}", "52.5[3, 1][2, 1]");
}

static void test_methods_globals(void) {
    EXPECT("{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.startswith(('x','h')) }}{{ 'h'.startswith('hh') }}",
           "TrueTrueTrueFalse");
    EXPECT("{{ 'a,b,,c'.split(',') }}|{{ '  a  b '.split() }}|{{ 'a<think>b</think>c'.split('</think>')[-1] }}|{{ 'a b c'.split(' ', 1) }}",
           "['a', 'b', '', 'c']|['a', 'b']|c|['a', 'b c']");
    EXPECT("{{ '  x '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}|{{ '\\n\\nhi\\n'.strip('\\n') }}|{{ 'ab'.strip('') }}",
           "x|axx|xxa|hi|ab");
    EXPECT("{{ 'a-b-c'.replace('-', '+') }}{{ 'ab'.upper() }}{{ 'AB'.lower() }}{{ 'hello wORLD'.title() }}", "a+b+cABabHello World");
    EXPECT("{% set d = {'a': 1, 'b': 2} %}{{ d.keys()|list }}{{ d.values()|list }}{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 9) }}{{ d.items()|list }}",
           "['a', 'b'][1, 2]1None9[('a', 1), ('b', 2)]");
    EXPECT("{{ (1, 'a') }}{{ (1,) }}{{ () }}{{ (1, 2) == [1, 2] }}{{ (1, 2) == (1, 2) }}", "(1, 'a')(1,)()FalseTrue");
    EXPECT("{{ strftime_now('%Y-%m-%d %B %b %e %H:%M:%S %A %a %j %y %%') }}", "2026-11-25 November Nov 25 00:00:00 Wednesday Wed 329 26 %");
    EXPECT("{{ strftime_now('%d %b %Y') }}", "25 Nov 2026");
    EXPECT("{{ strftime_now is defined }}{{ raise_exception is defined }}", "TrueTrue");
    EXPECT("{{ namespace(a=1).a }}{{ dict(k='v').k }}", "1v");
    char err[256];
    edgellm_status st;
    char *out = render_full("{% if true %}{{ raise_exception('Roles must alternate!') }}{% endif %}", "[]", NULL, 0, NULL, NULL, &st, err, sizeof err);
    CHECK(out == NULL && st == EDGELLM_ERR_TEMPLATE && !strcmp(err, "Roles must alternate!"));
    /* the calendar for another date */
    struct jinja_time t;
    char buf[64];
    CHECK(jinja_parse_date("2024-02-29", &t));
    jinja_strftime(&t, "%A %d %b %Y %j", 14, buf, sizeof buf);
    CHECKF(!strcmp(buf, "Thursday 29 Feb 2024 060"), "%s", buf);
    CHECK(!jinja_parse_date("2023-02-29", &t) && !jinja_parse_date("2024-13-01", &t) && !jinja_parse_date("24-01-01", &t));
}

static void test_errors(void) {
    EXPECT("{{ nope }}|{{ nope is defined }}|{% if nope %}t{% else %}f{% endif %}|{{ nope|length }}|{% for x in nope %}x{% endfor %}", "|False|f|0|");
    EXPECT_ERR("{{ nope.attr }}", "'nope' is undefined at line 1");
    EXPECT_ERR("{{ nope['k'] }}", "'nope' is undefined");
    EXPECT_ERR("{{ nope + 1 }}", "'nope' is undefined");
    EXPECT_ERR("{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'");
    EXPECT_ERR("{{ 1 / 0 }}", "division by zero");
    EXPECT_ERR("{{ 1 < 'a' }}", "not supported between");
    EXPECT_ERR("{% for x in 5 %}{% endfor %}", "'int' object is not iterable");
    EXPECT_ERR("{% set x = 1 %}{% set x.a = 2 %}", "non-namespace");
    EXPECT_ERR("{{ [1].append(2) }}", "unsafe");
    EXPECT_ERR("a\nb\n{{ x|foo }}", "unsupported filter 'foo' at line 3");
    EXPECT_ERR("{% include 'x.jinja' %}", "unsupported tag 'include' at line 1");
    EXPECT_ERR("{% call m() %}{% endcall %}", "unsupported tag 'call'");
    EXPECT_ERR("{{ 1 is foo }}", "unsupported test 'foo'");
    EXPECT_ERR("{{ foo(1) }}", "unsupported function 'foo'");
    EXPECT_ERR("{{ 'x'.zfill(3) }}", "unsupported method 'zfill'");
    EXPECT_ERR("{{ '{:>3}'.format(1) }}", "unsupported str.format field");
    EXPECT_ERR("{% for x in y recursive %}{% endfor %}", "unsupported construct 'recursive'");
    EXPECT_ERR("{% if %}", "expected an expression");
    EXPECT_ERR("{% if true %}x", "missing '{% endif %}'");
    EXPECT_ERR("{% for x in [1] %}x{% endif %}", "unexpected 'endif'");
    EXPECT_ERR("{{ 1 + }}", "expected an expression");
    EXPECT_ERR("{{ 1 +}}", "expected an expression");
    EXPECT_ERR("{{ 'abc }}", "unterminated string");
    EXPECT_ERR("{{ x", "not closed");
    EXPECT_ERR("{% frobnicate %}", "unknown tag 'frobnicate'");
    EXPECT_ERR("{{ 1 @ 2 }}", "unexpected character '@'");
    EXPECT_ERR("{# never closed", "unclosed comment");
    EXPECT_ERR("\xff{{ 1 }}", "not valid UTF-8");
    EXPECT_ERR("{{ [1][::0] }}", "slice step cannot be zero");
    EXPECT_ERR("{% set n = 5 %}{{ n[1:] }}", "'int' object is not subscriptable");

    char err[256];
    edgellm_status st;
    char *out = render_full("{{ 1 }}", "{\"role\": \"user\"}", NULL, 0, NULL, NULL, &st, err, sizeof err);
    CHECKF(!out && st == EDGELLM_ERR_FORMAT && strstr(err, "JSON list"), "%s", err);
    out = render_full("{{ 1 }}", "[{\"role\": ", NULL, 0, NULL, NULL, &st, err, sizeof err);
    CHECKF(!out && st == EDGELLM_ERR_FORMAT && strstr(err, "json:"), "%s", err);
    out = render_full("{{ 1 }}", "[]", "[1]", 0, NULL, NULL, &st, err, sizeof err);
    CHECKF(!out && st == EDGELLM_ERR_FORMAT && strstr(err, "kwargs"), "%s", err);
}

/* Renders with explicit limits through the internal entry point. */
static jinja_status run_limited(const char *tpl, uint64_t steps, char *err, size_t err_size) {
    struct jinja_limits lim = jinja_default_limits();
    if (steps) lim.max_steps = steps;
    struct jinja_time t = {2026, 11, 25, 0, 0, 0};
    char *out = NULL;
    jinja_status st = jinja_render(tpl, strlen(tpl), NULL, 0, &t, &lim, &out, NULL, err, err_size);
    free(out);
    return st;
}

static void test_bounds(void) {
    char err[256];
    jinja_status st = run_limited("{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}", 200000, err, sizeof err);
    CHECKF(st == JINJA_ERR_LIMIT && strstr(err, "evaluation steps"), "%d %s", st, err);
    st = run_limited("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", 0, err, sizeof err);
    CHECKF(st == JINJA_ERR_LIMIT, "default limits stop a 10^10-iteration loop: %d %s", st, err);
    st = run_limited("{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}", 0, err, sizeof err);
    CHECKF(st == JINJA_ERR_LIMIT && strstr(err, "nested deeper"), "%d %s", st, err);
    st = run_limited("{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n + 1) }}{% endmacro %}{{ a(0) }}", 0, err, sizeof err);
    CHECKF(st == JINJA_ERR_LIMIT, "%d %s", st, err);
    st = run_limited("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", 0, err, sizeof err);
    CHECKF(st == JINJA_ERR_LIMIT && strstr(err, "output exceeds"), "%d %s", st, err);
    st = run_limited("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", 0, err, sizeof err);
    CHECKF(st == JINJA_ERR_LIMIT, "%d %s", st, err);
    st = run_limited("{{ 'x' * 1000000000000 }}", 0, err, sizeof err);
    CHECKF(st == JINJA_ERR_LIMIT, "%d %s", st, err);
    st = run_limited("{{ range(1000000000)|length }}", 0, err, sizeof err);
    CHECKF(st == JINJA_ERR_LIMIT && strstr(err, "range too big"), "%d %s", st, err);
    /* deep syntactic nesting: parentheses, brackets, not, if blocks */
    size_t depth = 5000;
    char *t = malloc(depth * 30 + 64);
    for (int kind = 0; kind < 4; kind++) {
        size_t k = 0;
        if (kind < 3) k += (size_t)sprintf(t + k, "{{ ");
        for (size_t i = 0; i < depth; i++)
            k += (size_t)sprintf(t + k, "%s", kind == 0 ? "(" : kind == 1 ? "[" : kind == 2 ? "not " : "{% if true %}");
        k += (size_t)sprintf(t + k, "1");
        for (size_t i = 0; kind != 2 && i < depth; i++) k += (size_t)sprintf(t + k, "%s", kind == 0 ? ")" : kind == 1 ? "]" : "{% endif %}");
        if (kind < 3) k += (size_t)sprintf(t + k, " }}");
        t[k] = 0;
        st = run_limited(t, 0, err, sizeof err);
        CHECKF(st == JINJA_ERR_LIMIT && strstr(err, "nested too deeply"), "kind %d: %d %s", kind, st, err);
    }
    free(t);
    /* moderate nesting is fine */
    st = run_limited("{{ ((((((((((1)))))))))) }}{% if true %}{% if true %}{% for x in [1] %}{% if x %}ok{% endif %}{% endfor %}{% endif %}{% endif %}", 0, err, sizeof err);
    CHECKF(st == JINJA_OK, "%d %s", st, err);
}

/* edgellm_chat_render on real GGUF files (vocabulary only): the model's own template with its
 * own bos/eos texts, extra kwargs, and the ChatML fallback for a model without a template. */
static void test_chat_render(const char *shared) {
    char path[1024], err[512];
    struct edgellm_model_params mp = edgellm_model_default_params();
    mp.vocab_only = 1;
    struct edgellm_model *m = NULL;
    const char *multi = "[{\"role\": \"system\", \"content\": \"You are a concise assistant.\"}, {\"role\": \"user\", \"content\": \"Name a prime number.\"},"
                        " {\"role\": \"assistant\", \"content\": \"7\"}, {\"role\": \"user\", \"content\": \"And one bigger than 100?\"}]";
    snprintf(path, sizeof path, "%s/models/qwen2-mini-q8_0.gguf", shared);
    if (edgellm_model_load(path, &mp, &m, err, sizeof err) == EDGELLM_OK) {
        char *out = NULL;
        int fb = -1;
        edgellm_status st = edgellm_chat_render(m, multi, NULL, &out, &fb, err, sizeof err);
        const char *want = "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>You are a concise assistant."
                           "<\xef\xbd\x9cUser\xef\xbd\x9c>Name a prime number.<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>7"
                           "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c><\xef\xbd\x9cUser\xef\xbd\x9c>And one bigger than 100?"
                           "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>\n";
        CHECKF(st == EDGELLM_OK && fb == 0, "qwen2-mini chat_render: %d %s", st, err);
        CHECKF(out && !strcmp(out, want), "qwen2-mini chat_render got [%s]", out ? out : "(null)");
        edgellm_free(out);
        out = NULL;
        st = edgellm_chat_render(m, "{\"role\": \"user\"}", NULL, &out, &fb, err, sizeof err);
        CHECK(st == EDGELLM_ERR_FORMAT && out == NULL);
        /* edgellm_chat_tokenize: the rendered text, tokenized with its control tokens and the
         * metadata's BOS, with the BOS the template writes too kept once */
        struct edgellm_chat_prompt cpr = EDGELLM_CHAT_PROMPT_INIT;
        st = edgellm_chat_tokenize(m, multi, NULL, &cpr, err, sizeof err);
        CHECKF(st == EDGELLM_OK && cpr.text && !strcmp(cpr.text, want) && cpr.opens_think == 1 && cpr.used_fallback == 0,
               "qwen2-mini chat_tokenize: %d %s", st, err);
        int32_t n_raw = 0;
        edgellm_token raw[256];
        st = edgellm_tokenize(m, want, strlen(want), -1, 1, raw, 256, &n_raw, err, sizeof err);
        struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
        CHECK(st == EDGELLM_OK && edgellm_model_describe(m, &d) == EDGELLM_OK && d.bos >= 0 && d.add_bos);
        CHECKF(n_raw > 2 && raw[0] == d.bos && raw[1] == d.bos, "the template writes the BOS: %d %d", raw[0], raw[1]);
        CHECKF(cpr.n_tokens == n_raw - 1 && cpr.tokens[0] == d.bos && cpr.tokens[1] != d.bos &&
                   !memcmp(cpr.tokens, raw + 1, (size_t)cpr.n_tokens * sizeof *raw),
               "chat_tokenize keeps one BOS: %d tokens vs %d", cpr.n_tokens, n_raw);
        edgellm_chat_prompt_free(&cpr);
        CHECK(cpr.tokens == NULL && cpr.text == NULL);
        /* a rendered prompt given as text tokenizes by the same rule */
        struct edgellm_chat_params cp = edgellm_chat_default_params();
        cp.prompt = want;
        st = edgellm_chat_tokenize(m, NULL, &cp, &cpr, err, sizeof err);
        CHECKF(st == EDGELLM_OK && cpr.n_tokens == n_raw - 1 && !memcmp(cpr.tokens, raw + 1, (size_t)cpr.n_tokens * sizeof *raw),
               "chat_tokenize of a rendered prompt: %d", st);
        edgellm_chat_prompt_free(&cpr);
        /* the ABI rules: struct_size below 1.0 is an argument error, nothing allocated */
        cpr.struct_size = 4;
        CHECK(edgellm_chat_tokenize(m, multi, NULL, &cpr, err, sizeof err) == EDGELLM_ERR_ARG && cpr.tokens == NULL);
        cp.struct_size = 0;
        cpr.struct_size = sizeof cpr;
        CHECK(edgellm_chat_tokenize(m, multi, &cp, &cpr, err, sizeof err) == EDGELLM_ERR_ARG && cpr.tokens == NULL);
        edgellm_model_free(m);
    } else CHECKF(0, "cannot load %s: %s", path, err);
    m = NULL;
    snprintf(path, sizeof path, "%s/models/llama3-mini-f16.gguf", shared);
    if (edgellm_model_load(path, &mp, &m, err, sizeof err) == EDGELLM_OK) {
        char *out = NULL;
        int fb = -1;
        struct edgellm_chat_params cp = edgellm_chat_default_params();
        cp.add_generation_prompt = 0;
        cp.enable_thinking = 0;
        cp.kwargs_json = "{\"date_string\": \"1 Jan 2000\"}";
        edgellm_status st = edgellm_chat_render(m, "[{\"role\": \"user\", \"content\": \" Hi \"}]", &cp, &out, &fb, err, sizeof err);
        const char *want = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
                           "Today Date: 1 Jan 2000\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
        CHECKF(st == EDGELLM_OK && fb == 0 && out && !strcmp(out, want), "llama3-mini chat_render: %d %s [%s]", st, err, out ? out : "");
        edgellm_free(out);
        edgellm_model_free(m);
    } else CHECKF(0, "cannot load %s: %s", path, err);
    m = NULL;
    snprintf(path, sizeof path, "%s/models/aidreams260K-f32.gguf", shared);
    if (edgellm_model_load(path, &mp, &m, err, sizeof err) == EDGELLM_OK) {
        char *out = NULL;
        int fb = -1;
        edgellm_status st = edgellm_chat_render(m, multi, NULL, &out, &fb, err, sizeof err);
        const char *want = "<|im_start|>system\nYou are a concise assistant.<|im_end|>\n<|im_start|>user\nName a prime number.<|im_end|>\n"
                           "<|im_start|>assistant\n7<|im_end|>\n<|im_start|>user\nAnd one bigger than 100?<|im_end|>\n<|im_start|>assistant\n";
        CHECKF(st == EDGELLM_OK && fb == 1 && out && !strcmp(out, want), "aidreams fallback: %d [%s]", st, out ? out : "");
        CHECKF(strstr(err, "no chat template") != NULL, "fallback reason: %s", err);
        edgellm_free(out);
        edgellm_model_free(m);
    } else CHECKF(0, "cannot load %s: %s", path, err);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    test_json();
    test_whitespace();
    test_control();
    test_expressions();
    test_tests_filters();
    test_methods_globals();
    test_errors();
    test_bounds();
    test_expected_json(shared);
    test_chat_render(shared);
    return TEST_DONE();
}
