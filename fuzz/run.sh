#!/usr/bin/env bash
# Builds the libFuzzer targets into build-fuzz (clang, ASan+UBSan) and runs each for
# FUZZ_SECONDS (default 60) on a corpus that persists in build-fuzz/corpus/<target>, seeded
# at run time from ../shared (models, vocab, templates) and fuzz/seeds. Crashes land in
# build-fuzz/artifacts/<target>/; copy each reproducer to fuzz/regress/<target>/ (replayed by
# tests/test_fuzz_regress.c). Prints one summary line per target; exit 1 if any target crashed.
# Usage: fuzz/run.sh [target ...]   (gguf json template tokenizer safetensors tokenizer_json gbnf schema; default all)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
SHARED=$(cd "${EDGELLM_SHARED:-../shared}" 2>/dev/null && pwd) || { echo "fuzz/run.sh: shared data not found (set EDGELLM_SHARED)" >&2; exit 1; }
B=${FUZZ_BUILD:-build-fuzz}
SECS=${FUZZ_SECONDS:-60}
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(gguf json template tokenizer safetensors tokenizer_json gbnf schema)
command -v clang >/dev/null || { echo "fuzz/run.sh: clang is missing (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELLM_FUZZ=ON \
      -DEDGELLM_SERVER=OFF -DEDGELLM_TESTS=OFF -DEDGELLM_SHARED_DIR="$SHARED" >/dev/null || exit 1
for t in "${TARGETS[@]}"; do
    cmake --build "$B" --target "fuzz_$t" -j"$(nproc)" >/dev/null || { echo "fuzz/run.sh: build of fuzz_$t failed" >&2; exit 1; }
done

# --- seed corpora, rebuilt each run (cheap) ------------------------------------------------
S=$B/seeds
rm -rf "$S"
mkdir -p "$S"/{gguf,json,template,tokenizer,safetensors,tokenizer_json,gbnf,schema}
# gguf: the corrupt variants and the valid base of tests/test_gguf.c, plus the first 8 KiB of
# real files (header, metadata, start of the tensor table)
if cc -std=c11 -D_GNU_SOURCE -O1 -Iinclude -Isrc src/gguf/gguf.c src/gguf/gguf_writer.c src/core/os_unix.c src/quant/qtypes.c src/core/api.c \
      tests/test_gguf.c -o "$B/gguf_seedgen" -lm -lpthread 2>/dev/null; then
    "$B/gguf_seedgen" --write-seeds "$S/gguf" >/dev/null
fi
for f in "$SHARED"/models/aidreams260K-q4_0.gguf "$SHARED"/models/qwen2-mini-q4_k_m.gguf \
         "$SHARED"/models/llama3-mini-q4_0.gguf "$SHARED"/vocab/ggml-vocab-llama-spm.gguf; do
    [ -f "$f" ] && head -c 8192 "$f" > "$S/gguf/head-$(basename "$f")"
done
# json: hand-written seeds (chat messages, server requests, edge cases of the grammar)
cp fuzz/seeds/json/* "$S/json/" 2>/dev/null
# template: the real chat templates
cp "$SHARED"/templates/*.jinja "$S/template/" 2>/dev/null
# tokenizer: the conformance strings; first byte selects the vocabulary (0 qwen2, 1 llama-spm,
# 2 llama-bpe; +3 also parses special tokens)
for v in qwen2:0 llama-spm:1 llama-bpe:2; do
    inp="$SHARED/vocab/ggml-vocab-${v%:*}.gguf.inp"
    [ -f "$inp" ] || continue
    awk -v d="$S/tokenizer" -v v="${v%:*}" -v b="${v#*:}" 'BEGIN { RS = "\n__ggml_vocab_test__\n" }
        { n++; f = d "/" v "-" n; printf "%c%s", b + 0, $0 > f; close(f) }' "$inp"
done

# safetensors: hand-made small files (fuzz/seeds/safetensors: F32/F16/BF16, an alias, a scalar)
# and the head of a real checkpoint; tokenizer_json: the shared checkpoints' tokenizer.json files
cp fuzz/seeds/safetensors/* "$S/safetensors/" 2>/dev/null
for d in "$SHARED"/hf/*/; do
    [ -f "$d/model.safetensors" ] && head -c 4096 "$d/model.safetensors" > "$S/safetensors/head-$(basename "$d")"
    [ -f "$d/tokenizer.json" ] && cp "$d/tokenizer.json" "$S/tokenizer_json/$(basename "$d").json"
done

# gbnf: llama.cpp's example grammars; schema: the test schemas (first byte: strict when odd)
cp "$SHARED"/grammars/*.gbnf "$S/gbnf/" 2>/dev/null
for f in tests/schemas/*.json; do
    for strict in 0 1; do
        { printf "\\$(printf '%03o' $strict)"; cat "$f"; } > "$S/schema/$strict-$(basename "$f")"
    done
done

# --- run ------------------------------------------------------------------------------------
status=0
printf '%-10s %8s %12s %10s %6s %6s %8s\n' target seconds execs exec/s cov ft crashes
for t in "${TARGETS[@]}"; do
    case $t in gguf) max=8192 ;; json) max=4096 ;; template) max=4096 ;; safetensors) max=4096 ;; tokenizer_json) max=262144 ;; *) max=1024 ;; esac
    mkdir -p "$B/corpus/$t" "$B/artifacts/$t"
    log=$B/fuzz_$t.log
    before=$(ls "$B/artifacts/$t" | wc -l)
    EDGELLM_SHARED=$SHARED ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        nice -n 10 "$B/fuzz/fuzz_$t" -max_total_time="$SECS" -max_len=$max -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$B/artifacts/$t/" "$B/corpus/$t" "$S/$t" >"$log" 2>&1
    rc=$?
    after=$(ls "$B/artifacts/$t" | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-10s %8s %12s %10s %6s %6s %8s\n' "$t" "$SECS" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" $((after - before))
    if [ $rc -ne 0 ] || [ "$after" -gt "$before" ]; then
        status=1
        echo "fuzz_$t: crash (exit $rc); reproducer(s) in $B/artifacts/$t, log $log" >&2
    fi
done
exit $status
