"""A bare BentoML service with intentbot's /classify route and its own request and answer
types (`ClassifyRequest` in, `Classification` out), answering a constant: the serving limit of
this machine for that contract, for `bench.serving` (`bentoml serve bench.bare_service:Bare`).

Typed on purpose: a `dict` answer makes BentoML derive a JSON schema on every request, which
would make the limit slower than a real minimal service and flatter intentbot's share of it.
"""

from __future__ import annotations

import bentoml

from intentbot.serving.schemas import Classification, ClassifyRequest, IntentScore

ANSWER = Classification(
    text="what time is it",
    intent="time",
    confidence=0.97,
    out_of_scope=False,
    ranking=[
        IntentScore(intent="time", confidence=0.97),
        IntentScore(intent="date", confidence=0.01),
        IntentScore(intent="timezone", confidence=0.01),
        IntentScore(intent="alarm", confidence=0.005),
        IntentScore(intent="timer", confidence=0.005),
    ],
    reply="It's 14:05.",
)


@bentoml.service(name="bare")
class Bare:
    """Answers every /classify with the same `Classification`, without looking at the text."""

    @bentoml.api(input_spec=ClassifyRequest)
    async def classify(self, text: str, top_k: int = 5) -> Classification:
        return ANSWER
