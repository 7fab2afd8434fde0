/* libFuzzer target for the JSON parser (src/template/json.h): the input is the text. A parse either
 * fails with one line or yields a tree; an accepted tree is serialized, parsed again and
 * serialized again, and the two serializations must be equal (the writer's output is JSON the
 * parser accepts, and nothing is lost on the second trip). */
#include <stdint.h>
#include <string.h>

#include "template/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    err[0] = 0;
    json_value *v = json_parse((const char *)data, size, err, sizeof err);
    if (!v) {
        if (!err[0] || strchr(err, '\n')) __builtin_trap();
        return 0;
    }
    for (int ascii = 0; ascii < 2; ascii++) {
        json_buf a = {0}, b = {0};
        json_write(&a, v, ascii ? 2 : -1, ascii);
        if (!a.failed) {
            json_value *w = json_parse(a.data ? a.data : "", a.len, err, sizeof err);
            /* our own output must parse, except numbers beyond double range, which are written
             * as Python writes them (Infinity), not JSON */
            if (!w && !memmem(a.data, a.len, "Infinity", 8) && !memmem(a.data, a.len, "NaN", 3)) __builtin_trap();
            if (w) json_write(&b, w, ascii ? 2 : -1, ascii);
            if (w && !b.failed && (a.len != b.len || memcmp(a.data, b.data, a.len))) __builtin_trap();
            json_free(w);
        }
        json_buf_free(&a);
        json_buf_free(&b);
    }
    if (v->type == JSON_OBJECT && v->len) (void)json_get(v, v->keys[0]);
    json_free(v);
    return 0;
}
