"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis): valid and
invalid bodies for /classify, /classify_batch and /model/parse get no 5xx, and every answer
(200 or 4xx) matches the document. One real `bentoml serve` for the module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bench.servers import live_server

pytestmark = pytest.mark.server

FUZZED_ROUTES = ("/classify", "/classify_batch", "/model/parse")
EXAMPLES_PER_ROUTE = 200  # x 3 routes: 600 generated requests, each sent to the server
SENT: list[int] = []  # status codes of every generated request, checked at the end


@pytest.fixture(scope="module")
def server_url(trained_model) -> Iterator[str]:
    env = {
        "BENTOML_HOME": str(trained_model.bentoml_home),
        "INTENTBOT_MODEL": trained_model.tag,
        "INTENTBOT_MAX_TEXT_LENGTH": "200",
        "INTENTBOT_MAX_BATCH_SIZE": "16",
    }
    with live_server(env) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(server_url: str):
    schema = schemathesis.openapi.from_url(f"{server_url}/docs.json")
    return schema.include(path=list(FUZZED_ROUTES), method="POST")


CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


# schemathesis' own pytest plugin (`@schema.parametrize()`) fails under pytest 9
# ("'Function' object has no attribute '_nodeid'"), so its strategies drive hypothesis directly.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("route", FUZZED_ROUTES)
def test_generated_requests_get_no_5xx_and_match_the_document(
    api_schema, server_url: str, route: str, mode: GenerationMode
):
    operation = api_schema[route]["POST"]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_ROUTE // 2,
        deadline=None,
        derandomize=True,  # the same requests every run: a failure reproduces
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case) -> None:
        response = case.call(base_url=server_url, timeout=30)
        SENT.append(response.status_code)
        assert response.status_code < 500, response.text[:500]
        case.validate_response(response, checks=CHECKS)

    fuzz()


def test_fuzzing_sent_enough_requests_of_both_kinds(server_url: str):
    """Runs after the fuzzing above (same module, file order): it really sent its requests,
    and they were both accepted and refused."""
    refused = len(SENT) - SENT.count(200)
    print(f"{len(SENT)} generated requests: {SENT.count(200)} answered 200, {refused} refused")
    assert len(SENT) >= 500, len(SENT)
    assert SENT.count(200) >= 50 and sum(400 <= code < 500 for code in SENT) >= 50, SENT
    assert httpx.post(f"{server_url}/classify", json={"text": "hi"}).status_code == 200


def test_document_describes_the_error_bodies(server_url: str):
    document = httpx.get(f"{server_url}/docs.json").json()
    for route in FUZZED_ROUTES:
        responses = document["paths"][route]["post"]["responses"]
        assert {"200", "400", "413", "429", "504"} <= set(responses)
    detail = document["components"]["schemas"]["ErrorResponse"]["properties"]["detail"]
    assert detail["type"] == "array"
