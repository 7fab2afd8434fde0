#!/usr/bin/env bash
# Cross-builds the library and the kernel / golden test programs for aarch64 into build-aarch64
# (cmake/aarch64-toolchain.cmake, no server) and runs them under qemu-aarch64 through ctest,
# which prefixes every test command with the emulator. Prints the wall time of each phase.
# The run must have taken the NEON path: test_kernels tested the neon table and test_golden_neon
# ran (not skipped) on neon, or the script fails.
# usage: scripts/test-aarch64.sh [ctest -R regex]   (default: the kernel, type and NEON golden tests)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=${AARCH64_BUILD:-build-aarch64}
SHARED=$(cd "${EDGELLM_SHARED:-../shared}" 2>/dev/null && pwd) || { echo "test-aarch64: shared data not found (set EDGELLM_SHARED)" >&2; exit 1; }
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
    command -v $tool >/dev/null || { echo "test-aarch64: $tool is missing (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)" >&2; exit 1; }
done
REGEX=${1:-'^test_(qtypes|kernels|threadpool|golden_neon|quantize)$'}
t0=$(date +%s)
cmake -S . -B "$B" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-toolchain.cmake" -DCMAKE_BUILD_TYPE=Release \
      -DEDGELLM_SERVER=OFF -DEDGELLM_SHARED_DIR="$SHARED" >/dev/null || exit 1
# only the library and the test programs the regex selects (the CLI tests need a native binary)
# (a test name is its program's name, or the program's name plus _<isa>)
targets=$(cd tests && for p in $(ls test_*.c | sed 's/\.c$//'); do
    for t in $p $p"_scalar" $p"_neon"; do echo "$t" | grep -qE "$REGEX" && { echo "$p"; break; }; done; done)
[ -n "$targets" ] || { echo "test-aarch64: no test program matches $REGEX" >&2; exit 1; }
# shellcheck disable=SC2086
cmake --build "$B" -j"$(nproc)" --target edgellm_static $targets || exit 1
t1=$(date +%s)
echo "test-aarch64: cross-build $((t1 - t0)) s"
(cd "$B" && EDGELLM_QUANT_KEYS=${EDGELLM_QUANT_KEYS:-qwen2-mini-q4_k_m,qwen2-mini-q3_k_l,qwen2-mini-iq4_xs,qwen2-mini-q4_k_m+imatrix,qwen2-mini-q2_k+imatrix} EDGELLM_SHARED=$SHARED QEMU_LD_PREFIX=/usr/aarch64-linux-gnu ctest --output-on-failure -R "$REGEX" --timeout 3600)
rc=$?
# the NEON path must have run (a qemu or CPU without asimddp would silently test only scalar)
log=$B/Testing/Temporary/LastTest.log
if echo test_kernels | grep -qE "$REGEX" && ! grep -q '^isa neon$' "$log"; then
    echo "test-aarch64: FAIL: test_kernels did not test the neon kernels" >&2; rc=1
fi
if echo test_golden_neon | grep -qE "$REGEX" && ! grep -q '^isa: neon (EDGELLM_ISA)$' "$log"; then
    echo "test-aarch64: FAIL: test_golden_neon did not run on the neon path (skipped?)" >&2; rc=1
fi
t2=$(date +%s)
echo "test-aarch64: tests under qemu $((t2 - t1)) s (total $((t2 - t0)) s)"
exit $rc
