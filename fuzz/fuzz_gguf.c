/* libFuzzer target for the GGUF reader: the input is a whole file. gguf_open_mem must either
 * reject it with a one-line message or accept it; when accepted, every kv and tensor is walked
 * (formatted, typed getters, tensor data touched at both ends) so that a bound the reader forgot
 * to check shows up as an ASan report here rather than in the model loader. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct gguf_file *f = NULL;
    char err[256];
    int st = gguf_open_mem(data, size, 1, &f, err, sizeof err);
    if (st) {
        /* the contract: a nonempty single-line message, with the file's bytes (names) escaped */
        if (!err[0]) __builtin_trap();
        for (const char *q = err; *q; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f) __builtin_trap();
        return 0;
    }
    volatile unsigned sink = 0;
    char buf[512];
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        gguf_kv_format(kv, buf, sizeof buf);
        sink += (unsigned char)buf[0];
        char key[128];
        size_t kl = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
        memcpy(key, kv->key.ptr, kl);
        key[kl] = 0;
        uint32_t u32; int64_t i64; float f32; int b; struct gguf_str s;
        if (gguf_get_u32(f, key, &u32)) sink += u32;
        if (gguf_get_i64(f, key, &i64)) sink += (unsigned)i64;
        if (gguf_get_f32(f, key, &f32)) sink += (unsigned)(f32 == f32);
        if (gguf_get_bool(f, key, &b)) sink += (unsigned)b;
        if (gguf_get_str(f, key, &s) && s.len) sink += (unsigned char)s.ptr[s.len - 1];
        if (kv->type == GGUF_T_ARRAY) {
            if (kv->arr_type == GGUF_T_STRING) {
                if (kv->n <= size) { /* each string takes >= 8 bytes, so n is bounded by the file */
                    struct gguf_str strs[64];
                    if (kv->n <= 64) {
                        gguf_arr_strings(kv, strs);
                        for (uint64_t j = 0; j < kv->n; j++)
                            if (strs[j].len) sink += (unsigned char)strs[j].ptr[strs[j].len - 1];
                    }
                }
            } else if (kv->n) {
                /* doubles may be NaN or huge: compare, never convert */
                sink += gguf_arr_num(kv, 0) > 0;
                sink += gguf_arr_num(kv, kv->n - 1) > 0;
            }
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        if (t->nbytes) {
            const uint8_t *d = t->data;
            sink += d[0] + d[t->nbytes - 1];
        }
        char name[300];
        size_t nl = t->name.len < sizeof name - 1 ? (size_t)t->name.len : sizeof name - 1;
        memcpy(name, t->name.ptr, nl);
        name[nl] = 0;
        /* names are unique, so a lookup by name finds this very tensor (NUL-free names only) */
        if (nl == t->name.len && !memchr(t->name.ptr, 0, nl) && gguf_find_tensor(f, name) != t) __builtin_trap();
    }
    (void)sink;
    gguf_close(f);
    return 0;
}
