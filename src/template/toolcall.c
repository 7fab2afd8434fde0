/* Tool-call parsing (edgellm_parse_tool_calls): a model's raw output -> the OpenAI assistant
 * message, per family: Hermes-style <tool_call> JSON blocks (Qwen2.5, Qwen3), Llama 3.x JSON
 * calls (one per message; <|python_tag|> and built-in NAME.call(k="v")), DeepSeek R1's markers.
 * Anything that does not parse as the family's call syntax is content, never an error. */
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/util.h"
#include "template/json.h"

typedef struct tc_call {
    char *name;
    json_value *args; /* an object */
} tc_call;

#define TC_MAX_CALLS 64

typedef struct tc_out {
    tc_call calls[TC_MAX_CALLS];
    int n;
} tc_out;

static int tc_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void tc_strip(const char **s, size_t *n) {
    while (*n && tc_ws(**s)) { (*s)++; (*n)--; }
    while (*n && tc_ws((*s)[*n - 1])) (*n)--;
}

static int tc_starts(const char *s, size_t n, const char *p) {
    size_t k = strlen(p);
    return n >= k && memcmp(s, p, k) == 0;
}

static const char *tc_find(const char *s, size_t n, const char *p) {
    size_t k = strlen(p);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, p, k) == 0) return s + i;
    return NULL;
}

static void tc_clear(tc_out *o) {
    for (int i = 0; i < o->n; i++) {
        free(o->calls[i].name);
        json_free(o->calls[i].args);
    }
    o->n = 0;
}

/* Adds a call from name[0..nl) and an arguments object (taken). 0 when full / out of memory. */
static int tc_add(tc_out *o, const char *name, size_t nl, json_value *args) {
    if (o->n == TC_MAX_CALLS || !args || args->type != JSON_OBJECT || nl == 0) { json_free(args); return 0; }
    char *nm = malloc(nl + 1);
    if (!nm) { json_free(args); return 0; }
    memcpy(nm, name, nl);
    nm[nl] = 0;
    o->calls[o->n].name = nm;
    o->calls[o->n++].args = args;
    return 1;
}

/* A JSON call object {"name": N, key: {...}} (key "arguments" or "parameters"); args may be a
 * JSON string holding the object. */
static int tc_add_json_call(tc_out *o, const char *s, size_t n, int llama) {
    json_value *v = json_parse(s, n, NULL, 0);
    if (!v || v->type != JSON_OBJECT) { json_free(v); return 0; }
    const json_value *name = json_get(v, "name");
    const json_value *a = json_get(v, llama ? "parameters" : "arguments");
    if (!a) a = json_get(v, llama ? "arguments" : "parameters");
    const json_value *type = json_get(v, "type");
    int ok = name && name->type == JSON_STRING && a && (!type || (type->type == JSON_STRING && !strcmp(type->str, "function")));
    json_value *args = NULL;
    if (ok) {
        if (a->type == JSON_STRING) args = json_parse(a->str, a->len, NULL, 0);
        else {
            json_buf b = {0};
            json_write(&b, a, -1, 0);
            args = b.failed ? NULL : json_parse(b.data, b.len, NULL, 0);
            json_buf_free(&b);
        }
        ok = tc_add(o, name->str, name->len, args);
    }
    json_free(v);
    return ok;
}

static int tc_hermes(tc_out *o, const char *s, size_t n, size_t *content_len) {
    const char *first = tc_find(s, n, "<tool_call>");
    if (!first) return 0;
    *content_len = (size_t)(first - s);
    const char *p = first, *end = s + n;
    while (p < end) {
        while (p < end && tc_ws(*p)) p++;
        if (p == end) break;
        if (!tc_starts(p, (size_t)(end - p), "<tool_call>")) return 0;
        p += strlen("<tool_call>");
        const char *close = tc_find(p, (size_t)(end - p), "</tool_call>");
        if (!close) return 0;
        if (!tc_add_json_call(o, p, (size_t)(close - p), 0)) return 0;
        p = close + strlen("</tool_call>");
    }
    return o->n > 0;
}

/* NAME.call(k="v", k2=1): a Llama 3.1 built-in tool call. */
static int tc_llama_builtin(tc_out *o, const char *s, size_t n) {
    const char *dot = tc_find(s, n, ".call(");
    if (!dot || s[n - 1] != ')') return 0;
    for (const char *q = s; q < dot; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_')) return 0;
    json_buf b = {0};
    json_buf_puts(&b, "{");
    const char *p = dot + strlen(".call("), *end = s + n - 1;
    int first = 1, ok = 1;
    while (ok) {
        while (p < end && tc_ws(*p)) p++;
        if (p == end) break;
        const char *k = p;
        while (p < end && *p != '=' && !tc_ws(*p)) p++;
        if (p == end || *p != '=' || p == k) { ok = 0; break; }
        if (!first) json_buf_puts(&b, ", ");
        first = 0;
        json_write_string(&b, k, (size_t)(p - k), 0);
        json_buf_puts(&b, ": ");
        p++;
        if (p < end && *p == '"') {
            const char *v = ++p;
            while (p < end && *p != '"') p += *p == '\\' ? 2 : 1;
            if (p >= end) { ok = 0; break; }
            json_buf_puts(&b, "\"");
            json_buf_put(&b, v, (size_t)(p - v));
            json_buf_puts(&b, "\"");
            p++;
        } else {
            const char *v = p;
            while (p < end && *p != ',') p++;
            json_buf_put(&b, v, (size_t)(p - v));
        }
        while (p < end && tc_ws(*p)) p++;
        if (p < end && *p == ',') p++;
        else if (p < end) ok = 0;
    }
    json_buf_puts(&b, "}");
    json_value *args = ok && !b.failed ? json_parse(b.data, b.len, NULL, 0) : NULL;
    json_buf_free(&b);
    return args && tc_add(o, s, (size_t)(dot - s), args);
}

static int tc_llama(tc_out *o, const char *s, size_t n) {
    if (tc_starts(s, n, "<|python_tag|>")) {
        s += strlen("<|python_tag|>");
        n -= strlen("<|python_tag|>");
    }
    const char *ends[] = {"<|eom_id|>", "<|eot_id|>"};
    for (int i = 0; i < 2; i++) {
        size_t k = strlen(ends[i]);
        if (n >= k && memcmp(s + n - k, ends[i], k) == 0) n -= k;
    }
    tc_strip(&s, &n);
    if (n == 0) return 0;
    if (s[0] == '{') return tc_add_json_call(o, s, n, 1);
    return tc_llama_builtin(o, s, n);
}

#define R1_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define R1_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define R1_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define R1_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define R1_SEP "<\xef\xbd\x9ctool\xe2\x96\x81sep\xef\xbd\x9c>"
#define R1_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static int tc_r1(tc_out *o, const char *s, size_t n, size_t *content_len) {
    const char *b = tc_find(s, n, R1_CALLS_BEGIN);
    if (!b) return 0;
    *content_len = (size_t)(b - s);
    const char *p = b + strlen(R1_CALLS_BEGIN), *end = s + n;
    for (;;) {
        while (p < end && tc_ws(*p)) p++;
        if (tc_starts(p, (size_t)(end - p), R1_CALLS_END)) { p += strlen(R1_CALLS_END); break; }
        if (p == end) break; /* unclosed list (as R1-Distill-Llama renders one call) */
        if (!tc_starts(p, (size_t)(end - p), R1_CALL_BEGIN)) return 0;
        p += strlen(R1_CALL_BEGIN);
        const char *sep = tc_find(p, (size_t)(end - p), R1_SEP);
        const char *ce = tc_find(p, (size_t)(end - p), R1_CALL_END);
        if (!sep || !ce || sep > ce) return 0;
        const char *name = sep + strlen(R1_SEP), *nl = name;
        while (nl < ce && *nl != '\n') nl++;
        const char *body = nl, *bend = ce;
        while (body < bend && tc_ws(*body)) body++;
        if (tc_starts(body, (size_t)(bend - body), "```json")) body += 7;
        else if (tc_starts(body, (size_t)(bend - body), "```")) body += 3;
        while (bend > body && tc_ws(bend[-1])) bend--;
        if (bend - body >= 3 && memcmp(bend - 3, "```", 3) == 0) bend -= 3;
        json_value *args = json_parse(body, (size_t)(bend - body), NULL, 0);
        if (!args || !tc_add(o, name, (size_t)(nl - name), args)) return 0;
        p = ce + strlen(R1_CALL_END);
    }
    while (p < end && tc_ws(*p)) p++;
    if (tc_starts(p, (size_t)(end - p), R1_EOS)) p += strlen(R1_EOS);
    while (p < end && tc_ws(*p)) p++;
    return p == end && o->n > 0;
}

static void tc_put_text(json_buf *b, const char *s, size_t n) {
    tc_strip(&s, &n);
    if (n == 0) json_buf_puts(b, "null");
    else json_write_string(b, s, n, 0);
}

edgellm_status edgellm_parse_tool_calls(const char *family, const char *output, int think_open, char **out_json,
                                        char *err, size_t err_size) {
    if (!out_json) return util_errf(err, err_size, EDGELLM_ERR_ARG, "tool calls: out_json is NULL");
    *out_json = NULL;
    if (!family || !output) return util_errf(err, err_size, EDGELLM_ERR_ARG, "tool calls: NULL family or output");
    int fam = !strcmp(family, "hermes") || !strcmp(family, "qwen3") ? 0 : !strcmp(family, "llama3") ? 1
            : !strcmp(family, "deepseek-r1") ? 2 : -1;
    if (fam < 0) return util_errf(err, err_size, EDGELLM_ERR_ARG, "tool calls: unknown family '%s'", family);
    const char *s = output, *reason = NULL;
    size_t n = strlen(output), rn = 0;
    /* reasoning */
    const char *t = s;
    while (t < s + n && tc_ws(*t)) t++;
    if (!think_open && tc_starts(t, (size_t)(s + n - t), "<think>")) {
        think_open = 1;
        n -= (size_t)(t - s) + 7;
        s = t + 7;
    }
    if (think_open) {
        const char *close = tc_find(s, n, "</think>");
        reason = s;
        if (close) {
            rn = (size_t)(close - s);
            n -= rn + 8;
            s = close + 8;
        } else {
            rn = n;
            n = 0;
        }
    }
    tc_out o = {0};
    size_t content_len = 0;
    const char *rest = s;
    size_t rest_n = n;
    tc_strip(&rest, &rest_n);
    int ok = fam == 0 ? tc_hermes(&o, rest, rest_n, &content_len) : fam == 1 ? tc_llama(&o, rest, rest_n)
                                                                             : tc_r1(&o, rest, rest_n, &content_len);
    if (!ok) {
        tc_clear(&o);
        content_len = rest_n;
    }
    json_buf b = {0};
    json_buf_puts(&b, "{\"content\": ");
    tc_put_text(&b, rest, content_len);
    json_buf_puts(&b, ", \"reasoning_content\": ");
    tc_put_text(&b, reason ? reason : "", reason ? rn : 0);
    json_buf_puts(&b, ", \"tool_calls\": [");
    for (int i = 0; i < o.n; i++) {
        json_buf a = {0};
        json_write(&a, o.calls[i].args, -1, 0);
        json_buf_puts(&b, i ? ", " : "");
        json_buf_puts(&b, "{\"type\": \"function\", \"function\": {\"name\": ");
        json_write_string(&b, o.calls[i].name, strlen(o.calls[i].name), 0);
        json_buf_puts(&b, ", \"arguments\": ");
        json_write_string(&b, a.data ? a.data : "{}", a.len, 0);
        json_buf_puts(&b, "}}");
        if (a.failed) b.failed = 1;
        json_buf_free(&a);
    }
    json_buf_puts(&b, "]}");
    tc_clear(&o);
    if (b.failed) {
        json_buf_free(&b);
        return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "tool calls: out of memory");
    }
    *out_json = b.data;
    return EDGELLM_OK;
}
