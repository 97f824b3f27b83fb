"""Replies: templates per intent, live placeholders, safe arithmetic, bad template files."""

from __future__ import annotations

import random
from datetime import datetime
from types import SimpleNamespace

import pytest

from intentbot.calculator import calculate
from intentbot.labels import LabelSet
from intentbot.replies import (
    FALLBACK,
    Replies,
    Responder,
    load_replies,
    replies_with_override,
    slot_values,
)
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
    (tmp_path / "r.yaml").write_text("time: ['It is {clock.hour}']\n")
    with pytest.raises(ValueError, match=r"r.yaml: intent 'time': bad placeholder \{clock.hour\}"):
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


LABELS = LabelSet(("greeting", "oos", "time"))


def test_without_an_override_the_models_replies_stand():
    stored = {"time": ["It's {time}."]}
    assert replies_with_override(stored, LABELS, None) == Replies(stored)


def test_override_replaces_the_replies_and_names_intents_left_without_one(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("time: ['Clock says {time}.']\noos: ['Pardon?']\n")
    replies = replies_with_override({"time": ["old"]}, LABELS, path)
    assert replies.templates == {"time": ["Clock says {time}."], "oos": ["Pardon?"]}
    [warning] = replies.warnings
    assert "greeting" in warning and "time" not in warning and str(path) in warning


def test_override_with_an_intent_the_model_does_not_know_is_an_error(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("tme: ['Clock says {time}.']\nweather: [Sunny]\ntime: [Now]\n")
    with pytest.raises(
        ValueError, match=r"typo\.yaml: .*does not know: tme \(did you mean time\?\), weather;"
    ):
        replies_with_override({}, LABELS, path)


def test_slots_pick_the_template_that_uses_what_the_message_named():
    responder = Responder(
        {
            "timer": ["Timer set for {duration}.", "For how long?"],
            "weather": ["{city}, {when}: sunny.", "{city}: sunny.", "Where?"],
        }
    )
    assert responder.reply(
        "timer", "set a timer for 5 minutes", NOW, {"duration": "5 minutes"}
    ) == ("Timer set for 5 minutes.")
    assert responder.reply("timer", "set a timer", NOW) == "For how long?"
    assert responder.reply("weather", "x", NOW, {"city": "Paris"}) == "Paris: sunny."
    both = {"city": "Paris", "when": "tomorrow"}
    assert responder.reply("weather", "x", NOW, both) == "Paris, tomorrow: sunny."


def test_a_template_may_name_any_slot_but_not_an_expression(tmp_path):
    path = tmp_path / "replies.yaml"
    path.write_text("timer: ['Timer set for {duration}.']\n")
    assert load_replies(path) == {"timer": ["Timer set for {duration}."]}
    path.write_text("timer: ['Timer set for {duration[0]}.']\n")
    with pytest.raises(ValueError, match=r"bad placeholder \{duration\[0\]\}"):
        load_replies(path)
    path.write_text("timer: ['Timer set for {duration.']\n")
    with pytest.raises(ValueError, match="intent 'timer'"):
        load_replies(path)


def test_override_with_a_slot_the_model_never_fills_is_an_error(tmp_path):
    path = tmp_path / "slots.yaml"
    path.write_text("time: ['In {cty} it is {time}.', 'It is {time}.']\n")
    with pytest.raises(ValueError, match=r"slot \{cty\} of intent 'time'.*did you mean city"):
        replies_with_override({}, LABELS, path, entity_types={"city"})
    path.write_text("time: ['In {city} it is {time}.', 'It is {time}.']\n")
    assert replies_with_override({}, LABELS, path, entity_types={"city"}).templates["time"]


def test_an_entity_named_like_a_live_placeholder_fills_it():
    responder = Responder({"weather": ["Sunny on {date}."]})
    assert responder.reply("weather", "x", NOW) == "Sunny on Wednesday, 25 November 2026."
    assert responder.reply("weather", "x", NOW, {"date": "friday"}) == "Sunny on friday."


def test_a_slot_takes_the_first_value_found_of_its_type():
    found = [
        SimpleNamespace(entity="city", value="Paris"),
        SimpleNamespace(entity="date", value="Friday"),
        SimpleNamespace(entity="city", value="Lyon"),
    ]
    assert slot_values(found) == {"city": "Paris", "date": "Friday"}
    assert slot_values([]) == {}
