#!/usr/bin/env bash
# Compiles the Java binding and its test with javac and runs it on the host JVM against
# libedgellm_jni.so; checks that libedgellm.so itself exports no Java_* symbol. 77 = skipped (no
# JDK), an error when EDGELLM_REQUIRE_ALL=1.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
skip() {
  echo "java_binding: skipped: $*" >&2
  [ "${EDGELLM_REQUIRE_ALL:-0}" = 1 ] && exit 1
  exit 77
}
[ -n "${EDGELLM_JNI:-}" ] && [ -f "$EDGELLM_JNI" ] || skip "no JDK at configure time (install default-jdk-headless)"
if nm -D --defined-only "$EDGELLM_LIB" | grep -q ' Java_'; then echo "FAIL: libedgellm.so exports Java_* symbols" >&2; exit 1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$JAVAC" -d "$tmp" "$here/src/dev/edgellm/EdgeLLM.java" "$here/test/EdgeLLMTest.java" || exit 1
want=$("$EDGELLM_BIN" run -m "$EDGELLM_SHARED/models/qwen2-mini-q8_0.gguf" -p "Once upon a time" -n 12 --temp 0 2>/dev/null)
exec "$JAVA" -Xcheck:jni -Dedgellm.jni="$EDGELLM_JNI" -cp "$tmp" EdgeLLMTest "$EDGELLM_SHARED" "$want"
