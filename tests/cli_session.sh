#!/usr/bin/env bash
# `edgellm chat --session FILE` through stdin: a conversation split over two runs (the second
# resumed from the file) prints exactly what one run of the whole conversation prints (greedy, so
# the restored KV cache must be the same); /reset clears the session; a damaged file, a file of
# another model and a file that is not a session exit 1 naming the problem and stay untouched;
# a missing file starts a new session.
set -u
BIN=${EDGELLM_BIN:?EDGELLM_BIN not set}
SHARED=${EDGELLM_SHARED:?EDGELLM_SHARED not set}
M=$SHARED/models/qwen2-mini-q8_0.gguf
OTHER=$SHARED/models/qwen2-mini-q4_0.gguf
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
chat() { "$BIN" chat -m "$M" --temp 0 -n 10 -t 1 "$@"; }
S=$TMP/s.session

# 1. a missing file starts a new session and is written
printf 'hello\n' | chat --session "$S" >"$TMP/o1" 2>"$TMP/e1"; rc=$?
[ $rc -eq 0 ] && [ -s "$S" ] && head -c 18 "$S" | grep -q '^EDGELLM-SESSION 1' && ok || bad "new session: rc $rc $(cat "$TMP/e1")"
[ ! -e "$S.tmp" ] && ok || bad "temporary file left behind"

# 2. resumed: run 1 + run 2 print what one run of both messages prints
printf 'how are you\n' | chat --session "$S" >"$TMP/o2" 2>"$TMP/e2"; rc=$?
[ $rc -eq 0 ] && grep -q "resumed session .*(2 messages" "$TMP/e2" && ok || bad "resume: rc $rc $(cat "$TMP/e2")"
printf 'hello\nhow are you\n' | chat >"$TMP/o12" 2>/dev/null
cat "$TMP/o1" "$TMP/o2" | cmp -s - "$TMP/o12" && ok || bad "resumed answers differ from one run: $(cat "$TMP/o1" "$TMP/o2") vs $(cat "$TMP/o12")"
[ -s "$TMP/o2" ] && ok || bad "no answer after resuming"
grep -q '"content": "how are you"' "$S" && ok || bad "the session's messages do not hold the new message"

# 3. a third run continues from four messages, evaluating only the new message (no prefill of
#    the history: the cache already holds it as the template renders it)
printf 'tell me more\n' | EDGELLM_CHAT_DEBUG=1 chat --session "$S" >"$TMP/o3" 2>"$TMP/e3"
read -r k n < <(sed -n 's/^\[prefill \([0-9]*\) of \([0-9]*\) tokens\]$/\1 \2/p' "$TMP/e3" | head -1)
[ -n "${k:-}" ] && [ "$k" -le 12 ] && [ $((n - k)) -ge 10 ] && ok || bad "resumed turn evaluated ${k:-?} of ${n:-?} prompt tokens: $(cat "$TMP/e3")"
printf 'hello\nhow are you\ntell me more\n' | chat >"$TMP/o123" 2>/dev/null
cat "$TMP/o1" "$TMP/o2" "$TMP/o3" | cmp -s - "$TMP/o123" && grep -q "(4 messages" "$TMP/e3" && ok || bad "third run differs"

# 4. damaged, other model, not a session: exit 1 naming it, file untouched
cp "$S" "$TMP/good"
size=$(stat -c %s "$S")
for off in 40 $((size / 2)) $((size - 3)); do
    cp "$TMP/good" "$TMP/d.session"
    printf '\x5a' | dd of="$TMP/d.session" bs=1 seek=$off conv=notrunc status=none
    cp "$TMP/d.session" "$TMP/d.before"
    printf 'hi\n' | chat --session "$TMP/d.session" >/dev/null 2>"$TMP/ed"; rc=$?
    [ $rc -eq 1 ] && grep -q "corrupt" "$TMP/ed" && cmp -s "$TMP/d.session" "$TMP/d.before" && ok ||
        bad "damaged at $off: rc $rc, $(cat "$TMP/ed")"
done
head -c $((size - 100)) "$TMP/good" >"$TMP/t.session"
printf 'hi\n' | chat --session "$TMP/t.session" >/dev/null 2>"$TMP/et"; rc=$?
[ $rc -eq 1 ] && grep -q "corrupt" "$TMP/et" && [ "$(stat -c %s "$TMP/t.session")" -eq $((size - 100)) ] && ok || bad "truncated: rc $rc $(cat "$TMP/et")"
printf 'hi\n' | "$BIN" chat -m "$OTHER" --temp 0 -n 4 --session "$S" >/dev/null 2>"$TMP/eo"; rc=$?
[ $rc -eq 1 ] && grep -q "another model" "$TMP/eo" && cmp -s "$S" "$TMP/good" && ok || bad "other model: rc $rc $(cat "$TMP/eo")"
printf 'hi\n' | chat --kv-type f32 --session "$S" >/dev/null 2>"$TMP/ek"; rc=$?
[ $rc -eq 1 ] && grep -q "KV cache type" "$TMP/ek" && cmp -s "$S" "$TMP/good" && ok || bad "other KV type: rc $rc $(cat "$TMP/ek")"
echo "not a session" >"$TMP/n.session"
printf 'hi\n' | chat --session "$TMP/n.session" >/dev/null 2>"$TMP/en"; rc=$?
[ $rc -eq 1 ] && grep -q "not an edgellm session" "$TMP/en" && [ "$(cat "$TMP/n.session")" = "not a session" ] && ok || bad "not a session: rc $rc"

# 5. /reset clears the session: the next run answers as a new conversation
printf '/reset\n' | chat --session "$S" >/dev/null 2>&1
grep -q '"messages": \[\]' "$S" && ok || bad "/reset did not clear the session: $(head -c 200 "$S")"
printf 'how are you\n' | chat --session "$S" >"$TMP/or" 2>"$TMP/er"
printf 'how are you\n' | chat >"$TMP/ofresh" 2>/dev/null
cmp -s "$TMP/or" "$TMP/ofresh" && ok || bad "after /reset: '$(cat "$TMP/or")' vs a new conversation '$(cat "$TMP/ofresh")'"

# 6. usage
"$BIN" chat -m "$M" --session >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "--session without a value is not a usage error"

echo "cli_session: $pass passed, $fail failed"
[ $fail -eq 0 ]
