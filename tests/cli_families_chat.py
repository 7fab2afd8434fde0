"""The chat paths for each zoo family's Q8_0 file (qwen3, gemma3, phi3, smollm3):
`run --chat -p Hi -n 8`, a two-turn `chat` on stdin, one streaming /v1/chat/completions and one
streaming /api/chat. Each must succeed, and the prompt each path evaluates must be the
`edgellm template` rendering of the same messages tokenized once (`edgellm tokenize
--parse-special`): run --verbose prints the ids; the server reports the count (usage.prompt_tokens,
prompt_eval_count). For qwen3, --no-think and chat_template_kwargs {"enable_thinking": false}
must render the empty think block."""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

BIN = os.environ["EDGELLM_BIN"]
ZOO = os.path.join(os.environ["EDGELLM_SHARED"], "zoo")
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)
    return cond


def expected_tokens(model, messages, kwargs=()):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(messages, f)
    args = [BIN, "template", "-m", model, "--messages", f.name, "--add-generation-prompt"]
    for k in kwargs:
        args += ["--kwarg", k]
    text = subprocess.run(args, capture_output=True, check=True).stdout
    os.unlink(f.name)
    ids = subprocess.run([BIN, "tokenize", "-m", model, "--parse-special"], input=text, capture_output=True,
                         check=True).stdout.split()
    ids = [int(x) for x in ids]
    # a template that writes the BOS itself and a vocabulary that adds one: one BOS is evaluated
    info = json.loads(subprocess.run([BIN, "info", "--json", model], capture_output=True, check=True).stdout)
    bos = (info["special_tokens"].get("bos") or {}).get("id")
    if len(ids) > 1 and ids[0] == ids[1] == bos:
        ids = ids[1:]
    return text.decode(), ids


def start_server(model):
    p = subprocess.Popen([BIN, "serve", "-m", model, "--port", "0", "-t", "2", "-c", "2048"], stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, text=True)
    for line in p.stderr:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return p, m.group(1)
    p.kill()
    return p, None


def post_stream(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read().decode()


def family(name):
    model = os.path.join(ZOO, name + "-mini-q8_0.gguf")
    hi = [{"role": "user", "content": "Hi"}]
    text, want = expected_tokens(model, hi)
    check(len(want) > 2, f"{name}: template + tokenize gives a prompt")

    # run --chat
    r = subprocess.run([BIN, "run", "-m", model, "--chat", "-p", "Hi", "-n", "8", "-t", "2", "--seed", "1", "--verbose"],
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"{name}: run --chat exits 0 ({r.stderr.strip()[-200:]})")
    m = re.search(r"prompt tokens:([ \d]*)", r.stderr)
    got = [int(x) for x in m.group(1).split()] if m else None
    check(got == want, f"{name}: run --chat prompt {got} != template tokens {want}")
    if name == "qwen3":
        t2, want2 = expected_tokens(model, hi, ["enable_thinking=false"])
        check("<think>\n\n</think>" in t2, "qwen3: enable_thinking=false renders the empty think block")
        r = subprocess.run([BIN, "run", "-m", model, "--chat", "--no-think", "-p", "Hi", "-n", "8", "-t", "2",
                            "--verbose"], capture_output=True, text=True, timeout=120)
        m = re.search(r"prompt tokens:([ \d]*)", r.stderr)
        got = [int(x) for x in m.group(1).split()] if m else None
        check(r.returncode == 0 and got == want2, f"qwen3: run --no-think prompt {got} != {want2}")

    # two turns of chat on stdin
    r = subprocess.run([BIN, "chat", "-m", model, "-t", "2", "-n", "8"], input="Hi\nHow are you?\n", capture_output=True,
                       text=True, timeout=120)
    check(r.returncode == 0, f"{name}: chat on stdin exits 0 ({r.stderr.strip()[-200:]})")

    # the server: streaming OpenAI and Ollama chats (when the program was built with it)
    if subprocess.run([BIN, "serve", "--help"], capture_output=True).returncode != 0:
        print(f"{name}: no server in this build; its checks are skipped")
        return
    proc, url = start_server(model)
    if not check(url is not None, f"{name}: serve starts"):
        return
    try:
        body = {"messages": hi, "stream": True, "max_tokens": 8, "stream_options": {"include_usage": True}}
        status, out = post_stream(url + "/v1/chat/completions", body)
        check(status == 200, f"{name}: /v1/chat/completions HTTP {status}")
        usage = [json.loads(l[6:])["usage"] for l in out.splitlines()
                 if l.startswith("data: {") and '"usage"' in l and json.loads(l[6:]).get("usage")]
        check(usage and usage[-1]["prompt_tokens"] == len(want),
              f"{name}: /v1/chat/completions prompt_tokens {usage[-1]['prompt_tokens'] if usage else None} != {len(want)}")
        check("data: [DONE]" in out, f"{name}: stream ends with [DONE]")
        if name == "qwen3":
            body["chat_template_kwargs"] = {"enable_thinking": False}
            status, out = post_stream(url + "/v1/chat/completions", body)
            usage = [json.loads(l[6:])["usage"] for l in out.splitlines()
                     if l.startswith("data: {") and '"usage"' in l and json.loads(l[6:]).get("usage")]
            check(status == 200 and usage and usage[-1]["prompt_tokens"] == len(want2),
                  f"qwen3: chat_template_kwargs enable_thinking false: prompt_tokens != {len(want2)}")
        # cache_prompt false: prompt_eval_count counts only evaluated tokens, and the requests above
        # left this prompt in a slot's cache
        status, out = post_stream(url + "/api/chat", {"model": name, "messages": hi, "stream": True, "cache_prompt": False,
                                                      "options": {"num_predict": 8}})
        check(status == 200, f"{name}: /api/chat HTTP {status}")
        last = json.loads(out.strip().splitlines()[-1])
        check(last.get("done") is True and last.get("prompt_eval_count") == len(want),
              f"{name}: /api/chat prompt_eval_count {last.get('prompt_eval_count')} != {len(want)}")
    except Exception as e:  # an HTTP error is a failure, not a crash of the test
        check(False, f"{name}: server request failed: {e}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


for fam in ["qwen3", "gemma3", "phi3", "smollm3"]:
    family(fam)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
