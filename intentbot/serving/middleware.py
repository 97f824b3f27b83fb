"""ASGI middlewares of the service: JSON bodies whatever the content type, a body size limit
enforced before parsing, and an OpenAPI document that shows the error answers really sent."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intentbot.serving.schemas import ErrorResponse


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
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        if declared is not None and b"transfer-encoding" not in headers:
            # the server reads no more than a declared length, so the body needs no watching
            await self.app(scope, receive, send)
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
