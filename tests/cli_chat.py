#!/usr/bin/env python3
"""Drives `edgellm chat` on the tiny aidreams model through a pseudo-terminal, as a user would:
two messages, one too long for the context, Ctrl-C at the prompt, /reset, the first message
again, /exit; then Ctrl-C during a long answer on qwen2-mini.
Checks: a "> " prompt after each answer; answer 1 (seeded) equals what `edgellm run --chat` prints
for the same message (the same rendered prompt, computed by another path); after /reset the same
message gets the same answer (the KV cache was really cleared); exit code 0."""
import os
import pty
import re
import select
import subprocess
import sys
import time

BIN = os.environ["EDGELLM_BIN"]
MODEL = os.path.join(os.environ["EDGELLM_SHARED"], "models", "aidreams260K-q8_0.gguf")
# The tiny model answers a ChatML prompt with newlines when greedy, so sample with a fixed seed:
# the same seed must give chat's first answer and run --chat the same draws.
FLAGS = ["-n", "16", "--temp", "0.8", "--seed", "3", "-t", "1"]
MSG1 = "Hi"
MSG2 = "Tell me a story"
LONG = "Tell me everything about vectors, matrices, gradients and weights " * 4
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def clean(text):
    """Terminal output to plain text: no escape sequences, no carriage returns."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text.replace("\r", "")


class Session:
    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(argv[0], argv)
        self.buf = b""

    def read_until(self, pattern, timeout=120):
        """Reads until the cleaned output (since the last call) matches pattern; returns it."""
        start = len(self.buf)
        end = time.time() + timeout
        while True:
            text = clean(self.buf[start:].decode("utf-8", "replace"))
            if re.search(pattern, text, re.S):
                return text
            left = end - time.time()
            if left <= 0:
                raise TimeoutError("no %r in %r" % (pattern, text))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    raise EOFError("chat ended; output so far %r" % text)
                self.buf += data

    def send(self, text):
        os.write(self.fd, text.encode())

    def ask(self, message):
        """Sends a message; returns the answer (between the echoed line and the next prompt)."""
        self.send(message + "\n")
        text = self.read_until(re.escape(message) + r"\n(.*?)\n> $")
        m = re.search(re.escape(message) + r"\n(.*?)\n> $", text, re.S)
        lines = [l for l in m.group(1).split("\n") if not l.startswith("edgellm chat: warning")]
        return "\n".join(lines).strip()

    def wait(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if r:
                    os.read(self.fd, 4096)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        return None


def main():
    ref = subprocess.run([BIN, "run", "-m", MODEL, "-p", MSG1, "--chat"] + FLAGS,
                         capture_output=True, text=True, timeout=120)
    check(ref.returncode == 0, "run --chat exit code %d: %s" % (ref.returncode, ref.stderr))
    want1 = ref.stdout.strip()

    s = Session([BIN, "chat", "-m", MODEL] + FLAGS)
    try:
        s.read_until(r"> $")
        a1 = s.ask(MSG1)
        check(a1 != "", "first answer is empty")
        check(a1 == want1, "first answer %r differs from run --chat's %r" % (a1, want1))
        a2 = s.ask(MSG2)
        check(a2 != "", "second answer is empty")
        # A message that cannot fit the 128-token context: the conversation is shortened (context
        # shift, the default), the chat says so and goes on.
        s.send(LONG + "\n")
        t = s.read_until(r"\n> $")
        check("conversation was shortened" in t, "no shortened-conversation note in %r" % t)
        # Ctrl-C at the prompt: the program goes on.
        time.sleep(0.3)  # let chat block in its read, so that the signal interrupts it
        s.send("\x03")
        s.read_until(r"> $", timeout=30)
        s.send("/reset\n")
        s.read_until(r"conversation cleared.*> $")
        a3 = s.ask(MSG1)
        check(a3 == a1, "after /reset the same message got %r, first time %r" % (a3, a1))
        s.send("/exit\n")
        rc = s.wait()
        check(rc == 0, "exit code %r" % rc)
    except (TimeoutError, EOFError) as e:
        check(False, str(e))
        s.wait(1)

    # Ctrl-C during an answer stops the answer, not the program (qwen2-mini: long random answers;
    # --hide-thinking prints a sign as soon as the first reasoning token is out).
    qwen = os.path.join(os.environ["EDGELLM_SHARED"], "models", "qwen2-mini-q8_0.gguf")
    s = Session([BIN, "chat", "-m", qwen, "-c", "2048", "--temp", "1.5", "--seed", "3", "--hide-thinking", "-t", "1"])
    try:
        s.read_until(r"> $")
        s.send("Hello there\n")
        s.read_until(r"\(thinking\.\.\.\)")
        s.send("\x03")
        t = s.read_until(r"\n> $")
        check("[interrupted]" in t, "Ctrl-C during an answer: no [interrupted] in %r" % t)
        s.send("/exit\n")
        rc = s.wait()
        check(rc == 0, "exit code after Ctrl-C %r" % rc)
    except (TimeoutError, EOFError) as e:
        check(False, str(e))
        s.wait(1)

    # End of input quits too, and stdin need not be a terminal.
    p = subprocess.run([BIN, "chat", "-m", MODEL] + FLAGS, input=MSG1 + "\n", capture_output=True,
                       text=True, timeout=120)
    check(p.returncode == 0, "chat on a pipe: exit %d: %s" % (p.returncode, p.stderr))
    check(p.stdout.strip() == want1, "chat on a pipe answered %r, run --chat %r" % (p.stdout.strip(), want1))

    # Reusing the KV cache for the shared prefix of each turn gives what evaluating the whole
    # conversation again gives (on the qwen2-mini model with its real template). Seeded sampling
    # rather than greedy: batch and one-token kernels may round differently, which can flip a
    # near-tie argmax but practically never a draw.
    qwen = os.path.join(os.environ["EDGELLM_SHARED"], "models", "qwen2-mini-q8_0.gguf")
    talk = "Hello there\nAnd again\nthird one\n"
    runs = [subprocess.run([BIN, "chat", "-m", qwen, "-n", "24", "--temp", "0.8", "--seed", "5", "-t", "1"] + extra,
                           input=talk, capture_output=True, text=True, timeout=300)
            for extra in ([], ["--no-cache-reuse"])]
    check(runs[0].returncode == 0 and runs[1].returncode == 0, "qwen2-mini chat exit codes")
    check(runs[0].stdout == runs[1].stdout and runs[0].stdout.count("\n") >= 3,
          "cache reuse changed the answers: %r vs %r" % (runs[0].stdout, runs[1].stdout))

    n_checks = 13
    print("%d passed, %d failed" % (n_checks - len(failures), len(failures)))
    sys.exit(1 if failures else 0)


main()
