"""The chat's renderables, drawn into a console that writes to a string."""

from __future__ import annotations

import io
import re

from rich.console import RenderableType

from intentbot.chat import view
from intentbot.serving.schemas import Classification

WIDTH = 72


def render(renderable: RenderableType, width: int = WIDTH) -> str:
    console = view.make_console(file=io.StringIO(), width=width)
    console.print(renderable)
    return console.file.getvalue()


def classification(**changes: object) -> Classification:
    fields = {
        "text": "What time is it?",
        "intent": "time",
        "confidence": 0.93,
        "out_of_scope": False,
        "ranking": [
            {"intent": "time", "confidence": 0.93},
            {"intent": "date", "confidence": 0.05},
            {"intent": "oos", "confidence": 0.02},
        ],
        "reply": "It's 14:05.",
    }
    return Classification.model_validate(fields | changes)


def test_confidence_bar_fills_in_proportion_and_shows_the_percentage():
    assert view.confidence_bar(0.5, width=10).plain == "█████░░░░░  50%"
    assert view.confidence_bar(1.0, width=4).plain == "████ 100%"
    assert view.confidence_bar(0.0, width=4).plain == "░░░░   0%"


def test_confidence_bar_colour_follows_the_level():
    def styles(confidence: float) -> set[str]:
        return {str(span.style) for span in view.confidence_bar(confidence).spans}

    assert "chat.confidence.high" in styles(0.9)
    assert "chat.confidence.medium" in styles(0.5)
    assert "chat.confidence.low" in styles(0.1)


def test_answer_panel_shows_text_reply_intent_and_bar():
    out = render(view.answer_panel(classification()))
    assert "“What time is it?”" in out
    assert "It's 14:05." in out
    assert "intent" in out and "time" in out
    assert "93%" in out and "█" in out
    assert "out of scope" not in out
    assert "date" not in out  # the ranking only on request


def test_answer_panel_marks_out_of_scope_and_names_the_closest_intent():
    answer = classification(
        text="sing me a song",
        intent="oos",
        confidence=0.31,
        out_of_scope=True,
        ranking=[{"intent": "weather", "confidence": 0.31}, {"intent": "oos", "confidence": 0.3}],
        reply="Sorry, I can't help with that.",
    )
    out = render(view.answer_panel(answer))
    assert "⚠ out of scope" in out
    assert re.search(r"closest +weather", out)
    assert "31%" in out
    assert out.count("out of scope") == 2  # the mark and the panel's subtitle


def test_out_of_scope_by_the_oos_class_needs_no_closest_guess():
    answer = classification(
        intent="oos",
        out_of_scope=True,
        ranking=[{"intent": "oos", "confidence": 0.93}],
    )
    assert "closest" not in render(view.answer_panel(answer))


def test_ranking_table_lists_every_intent_in_order_with_bars():
    out = render(view.answer_panel(classification(), show_ranking=True))
    lines = [line for line in out.splitlines() if "%" in line]
    assert [line.split()[1:3] for line in lines[1:]] == [["1", "time"], ["2", "date"], ["3", "oos"]]
    assert "5%" in out and "2%" in out
    assert "confidence" in out  # the table's header


def test_user_text_with_markup_is_shown_literally():
    text = "[bold red]not markup[/] [link=x]y[/link] \\"
    out = render(view.answer_panel(classification(text=text)), width=120)
    assert f"“{text}”" in out


def test_reply_with_brackets_is_shown_literally():
    out = render(view.answer_panel(classification(reply="Try [bold]this[/bold]")))
    assert "Try [bold]this[/bold]" in out


def test_long_replies_wrap_inside_the_panel():
    words = [f"word{number}" for number in range(60)]
    out = render(view.answer_panel(classification(reply=" ".join(words))), width=50)
    assert all(len(line) <= 50 for line in out.splitlines())
    assert sum("word" in line for line in out.splitlines()) > 5
    assert all(word in out for word in words)


def test_help_lists_every_command_given_and_the_keys():
    out = render(view.help_table([("/help", "list these commands"), ("/top", "toggle")]))
    assert "/help" in out and "list these commands" in out
    assert "/top" in out and "toggle" in out
    assert "Ctrl-D" in out


def test_banner_names_the_source_and_how_to_get_help():
    out = render(view.banner("server http://127.0.0.1:3000/"))
    assert "server http://127.0.0.1:3000/" in out and "/help" in out and "Ctrl-D" in out


def test_notices_use_the_shared_theme_styles():
    assert view.warning("careful").style == "warning"
    assert view.error("broken").style == "error"
    assert view.notice("fyi").style == "muted"
    console = view.make_console(file=io.StringIO())
    for name in ("warning", "error", "muted", "chat.intent", "chat.oos", "chat.prompt"):
        console.get_style(name)  # raises MissingStyle for a name no theme defines


def test_entities_are_marked_in_the_text_and_listed_with_their_values():
    timer = classification(
        text="set a timer for 5 mins",
        intent="timer",
        entities=[
            {
                "entity": "duration",
                "value": "5 minutes",
                "start": 16,
                "end": 22,
                "text": "5 mins",
                "confidence": 0.9,
            }
        ],
        reply="Timer for 5 minutes noted.",
    )
    marked = view.marked_text(timer)
    assert marked.plain == "set a timer for 5 mins⟨duration⟩"
    assert [(span.start, span.end, str(span.style)) for span in marked.spans] == [
        (16, 22, "chat.entity"),
        (22, 32, "chat.entity.type"),
    ]
    out = render(view.answer_panel(timer))
    assert "5 mins⟨duration⟩" in out and "5 minutes (5 mins)" in out and "90%" in out


def test_entities_with_roles_and_groups_show_them():
    flight = classification(
        text="fly from oslo to rome",
        entities=[
            {
                "entity": "city",
                "value": "oslo",
                "start": 9,
                "end": 13,
                "text": "oslo",
                "confidence": 0.9,
                "role": "from",
            },
            {
                "entity": "city",
                "value": "rome",
                "start": 17,
                "end": 21,
                "text": "rome",
                "confidence": 0.8,
                "role": "to",
                "group": "2",
            },
        ],
    )
    assert view.marked_text(flight).plain == "fly from oslo⟨city:from⟩ to rome⟨city:to#2⟩"
    assert "city:to#2" in render(view.answer_panel(flight))


def test_text_with_markup_characters_stays_text_around_entities():
    odd = classification(
        text="[b]remind[/b] me",
        entities=[
            {"entity": "x", "value": "[/b]", "start": 9, "end": 13, "text": "[/b]", "confidence": 1}
        ],
    )
    assert "[b]remind[/b]⟨x⟩ me" in render(view.answer_panel(odd))
