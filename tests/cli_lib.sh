#!/usr/bin/env bash
# The library as an app sees it: the Release build yields libedgellm.a and libedgellm.so; the
# static library is self-contained (a program links with only -lm -lpthread and runs a model);
# include/edgellm.h compiles from include/ alone as strict C11 (and C++ when g++ exists);
# libedgellm.so exports only edgellm_* symbols. Needs EDGELLM_BUILD, EDGELLM_SRC, EDGELLM_SHARED.
set -u
build=${EDGELLM_BUILD:?set EDGELLM_BUILD}
src=${EDGELLM_SRC:?set EDGELLM_SRC}
shared=${EDGELLM_SHARED:?set EDGELLM_SHARED}
cc=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_lib.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { if [ "$1" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $2" >&2; fi; }

# 1. the two libraries, by these names
[ -f "$build/libedgellm.a" ]; ok $? "no $build/libedgellm.a"
[ -f "$build/libedgellm.so" ]; ok $? "no $build/libedgellm.so"

# 2. the header alone, strict C11 and C++ (every declaration, the static inline defaults and the
#    INIT macros used)
cat >"$tmp/hdr.c" <<'C'
#include "edgellm.h"
int main(void) {
    struct edgellm_model_params mp = edgellm_model_default_params();
    struct edgellm_context_params cp = edgellm_context_default_params();
    struct edgellm_sampler_params sp = edgellm_sampler_default_params();
    struct edgellm_template_params tp = edgellm_template_default_params();
    struct edgellm_chat_params chp = edgellm_chat_default_params();
#ifndef __cplusplus
    struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
    struct edgellm_chat_prompt pr = EDGELLM_CHAT_PROMPT_INIT;
    (void)d; (void)pr;
#endif
    return (int)(mp.struct_size + cp.struct_size + sp.struct_size + tp.struct_size + chp.struct_size == 0);
}
C
"$cc" -std=c11 -Wall -Wextra -Werror -pedantic -I"$src/include" -c "$tmp/hdr.c" -o "$tmp/hdr.o"; ok $? "edgellm.h does not compile as strict C11 from include/ alone"
if command -v g++ >/dev/null 2>&1; then
  cp "$tmp/hdr.c" "$tmp/hdr.cpp"
  g++ -std=c++11 -Wall -Wextra -Werror -pedantic -I"$src/include" -c "$tmp/hdr.cpp" -o "$tmp/hdrpp.o"; ok $? "edgellm.h does not compile as C++11"
else
  echo "cli_lib: no g++; the C++ check of the header is not run" >&2
fi

# 2b. every 1.0 struct ends without padding (so struct_size says exactly which fields a caller
#     knows) on 32- and 64-bit targets, where clang can check it without their C libraries
if command -v clang >/dev/null 2>&1; then
  cat >"$tmp/layout.c" <<'C'
#include <stddef.h>
#include "edgellm.h"
#define END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
_Static_assert(END(struct edgellm_model_params, n_threads) == sizeof(struct edgellm_model_params), "model params");
_Static_assert(END(struct edgellm_model_desc, rope_neox) == sizeof(struct edgellm_model_desc), "model desc");
_Static_assert(END(struct edgellm_layer_desc, rope_freq_base) == sizeof(struct edgellm_layer_desc), "layer desc");
_Static_assert(END(struct edgellm_imatrix_params, process_output) == sizeof(struct edgellm_imatrix_params), "imatrix params");
_Static_assert(END(struct edgellm_quantize_params, stats) == sizeof(struct edgellm_quantize_params), "quantize params");
_Static_assert(END(struct edgellm_convert_params, progress_user) == sizeof(struct edgellm_convert_params), "convert params");
_Static_assert(END(struct edgellm_context_params, logits_all) == sizeof(struct edgellm_context_params), "context params");
/* 1.1 appended logit_bias, n_logit_bias: at most 4 bytes of padding after them (64-bit) */
_Static_assert(sizeof(struct edgellm_sampler_params) - END(struct edgellm_sampler_params, n_logit_bias) <= 4, "sampler params");
_Static_assert(END(struct edgellm_template_params, kwargs_json) == sizeof(struct edgellm_template_params), "template params");
_Static_assert(END(struct edgellm_chat_params, prompt) == sizeof(struct edgellm_chat_params), "chat params");
_Static_assert(END(struct edgellm_chat_prompt, opens_think) == sizeof(struct edgellm_chat_prompt), "chat prompt");
C
  for t in x86_64-linux-gnu aarch64-linux-gnu i386-unknown-linux-gnu armv7a-none-eabi; do
    clang --target=$t -ffreestanding -std=c11 -fsyntax-only -I"$src/include" "$tmp/layout.c"; ok $? "a 1.0 struct ends in padding on $t"
  done
else
  echo "cli_lib: no clang; the 32-bit layout check is not run" >&2
fi

# 3. the static library is self-contained: only -lm -lpthread; the program runs a model
#    (a sanitizer build's library also needs the sanitizer runtimes: make test-sanitize)
san=
[ -n "${EDGELLM_SANITIZED:-}" ] && san=-fsanitize=address,undefined
cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "edgellm.h"
int main(int argc, char **argv) {
    struct edgellm_model *m; struct edgellm_context *ctx; char err[256];
    if (argc < 2 || edgellm_model_load(argv[1], NULL, &m, err, sizeof err) != EDGELLM_OK) { fprintf(stderr, "load: %s\n", argc < 2 ? "" : err); return 1; }
    if (edgellm_context_new(m, NULL, &ctx, err, sizeof err) != EDGELLM_OK) { fprintf(stderr, "context: %s\n", err); return 1; }
    edgellm_token t[64]; int32_t n = 0;
    if (edgellm_tokenize(m, "Hello", 5, -1, 0, t, 64, &n, err, sizeof err) != EDGELLM_OK) { fprintf(stderr, "tokenize: %s\n", err); return 1; }
    struct edgellm_batch b = {n, t, NULL, NULL, NULL};
    if (edgellm_context_decode(ctx, &b) != EDGELLM_OK) { fprintf(stderr, "decode: %s\n", edgellm_context_errmsg(ctx)); return 1; }
    const float *logits = edgellm_context_logits(ctx, 0);
    int best = 0;
    for (int i = 1; i < edgellm_model_n_vocab(m); i++) if (logits[i] > logits[best]) best = i;
    printf("%s %u %d %d\n", edgellm_version(), edgellm_version_number(), n, best);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    return 0;
}
C
"$cc" -std=c11 $san -I"$src/include" "$tmp/prog.c" "$build/libedgellm.a" -lm -lpthread -o "$tmp/prog"; ok $? "a program does not link with libedgellm.a -lm -lpthread alone"
if [ -x "$tmp/prog" ]; then
  out=$("$tmp/prog" "$shared/models/aidreams260K-q8_0.gguf"); ok $? "the statically linked program failed"
  case "$out" in "1.0.0 10000 "*) ok 0 "";; *) ok 1 "the statically linked program printed '$out'";; esac
fi

# 4. the shared library exports edgellm_* only
syms=$(nm -D --defined-only "$build/libedgellm.so" | awk '{print $NF}')
[ -n "$syms" ]; ok $? "nm -D finds no symbols in libedgellm.so"
others=$(printf '%s\n' "$syms" | grep -v '^edgellm_' || true)
# a sanitizer build adds its own instrumentation symbols
[ -n "$san" ] && others=$(printf '%s\n' "$others" | grep -Ev '^(__asan|__odr_asan|__ubsan|__sanitizer|__lsan)' || true)
[ -z "$others" ]; ok $? "libedgellm.so exports non-edgellm symbols: $(echo $others | head -c 300)"
printf '%s\n' "$syms" | grep -qx edgellm_chat_tokenize; ok $? "libedgellm.so does not export edgellm_chat_tokenize"

# 5. its SONAME carries the ABI major of the header
major=$(awk '/#define EDGELLM_VERSION_MAJOR/ {print $3}' "$src/include/edgellm.h")
if command -v readelf >/dev/null 2>&1; then
  readelf -d "$build/libedgellm.so" | grep -q "SONAME.*\[libedgellm\.so\.$major\]"; ok $? "the SONAME of libedgellm.so is not libedgellm.so.$major"
fi

echo "cli_lib: $pass passed, $fail failed"
[ "$fail" = 0 ]
