"""A command-line program in a pseudo-terminal, driven the way a person types: what the chat's
and review's end-to-end tests share."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect

from tests.helpers import REPO

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>])")
CHAT_PROMPT = "you>"
SIGNAL_MASKS = ("SigPnd", "ShdPnd", "SigBlk", "SigIgn")


def _as_from_a_shell() -> None:
    """Ctrl-C's default action, as a person's shell gives it. A test run started in the
    background (`make test &`) ignores SIGINT and passes that on; Python then keeps ignoring
    it, and Ctrl-C in the chat would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """A command (default the chat) in a pseudo-terminal; `expect` searches what a person
    would read, colours and cursor movements taken out, from where the last match ended."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        module: str = "intentbot.chat",
        prompt: str = CHAT_PROMPT,
    ) -> None:
        self.prompt = prompt
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", module, *args],
            cwd=REPO,
            env={**os.environ, "TERM": "xterm-256color", "BENTOML_DO_NOT_TRACK": "True", **env},
            encoding="utf-8",
            dimensions=(50, 110),
            preexec_fn=_as_from_a_shell,
        )
        self.raw = ""
        self.position = 0

    @property
    def screen(self) -> str:
        return ANSI.sub("", self.raw)

    def expect(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while not (match := re.compile(pattern).search(self.screen, self.position)):
            self._wait(f"{pattern!r}", deadline)
        self.position = match.end()
        return match

    def at_prompt(self, timeout: float = 60.0) -> None:
        """The prompt is shown, readline has the terminal (canonical mode off: keys sent before
        that can be lost, Ctrl-D in particular) and waits for a key. CPython's readline loop
        only looks at signals when its wait is interrupted, so a Ctrl-C that lands between
        taking the terminal and starting to wait would be held until the next key."""
        self.expect(re.escape(self.prompt), timeout)
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.child.child_fd)[3] & termios.ICANON or not self._waiting():
            self._wait("readline", deadline)

    def _threads(self) -> str:
        """Where each thread of the chat sleeps and its signal masks: what a lost key needs."""
        lines = []
        for task in sorted(Path(f"/proc/{self.child.pid}/task").glob("*")):
            with contextlib.suppress(OSError):
                status = dict(
                    line.split(":\t", 1)
                    for line in (task / "status").read_text().splitlines()
                    if ":\t" in line
                )
                masks = " ".join(f"{key}={status.get(key)}" for key in SIGNAL_MASKS)
                lines.append(f"{task.name} {(task / 'wchan').read_text()} {masks}")
        return "\n".join(lines)

    def _waiting(self) -> bool:
        """The chat sleeps in select/poll (Linux: the kernel function it sleeps in)."""
        wchan = Path(f"/proc/{self.child.pid}/wchan").read_text()
        return "poll" in wchan or "select" in wchan

    def _wait(self, what: str, deadline: float) -> None:
        """Read a little more output, failing past the deadline or when the chat has ended."""
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no {what} in time; the screen:\n{self.screen}\nthreads:\n{self._threads()}"
            )
        try:
            self.raw += self.child.read_nonblocking(4096, timeout=0.1)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            raise AssertionError(f"the chat ended before {what}:\n{self.screen}") from None

    def say(self, line: str) -> None:
        self.at_prompt()
        self.child.sendline(line)

    def exit_status(self, timeout: float = 30.0) -> int:
        """Wait for the chat to end; its status, after checking it left no traceback."""
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.raw += self.child.before
        self.child.close()
        assert "Traceback" not in self.screen, self.screen
        return self.child.exitstatus


@contextlib.contextmanager
def terminal(
    *args: str, env: dict[str, str], module: str = "intentbot.chat", prompt: str = CHAT_PROMPT
) -> Iterator[Terminal]:
    chat = Terminal(list(args), env, module, prompt)
    try:
        yield chat
    finally:
        chat.child.close(force=True)  # only if a test failed before the chat ended
