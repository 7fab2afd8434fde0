/* libFuzzer target for the safetensors reader (src/convert/safetensors.h): the input is the
 * bytes of one .safetensors file. Opening either fails with one line or yields tensors whose
 * byte ranges lie inside the input (every element of every float tensor is read, so a range
 * past the end shows under ASan) and whose sizes agree with their shapes. */
#include <stdint.h>
#include <string.h>

#include "convert/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    err[0] = 0;
    struct st_model *m = NULL;
    if (st_open_mem(data, size, &m, err, sizeof err)) {
        if (!err[0] || strchr(err, '\n') || m) __builtin_trap();
        return 0;
    }
    volatile float sink = 0;
    for (size_t i = 0; i < st_n_tensors(m); i++) {
        const struct st_tensor *t = st_tensor_at(m, i);
        if (t->data < data || t->data + t->nbytes > data + size) __builtin_trap();
        if (t->dtype != ST_OTHER)
            for (uint64_t k = 0; k < t->n_elem; k++) sink += st_get_f32(t, k);
        if (st_find(m, t->name) != t) __builtin_trap();
    }
    (void)sink;
    (void)st_find(m, "model.embed_tokens.weight");
    st_close(m);
    return 0;
}
