"""Where the chat's answers come from: the intent service over HTTP, or a stored model in-process.

Both answer with the service's `Classification` and refuse bad text with the service's message,
so the chat has one rendering path and cannot tell them apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import httpx
from pydantic import ValidationError

from intentbot.serving.answers import classification
from intentbot.serving.schemas import Classification, ClassifyRequest, ErrorResponse

if TYPE_CHECKING:
    from intentbot.bundle import Bundle

RETRY_STATUSES = {502, 503, 504}  # a proxy or a server still starting up: worth another try


class TurnError(Exception):
    """A message that got no answer; the chat shows why and goes on."""


class Unavailable(TurnError):
    """The server cannot be reached (down, starting, restarting), so trying again may help."""


class Backend(Protocol):
    """Where answers come from."""

    description: str
    model: str | None  # the model's tag where the chat knows it (--local), for the transcript

    def check(self) -> str | None:
        """Why the first message would fail right now, or None."""
        ...

    def classify(self, text: str, top_k: int) -> Classification:
        """The answer to one message; raises `Unavailable` (worth retrying) or `TurnError`."""
        ...


class HttpBackend:
    """The intent service over HTTP (`POST /classify`)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.description = f"server {client.base_url}"
        self.model = None  # the server does not say which model answers

    def check(self) -> str | None:
        """Asks `/readyz`, so the chat can warn before the first message instead of failing it."""
        try:
            response = self.client.get("/readyz")
        except httpx.TransportError as error:
            return f"the server at {self.client.base_url} is not answering ({error})"
        if response.is_error:
            return f"the server at {self.client.base_url} is not ready ({response.status_code})"
        return None

    def classify(self, text: str, top_k: int) -> Classification:
        """Gateway errors and lost connections are `Unavailable` (the chat retries them); any
        other refusal is a `TurnError` carrying the server's own message."""
        try:
            response = self.client.post("/classify", json={"text": text, "top_k": top_k})
        except httpx.TransportError as error:
            raise Unavailable(f"can't reach {self.client.base_url} ({error})") from None
        if response.status_code in RETRY_STATUSES:
            raise Unavailable(f"{self.client.base_url} answered {response.status_code}")
        if response.is_error:
            raise TurnError(f"the server refused it: {_server_message(response)}")
        try:
            return Classification.model_validate_json(response.content)
        except ValidationError as error:
            raise TurnError(f"unexpected answer from the server: {error}") from None


def _server_message(response: httpx.Response) -> str:
    """The server's own words; BentoML sometimes wraps its error object in a list."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    try:
        return ErrorResponse.model_validate(body).summary()
    except ValidationError:
        return response.text.strip() or f"{response.status_code} {response.reason_phrase}"


class LocalBackend:
    """The model in this process, through the same request checks and predictor as the service."""

    def __init__(self, bundle: Bundle, replies: dict[str, list[str]] | None = None) -> None:
        """`replies` overrides the model's own (already checked against its intents)."""
        # imported here: torch takes seconds to load and the HTTP chat never needs it
        from intentbot.predictor import Predictor
        from intentbot.replies import Responder

        self.predictor = Predictor(bundle)
        self.responder = Responder(replies or bundle.replies, oos_label=bundle.oos_label)
        self.description = f"local model {bundle.tag}"
        self.model = bundle.tag

    def check(self) -> str | None:
        """Never a problem: the model was loaded before the session began."""
        return None

    def classify(self, text: str, top_k: int) -> Classification:
        """Validates `text` with the service's `ClassifyRequest`, so a message the server would
        refuse is refused here too, with the same words."""
        try:
            request = ClassifyRequest(text=text, top_k=top_k)
        except ValidationError as error:
            detail = error.errors(include_context=False, include_input=False)
            summary = ErrorResponse.model_validate({"error": str(error), "detail": detail})
            raise TurnError(f"the model refused it: {summary.summary()}") from None
        [prediction] = self.predictor.predict([request.text], top_k=request.top_k)
        return classification(prediction, self.responder)
