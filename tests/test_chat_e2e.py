"""The real `python -m intentbot.chat` in a pseudo-terminal, against a real server on loopback
(or the model in-process), driven the way a person types."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import termios
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pexpect
import pytest

from intentbot.chat.backends import HttpBackend, LocalBackend
from intentbot.store import load_bundle
from tests import helpers as server
from tests.helpers import REPO, live_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>])")
PROMPT = "you>"
SIGNAL_MASKS = ("SigPnd", "ShdPnd", "SigBlk", "SigIgn")
TIME_QUESTION = "What time is it?"


def _as_from_a_shell() -> None:
    """Ctrl-C's default action, as a person's shell gives it. A test run started in the
    background (`make test &`) ignores SIGINT and passes that on; Python then keeps ignoring
    it, and Ctrl-C in the chat would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """The chat in a pseudo-terminal; `expect` searches what a person would read, colours and
    cursor movements taken out, from where the last match ended."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "intentbot.chat", *args],
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
        self.expect(re.escape(PROMPT), timeout)
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
def terminal(*args: str, env: dict[str, str]) -> Iterator[Terminal]:
    chat = Terminal(list(args), env)
    try:
        yield chat
    finally:
        chat.child.close(force=True)  # only if a test failed before the chat ended


def expect_time_answer(chat: Terminal, before: datetime) -> None:
    """The panel for TIME_QUESTION: the `time` intent with a bar, and the current time."""
    chat.expect(f"“{re.escape(TIME_QUESTION)}”")
    reply = chat.expect(r"(\d\d:\d\d)")
    now = datetime.now().astimezone()
    assert reply.group(1) in {f"{before:%H:%M}", f"{now:%H:%M}"}
    chat.expect(r"intent\s+time\s+█+░*\s+\d+%")


@pytest.fixture(scope="module")
def server_env(trained_model) -> dict[str, str]:
    return {"BENTOML_HOME": str(trained_model.bentoml_home), "INTENTBOT_MODEL": trained_model.tag}


@pytest.fixture(scope="module")
def url(server_env) -> Iterator[str]:
    with live_server(server_env) as base_url:
        yield base_url


def test_local_and_server_give_the_same_answers(url, trained_model):
    """Same model, same code path: the same answer for `--local` and HTTP, bar float noise and
    the reply (a random pick among the intent's templates)."""
    local = LocalBackend(load_bundle(trained_model.tag))
    with httpx.Client(base_url=url, timeout=30) as client:
        answers = [
            (local.classify(text, 4), HttpBackend(client).classify(text, 4))
            for text in ("hello there", "what's 12 times 7", "sing me a song about the sea")
        ]
    for mine, theirs in answers:
        different = {"confidence", "ranking", "reply"}
        assert mine.model_dump(exclude=different) == theirs.model_dump(exclude=different)
        assert [
            (item.intent, pytest.approx(item.confidence, abs=1e-5)) for item in mine.ranking
        ] == [(item.intent, item.confidence) for item in theirs.ranking]
        assert mine.confidence == pytest.approx(theirs.confidence, abs=1e-5)


def test_a_conversation_with_the_server(url, server_env):
    with terminal("--url", url, env=server_env) as chat:
        chat.expect(f"intentbot · server {re.escape(url)}")
        before = datetime.now().astimezone()
        chat.say(TIME_QUESTION)
        expect_time_answer(chat, before)

        chat.say("/top")
        chat.expect("top intents on")
        chat.say("hello [bold]there[/bold]")
        chat.expect(re.escape("“hello [bold]there[/bold]”"))  # shown as typed, not as markup
        chat.expect(r"#\s+intent\s+confidence")
        chat.expect(r"1\s+\w+\s+█+░*\s+\d+%")

        chat.say("/help")
        chat.expect(r"/top\s+show or hide")
        chat.expect(r"/quit\s+end the session")

        chat.at_prompt()
        chat.child.sendeof()  # Ctrl-D
        chat.expect("Bye.")
        assert chat.exit_status() == 0


def test_the_session_goes_on_when_the_server_comes_back(server_env):
    port = server.free_port()  # both servers below use it: a restart keeps the address
    url = f"http://127.0.0.1:{port}"
    with terminal("--url", url, "--wait", "180", env=server_env) as chat:
        chat.expect(f"⚠ the server at {re.escape(url)} is not answering")
        with live_server(server_env, port=port):
            chat.say("hello")
            chat.expect("“hello”")

        before = datetime.now().astimezone()
        chat.say(TIME_QUESTION)
        chat.expect(f"⚠ can't reach {re.escape(url)}.*; retrying…")
        with live_server(server_env, port=port):
            expect_time_answer(chat, before)
            assert chat.screen.count("can't reach") == 1  # one line, however many retries

            chat.say("/quit")
            chat.expect("Bye.")
            assert chat.exit_status() == 0


def test_ctrl_c_at_the_prompt_ends_the_session(url, server_env):
    with terminal("--url", url, env=server_env) as chat:
        chat.say("hello")
        chat.expect("“hello”")
        chat.at_prompt()
        chat.child.sendintr()  # Ctrl-C
        chat.expect("Bye.")
        assert chat.exit_status() == 0
        assert "Traceback" not in chat.screen


def test_ctrl_c_while_waiting_for_the_server_ends_the_session(server_env):
    url = f"http://127.0.0.1:{server.free_port()}"  # nothing listens there
    with terminal("--url", url, "--wait", "180", env=server_env) as chat:
        chat.say(TIME_QUESTION)
        chat.expect(r"waiting for the server \(next try in")
        chat.child.sendintr()  # Ctrl-C
        chat.expect("Bye.")
        assert chat.exit_status() == 0
        assert "Traceback" not in chat.screen


def test_local_mode_saves_the_transcript(trained_model, tmp_path: Path):
    saved = tmp_path / "chat.jsonl"
    env = {"BENTOML_HOME": str(trained_model.bentoml_home)}
    args = ("--local", trained_model.tag, "--save", str(saved), "--top")
    with terminal(*args, env=env) as chat:
        chat.expect(f"intentbot · local model {re.escape(trained_model.tag)}")
        before = datetime.now().astimezone()
        chat.say(TIME_QUESTION)
        expect_time_answer(chat, before)
        chat.expect(r"1\s+time\s+█+")  # --top: the ranking from the start
        chat.say("set a timer for 5 minutes")
        chat.expect(r"5 minutes")  # the reply names the duration
        chat.expect(r"set a timer for 5 minutes⟨duration⟩")  # marked in the echoed text
        chat.expect(r"duration\s+5 minutes\s+█")  # and listed with its value
        chat.say("   ")  # not sent, not saved
        chat.say("/quit")
        chat.expect("Bye.")
        assert chat.exit_status() == 0

    record, timer = [json.loads(line) for line in saved.read_text().splitlines()]
    assert timer["entities"][0] | {"confidence": 1} == {
        "entity": "duration",
        "value": "5 minutes",
        "start": 16,
        "end": 25,
        "text": "5 minutes",
        "confidence": 1,
    }
    assert record["text"] == TIME_QUESTION and record["intent"] == "time"
    assert 0 < record["confidence"] <= 1 and record["out_of_scope"] is False
    assert re.search(r"\d\d:\d\d", record["reply"])
    assert datetime.fromisoformat(record["time"]) >= before.replace(microsecond=0)
