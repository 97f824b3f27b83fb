"""Intent -> the bot's reply, from per-intent templates; some are filled in live
({time}, {date}, {weekday}, {result} of a calculation), others with the entities found in the
message: a template may name an entity type as a slot (`Timer set for {duration}.`).

Of an intent's templates, those whose every slot was found and that use the most slots are
candidates; a template without slots is the fallback when the message named none
(`For how long?`).

A model carries the replies it was trained with; a YAML file given when serving
(INTENTBOT_REPLIES, the chat's --replies) overrides them without retraining."""

from __future__ import annotations

import difflib
import functools
import random
import string
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import yaml

from intentbot.calculator import calculate

if TYPE_CHECKING:
    from intentbot.labels import LabelSet

PLACEHOLDERS = ("time", "date", "weekday", "result")
FALLBACK = "Sorry, I can't help with that yet. Type /help to see what I can do."
UNKNOWN_RESULT = "something I couldn't work out (try e.g. 'what is 12 times 7')"


def load_replies(path: str | Path) -> dict[str, list[str]]:
    """Read `intent: [template, ...]` YAML; a bad template is named with its intent."""
    path = Path(path)
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: unreadable replies file ({error})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a mapping 'intent: [reply, ...]'")
    replies = {}
    for intent, templates in record.items():
        templates = [templates] if isinstance(templates, str) else templates
        if not templates or not all(isinstance(item, str) for item in templates):
            raise ValueError(f"{path}: intent {intent!r} needs a list of reply strings")
        for template in templates:
            _check_template(template, f"{path}: intent {intent!r}")
        replies[str(intent)] = list(templates)
    return replies


def _check_template(template: str, where: str) -> None:
    """Placeholders are the live ones or slot names (plain identifiers)."""
    try:
        names = fields(template)
    except ValueError as error:
        raise ValueError(f"{where}: {error} in {template!r}; write {{{{ for a brace}}") from None
    for name in names:
        if not name.isidentifier():
            raise ValueError(
                f"{where}: bad placeholder {{{name}}} in {template!r}; use one of "
                f"{list(PLACEHOLDERS)} or an entity type such as {{duration}}"
            )


@functools.cache  # a reply re-reads its intent's templates: parse each once
def fields(template: str) -> tuple[str, ...]:
    """The placeholder names of a template, in order."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name is not None)


def slots(template: str) -> set[str]:
    """The placeholders of a template that entities fill (not the live ones)."""
    return set(fields(template)) - set(PLACEHOLDERS)


@dataclass(frozen=True)
class Replies:
    """The templates to answer with, and what a person should hear about them."""

    templates: dict[str, list[str]]
    warnings: list[str] = field(default_factory=list)


def replies_with_override(
    stored: dict[str, list[str]],
    labels: LabelSet,
    override: str | Path | None,
    entity_types: Collection[str] = (),
) -> Replies:
    """The model's own replies, or those of the `override` file checked against its intents
    and `entity_types`: an intent the model does not know, or a slot it never fills, is an
    error (a typo would never be answered); an intent without a reply is a warning (it gets
    the fallback reply)."""
    if override is None:
        return Replies(stored)
    templates = load_replies(override)
    known = {*labels.names, labels.oos_label}
    unknown = sorted(set(templates) - known)
    if unknown:
        named = [name + _suggestion(name, known) for name in unknown]
        raise ValueError(
            f"{override}: replies for intents the model does not know: {', '.join(named)}; "
            "fix or remove them"
        )
    for intent, intent_templates in templates.items():
        for template in intent_templates:
            for slot in sorted(slots(template) - set(entity_types)):
                raise ValueError(
                    f"{override}: slot {{{slot}}} of intent {intent!r} is no entity type the "
                    f"model finds{_suggestion(slot, entity_types)}; its types are: "
                    f"{', '.join(sorted(entity_types)) or 'none'}"
                )
    missing = [name for name in labels.names if name not in templates]
    warnings = (
        [f"{override}: no reply for {', '.join(missing)}; they get the fallback reply"]
        if missing
        else []
    )
    return Replies(templates, warnings)


def _suggestion(name: str, known: Collection[str]) -> str:
    """' (did you mean X?)' for the closest of `known`, or nothing."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


class Span(Protocol):
    """An entity found in a message: its type and (normalised) value."""

    entity: str
    value: str


def slot_values(entities: Iterable[Span]) -> dict[str, str]:
    """Entity type -> the value that fills a reply's slot of that name: the first found."""
    values: dict[str, str] = {}
    for entity in entities:
        values.setdefault(entity.entity, entity.value)
    return values


class Responder:
    """Picks one of an intent's templates at random (a coin flip needs it) and fills it in."""

    def __init__(
        self,
        replies: Mapping[str, Sequence[str]],
        oos_label: str = "oos",
        rng: random.Random | None = None,
    ) -> None:
        self.replies = replies
        self.oos_label = oos_label
        self.rng = rng or random.Random()

    def reply(
        self,
        intent: str,
        text: str,
        now: datetime | None = None,
        entities: Mapping[str, str] | None = None,
    ) -> str:
        """The answer to `text` classified as `intent`, its slots filled from `entities`
        (entity type -> value): an intent without templates gets the out-of-scope reply or
        FALLBACK; `now` is for tests (default: the local time)."""
        entities = entities or {}
        templates = self.replies.get(intent) or self.replies.get(self.oos_label) or [FALLBACK]
        template = self.rng.choice(_fitting(templates, entities))
        names = fields(template)
        if not names:  # most replies: nothing to fill, no clock to read (on every request)
            return template.format()  # still turns {{ into {
        # an entity named like a live placeholder ("the weather on {date}") fills it instead
        filled = {name: entities[name] for name in names if name in entities}
        now = now or datetime.now().astimezone()
        for name in names:
            if name not in filled:
                filled[name] = _live(name, now, text)
        return template.format(**filled)


def _live(name: str, now: datetime, text: str) -> str:
    """A live placeholder's value at `now` ("" for a slot no entity filled)."""
    if name == "time":
        return now.strftime("%H:%M")
    if name == "date":
        return f"{now:%A}, {now.day} {now:%B %Y}"
    if name == "weekday":
        return f"{now:%A}"
    if name == "result":
        return calculate(text) or UNKNOWN_RESULT
    return ""


def _fitting(templates: Sequence[str], entities: Mapping[str, str]) -> list[str]:
    """The templates whose slots are all filled, those that use the most of them first; when
    none fits (every template needs a slot the message lacks), all of them."""
    fitting = [template for template in templates if slots(template) <= entities.keys()]
    if not fitting:
        return list(templates)
    most = max(len(slots(template)) for template in fitting)
    return [template for template in fitting if len(slots(template)) == most]
