"""The Python binding on the tiny qwen2 model: greedy generation equals `edgellm run --temp 0`,
loads from bytes agree with path loads, tokenize equals `edgellm tokenize`, a restored state
continues exactly as the original, refusals raise with the library's status."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgellm  # noqa: E402

shared, binary = os.environ["EDGELLM_SHARED"], os.environ["EDGELLM_BIN"]
path = os.path.join(shared, "models", "qwen2-mini-q8_0.gguf")
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)


prompt = "Once upon a time"
m = edgellm.Model(path)
mb = edgellm.Model(data=open(path, "rb").read())
want_toks = subprocess.run([binary, "tokenize", "-m", path, "-p", prompt], capture_output=True, text=True).stdout.split()
check(m.tokenize(prompt) == [int(t) for t in want_toks], f"tokenize {m.tokenize(prompt)} vs {want_toks}")

c = edgellm.Context(m, n_ctx=256, n_threads=2)
pieces = list(c.generate(prompt, max_tokens=12, temperature=0))
text = "".join(pieces)
run = subprocess.run([binary, "run", "-m", path, "-p", prompt, "-n", "12", "--temp", "0"], capture_output=True, text=True).stdout
check(text and run in (text, text + "\n"), f"greedy text {text!r} vs edgellm run {run!r}")
check(len(pieces) >= 2, "streaming yields pieces one by one")
cb = edgellm.Context(mb, n_ctx=256, n_threads=1)
check("".join(cb.generate(prompt, max_tokens=12, temperature=0)) == text, "bytes load generates the same")

n = c.seq_len
state = c.save_state()
more = "".join(c.generate(" and then", max_tokens=8, temperature=0))
c2 = edgellm.Context(m, n_ctx=256, n_threads=2)
c2.restore_state(state)
check(c2.seq_len == n, f"restored length {c2.seq_len} == {n}")
check("".join(c2.generate(" and then", max_tokens=8, temperature=0)) == more, "restored state continues the same")
c2.set_threads(1)
c2.restore_state(state)
check("".join(c2.generate(" and then", max_tokens=8, temperature=0)) == more, "one thread continues the same")


def raises(fn, status):
    try:
        fn()
    except edgellm.EdgeLLMError as e:
        return e.status == status
    return False


check(raises(lambda: c2.set_threads(3), edgellm.ERR_ARG), "set_threads beyond the created count")
bad = bytearray(state)
bad[len(bad) // 2] ^= 1
check(raises(lambda: c2.restore_state(bytes(bad)), edgellm.ERR_FORMAT) and c2.seq_len == 0, "damaged state: format error, empty")
check(raises(lambda: c2.restore_state(state[:-5]), edgellm.ERR_FORMAT), "truncated state: format error")
other = edgellm.Model(os.path.join(shared, "models", "qwen2-mini-q4_0.gguf"))
c3 = edgellm.Context(other, n_ctx=256)
check(raises(lambda: c3.restore_state(state), edgellm.ERR_UNSUPPORTED), "another model's state: unsupported")
c4 = edgellm.Context(m, n_ctx=4)
check(raises(lambda: c4.restore_state(state), edgellm.ERR_CONTEXT_FULL), "state longer than the context: context full")
check(raises(lambda: edgellm.Model("/nonexistent.gguf"), edgellm.ERR_IO), "missing file: I/O error")
check(raises(lambda: edgellm.Model(data=b"GGUF" + bytes(60)), edgellm.ERR_FORMAT), "cut bytes: format error")
for x in (c, c2, c3, c4, cb):
    x.close()
for x in (m, mb, other):
    x.close()
print(f"python binding: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
