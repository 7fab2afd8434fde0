/* libFuzzer target for the chat-template interpreter (src/template/jinja.h): the input is the template
 * source, rendered against a fixed three-message conversation with tight limits (steps, depth,
 * output, memory), so that a template which loops or nests forever ends with JINJA_ERR_LIMIT
 * instead of timing out the fuzzer. Any status is fine; a failure must come with one line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja.h"
#include "template/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char messages_json[] =
    "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Hi <think> \\u00e9\\n\",\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1}}}]},"
    "{\"role\":\"assistant\",\"content\":\"<think>x</think>Hello!\"}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0; /* real templates are a few KiB; larger inputs only slow the search */
    char err[512];
    json_value *msgs = json_parse(messages_json, sizeof messages_json - 1, err, sizeof err);
    json_value *yes = json_parse("true", 4, err, sizeof err);
    json_value *bos = json_parse("\"<s>\"", 5, err, sizeof err);
    if (!msgs || !yes || !bos) __builtin_trap();
    struct jinja_var vars[4] = {
        {"messages", msgs}, {"add_generation_prompt", yes}, {"bos_token", bos}, {"eos_token", bos},
    };
    struct jinja_time now = {2026, 11, 25, 12, 0, 0};
    struct jinja_limits lim = jinja_default_limits();
    lim.max_steps = 200000;
    lim.max_depth = 40;
    lim.max_output = 1 << 16;
    lim.max_memory = 32u << 20;
    char *out = NULL;
    size_t out_len = 0;
    err[0] = 0;
    jinja_status st = jinja_render((const char *)data, size, vars, 4, &now, &lim, &out, &out_len, err, sizeof err);
    if (st == JINJA_OK) {
        if (!out || out[out_len] != 0 || out_len > lim.max_output) __builtin_trap();
    } else if (st != JINJA_ERR_RAISED && (!err[0] || strchr(err, '\n'))) {
        /* raise_exception messages are the template's own text, newlines included */
        __builtin_trap();
    }
    free(out);
    json_free(msgs);
    json_free(yes);
    json_free(bos);
    return 0;
}
