#!/usr/bin/env python3
"""Resuming a saved chat (`edgellm chat --session FILE`): how long from pressing Enter on the next
message to the first answer byte, after a long conversation, exit and a fresh start.

Builds a conversation of about --tokens tokens (turns of random words, greedy answers of -n
tokens) in a session file, exits, starts again and waits --settle seconds so the model load is
over (its time is reported separately: start to the moment the process first waits on stdin,
read from /proc), then sends one message and times the first byte of the answer. The same turn is
then timed with --no-cache-reuse (the whole conversation evaluated again: what resuming saves).
usage: bench/session-resume.py MODEL.gguf [--tokens 1000] [-t THREADS]
The model: `edgellm synth --preset r1-qwen-1.5b --type q4_0 -o F` (the issue's file)."""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def words(rng, n):
    pool = ("river stone light garden window morning quiet paper friend engine market music "
            "winter yellow number story answer castle pocket silver forest letter bridge").split()
    return " ".join(rng.choice(pool) for _ in range(n))


def wait_reading(proc, timeout):
    """Seconds until the process blocks reading stdin (its model is loaded), or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with open(f"/proc/{proc.pid}/wchan") as f:
                wchan = f.read().strip()
            with open(f"/proc/{proc.pid}/stat") as f:
                state = f.read().split(")")[-1].split()[0]
        except OSError:
            return None
        if state == "S" and ("pipe_read" in wchan or "pipe_wait" in wchan):
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def chat(args, session, extra=()):
    cmd = [args.bin, "chat", "-m", args.model, "--session", session, "--temp", "0", "--seed", "1",
           "-n", str(args.n), "-t", str(args.threads), *extra]
    env = dict(os.environ, EDGELLM_CHAT_DEBUG="1")
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, bufsize=0)


def turn(proc, text):
    """Sends one message; returns (seconds to the first answer byte, seconds to the end of the answer)."""
    t0 = time.monotonic()
    proc.stdin.write((text + "\n").encode())
    proc.stdin.flush()
    first = None
    while True:
        b = proc.stdout.read(1)
        if not b:
            raise SystemExit("session-resume: edgellm chat ended early")
        if first is None:
            first = time.monotonic() - t0
        if b == b"\n":  # answers end with a newline when stdin is not a terminal
            return first, time.monotonic() - t0


def finish(proc):
    proc.stdin.write(b"/exit\n")
    proc.stdin.close()
    err = proc.stderr.read().decode(errors="replace")
    proc.wait(timeout=120)
    return [l for l in err.splitlines() if l.startswith("[prefill")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("-n", type=int, default=48)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--bin", default=os.environ.get("EDGELLM_BIN", os.path.join(ROOT, "build", "edgellm")))
    args = ap.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as d:
        session = os.path.join(d, "chat.session")
        p = chat(args, session)
        load = wait_reading(p, 300)
        total, turns = 0, 0
        while total < args.tokens:  # ~1.3 tokens per word, plus the answer and the template
            turn(p, words(rng, 150))
            turns += 1
            total += int(150 * 1.3) + args.n + 10
        pre = finish(p)
        print(f"conversation: {turns} turns, prefill log: {'; '.join(pre)}")
        msg = words(rng, 12)
        rows = []
        for label, extra in (("resumed (--session)", ()), ("evaluated again (--no-cache-reuse)", ("--no-cache-reuse",))):
            saved = open(session, "rb").read()
            p = chat(args, session, extra)
            load = wait_reading(p, 300)
            first, _ = turn(p, msg)
            pre = finish(p)
            open(session, "wb").write(saved)  # both runs answer the same next turn
            rows.append((label, load, first, pre[-1] if pre else ""))
        print("| run | model load s | Enter -> first answer byte s | prefill |")
        print("|---|---|---|---|")
        for label, load, first, pre in rows:
            print(f"| {label} | {load:.2f} | {first:.3f} | {pre} |")


if __name__ == "__main__":
    sys.exit(main())
