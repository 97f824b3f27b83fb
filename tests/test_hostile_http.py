"""Hostile HTTP against a real `bentoml serve` (one for the module, small limits from INTENTBOT_*):
each bad request gets a fast 4xx naming the problem, odd but valid text a correct 200, and the
server answers the next normal request. Also the configured timeout (504) and max concurrency
(429), and clients that go away early."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from bench.servers import live_server
from intentbot.predictor import Predictor
from intentbot.serving.schemas import Classification, ErrorResponse
from intentbot.serving.settings import Settings
from intentbot.store import load_bundle

pytestmark = pytest.mark.server

MAX_TEXT_LENGTH, MAX_BATCH_SIZE, TIMEOUT, MAX_CONCURRENCY = 300, 32, 5.0, 4
BODY_LIMIT = Settings.from_env(
    {"INTENTBOT_MAX_TEXT_LENGTH": "300", "INTENTBOT_MAX_BATCH_SIZE": "32"}
).body_limit
FAST = 2.0  # seconds within which a refusal must come back


@pytest.fixture(scope="module")
def url(trained_model) -> Iterator[str]:
    env = {
        "BENTOML_HOME": str(trained_model.bentoml_home),
        "INTENTBOT_MODEL": trained_model.tag,
        "INTENTBOT_MAX_TEXT_LENGTH": str(MAX_TEXT_LENGTH),
        "INTENTBOT_MAX_BATCH_SIZE": str(MAX_BATCH_SIZE),
        "INTENTBOT_TIMEOUT": str(TIMEOUT),
        "INTENTBOT_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
    }
    with live_server(env) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def predictor(trained_model) -> Predictor:
    return Predictor(load_bundle(trained_model.tag))


def assert_still_answers(client: httpx.Client, within: float = 0.0) -> None:
    """The next normal request gets its answer (after up to `within` seconds of 429s, while
    requests still in flight hold the concurrency slots)."""
    deadline = time.monotonic() + within
    response = client.post("/classify", json={"text": "What time is it?"})
    while response.status_code == 429 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = client.post("/classify", json={"text": "What time is it?"})
    assert response.status_code == 200, response.text
    assert response.json()["intent"] == "time"


def nested(depth: int) -> bytes:
    return b'{"text": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE = {
    # name: (route, body, status, error type)
    "invalid UTF-8": ("/classify", b'{"text": "\xff\xfe hi"}', 400, "json_invalid"),
    "Latin-1 body": ("/classify", '{"text": "café"}'.encode("latin-1"), 400, "json_invalid"),
    "lone surrogate escape": ("/classify", rb'{"text": "\ud800"}', 400, "json_invalid"),
    "10 MB body": ("/classify", b'{"text": "' + b"a" * 10_000_000 + b'"}', 413, "body_too_large"),
    "deeply nested arrays": ("/classify", b"[" * 50_000 + b"]" * 50_000, 400, "json_invalid"),
    "deeply nested text": ("/model/parse", nested(50_000), 400, "json_invalid"),
    "deeply nested objects": (
        "/classify",
        b'{"text": ' + b'{"a": ' * 20_000 + b"1" + b"}" * 20_000 + b"}",
        400,
        "json_invalid",
    ),
    "100k-character text": ("/classify", json.dumps({"text": "a" * 100_000}).encode(), 400, None),
    "100k-character text in a batch": (
        "/classify_batch",
        json.dumps({"texts": ["hi", "a" * 100_000]}).encode(),
        400,
        "text_too_long",
    ),
    "batch of 10,000 texts": (
        "/classify_batch",
        json.dumps({"texts": ["hi"] * 10_000}).encode(),
        400,
        "batch_size",
    ),
    "null text": ("/classify", b'{"text": null}', 400, "string_type"),
    "null texts": ("/classify_batch", b'{"texts": null}', 400, "list_type"),
    "null in batch": ("/classify_batch", b'{"texts": ["hi", null]}', 400, "string_type"),
    "null top_k": ("/classify", b'{"text": "hi", "top_k": null}', 400, "int_type"),
    "null body": ("/classify", b"null", 400, "model_type"),
    "number as text": ("/classify", b'{"text": 42}', 400, "string_type"),
    "float as text": ("/model/parse", b'{"text": 1.5e308}', 400, "string_type"),
    "number out of range": ("/classify", b'{"text": 1e999999}', 400, None),
    "boolean as text": ("/classify", b'{"text": true}', 400, "string_type"),
    "object as text": ("/classify", b'{"text": {"text": "hi"}}', 400, "string_type"),
    "numbers as texts": ("/classify_batch", b'{"texts": [1, 2, 3]}', 400, "string_type"),
    "huge top_k": ("/classify", b'{"text": "hi", "top_k": 1' + b"0" * 5000 + b"}", 400, None),
    "NaN top_k": ("/classify", b'{"text": "hi", "top_k": NaN}', 400, None),
    "float top_k": ("/classify", b'{"text": "hi", "top_k": 2.5}', 400, "int_type"),
    "NUL bytes only": ("/classify", json.dumps({"text": "\x00\x00"}).encode(), None, None),
}


@pytest.mark.parametrize(("route", "body", "status", "kind"), HOSTILE.values(), ids=HOSTILE)
def test_hostile_body_is_a_fast_4xx_and_the_server_carries_on(
    client: httpx.Client, route: str, body: bytes, status: int | None, kind: str | None
):
    started = time.perf_counter()
    response = client.post(route, content=body, headers={"content-type": "application/json"})
    elapsed = time.perf_counter() - started
    if status is None:  # valid JSON whose text may or may not count as blank: either is fine
        assert response.status_code in (200, 400), response.text
    else:
        assert response.status_code == status, response.text[:500]
    if response.status_code != 200:
        error = ErrorResponse.model_validate(response.json())
        assert error.detail, error
        if kind is not None:
            assert kind in [item.type for item in error.detail], error.summary()
    assert elapsed < FAST, f"{elapsed:.2f}s"
    assert_still_answers(client)


def chunks(total: int, size: int = 1 << 16) -> Iterator[bytes]:
    yield b'{"text": "'
    for _ in range(total // size):
        yield b"a" * size
    yield b'"}'


def test_endless_chunked_upload_is_cut_off_at_the_body_limit(client: httpx.Client):
    """No Content-Length to refuse up front: the server stops reading past the limit."""
    started = time.perf_counter()
    response = client.post("/classify", content=chunks(10_000_000))
    assert response.status_code == 413
    assert f"limit of {BODY_LIMIT} bytes" in ErrorResponse.model_validate(response.json()).error
    assert time.perf_counter() - started < FAST
    assert_still_answers(client)


def test_largest_valid_batch_fits_under_the_body_limit(client: httpx.Client):
    """The default limit leaves room for any valid request, even all-escaped emoji."""
    texts = ["😀" * MAX_TEXT_LENGTH] * MAX_BATCH_SIZE
    body = json.dumps({"texts": texts, "top_k": 1}).encode()  # ASCII-escaped: 12 bytes per char
    assert len(body) > 100_000
    response = client.post("/classify_batch", content=body)
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["results"]) == MAX_BATCH_SIZE


ODD_TEXTS = {
    "control characters": "what\x00 time\x01\x07 is\x1b[31m it\x7f?",
    "emoji": "😀🙃 what time is it 🕒⏰",
    "emoji ZWJ sequence": "👩‍👩‍👧‍👦 hello",
    "right-to-left override": "\u202ewhat time is it?\u202c",
    "zero-width characters": "wh\u200bat\u200c ti\u200dme\ufeff",
    "combining marks": "e\u0301\u0301\u0301 z\u0336a\u0336l\u0336g\u0336o\u0336",
    "mixed scripts": "Привет 你好 مرحبا שלום नमस्ते",
    "private use and noncharacters": "\ue000\uf8ff\ufffe\uffff\U0010fffd",
    "at the length limit": "😀" * MAX_TEXT_LENGTH,
    "newlines and tabs": "\n\twhat\r\ntime\n",
    "only punctuation": "?!?!...",
}


@pytest.mark.parametrize("text", ODD_TEXTS.values(), ids=ODD_TEXTS)
def test_odd_but_valid_text_gets_a_correct_answer(
    client: httpx.Client, predictor: Predictor, text: str
):
    response = client.post("/classify", json={"text": text})
    assert response.status_code == 200, response.text
    result = Classification.model_validate(response.json())
    [expected] = predictor.predict([text])
    assert result.text == text  # echoed exactly, nothing lost or mangled
    assert (result.intent, result.out_of_scope) == (expected.intent, expected.out_of_scope)
    assert result.confidence == pytest.approx(expected.confidence, abs=1e-4)
    assert result.reply


def raw_connection(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def request_head(route: str, length: int) -> bytes:
    return (
        f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket) -> str:
    """Everything the server sends until it closes the connection or says `seconds`."""
    data = b""
    while b"seconds" not in data and (chunk := sock.recv(4096)):
        data += chunk
    return data.decode(errors="replace")


def test_client_that_disconnects_mid_body(url: str, client: httpx.Client):
    for _ in range(5):
        with raw_connection(url) as sock:
            sock.sendall(request_head("/classify", 1000) + b'{"text": "wh')
    # the server sees each disconnect and frees its slot; on a loaded machine that takes a moment,
    # but far less than the timeout that would otherwise end the stalled uploads
    assert_still_answers(client, within=TIMEOUT / 2)


def test_client_that_disconnects_before_the_answer(url: str, client: httpx.Client):
    body = json.dumps({"texts": ["what time is it"] * MAX_BATCH_SIZE}).encode()
    for _ in range(5):
        with raw_connection(url) as sock:
            sock.sendall(request_head("/classify_batch", len(body)) + body)
    # the abandoned requests finish (well before the timeout would end them) and free their slots
    assert_still_answers(client, within=TIMEOUT / 2)


def test_body_past_its_content_length_is_never_read(url: str, client: httpx.Client):
    """A declared length is within the limit and trusted: the server reads that many bytes and
    parses them (here a cut-off JSON: 400), never the rest, whatever follows."""
    declared = b'{"text": "what time'
    with raw_connection(url) as sock:
        sock.sendall(request_head("/classify", len(declared)) + declared + b"x" * 65_536)
        answer = b""
        while b"json_invalid" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"json_invalid" in answer, answer
    assert_still_answers(client)


def hold_a_slot(url: str) -> socket.socket | None:
    """A connection whose upload stalls mid-body, keeping one concurrency slot; None if the
    server refused it at once (a slot still busy with the tail of an earlier request)."""
    sock = raw_connection(url)
    sock.sendall(request_head("/classify", 100) + b'{"text": ')
    sock.settimeout(0.3)
    try:
        sock.recv(100)
    except TimeoutError:
        sock.settimeout(10)
        return sock
    sock.close()
    return None


def test_max_concurrency_answers_429_and_timeout_answers_504(url: str, client: httpx.Client):
    """Slow uploads hold every slot: the next request gets BentoML's 429 at once; the slow ones
    get a 504 after INTENTBOT_TIMEOUT seconds, and then the server is free again."""
    slow: list[socket.socket] = []
    try:
        started = time.perf_counter()
        while len(slow) < MAX_CONCURRENCY and time.perf_counter() - started < TIMEOUT / 2:
            if (sock := hold_a_slot(url)) is not None:
                slow.append(sock)
        assert len(slow) == MAX_CONCURRENCY
        refused = time.perf_counter()
        response = client.post("/classify", json={"text": "hi"})
        assert response.status_code == 429, response.text
        assert response.json() == {"error": "Too many requests"}
        assert time.perf_counter() - refused < FAST  # refusals are immediate
        for sock in slow:
            answer = read_answer(sock)
            assert answer.startswith("HTTP/1.1 504"), answer
            assert f"in {TIMEOUT} seconds" in answer
        assert time.perf_counter() - started < TIMEOUT + FAST
    finally:
        for sock in slow:
            sock.close()
    assert_still_answers(client)
