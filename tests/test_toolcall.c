/* edgellm_parse_tool_calls against every parse_examples entry of
 * ../shared/templates/tools-expected.json (raw outputs with special tokens as text -> the OpenAI
 * assistant message): content and reasoning_content exactly (null when empty / absent),
 * tool_calls names exactly and arguments compared as parsed JSON, malformed ones included
 * (no tool_calls, the text as content). Plus bad arguments. */
#include <stdint.h>

#include "edgellm.h"
#include "template/json.h"
#include "testutil.h"

/* Canonical text of a JSON value (json_write of the parsed value). */
static char *canon(const json_value *v) {
    json_buf b = {0};
    json_write(&b, v, -1, 0);
    return b.data;
}

static int same_text(const json_value *got, const json_value *want) {
    int gnull = !got || got->type == JSON_NULL, wnull = !want || want->type == JSON_NULL;
    if (gnull || wnull) return gnull == wnull;
    return got->type == JSON_STRING && want->type == JSON_STRING && got->len == want->len && !memcmp(got->str, want->str, got->len);
}

static int same_args(const json_value *got, const json_value *want) {
    if (!got || !want || got->type != JSON_STRING || want->type != JSON_STRING) return 0;
    json_value *g = json_parse(got->str, got->len, NULL, 0), *w = json_parse(want->str, want->len, NULL, 0);
    char *a = g ? canon(g) : NULL, *b = w ? canon(w) : NULL;
    int ok = a && b && !strcmp(a, b);
    free(a), free(b);
    json_free(g), json_free(w);
    return ok;
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    char path[1024];
    snprintf(path, sizeof path, "%s/templates/tools-expected.json", shared);
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    CHECKF(text != NULL, "read %s", path);
    if (!text) return TEST_DONE();
    char err[256];
    json_value *root = json_parse(text, len, err, sizeof err);
    CHECKF(root != NULL, "%s", err);
    const json_value *ex = root ? json_get(root, "parse_examples") : NULL;
    CHECK(ex && ex->type == JSON_ARRAY && ex->len >= 10);
    int n_ok = 0;
    for (size_t i = 0; ex && i < ex->len; i++) {
        const json_value *e = ex->items[i];
        const json_value *fam = json_get(e, "family"), *name = json_get(e, "name"), *out = json_get(e, "output");
        const json_value *think = json_get(e, "think_open"), *want = json_get(e, "expected");
        int think_open = think && think->type == JSON_BOOL && think->boolean;
        char *res = NULL;
        edgellm_status st = edgellm_parse_tool_calls(fam->str, out->str, think_open, &res, err, sizeof err);
        CHECKF(st == EDGELLM_OK, "%s: %s", name->str, err);
        json_value *got = res ? json_parse(res, strlen(res), err, sizeof err) : NULL;
        CHECKF(got != NULL, "%s: output is not JSON: %s", name->str, res ? res : "(null)");
        if (!got) { edgellm_free(res); continue; }
        int ok = 1;
        if (!same_text(json_get(got, "content"), json_get(want, "content"))) ok = 0;
        if (!same_text(json_get(got, "reasoning_content"), json_get(want, "reasoning_content"))) ok = 0;
        const json_value *gc = json_get(got, "tool_calls"), *wc = json_get(want, "tool_calls");
        size_t wn = wc && wc->type == JSON_ARRAY ? wc->len : 0;
        if (!gc || gc->type != JSON_ARRAY || gc->len != wn) ok = 0;
        for (size_t k = 0; ok && k < wn; k++) {
            const json_value *gf = json_get(gc->items[k], "function"), *wf = json_get(wc->items[k], "function");
            const json_value *gt = json_get(gc->items[k], "type");
            if (!gf || !gt || gt->type != JSON_STRING || strcmp(gt->str, "function")) { ok = 0; break; }
            if (!same_text(json_get(gf, "name"), json_get(wf, "name"))) ok = 0;
            if (!same_args(json_get(gf, "arguments"), json_get(wf, "arguments"))) ok = 0;
        }
        CHECKF(ok, "%s: got %s", name->str, res);
        n_ok += ok;
        json_free(got);
        edgellm_free(res);
    }
    printf("parse_examples: %d of %zu parse as listed\n", n_ok, ex ? ex->len : 0);
    char *res = NULL;
    CHECK(edgellm_parse_tool_calls("nope", "x", 0, &res, err, sizeof err) == EDGELLM_ERR_ARG && res == NULL && strstr(err, "nope"));
    CHECK(edgellm_parse_tool_calls("hermes", NULL, 0, &res, NULL, 0) == EDGELLM_ERR_ARG);
    CHECK(edgellm_parse_tool_calls("hermes", "x", 0, NULL, NULL, 0) == EDGELLM_ERR_ARG);
    /* a call after trailing garbage is content; a plain answer is content */
    CHECK(edgellm_parse_tool_calls("hermes", "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call> and more", 0, &res, NULL, 0) == EDGELLM_OK);
    CHECKF(res && strstr(res, "\"tool_calls\": []") && strstr(res, "and more"), "%s", res);
    edgellm_free(res);
    CHECK(edgellm_parse_tool_calls("llama3", "  Hello.  ", 0, &res, NULL, 0) == EDGELLM_OK);
    CHECKF(res && !strcmp(res, "{\"content\": \"Hello.\", \"reasoning_content\": null, \"tool_calls\": []}"), "%s", res);
    edgellm_free(res);
    json_free(root);
    free(text);
    return TEST_DONE();
}
