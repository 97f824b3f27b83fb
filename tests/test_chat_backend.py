"""The chat's backends: HTTP against a mock transport, local against the session's model."""

from __future__ import annotations

import json

import httpx
import pytest

from intentbot.chat.backends import HttpBackend, LocalBackend, TurnError, Unavailable
from intentbot.predictor import Predictor
from intentbot.serving.schemas import ClassifyRequest, Limits
from intentbot.store import load_bundle

URL = "http://intentbot.test"
ANSWER = {
    "text": "What time is it?",
    "intent": "time",
    "confidence": 0.97,
    "out_of_scope": False,
    "ranking": [{"intent": "time", "confidence": 0.97}, {"intent": "date", "confidence": 0.01}],
    "entities": [],
    "reply": "It's 14:05.",
}
# BentoML's 400 body for a failed input check (see ErrorResponse)
BLANK_TEXT = {
    "error": "1 validation error for ClassifyRequest",
    "detail": [{"type": "blank_text", "loc": ["text"], "msg": "empty or only whitespace"}],
}


def backend(respond: httpx.Response | Exception, seen: list[httpx.Request] | None = None):
    """An HttpBackend whose every request gets `respond` (returned, or raised)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if isinstance(respond, Exception):
            raise respond
        return respond

    return HttpBackend(httpx.Client(base_url=URL, transport=httpx.MockTransport(handle)))


def test_classify_posts_text_and_top_k_and_reads_the_answer():
    seen: list[httpx.Request] = []
    answer = backend(httpx.Response(200, json=ANSWER), seen).classify("What time is it?", 3)
    assert answer.model_dump() == ANSWER
    assert seen[0].method == "POST" and seen[0].url == f"{URL}/classify"
    assert json.loads(seen[0].content) == {"text": "What time is it?", "top_k": 3}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BLANK_TEXT, "text: empty or only whitespace"),
        ([{"error": "top_k out of range"}], "top_k out of range"),  # BentoML wraps some in a list
        ({"error": "too many requests"}, "too many requests"),
        ("not json at all", "not json at all"),
    ],
)
def test_a_4xx_is_the_servers_own_message(body, message):
    response = (
        httpx.Response(400, text=body) if isinstance(body, str) else httpx.Response(400, json=body)
    )
    with pytest.raises(TurnError) as raised:
        backend(response).classify(" ", 5)
    assert not isinstance(raised.value, Unavailable)
    assert str(raised.value) == f"the server refused it: {message}"


def test_an_empty_4xx_names_the_status():
    with pytest.raises(TurnError, match="refused it: 404 Not Found"):
        backend(httpx.Response(404)).classify("hi", 5)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(503, text="starting"),
    ],
)
def test_an_unreachable_or_starting_server_is_worth_retrying(failure):
    with pytest.raises(Unavailable, match=URL):
        backend(failure).classify("hi", 5)


def test_an_answer_off_the_contract_is_a_turn_error():
    with pytest.raises(TurnError, match="unexpected answer"):
        backend(httpx.Response(200, json={"intent": "time"})).classify("hi", 5)


def test_check_reports_a_server_that_is_down_or_not_ready():
    assert backend(httpx.Response(200)).check() is None
    assert "not ready (503)" in backend(httpx.Response(503)).check()
    assert "not answering" in backend(httpx.ConnectError("refused")).check()


@pytest.fixture(scope="module")
def local(trained_model) -> LocalBackend:
    return LocalBackend(load_bundle(trained_model.tag))


def test_local_answers_like_the_predictor_with_a_reply(local, trained_model):
    answer = local.classify("What time is it?", 3)
    [prediction] = Predictor(load_bundle(trained_model.tag)).predict(["What time is it?"], top_k=3)
    assert (answer.text, answer.intent, answer.out_of_scope) == (
        "What time is it?",
        "time",
        prediction.out_of_scope,
    )
    assert answer.confidence == pytest.approx(prediction.confidence)
    assert [item.intent for item in answer.ranking] == [item.intent for item in prediction.ranking]
    assert len(answer.ranking) == 3
    assert ":" in answer.reply  # the time template is filled in
    assert local.check() is None and trained_model.tag in local.description


@pytest.mark.parametrize(
    ("text", "top_k", "message"),
    [
        ("   ", 5, "text: empty or only whitespace"),
        ("x" * (Limits().max_text_length + 1), 5, "over the limit of"),
        ("hi", 99, "top_k: Input should be less than or equal to 20"),
    ],
)
def test_local_refuses_what_the_service_refuses(local, text, top_k, message):
    with pytest.raises(TurnError, match="the model refused it: ") as raised:
        local.classify(text, top_k)
    assert message in str(raised.value)
    with pytest.raises(ValueError):  # the very check the service runs
        ClassifyRequest(text=text, top_k=top_k)
