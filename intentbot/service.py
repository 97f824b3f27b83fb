"""The BentoML service: `POST /classify`, `/classify_batch` and `/model/parse` (Rasa NLU).

`bentoml serve` (see bentofile.yaml) loads the model once per worker. Concurrent requests share
forward passes (`MicroBatcher`). Configuration is read from the environment at import, because
BentoML's decorators need it then:

    INTENTBOT_MODEL                model tag to serve (default intentbot:latest)
    INTENTBOT_THRESHOLD            confidence under this -> out of scope (default: the model's)
    INTENTBOT_AMBIGUITY_THRESHOLD  top-1 minus top-2 under this -> out of scope (default: model's)
    INTENTBOT_MAX_TEXT_LENGTH      characters per text (default 2000)
    INTENTBOT_MAX_BATCH_SIZE       texts per /classify_batch request and per forward pass (256)
    INTENTBOT_TIMEOUT              seconds a request may take, then a 504 (traffic.timeout, 30)
    INTENTBOT_MAX_CONCURRENCY      requests in flight before 429s (traffic.max_concurrency, none)
    INTENTBOT_MAX_BODY_BYTES       request body size before a 413 (default: room for the
                                   largest valid batch, see `Settings.body_limit`)
    INTENTBOT_TORCH_THREADS        threads per worker: torch's, and how many length groups of a
                                   batch ONNX Runtime runs at once (default 1; 0: torch's choice)
    INTENTBOT_ENGINE               onnx (default) or torch: what computes the logits
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import bentoml
import torch
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intentbot.artifact import load_bundle
from intentbot.engine import ENGINES
from intentbot.predictor import Prediction, Predictor
from intentbot.responses import Responder
from intentbot.schemas import (
    DEFAULT_TOP_K,
    RASA_RANKING_LENGTH,
    Classification,
    ClassifyBatchRequest,
    ClassifyBatchResponse,
    ClassifyRequest,
    ErrorResponse,
    IntentScore,
    Limits,
    ParseRequest,
    RasaIntent,
    RasaParse,
)

PREFIX = "INTENTBOT_"
GATHER_TURNS = 8  # event-loop turns a caller waits for others to join its pass, at most
T = TypeVar("T")
R = TypeVar("R")
V = TypeVar("V")


@dataclass(frozen=True)
class Settings:
    """The service's configuration; `from_env` reads the INTENTBOT_* variables."""

    model: str = "intentbot:latest"
    threshold: float | None = None
    ambiguity_threshold: float | None = None
    limits: Limits = field(default_factory=Limits)
    timeout: float = 30.0
    max_concurrency: int | None = None
    max_body_bytes: int | None = None
    # one thread: a pass runs on the event loop's thread, and more cores pay as more BentoML
    # workers (BENCHMARKS.md, "HTTP serving")
    torch_threads: int = 1
    engine: str = "onnx"

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
            torch_threads=_read(env, "TORCH_THREADS", int, defaults.torch_threads),
            engine=_read(env, "ENGINE", _engine_name, defaults.engine, " or ".join(ENGINES)),
        )


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


class MicroBatcher(Generic[T, R]):
    """Runs the items of concurrent callers through `run` together, each caller getting its own
    results in order.

    Passes run on the event loop itself, not in a worker thread: with a thread, the loop and the
    pass take the GIL from each other at every switch (Python hands it over only after 5 ms),
    and a worker did 496 requests/s at concurrency 32 against 764 on the loop (BENCHMARKS.md).
    A caller first lets the loop run a few turns, until no new caller arrives, so that requests
    already read from their sockets reach the queue and share its pass."""

    def __init__(self, run: Callable[[list[T]], list[R]], max_batch_size: int) -> None:
        self.run = run
        self.max_batch_size = max_batch_size
        self._pending: deque[tuple[list[T], asyncio.Future[list[R]]]] = deque()
        self._arrivals = 0  # callers so far: a turn that leaves it unchanged brought nobody

    async def __call__(self, items: Sequence[T]) -> list[R]:
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._pending.append((list(items), future))
        self._arrivals += 1
        try:
            await self._gather_arrivals()
        except asyncio.CancelledError:
            future.cancel()  # the next pass drops its items
            raise
        while not future.done():
            self._flush()
        return future.result()

    async def _gather_arrivals(self) -> None:
        """Yield to the loop until a turn brings no new caller, a full pass waits, or
        `GATHER_TURNS` turns have passed (arrivals that never stop must not starve anyone)."""
        for _ in range(GATHER_TURNS):
            if sum(len(items) for items, _ in self._pending) >= self.max_batch_size:
                return
            arrivals = self._arrivals
            await asyncio.sleep(0)
            if self._arrivals == arrivals:
                return

    def _flush(self) -> None:
        """Run the oldest pending requests, up to `max_batch_size` items, in one call; callers
        that went away (cancelled futures) are dropped, not computed."""
        batch, size = [], 0
        while self._pending and (
            not batch or size + len(self._pending[0][0]) <= self.max_batch_size
        ):
            items, future = self._pending.popleft()
            if not future.done():
                batch.append((items, future))
                size += len(items)
        if not batch:
            return
        try:
            results = self.run([item for items, _ in batch for item in items])
        except Exception as error:  # every caller in the batch sees the failure
            for _, future in batch:
                future.set_exception(error)
            return
        start = 0
        for items, future in batch:
            future.set_result(results[start : start + len(items)])
            start += len(items)


class JsonBodies:
    """ASGI middleware: request bodies are JSON whatever their content type. BentoML would parse
    a form instead (`curl -d` sends one) and answer a malformed one with a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = [(key, value) for key, value in scope["headers"] if key != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets a 413 before anything parses it,
    so a huge (or endless, chunked) upload costs at most `max_bytes` of memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # read the whole body here (bounded), then hand it on as one message
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away; nobody is left to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # e.g. http.disconnect, for whoever waits on it
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body over the limit of {self.max_bytes} bytes"
        body = {
            "error": message,
            "detail": [{"type": "body_too_large", "loc": [], "msg": message}],
        }
        # Connection: close, so the server need not read (or wait for) the rest of the upload
        headers = {"connection": "close"}
        await JSONResponse(body, status_code=413, headers=headers)(scope, receive, send)


class OpenApiErrors:
    """ASGI middleware: `/docs.json` as BentoML writes it, but with the error bodies this
    service really sends (BentoML documents a 400's `detail` as a string; ours is a list) and
    the 413, 429 and 504 answers that its limits add."""

    def __init__(self, app: ASGIApp, document: Callable[[], dict]) -> None:
        self.app = app
        self.document = document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/docs.json":
            await JSONResponse(with_error_bodies(self.document()))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def with_error_bodies(document: dict) -> dict:
    """The OpenAPI `document` with each API route's error answers as they are sent."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    error = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error.pop("$defs", {}))
    schemas[ErrorResponse.__name__] = error
    schemas["TrafficError"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    }
    errors = {
        "400": ("Bad Request: the body is not valid JSON or breaks a limit", "ErrorResponse"),
        "413": ("Request body over INTENTBOT_MAX_BODY_BYTES", "ErrorResponse"),
        "429": ("Over INTENTBOT_MAX_CONCURRENCY requests in flight", "TrafficError"),
        "504": ("Not answered within INTENTBOT_TIMEOUT seconds", "TrafficError"),
    }
    for item in document.get("paths", {}).values():
        operation = item.get("post")
        if operation is None or "x-bentoml-name" not in operation:
            continue
        for status, (description, schema) in errors.items():
            ref = {"$ref": f"#/components/schemas/{schema}"}
            operation["responses"][status] = {
                "description": description,
                "content": {"application/json": {"schema": ref}},
            }
    return document


async def _docs(_: Request) -> RedirectResponse:
    """`/docs`, where people look for the OpenAPI page; BentoML serves it at `/`."""
    return RedirectResponse("/")


SETTINGS = Settings.from_env()
FORWARD_PASS_SIZE = bentoml.metrics.Histogram(
    name="intentbot_forward_pass_texts",
    documentation="Texts per forward pass: above 1 when requests share passes",
    buckets=[2**power for power in range(9)],
)


@bentoml.asgi_app(Starlette(routes=[Route("/docs", _docs)]))
@bentoml.service(
    name="intentbot",
    traffic={"timeout": SETTINGS.timeout, "max_concurrency": SETTINGS.max_concurrency},
)
class IntentService:
    """Classifies user messages into intents and answers them."""

    # declared so that `bentoml build` packs this model into the bento
    stored_model = bentoml.models.BentoModel(SETTINGS.model)

    def __init__(self) -> None:
        if SETTINGS.torch_threads:
            torch.set_num_threads(SETTINGS.torch_threads)
        bundle = load_bundle(SETTINGS.model)
        self.predictor = Predictor(
            bundle, SETTINGS.threshold, SETTINGS.ambiguity_threshold, engine=SETTINGS.engine
        )
        self.responder = Responder(bundle.replies, bundle.oos_label)
        self.batcher = MicroBatcher(self._predict, SETTINGS.limits.max_batch_size)

    @bentoml.api(input_spec=ClassifyRequest.with_limits(SETTINGS.limits))
    async def classify(self, text: str, top_k: int = DEFAULT_TOP_K) -> Classification:
        """Classify one message and answer it."""
        [result] = await self._classify([text], top_k)
        return result

    @bentoml.api(input_spec=ClassifyBatchRequest.with_limits(SETTINGS.limits))
    async def classify_batch(
        self, texts: list[str], top_k: int = DEFAULT_TOP_K
    ) -> ClassifyBatchResponse:
        """Classify and answer several messages; results come in request order."""
        return ClassifyBatchResponse(results=await self._classify(texts, top_k))

    @bentoml.api(route="/model/parse", input_spec=ParseRequest.with_limits(SETTINGS.limits))
    async def parse(self, text: str) -> RasaParse:
        """Rasa's NLU endpoint: intent and ranking in Rasa's format, no entities."""
        [result] = await self._classify([text], RASA_RANKING_LENGTH)
        ranking = [
            RasaIntent(name=item.intent, confidence=item.confidence) for item in result.ranking
        ]
        intent = RasaIntent(name=result.intent, confidence=result.confidence)
        return RasaParse(text=text, intent=intent, intent_ranking=ranking)

    async def _classify(self, texts: Sequence[str], top_k: int) -> list[Classification]:
        predictions = await self.batcher([(text, top_k) for text in texts])
        return [self._answer(prediction, top_k) for prediction in predictions]

    def _predict(self, requests: list[tuple[str, int]]) -> list[Prediction]:
        """One forward pass for the (text, top_k) of every caller in the batch."""
        FORWARD_PASS_SIZE.observe(len(requests))
        # the widest ranking any caller asked for; each keeps its own top_k in `_answer`
        widest = max(top_k for _, top_k in requests)
        return self.predictor.predict([text for text, _ in requests], top_k=widest)

    def _answer(self, prediction: Prediction, top_k: int) -> Classification:
        return Classification(
            text=prediction.text,
            intent=prediction.intent,
            confidence=prediction.confidence,
            out_of_scope=prediction.out_of_scope,
            ranking=[
                IntentScore(intent=item.intent, confidence=item.confidence)
                for item in prediction.ranking[:top_k]
            ],
            reply=self.responder.reply(prediction.intent, prediction.text),
        )


def _openapi_document() -> dict:
    return IntentService.openapi_spec.asdict()


IntentService.add_asgi_middleware(JsonBodies)
IntentService.add_asgi_middleware(BodyLimit, max_bytes=SETTINGS.body_limit)
IntentService.add_asgi_middleware(OpenApiErrors, document=_openapi_document)
