"""The real `python -m intentbot.review` in a pseudo-terminal, typed at as a person would: every
key, Tab completion, and a session killed outright (SIGKILL) that the next run resumes."""

from __future__ import annotations

import os
import re
import signal

import pytest

from intentbot.corpus import read_examples
from tests.terminal import terminal
from tests.test_review import RECORDS

pytestmark = pytest.mark.slow
PROMPT = "intent>"


def panel(text: str) -> str:
    """The title of the panel that shows `text`."""
    return f"“{re.escape(text)}”"


def test_a_session_killed_mid_way_resumes_where_it_stopped(tmp_path):
    log, out = tmp_path / "traffic.jsonl", tmp_path / "reviewed.jsonl"
    log.write_text("".join(record.to_line() for record in RECORDS))
    args = (str(log), "--out", str(out))
    env = {"COLUMNS": "110"}
    with terminal(*args, env=env, module="intentbot.review", prompt=PROMPT) as review:
        review.expect(r"7 records, 6 distinct utterances, 0 already decided")
        review.expect(panel("hm"))
        review.expect(r"1 of 6, margin 0\.01")
        review.say("")  # Enter: the top intent
        review.expect("→ joke")
        review.expect(r"1 decided \(1 accepted, 0 relabelled, 0 out of scope\) · 0 skipped")
        review.expect(panel("what's up"))
        review.say("2")
        review.expect("→ weather")
        review.expect(panel("Book it!") + r" \(2 times\)")
        review.say("o")
        review.expect("→ oos")
        review.expect(panel("what's new"))
        review.say("s")
        review.expect(panel("ok then"))
        review.say("u")
        review.expect(r"undone \(skipped\)")
        review.expect(panel("what's new"))
        review.say("u")
        review.expect(r"undone \(out of scope\)")
        review.expect(panel("Book it!"))
        review.at_prompt()
        review.child.send("wea\t")  # readline completes the intent's name
        review.child.send("\r")
        review.expect("→ weather")
        review.expect(panel("what's new"))
        review.say("wether")
        review.expect("unknown intent 'wether'; did you mean weather?")
        review.say("+small_talk")
        review.expect("→ small_talk")
        review.expect(panel("ok then"))
        review.at_prompt()
        os.kill(review.child.pid, signal.SIGKILL)  # no goodbye, no cleanup
        review.child.wait()

    decided = [("hm", "joke"), ("what's up", "weather"), ("Book it!", "weather")]
    decided.append(("what's new", "small_talk"))
    assert [(e.text, e.intent) for e in read_examples(out)] == decided

    with terminal(*args, env=env, module="intentbot.review", prompt=PROMPT) as review:
        review.expect(r"7 records, 6 distinct utterances, 4 already decided")
        review.expect(panel("ok then"))
        review.expect(r"1 of 2")
        review.say("q")
        review.expect(r"0 decided .* 0 skipped · 2 to go")
        assert review.exit_status() == 0
    assert len(read_examples(out)) == 4
