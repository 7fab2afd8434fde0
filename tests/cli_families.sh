#!/usr/bin/env bash
# `edgellm info` and `edgellm logits -c` on the zoo families: per-layer attention kinds, rope
# details and head sizes in --json; -c smaller than the tokens is a usage error; the context size
# picks phi3's LongRoPE factors (the reference ran with n_ctx 1024: -c 1024 reproduces it, the
# default context of the prompt's length does not).
set -u
: "${EDGELLM_BIN:?EDGELLM_BIN not set}" "${EDGELLM_SHARED:?EDGELLM_SHARED not set}"
exec python3 - "$EDGELLM_BIN" "$EDGELLM_SHARED/zoo" <<'EOF'
import json, math, os, subprocess, sys, tempfile, array
BIN, ZOO = sys.argv[1], sys.argv[2]
passed = failed = 0
def check(c, what):
    global passed, failed
    if c: passed += 1
    else:
        failed += 1; print("FAIL:", what, file=sys.stderr)

def info(name):
    r = subprocess.run([BIN, "info", "--json", f"{ZOO}/{name}.gguf"], capture_output=True, text=True)
    check(r.returncode == 0, f"info {name}")
    return json.loads(r.stdout)

g = info("gemma3-mini-q8_0")
check(g["family"] == "gemma3" and g["head_dim_k"] == 64 and g["head_dim_v"] == 64, "gemma3 family / head sizes")
check(g["rope"] == {"type": "neox", "n_rot": 64}, f"gemma3 rope {g['rope']}")
check([l["attn"] for l in g["layers"]] == ["swa"] * 5 + ["full"], "gemma3 layers 0-4 swa, 5 full")
check([l["window"] for l in g["layers"]][:5] == [16] * 5 and all(l["rope"] for l in g["layers"]), "gemma3 window 16")
q = info("qwen3-mini-q8_0")
check(q["family"] == "qwen3" and q["head_dim_k"] == 128 and q["n_embd"] // q["n_head"] == 64, "qwen3 head_dim 128 from key_length")
check(q["rope"] == {"type": "neox", "n_rot": 128}, f"qwen3 rope {q['rope']}")
p = info("phi3-mini-q8_0")
check(p["rope"] == {"type": "neox", "n_rot": 48} and p["head_dim_k"] == 64, "phi3 partial rotary 48 of 64")
check(all(l["attn"] == "full" for l in p["layers"]), "phi3: its sliding_window key is ignored")
s = info("smollm3-mini-q8_0")
check([l["rope"] for l in s["layers"]] == [True, True, True, False], "smollm3: layer 3 has no rope")
check(s["rope"]["type"] == "norm", "smollm3 norm rope")

# logits -c
ref = json.load(open(f"{ZOO}/refs/phi3-mini-f32.json"))
toks = " ".join(map(str, ref["prompt_tokens"]))
out = tempfile.mktemp(suffix=".f32")
r = subprocess.run([BIN, "logits", "-m", f"{ZOO}/phi3-mini-f32.gguf", "--tokens", toks, "-o", out, "-c", "10"],
                   capture_output=True, text=True)
check(r.returncode == 2 and "ctx-size" in r.stderr, f"-c smaller than the tokens: exit {r.returncode}")
nv = ref["logits_shape"][1]
want = array.array("f"); want.frombytes(open(f"{ZOO}/refs/phi3-mini-f32.logits.f32", "rb").read())
want = want[-nv:]
def last_kl(extra):
    r = subprocess.run([BIN, "logits", "-m", f"{ZOO}/phi3-mini-f32.gguf", "--tokens", toks, "-o", out, "--last", "1",
                        "-t", "2"] + extra, capture_output=True, text=True)
    check(r.returncode == 0, f"logits {extra}: {r.stderr}")
    got = array.array("f"); got.frombytes(open(out, "rb").read())
    ma, mb = max(want), max(got)
    za = math.log(sum(math.exp(x - ma) for x in want)); zb = math.log(sum(math.exp(x - mb) for x in got))
    return sum(math.exp(a - ma - za) * ((a - ma - za) - (b - mb - zb)) for a, b in zip(want, got))
kl_1024, kl_default = last_kl(["-c", str(ref["n_ctx"])]), last_kl([])
print(f"phi3 last row: KL {kl_1024:.3g} with -c {ref['n_ctx']} (long factors), {kl_default:.3g} with the default context")
check(kl_1024 <= ref["kl_bar"], "phi3 -c 1024 reproduces the reference")
check(kl_default > 100 * ref["kl_bar"], "phi3 default context (short factors) differs")
os.unlink(out)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
