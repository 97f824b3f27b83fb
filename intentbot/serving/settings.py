"""The service's configuration, read from INTENTBOT_* environment variables.

BentoML's decorators need some of it when the service module is imported, so it is read then:

    INTENTBOT_MODEL                model tag to serve (default intentbot:latest; in a bento, the
                                   model packed into it)
    INTENTBOT_REPLIES              a YAML file of intent -> reply templates that overrides the
                                   model's own replies (checked against its intents at start-up)
    INTENTBOT_THRESHOLD            confidence under this -> out of scope (default: the model's)
    INTENTBOT_AMBIGUITY_THRESHOLD  top-1 minus top-2 under this -> out of scope (default: model's)
    INTENTBOT_MAX_TEXT_LENGTH      characters per text (default 2000)
    INTENTBOT_MAX_BATCH_SIZE       texts per /classify_batch request and per forward pass (256)
    INTENTBOT_TIMEOUT              seconds a request may take, then a 504 (traffic.timeout, 30)
    INTENTBOT_MAX_CONCURRENCY      requests in flight before 429s (traffic.max_concurrency, none)
    INTENTBOT_MAX_BODY_BYTES       request body size before a 413 (default: room for the
                                   largest valid batch, see `Settings.body_limit`)
    INTENTBOT_ENGINE_THREADS       threads per worker: how many length groups of a batch ONNX
                                   Runtime runs at once, and torch's with engine=torch (default
                                   1; 0: OMP_NUM_THREADS, else one per usable core); the older
                                   name INTENTBOT_TORCH_THREADS still works, with a warning
    INTENTBOT_ENGINE               onnx (default) or torch: what computes the logits
    INTENTBOT_COLLECT              a JSON-lines file: keep every request's text and answer there
                                   for review (default: unset, nothing kept)
    INTENTBOT_COLLECT_MAX_BYTES    rotate the collection file past this size (default 100 MiB;
                                   0: never)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from intentbot.engine.choice import ENGINES
from intentbot.serving.schemas import Limits

PREFIX = "INTENTBOT_"
DEFAULT_MODEL = "intentbot:latest"
V = TypeVar("V")


@dataclass(frozen=True)
class Settings:
    """The service's configuration; `from_env` reads the INTENTBOT_* variables."""

    model: str | None = None  # None: `DEFAULT_MODEL`, or in a bento the model packed into it
    threshold: float | None = None
    ambiguity_threshold: float | None = None
    limits: Limits = field(default_factory=Limits)
    timeout: float = 30.0
    max_concurrency: int | None = None
    max_body_bytes: int | None = None
    # one thread: a pass runs on the event loop's thread, and more cores pay as more BentoML
    # workers (BENCHMARKS.md, "HTTP serving")
    engine_threads: int = 1
    engine: str = "onnx"
    replies: str | None = None  # a YAML file of replies that overrides the model's own
    collect: str | None = None  # where requests and answers are kept for review (None: nowhere)
    collect_max_bytes: int = 100 * 2**20

    @property
    def body_limit(self) -> int:
        """`max_body_bytes`, or room for the largest valid batch: every character may be a
        12-byte JSON escape (an emoji as a surrogate pair), plus quotes, commas and 64 KiB."""
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return self.limits.max_batch_size * (12 * self.limits.max_text_length + 8) + 2**16

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Unset or empty variables keep the defaults; a malformed one is named in the error."""
        defaults, limits = cls(), Limits()
        return cls(
            model=_read(env, "MODEL", str, defaults.model),
            threshold=_read(env, "THRESHOLD", float, defaults.threshold),
            ambiguity_threshold=_read(
                env, "AMBIGUITY_THRESHOLD", float, defaults.ambiguity_threshold
            ),
            limits=Limits(
                max_text_length=_read(env, "MAX_TEXT_LENGTH", int, limits.max_text_length),
                max_batch_size=_read(env, "MAX_BATCH_SIZE", int, limits.max_batch_size),
            ),
            timeout=_read(env, "TIMEOUT", float, defaults.timeout),
            max_concurrency=_read(env, "MAX_CONCURRENCY", int, defaults.max_concurrency),
            max_body_bytes=_read(env, "MAX_BODY_BYTES", int, defaults.max_body_bytes),
            engine_threads=_read(
                env,
                "ENGINE_THREADS",
                int,
                _read_renamed(env, "TORCH_THREADS", "ENGINE_THREADS", int, defaults.engine_threads),
            ),
            engine=_read(env, "ENGINE", _engine_name, defaults.engine, " or ".join(ENGINES)),
            replies=_read(env, "REPLIES", str, defaults.replies),
            collect=_read(env, "COLLECT", str, defaults.collect),
            collect_max_bytes=_read(env, "COLLECT_MAX_BYTES", int, defaults.collect_max_bytes),
        )


def _read_renamed(
    env: Mapping[str, str], old: str, new: str, parse: Callable[[str], V | None], default: V
) -> V:
    """The default of `new` where it is unset: the value of its older name `old` if that is
    set, with a warning to rename it; `default` where neither is."""
    if not env.get(PREFIX + old, "").strip() or env.get(PREFIX + new, "").strip():
        return default
    warnings.warn(
        f"{PREFIX}{old} is now {PREFIX}{new}; rename it (the old name still works, for now)",
        FutureWarning,
        stacklevel=3,
    )
    return _read(env, old, parse, default)


def _engine_name(raw: str) -> str | None:
    return raw if raw in ENGINES else None


def _read(
    env: Mapping[str, str],
    name: str,
    parse: Callable[[str], V | None],
    default: V,
    expected: str | None = None,
) -> V:
    """`parse` raises ValueError or returns None for a value it rejects."""
    raw = env.get(PREFIX + name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or (isinstance(value, int | float) and not value >= 0):
        expected = expected or f"a non-negative {parse.__name__}"
        raise ValueError(f"{PREFIX}{name}={raw!r}: expected {expected}")
    return value
