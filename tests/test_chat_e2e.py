"""The real `python -m intentbot.chat` in a pseudo-terminal, against a real server on loopback
(or the model in-process), driven the way a person types."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from bench import servers as server
from bench.servers import live_server
from intentbot.chat.backends import HttpBackend, LocalBackend
from intentbot.store import load_bundle
from tests.terminal import Terminal, terminal

pytestmark = [pytest.mark.server, pytest.mark.slow]
TIME_QUESTION = "What time is it?"


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
