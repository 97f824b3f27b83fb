"""The BentoML service: `POST /classify`, `/classify_batch` and `/model/parse` (Rasa NLU).

`bentoml serve` (see bentofile.yaml) loads the model once per worker; concurrent requests share
forward passes (`MicroBatcher`). The INTENTBOT_* settings are listed in
`intentbot.serving.settings`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import bentoml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from intentbot import __version__
from intentbot.predictor import Prediction, Predictor
from intentbot.records import DEFAULT_TOP_K
from intentbot.replies import Responder, replies_with_override
from intentbot.serving.answers import classification, rasa_parse
from intentbot.serving.batching import MicroBatcher
from intentbot.serving.collect import Collector
from intentbot.serving.middleware import BodyLimit, JsonBodies, OpenApiErrors
from intentbot.serving.schemas import (
    RASA_RANKING_LENGTH,
    Classification,
    ClassifyBatchRequest,
    ClassifyBatchResponse,
    ClassifyRequest,
    ParseRequest,
    RasaParse,
)
from intentbot.serving.settings import DEFAULT_MODEL, Settings
from intentbot.store import load_bundle

if TYPE_CHECKING:
    from bentoml._internal.bento.bento import Bento

SETTINGS = Settings.from_env()
FORWARD_PASS_SIZE = bentoml.metrics.Histogram(
    name="intentbot_forward_pass_texts",
    documentation="Texts per forward pass: above 1 when requests share passes",
    buckets=[2**power for power in range(9)],
)
logger = logging.getLogger("intentbot")


async def _docs(_: Request) -> RedirectResponse:
    """`/docs`, where people look for the OpenAPI page; BentoML serves it at `/`."""
    return RedirectResponse("/")


async def _version(_: Request) -> JSONResponse:
    """`/version`: the intentbot release that answers (pyproject.toml, CHANGELOG.md)."""
    return JSONResponse({"version": __version__})


ROUTES = Starlette(routes=[Route("/docs", _docs), Route("/version", _version)])


@bentoml.asgi_app(ROUTES)
@bentoml.service(
    name="intentbot",
    traffic={"timeout": SETTINGS.timeout, "max_concurrency": SETTINGS.max_concurrency},
)
class IntentService:
    """Classifies user messages into intents and answers them."""

    # declared so that `bentoml build` packs this model into the bento
    stored_model = bentoml.models.BentoModel(SETTINGS.model or DEFAULT_MODEL)

    def __init__(self) -> None:
        _log_as_bentoml(logger)
        tag = SETTINGS.model or packed_model(IntentService.bento) or DEFAULT_MODEL
        bundle = load_bundle(tag)
        logger.info("serving model %s", bundle.tag)
        self.predictor = Predictor(
            bundle,
            SETTINGS.threshold,
            SETTINGS.ambiguity_threshold,
            engine=SETTINGS.engine,
            threads=SETTINGS.engine_threads or None,
        )
        replies = replies_with_override(
            bundle.replies, bundle.labels, SETTINGS.replies, bundle.entity_types
        )
        for warning in replies.warnings:
            logger.warning(warning)
        self.responder = Responder(replies.templates, bundle.oos_label)
        self.batcher = MicroBatcher(self._predict, SETTINGS.limits.max_batch_size)
        self.collector: Collector | None = None
        if SETTINGS.collect:
            self.collector = Collector(SETTINGS.collect, SETTINGS.collect_max_bytes, bundle.tag)
            logger.info("keeping every request's text and answer in %s", SETTINGS.collect)

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
        """Rasa's NLU endpoint: intent, ranking and entities in Rasa's format."""
        [result] = await self._classify([text], RASA_RANKING_LENGTH)
        return rasa_parse(result)

    async def _classify(self, texts: Sequence[str], top_k: int) -> list[Classification]:
        predictions = await self.batcher([(text, top_k) for text in texts])
        return [classification(item.top(top_k), self.responder) for item in predictions]

    def _predict(self, requests: list[tuple[str, int]]) -> list[Prediction]:
        """One forward pass for the (text, top_k) of every caller in the batch; with the
        collection on, each is ranked five deep at least, what review offers."""
        FORWARD_PASS_SIZE.observe(len(requests))
        texts, widths = zip(*requests, strict=True)
        if self.collector:
            widths = [max(width, DEFAULT_TOP_K) for width in widths]
        predictions = self.predictor.predict(list(texts), top_k=list(widths))
        if self.collector:
            self.collector.add(predictions)
        return predictions


def _log_as_bentoml(target: logging.Logger) -> None:
    """BentoML configures its own loggers at INFO and leaves the root at WARNING, so intentbot's
    INFO lines (the model served, the collection file) were dropped: `target` writes through
    BentoML's handlers instead, at INFO."""
    source = logging.getLogger("bentoml")
    if target.handlers or not source.handlers:
        return
    target.disabled = False  # a logging config applied after this logger existed may disable it
    target.setLevel(logging.INFO)
    for handler in source.handlers:
        target.addHandler(handler)
    target.propagate = False


def packed_model(bento: Bento | None) -> str | None:
    """The tag of the model a bento was built with, when this service runs from one. Served
    from the local bento store, a bento reads the global model store, where `intentbot:latest`
    may since have moved on to a newer model than the one it packed."""
    if bento is None:
        return None
    tags = [
        str(model.tag)
        for service in bento.info.services
        if service.name == IntentService.name
        for model in service.models
    ]
    return tags[0] if tags else None


IntentService.add_asgi_middleware(JsonBodies)
IntentService.add_asgi_middleware(BodyLimit, max_bytes=SETTINGS.body_limit)
IntentService.add_asgi_middleware(
    OpenApiErrors, document=lambda: IntentService.openapi_spec.asdict()
)
