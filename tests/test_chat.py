"""The chat loop with a scripted user, a fake backend and a console writing to a string."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable

import pytest

from bench.servers import free_port
from intentbot.chat import view
from intentbot.chat.backends import TurnError, Unavailable
from intentbot.chat.loop import Backoff, ChatLoop, Transcript, main, parse_args
from intentbot.records import read_records
from intentbot.serving.schemas import Classification
from tests.helpers import type_at_the_prompt

Outcome = Classification | BaseException


def classification(text: str, intent: str = "greeting", confidence: float = 0.9) -> Classification:
    ranking = [
        {"intent": intent, "confidence": confidence},
        {"intent": "goodbye", "confidence": 0.01},
    ]
    return Classification.model_validate(
        {
            "text": text,
            "intent": intent,
            "confidence": confidence,
            "out_of_scope": False,
            "ranking": ranking,
            "reply": f"reply to {text}",
        }
    )


class FakeBackend:
    """Answers every message with `classification(text)`, after any scripted outcomes."""

    description = "fake backend"
    model = None

    def __init__(self, outcomes: Iterable[Outcome] = (), problem: str | None = None) -> None:
        self.outcomes = list(outcomes)
        self.problem = problem
        self.asked: list[str] = []

    def check(self) -> str | None:
        return self.problem

    def classify(self, text: str, top_k: int) -> Classification:
        self.asked.append(text)
        outcome = self.outcomes.pop(0) if self.outcomes else classification(text)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def script(*lines: str | BaseException) -> Callable[[], str]:
    """What the user types, then Ctrl-D (EOFError); an exception in the list is raised there."""
    pending = list(lines)

    def read_line() -> str:
        if not pending:
            raise EOFError
        line = pending.pop(0)
        if isinstance(line, BaseException):
            raise line
        return line

    return read_line


def chat(backend: FakeBackend, *lines: str | BaseException, **options) -> tuple[str, list[float]]:
    """Run a session; return what it printed and the pauses it took."""
    console = view.make_console(file=io.StringIO(), width=80)
    pauses: list[float] = []
    loop = ChatLoop(backend, console, sleep=pauses.append, **options)
    loop.run(script(*lines))
    return console.file.getvalue(), pauses


def test_each_message_gets_a_panel_and_the_session_ends_on_ctrl_d():
    backend = FakeBackend()
    out, _ = chat(backend, "hello", "  ", "", "see you")
    assert backend.asked == ["hello", "see you"]  # blank lines are not sent
    assert "fake backend" in out and "/help" in out  # the banner
    assert "“hello”" in out and "reply to hello" in out and "greeting" in out and "90%" in out
    assert "“see you”" in out
    assert out.rstrip().endswith("Bye.")


def test_top_toggles_the_ranking():
    out, _ = chat(FakeBackend(), "one", "/top", "two", "/TOP", "three")
    one = out.split("“one”")[1].split("top intents on")[0]
    two = out.split("“two”")[1].split("top intents off")[0]
    three = out.split("“three”")[1]
    assert "goodbye" not in one and "goodbye" in two and "goodbye" not in three


def test_ranking_shown_from_the_start_when_asked():
    out, _ = chat(FakeBackend(), "one", show_ranking=True)
    assert "goodbye" in out and "confidence" in out


def test_help_lists_every_command():
    out, _ = chat(FakeBackend(), "/help")
    for command in ("/help", "/top", "/quit", "Ctrl-D"):
        assert command in out


def test_quit_ends_the_session_before_later_lines():
    backend = FakeBackend()
    out, _ = chat(backend, "/quit", "never sent")
    assert backend.asked == []
    assert out.rstrip().endswith("Bye.")


def test_unknown_command_is_named_and_the_session_goes_on():
    backend = FakeBackend()
    out, _ = chat(backend, "/dance", "hello")
    assert "unknown command '/dance'" in out and "/help" in out
    assert backend.asked == ["hello"]


@pytest.mark.parametrize("where", ["prompt", "answer"])
def test_ctrl_c_ends_cleanly_at_the_prompt_or_while_waiting(where: str):
    if where == "prompt":
        backend, lines = FakeBackend(), ("hello", KeyboardInterrupt(), "never sent")
    else:
        backend, lines = FakeBackend([KeyboardInterrupt()]), ("hello", "never sent")
    out, _ = chat(backend, *lines)
    assert backend.asked == ["hello"]
    assert out.rstrip().endswith("Bye.")


def test_a_refused_message_shows_the_reason_and_the_session_goes_on():
    backend = FakeBackend([TurnError("the server refused it: text: too long")])
    out, pauses = chat(backend, "x" * 50, "hello")
    assert "✗ the server refused it: text: too long" in out
    assert "reply to hello" in out
    assert pauses == []  # a refusal is not retried


def test_unreachable_server_one_warning_then_backoff_until_it_answers():
    down = Unavailable("can't reach http://127.0.0.1:9 (connection refused)")
    backend = FakeBackend([down, down, down])
    out, pauses = chat(backend, "hello")
    assert out.count("can't reach") == 1 and "retrying" in out
    assert pauses == [0.5, 1.0, 2.0]
    assert backend.asked == ["hello"] * 4
    assert "reply to hello" in out


def test_retries_are_bounded_and_the_session_goes_on_after_giving_up():
    backend = FakeBackend([Unavailable("can't reach it")] * 4)  # a try, then three retries
    out, pauses = chat(backend, "hello", "again", backoff=Backoff(first=1, longest=2, budget=5))
    assert pauses == [1, 2, 2]  # another 2s would go over the 5s budget
    assert "✗ can't reach it; gave up after 5s" in out and "make serve" in out
    assert "reply to hello" not in out
    assert "reply to again" in out  # the server is back for the next message


def test_backoff_doubles_up_to_the_cap_within_the_budget():
    assert list(Backoff(first=0.5, longest=4, budget=20).delays()) == [0.5, 1, 2, 4, 4, 4, 4]
    assert list(Backoff(first=1, budget=0.5).delays()) == []


def test_a_backend_not_ready_at_the_start_is_a_warning_line():
    out, _ = chat(FakeBackend(problem="the server at X is not answering"))
    assert "⚠ the server at X is not answering; messages will wait for it" in out


def test_transcript_has_one_record_per_answer(tmp_path):
    saved = tmp_path / "chat.jsonl"
    backend = FakeBackend([TurnError("refused")])
    with saved.open("w") as file:
        transcript = Transcript(file, model="intentbot:abc")
        chat(backend, "refused one", "hello", "/top", "bye now", transcript=transcript)
    lines = [json.loads(line) for line in saved.read_text().splitlines()]
    assert list(lines[0]) == [
        *("time", "text", "intent", "confidence", "out_of_scope", "ranking", "entities"),
        *("model", "reply"),
    ]
    records = list(read_records(saved))  # what review reads
    assert [record.text for record in records] == ["hello", "bye now"]
    assert records[0].intent == "greeting" and records[0].reply == "reply to hello"
    assert records[0].ranking == (("greeting", 0.9), ("goodbye", 0.01))
    assert records[0].model == "intentbot:abc" and records[0].time[:2] == "20"


def test_arguments_and_their_defaults():
    args = parse_args([])
    assert (args.url, args.local, args.save, args.top) == (
        "http://127.0.0.1:3000",
        None,
        None,
        False,
    )
    assert parse_args(["--local"]).local == "intentbot:latest"
    assert parse_args(["--local", "intentbot:abc", "--top"]).local == "intentbot:abc"
    assert parse_args(["--wait", "5"]).wait == 5.0


def run_main(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, lines: tuple[str, ...] = ()
) -> tuple[int, str]:
    """main() typing `lines` at the prompt, then Ctrl-D."""
    type_at_the_prompt(monkeypatch, lines)
    console = view.make_console(file=io.StringIO(), width=400)  # one line stays one line
    return main(argv, console), console.file.getvalue()


def test_main_with_no_server_warns_and_ends_cleanly(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    code, out = run_main(["--url", url], monkeypatch)
    assert code == 0
    assert f"server {url}" in out and "is not answering" in out and "Bye." in out


def test_main_with_an_unknown_model_is_one_error_line(monkeypatch):
    code, out = run_main(["--local", "intentbot:nosuchversion"], monkeypatch)
    assert code == 1
    assert out.startswith("✗ no model 'intentbot:nosuchversion'") and len(out.splitlines()) == 1


def test_main_with_an_unwritable_transcript_is_one_error_line(monkeypatch, tmp_path):
    code, out = run_main(["--save", str(tmp_path / "missing" / "chat.jsonl")], monkeypatch)
    assert code == 1
    assert out.startswith("✗ can't write the transcript") and len(out.splitlines()) == 1


def test_main_local_with_a_replies_file_answers_with_it(monkeypatch, tmp_path, trained_model):
    replies = tmp_path / "replies.yaml"
    replies.write_text("time: ['Look at the clock.']\n")
    argv = ["--local", trained_model.tag, "--replies", str(replies)]
    code, out = run_main(argv, monkeypatch, lines=("What time is it?",))
    assert code == 0 and "Look at the clock." in out
    assert "no reply for" in out and "greeting" in out  # the other intents are named


def test_main_replies_file_with_an_unknown_intent_is_one_error_line(
    monkeypatch, tmp_path, trained_model
):
    replies = tmp_path / "replies.yaml"
    replies.write_text("not_an_intent: ['Hm.']\n")
    code, out = run_main(["--local", trained_model.tag, "--replies", str(replies)], monkeypatch)
    assert code == 1 and "not_an_intent" in out and len(out.splitlines()) == 1


def test_replies_file_without_local_is_refused(monkeypatch, tmp_path):
    code, out = run_main(["--replies", str(tmp_path / "r.yaml")], monkeypatch)
    assert code == 1 and "INTENTBOT_REPLIES" in out
