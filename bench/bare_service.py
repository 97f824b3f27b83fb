"""A bare BentoML service with intentbot's /classify route that answers a constant: the
serving limit of this machine, for `bench.serving` (`bentoml serve bench.bare_service:Bare`)."""

from __future__ import annotations

import bentoml

ANSWER = {
    "text": "what time is it",
    "intent": "time",
    "confidence": 0.97,
    "out_of_scope": False,
    "ranking": [
        {"intent": "time", "confidence": 0.97},
        {"intent": "date", "confidence": 0.01},
        {"intent": "timezone", "confidence": 0.01},
        {"intent": "alarm", "confidence": 0.005},
        {"intent": "timer", "confidence": 0.005},
    ],
    "reply": "It's 14:05.",
}


@bentoml.service(name="bare")
class Bare:
    """Answers every /classify with the same body, without looking at it."""

    @bentoml.api
    async def classify(self, text: str, top_k: int = 5) -> dict:
        return ANSWER
