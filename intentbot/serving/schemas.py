"""The HTTP contract of the intent service: request and response bodies, shared by the service
(`intentbot.service`) and its clients (`intentbot.chat`).

Request bodies are strict (`"5"` is not a `top_k`, `5` is not a text) and ignore unknown keys,
because Rasa sends `message_id` and `token` along with the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from intentbot.records import DEFAULT_TOP_K

MAX_TOP_K = 20
RASA_RANKING_LENGTH = 10  # Rasa's own default `ranking_length`


@dataclass(frozen=True)
class Limits:
    """How much a request may hold; the service sets its own from configuration."""

    max_text_length: int = 2000
    max_batch_size: int = 256


class _Request(BaseModel):
    model_config = ConfigDict(strict=True)
    limits: ClassVar[Limits] = Limits()

    @classmethod
    def with_limits(cls, limits: Limits) -> type[Self]:
        """The same body checked against other limits (the title keeps errors naming `cls`)."""
        namespace = {
            "__module__": cls.__module__,
            "__doc__": cls.__doc__,
            "limits": limits,
            "model_config": ConfigDict(title=cls.__name__),
        }
        return type(cls.__name__, (cls,), namespace)

    @classmethod
    def _check_text(cls, text: str, where: str = "") -> str:
        """Messages leave out the field name: errors carry it in `loc`."""
        if not text.strip():
            raise PydanticCustomError(
                "blank_text", "{where}empty or only whitespace", {"where": where}
            )
        if len(text) > cls.limits.max_text_length:
            raise PydanticCustomError(
                "text_too_long",
                "{where}{length} characters, over the limit of {limit}",
                {"where": where, "length": len(text), "limit": cls.limits.max_text_length},
            )
        return text


class ParseRequest(_Request):
    """One user message (`POST /model/parse`, Rasa's NLU request)."""

    text: str = Field(description="the user's message", examples=["What time is it?"])

    @field_validator("text")
    @classmethod
    def _text_fits(cls, text: str) -> str:
        return cls._check_text(text)


class ClassifyRequest(ParseRequest):
    """One user message to classify and answer (`POST /classify`)."""

    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="intents in `ranking`")


class ClassifyBatchRequest(_Request):
    """Several user messages, answered in order (`POST /classify_batch`)."""

    texts: list[str] = Field(description="the messages", examples=[["hi", "What time is it?"]])
    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="intents in `ranking`")

    @field_validator("texts")
    @classmethod
    def _texts_fit(cls, texts: list[str]) -> list[str]:
        limit = cls.limits.max_batch_size
        if not 1 <= len(texts) <= limit:
            raise PydanticCustomError(
                "batch_size",
                "{count} texts; send 1 to {limit}",
                {"count": len(texts), "limit": limit},
            )
        for index, text in enumerate(texts):
            cls._check_text(text, f"item {index}: ")
        return texts


class IntentScore(BaseModel):
    """One row of a `Classification.ranking`: an intent and its calibrated probability."""

    intent: str
    confidence: float


def _unset(value: object) -> bool:
    return value is None


class EntityAnswer(BaseModel):
    """One entity found in the message; `text[start:end]` of the request is its `text`."""

    entity: str = Field(description="the entity type, e.g. duration")
    value: str = Field(description="the normalised value (a synonym's), else the text itself")
    start: int = Field(description="character offset of the first character in the message")
    end: int = Field(description="character offset just past the last character")
    text: str
    confidence: float
    # left out of the JSON when unset, as the contract says ("when trained"): most answers
    # have neither, and two nulls per entity were bytes to write and read for nothing
    role: str | None = Field(
        None, description="Rasa's entity role, when the model has roles", exclude_if=_unset
    )
    group: str | None = Field(
        None, description="Rasa's entity group, when the model has groups", exclude_if=_unset
    )


class Classification(BaseModel):
    """The answer to one message: `intent` is the out-of-scope label when `out_of_scope`."""

    text: str
    intent: str
    confidence: float = Field(description="the model's top-1 probability")
    out_of_scope: bool
    ranking: list[IntentScore] = Field(description="the top intents, most likely first")
    entities: list[EntityAnswer] = Field(
        default_factory=list, description="entities found, in text order ([] without a tagger)"
    )
    reply: str = Field(description="the bot's answer (the fallback reply when out of scope)")


class ClassifyBatchResponse(BaseModel):
    """The answer to `POST /classify_batch`."""

    results: list[Classification] = Field(description="one per text, in request order")


class RasaIntent(BaseModel):
    """An intent as Rasa names its fields (`name`, not `intent`)."""

    name: str
    confidence: float


class RasaEntity(BaseModel):
    """An entity as Rasa's NLU reports it (`role` and `group` only when the model has them)."""

    model_config = ConfigDict(extra="allow")  # role, group: present only when set

    entity: str
    start: int
    end: int
    value: str
    confidence_entity: float
    extractor: str = "intentbot"


class RasaParse(BaseModel):
    """Rasa's NLU parse result, so a Rasa dialogue server can use intentbot as its NLU."""

    text: str
    intent: RasaIntent
    intent_ranking: list[RasaIntent]
    entities: list[RasaEntity] = Field(default_factory=list)


class ErrorDetail(BaseModel):
    """One failed check of a request, as pydantic reports it: where (`loc`) and why (`msg`)."""

    type: str
    loc: list[str | int]
    msg: str


class ErrorResponse(BaseModel):
    """The body of every 4xx answer (BentoML's validation error format)."""

    error: str
    detail: list[ErrorDetail] = Field(default_factory=list)

    def summary(self) -> str:
        """One line naming each problem, e.g. `text: empty or only whitespace`."""
        problems = [
            f"{'.'.join(map(str, item.loc))}: {item.msg}" if item.loc else item.msg
            for item in self.detail
        ]
        return "; ".join(problems) or self.error
