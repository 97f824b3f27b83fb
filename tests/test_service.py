"""The HTTP service: a real `bentoml serve` on loopback (started once for the module), plus
in-process checks of its configuration, batching and methods."""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import torch

from bench.servers import live_server
from intentbot import service as service_module
from intentbot.predictor import Predictor
from intentbot.serving.answers import rasa_entity
from intentbot.serving.batching import GATHER_TURNS, QUIET_TURNS, MicroBatcher
from intentbot.serving.schemas import (
    Classification,
    ClassifyBatchResponse,
    EntityAnswer,
    ErrorResponse,
    Limits,
)
from intentbot.serving.settings import Settings
from intentbot.splits import BUNDLED_DATA
from intentbot.store import load_bundle

# The live server runs with small limits, so the tests also show the configuration applies.
MAX_TEXT_LENGTH, MAX_BATCH_SIZE = 300, 32
CONCURRENT_REQUESTS = 50
PASSES_METRIC = "intentbot_forward_pass_texts_count"


@pytest.fixture(scope="module")
def client(trained_model) -> Iterator[httpx.Client]:
    env = {
        "BENTOML_HOME": str(trained_model.bentoml_home),
        "INTENTBOT_MODEL": trained_model.tag,
        "INTENTBOT_MAX_TEXT_LENGTH": str(MAX_TEXT_LENGTH),
        "INTENTBOT_MAX_BATCH_SIZE": str(MAX_BATCH_SIZE),
    }
    with live_server(env) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def predictor(trained_model) -> Predictor:
    return Predictor(load_bundle(trained_model.tag))


def bundled_texts(count: int) -> list[str]:
    """Distinct messages from the bundled test split."""
    lines = (BUNDLED_DATA / "test.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines[:count]]


def clock_readings(before: datetime, after: datetime) -> set[str]:
    """Every HH:MM between two instants (a request may straddle a minute)."""
    readings, moment = set(), before.replace(second=0, microsecond=0)
    while moment <= after:
        readings.add(f"{moment:%H:%M}")
        moment += timedelta(minutes=1)
    return readings


@pytest.mark.server
def test_classify_answers_the_time(client: httpx.Client):
    before = datetime.now().astimezone()
    response = client.post("/classify", json={"text": "What time is it?"})
    after = datetime.now().astimezone()
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == set(Classification.model_fields)
    result = Classification.model_validate(body)
    assert (result.text, result.intent, result.out_of_scope) == ("What time is it?", "time", False)
    assert len(result.ranking) == 5
    assert result.ranking[0].intent == "time"
    assert result.ranking[0].confidence == result.confidence
    confidences = [item.confidence for item in result.ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert any(reading in result.reply for reading in clock_readings(before, after))


@pytest.mark.server
@pytest.mark.parametrize("top_k", [1, 20])
def test_top_k_sets_the_ranking_length(client: httpx.Client, predictor: Predictor, top_k: int):
    response = client.post("/classify", json={"text": "hello", "top_k": top_k})
    assert len(response.json()["ranking"]) == min(top_k, len(predictor.labels))


@pytest.mark.server
def test_batch_answers_in_order(client: httpx.Client, predictor: Predictor):
    texts = bundled_texts(MAX_BATCH_SIZE)
    response = client.post("/classify_batch", json={"texts": texts, "top_k": 2})
    assert response.status_code == 200, response.text
    results = ClassifyBatchResponse.model_validate(response.json()).results
    assert [result.text for result in results] == texts
    assert [result.intent for result in results] == [p.intent for p in predictor.predict(texts)]
    assert all(len(result.ranking) == 2 for result in results)


@pytest.mark.server
def test_rasa_parse(client: httpx.Client):
    # Rasa's HTTP interpreter sends message_id and token along; they are ignored
    request = {"text": "What time is it?", "message_id": None, "token": "x"}
    body = client.post("/model/parse", json=request).json()
    assert set(body) == {"text", "intent", "intent_ranking", "entities"}
    assert body["text"] == "What time is it?"
    assert body["intent"]["name"] == "time"
    assert body["intent_ranking"][0] == body["intent"]
    assert 1 < len(body["intent_ranking"]) <= 10
    assert body["entities"] == []


TIMER = "Set a timer for 5 minutes please"


@pytest.mark.server
def test_classify_finds_the_duration_and_the_reply_uses_it(client: httpx.Client):
    body = client.post("/classify", json={"text": TIMER}).json()
    result = Classification.model_validate(body)
    assert result.intent == "timer"
    # the model has no roles or groups: the keys are left out, not null
    assert all({"role", "group"}.isdisjoint(entity) for entity in body["entities"])
    [duration] = [entity for entity in result.entities if entity.entity == "duration"]
    assert (duration.start, duration.end, duration.text) == (16, 25, "5 minutes")
    assert TIMER[duration.start : duration.end] == duration.text == duration.value
    assert 0 < duration.confidence <= 1
    assert "5 minutes" in result.reply


@pytest.mark.server
def test_rasa_parse_reports_entities_with_rasas_keys(client: httpx.Client):
    body = client.post("/model/parse", json={"text": TIMER}).json()
    [duration] = [entity for entity in body["entities"] if entity["entity"] == "duration"]
    assert set(duration) == {"entity", "start", "end", "value", "confidence_entity", "extractor"}
    assert (duration["start"], duration["end"], duration["value"]) == (16, 25, "5 minutes")
    assert duration["extractor"] == "intentbot"


def test_rasa_entities_carry_the_role_and_group_the_model_found():
    found = EntityAnswer(
        entity="city", value="Oslo", start=9, end=13, text="Oslo", confidence=0.9, role="from"
    )
    assert rasa_entity(found).model_dump() == {
        "entity": "city",
        "start": 9,
        "end": 13,
        "value": "Oslo",
        "confidence_entity": 0.9,
        "extractor": "intentbot",
        "role": "from",
    }


TOO_LONG = "a" * (MAX_TEXT_LENGTH + 1)
BAD_REQUESTS = {
    "invalid JSON": ("/classify", '{"text": "hi"', "json_invalid", "Invalid JSON"),
    "not an object": ("/classify", '["hi"]', "model_type", "object"),
    "missing text": ("/classify", "{}", "missing", "text: Field required"),
    "empty body": ("/classify", "", "missing", "text: Field required"),
    "number as text": ("/classify", '{"text": 42}', "string_type", "text: Input should be"),
    "null text": ("/classify", '{"text": null}', "string_type", "text: Input should be"),
    "empty text": ("/classify", '{"text": ""}', "blank_text", "text: empty"),
    "whitespace text": ("/classify", '{"text": " \\n\\t "}', "blank_text", "text: empty"),
    "text over the limit": (
        "/classify",
        json.dumps({"text": TOO_LONG}),
        "text_too_long",
        f"{MAX_TEXT_LENGTH + 1} characters, over the limit of {MAX_TEXT_LENGTH}",
    ),
    "top_k 0": ("/classify", '{"text": "hi", "top_k": 0}', "greater_than_equal", "top_k"),
    "top_k 21": ("/classify", '{"text": "hi", "top_k": 21}', "less_than_equal", "top_k"),
    "top_k string": ("/classify", '{"text": "hi", "top_k": "5"}', "int_type", "top_k"),
    "empty batch": ("/classify_batch", '{"texts": []}', "batch_size", "0 texts; send 1 to 32"),
    "oversized batch": (
        "/classify_batch",
        json.dumps({"texts": ["hi"] * (MAX_BATCH_SIZE + 1)}),
        "batch_size",
        f"{MAX_BATCH_SIZE + 1} texts; send 1 to {MAX_BATCH_SIZE}",
    ),
    "texts not a list": ("/classify_batch", '{"texts": "hi"}', "list_type", "texts"),
    "blank text in batch": ("/classify_batch", '{"texts": ["hi", " "]}', "blank_text", "item 1"),
    "number in batch": ("/classify_batch", '{"texts": ["hi", 3]}', "string_type", "texts.1"),
    "long text in batch": (
        "/classify_batch",
        json.dumps({"texts": [TOO_LONG]}),
        "text_too_long",
        "item 0",
    ),
    "parse without text": ("/model/parse", '{"message_id": "1"}', "missing", "text"),
    "parse blank text": ("/model/parse", '{"text": "  "}', "blank_text", "text: empty"),
}


@pytest.mark.server
@pytest.mark.parametrize(
    ("route", "body", "kind", "message"), BAD_REQUESTS.values(), ids=BAD_REQUESTS
)
def test_bad_request_is_a_400_naming_the_problem(
    client: httpx.Client, route: str, body: str, kind: str, message: str
):
    response = client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = ErrorResponse.model_validate(response.json())
    assert [item.type for item in error.detail] == [kind]
    assert message in error.summary()
    # and the server keeps answering
    assert client.post("/classify", json={"text": "hi"}).status_code == 200


@pytest.mark.server
@pytest.mark.parametrize(
    "content_type", ["multipart/form-data; boundary=x", "application/vnd.bentoml+pickle"]
)
def test_bodies_are_json_whatever_the_content_type(client: httpx.Client, content_type: str):
    headers = {"content-type": content_type}
    response = client.post("/classify", content="garbage", headers=headers)
    assert response.status_code == 400
    assert ErrorResponse.model_validate(response.json()).detail[0].type == "json_invalid"
    response = client.post("/classify", content='{"text": "hi"}', headers=headers)
    assert response.json()["intent"] == "greeting"


def forward_passes(client: httpx.Client) -> float:
    """How many forward passes the server has run, from its Prometheus metrics."""
    lines = client.get("/metrics").text.splitlines()
    return next(float(line.split()[-1]) for line in lines if line.startswith(PASSES_METRIC))


@pytest.mark.server
def test_concurrent_requests_share_passes_and_get_their_own_answers(
    client: httpx.Client, predictor: Predictor
):
    texts = bundled_texts(CONCURRENT_REQUESTS)
    passes_before = forward_passes(client)
    with ThreadPoolExecutor(CONCURRENT_REQUESTS) as pool:
        responses = list(
            pool.map(lambda text: client.post("/classify", json={"text": text}), texts)
        )
    assert all(response.status_code == 200 for response in responses)
    results = [Classification.model_validate(response.json()) for response in responses]
    expected = predictor.predict(texts)
    assert [result.text for result in results] == texts
    assert [result.intent for result in results] == [p.intent for p in expected]
    assert [result.confidence for result in results] == pytest.approx(
        [p.confidence for p in expected], abs=1e-4
    )
    assert forward_passes(client) - passes_before < CONCURRENT_REQUESTS


@pytest.mark.server
@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/metrics", "/docs"])
def test_operational_endpoints(client: httpx.Client, path: str):
    assert client.get(path, follow_redirects=True).status_code == 200


@pytest.mark.server
def test_openapi_lists_the_routes(client: httpx.Client):
    paths = client.get("/docs.json").json()["paths"]
    assert {"/classify", "/classify_batch", "/model/parse"} <= set(paths)


def test_settings_from_the_environment():
    assert Settings.from_env({}) == Settings()
    assert Settings().limits == Limits(max_text_length=2000, max_batch_size=256)
    settings = Settings.from_env(
        {"INTENTBOT_MODEL": "intentbot:abc", "INTENTBOT_THRESHOLD": "0.4", "INTENTBOT_TIMEOUT": ""}
    )
    assert (settings.model, settings.threshold, settings.timeout) == ("intentbot:abc", 0.4, 30.0)
    assert Settings.from_env({"INTENTBOT_ENGINE_THREADS": "2"}).engine_threads == 2
    assert Settings.from_env({"INTENTBOT_ENGINE": "torch"}).engine == "torch"
    with pytest.raises(ValueError, match="INTENTBOT_ENGINE='tflite': expected onnx or torch"):
        Settings.from_env({"INTENTBOT_ENGINE": "tflite"})


def test_the_older_name_of_the_engine_threads_still_works_with_a_warning():
    """INTENTBOT_TORCH_THREADS named them when torch was the only engine; the new name wins."""
    with pytest.warns(FutureWarning, match="INTENTBOT_TORCH_THREADS is now INTENTBOT_ENGINE_"):
        assert Settings.from_env({"INTENTBOT_TORCH_THREADS": "3"}).engine_threads == 3
    both = {"INTENTBOT_TORCH_THREADS": "3", "INTENTBOT_ENGINE_THREADS": "2"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where the new name is set
        assert Settings.from_env(both).engine_threads == 2
        assert Settings.from_env({"INTENTBOT_ENGINE_THREADS": "2"}).engine_threads == 2
    with (
        pytest.raises(ValueError, match="INTENTBOT_TORCH_THREADS='many': expected"),
        pytest.warns(FutureWarning),
    ):
        Settings.from_env({"INTENTBOT_TORCH_THREADS": "many"})


@pytest.mark.parametrize("value", ["many", "-1", "2.5"])
def test_malformed_setting_is_named(value: str):
    with pytest.raises(ValueError, match=f"INTENTBOT_MAX_TEXT_LENGTH='{value}'"):
        Settings.from_env({"INTENTBOT_MAX_TEXT_LENGTH": value})


def recorded_passes() -> tuple[list[list[int]], Callable[[list[int]], list[int]]]:
    """A forward pass that answers each item with itself, and the list of passes it ran."""
    runs: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        runs.append(items)
        return items

    return runs, run


def test_micro_batcher_shares_forward_passes_and_keeps_order():
    runs: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        runs.append(items)
        return [item * 10 for item in items]

    async def main() -> list[list[int]]:
        batcher = MicroBatcher(run, max_batch_size=4)
        return await asyncio.gather(*(batcher([i, i + 100]) for i in range(5)))

    assert asyncio.run(main()) == [[i * 10, (i + 100) * 10] for i in range(5)]
    # callers that queue together share passes of at most 4 items
    assert [len(items) for items in runs] == [4, 4, 2]


def test_micro_batcher_runs_passes_on_the_event_loop_thread():
    threads: list[int] = []

    def run(items: list[int]) -> list[int]:
        threads.append(threading.get_ident())
        return items

    async def main() -> list[list[int]]:
        batcher = MicroBatcher(run, max_batch_size=8)
        return [await batcher([1]), await batcher([1, 2])]

    assert asyncio.run(main()) == [[1], [1, 2]]
    assert threads == [threading.get_ident()] * 2  # asyncio.run's loop runs on this thread


def test_micro_batcher_waits_for_arrivals_but_not_forever():
    """Callers keep arriving, one per event-loop turn: the first is still answered, after a
    pass that gathered some of them."""
    runs, run = recorded_passes()

    async def main() -> tuple[list[int], int]:
        batcher = MicroBatcher(run, max_batch_size=1000)
        first = asyncio.create_task(batcher([0]))
        others = []
        while not first.done() and len(others) < 100:
            others.append(asyncio.create_task(batcher([len(others) + 1])))
            await asyncio.sleep(0)
        await asyncio.gather(*others)
        return await first, len(others)

    answer, arrived_meanwhile = asyncio.run(main())
    assert answer == [0]
    assert arrived_meanwhile <= GATHER_TURNS + 2 < 100
    assert len(runs[0]) > 1
    computed = [item for items in runs for item in items]
    assert sorted(computed) == list(range(len(computed)))  # each caller's text, once


def test_a_caller_a_few_turns_behind_still_shares_the_pass():
    """A request read with another reaches the batcher a turn or two later (it is parsed and
    validated on the way): one turn without a newcomer is no proof that nobody is coming."""
    runs, run = recorded_passes()

    async def late(batcher: MicroBatcher) -> list[int]:
        for _ in range(QUIET_TURNS - 1):
            await asyncio.sleep(0)
        return await batcher([2])

    async def main() -> list[list[int]]:
        batcher = MicroBatcher(run, max_batch_size=8)
        return await asyncio.gather(batcher([1]), late(batcher))

    assert asyncio.run(main()) == [[1], [2]]
    assert runs == [[1, 2]]


def test_micro_batcher_does_not_wait_once_a_full_pass_is_queued():
    runs, run = recorded_passes()

    async def main() -> list[int]:
        return await MicroBatcher(run, max_batch_size=3)([1, 2, 3])

    assert asyncio.run(main()) == [1, 2, 3]
    assert runs == [[1, 2, 3]]


def test_micro_batcher_passes_a_failure_to_every_caller():
    def run(items: list[int]) -> list[int]:
        raise RuntimeError("boom")

    async def main() -> list[BaseException | list[int]]:
        batcher = MicroBatcher(run, max_batch_size=8)
        return await asyncio.gather(*(batcher([i]) for i in range(3)), return_exceptions=True)

    assert all(isinstance(outcome, RuntimeError) for outcome in asyncio.run(main()))


def test_micro_batcher_drops_a_caller_that_went_away():
    runs, run = recorded_passes()

    async def main() -> tuple[list[int], bool]:
        batcher = MicroBatcher(run, max_batch_size=8)
        first, second = (asyncio.create_task(batcher([i])) for i in (1, 2))
        await asyncio.sleep(0)  # both are queued, waiting for others to join their pass
        first.cancel()
        return await second, first.cancelled()

    assert asyncio.run(main()) == ([2], True)
    assert runs == [[2]]  # the cancelled caller's text was not computed


def test_service_methods_in_process(trained_model, monkeypatch: pytest.MonkeyPatch):
    """The class without a server: BentoML instantiates it the same way."""
    settings = Settings(model=trained_model.tag, engine_threads=2)
    monkeypatch.setattr(service_module, "SETTINGS", settings)
    service = service_module.IntentService()
    assert service.predictor.engine.threads == 2  # INTENTBOT_ENGINE_THREADS: groups side by side
    result = asyncio.run(service.classify(text="What time is it?", top_k=3))
    assert (result.intent, len(result.ranking)) == ("time", 3)
    monkeypatch.setattr(service_module, "SETTINGS", replace(settings, engine="torch"))
    threads = torch.get_num_threads()
    try:
        on_torch = service_module.IntentService()
        assert torch.get_num_threads() == 2  # and torch's own, with engine=torch
    finally:
        torch.set_num_threads(threads)
    same = asyncio.run(on_torch.classify(text="What time is it?", top_k=3))
    assert [item.intent for item in same.ranking] == [item.intent for item in result.ranking]
    assert same.confidence == pytest.approx(result.confidence, abs=1e-5)
    assert service.predictor.decision == load_bundle(trained_model.tag).decision


def test_callers_sharing_a_pass_keep_their_own_top_k(
    trained_model, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service_module, "SETTINGS", Settings(model=trained_model.tag))
    service = service_module.IntentService()
    widths: list[list[int]] = []
    predict = service.predictor.predict

    def recorded(texts: list[str], top_k: list[int]) -> list:
        widths.append(sorted(top_k))
        return predict(texts, top_k=top_k)

    monkeypatch.setattr(service.predictor, "predict", recorded)

    async def both() -> list[Classification]:
        return await asyncio.gather(
            service.classify(text="hi", top_k=1), service.classify(text="What time is it?")
        )

    narrow, default = asyncio.run(both())
    assert (len(narrow.ranking), len(default.ranking)) == (1, 5)
    assert widths == [[1, 5]]  # one pass, each text ranked as its caller asked


def test_replies_file_overrides_the_models_replies_without_retraining(
    trained_model, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog
):
    replies = tmp_path / "replies.yaml"
    replies.write_text("time: ['Time to check your watch.']\n")
    settings = Settings(model=trained_model.tag, replies=str(replies))
    monkeypatch.setattr(service_module, "SETTINGS", settings)
    with caplog.at_level("WARNING", logger="intentbot"):
        service = service_module.IntentService()
    result = asyncio.run(service.classify(text="What time is it?"))
    assert result.reply == "Time to check your watch."
    assert "no reply for" in caplog.text and "greeting" in caplog.text
    replies.write_text("time: [Now]\nno_such_intent: [Never]\n")
    with pytest.raises(ValueError, match="no_such_intent"):
        service_module.IntentService()


def test_replies_setting_is_read_from_the_environment():
    assert Settings.from_env({"INTENTBOT_REPLIES": "mine.yaml"}).replies == "mine.yaml"
    assert Settings.from_env({}).replies is None
