"""Replies: templates per intent, live placeholders, safe arithmetic, bad template files."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from intentbot.calculator import calculate
from intentbot.replies import FALLBACK, Responder, load_replies
from intentbot.splits import BUNDLED_DATA

NOW = datetime(2026, 11, 25, 14, 5)


def test_live_placeholders():
    responder = Responder(
        {"time": ["It's {time}."], "date": ["{date} ({weekday})"], "calculator": ["= {result}"]}
    )
    assert responder.reply("time", "what time is it", NOW) == "It's 14:05."
    assert responder.reply("date", "date?", NOW) == "Wednesday, 25 November 2026 (Wednesday)"
    assert responder.reply("calculator", "what is 12 times 7", NOW) == "= 84"


def test_unknown_intent_falls_back_to_the_out_of_scope_reply():
    assert Responder({"oos": ["Nope."]}).reply("mystery", "x") == "Nope."
    assert Responder({}).reply("mystery", "x") == FALLBACK


def test_choice_among_templates_uses_the_given_rng():
    responder = Responder({"flip_coin": ["Heads!", "Tails!"]}, rng=random.Random(1))
    assert {responder.reply("flip_coin", "flip") for _ in range(30)} == {"Heads!", "Tails!"}


def test_bundled_replies_cover_every_bundled_intent():
    replies = load_replies(BUNDLED_DATA / "replies.yaml")
    intents = {
        line.split('"intent": "')[1].split('"')[0]
        for line in (BUNDLED_DATA / "train.jsonl").read_text().splitlines()
    }
    assert intents <= set(replies)
    assert "{time}" in " ".join(replies["time"])


def test_bad_placeholder_is_named(tmp_path):
    (tmp_path / "r.yaml").write_text("time: ['It is {clock}']\n")
    with pytest.raises(ValueError, match=r"r.yaml: intent 'time': bad placeholder 'clock'"):
        load_replies(tmp_path / "r.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what is 12 times 7", "84"),
        ("15% of 80", "12"),
        ("sqrt of 144", "12"),
        ("(3+4)*2", "14"),
        ("2 to the power of 10", "1,024"),
        ("100 minus 37 plus 5", "68"),
        ("what is 10 divided by 4", "2.5"),
    ],
)
def test_calculator(text, expected):
    assert calculate(text) == expected


@pytest.mark.parametrize(
    "text", ["hello", "10 divided by 0", "9 ** 99999", "__import__('os')", "1+" * 995 + "1"]
)
def test_calculator_refuses_what_it_cannot_or_must_not_compute(text):
    assert calculate(text) is None
