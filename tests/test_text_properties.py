"""Text pipeline properties (hypothesis): any Unicode string is either refused by the request
schema with a clear error or gets a valid prediction: finite probabilities summing to 1, the
same alone as in a batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from intentbot.predictor import Predictor
from intentbot.serving.schemas import ClassifyBatchRequest, ClassifyRequest
from intentbot.store import load_bundle

PROPERTIES = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# every code point class, surrogates excluded (JSON can't carry them alone, see the HTTP tests)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300)
NORMALISES_TO_NOTHING = st.text(
    alphabet=st.sampled_from(["\u200b", "\u200d", "\ufeff", "\u0301", "\u00ad", "\x00"]),
    min_size=1,
    max_size=20,
)


@pytest.fixture(scope="module")
def predictor(trained_model) -> Predictor:
    return Predictor(load_bundle(trained_model.tag))


def assert_valid(predictor: Predictor, texts: list[str]) -> None:
    probs = predictor.decision.probabilities(predictor.logits(texts))  # (N, C)
    assert np.isfinite(probs).all()
    assert probs.sum(axis=-1).tolist() == pytest.approx([1.0] * len(texts), abs=1e-5)
    names = set(predictor.labels.names)
    for prediction in predictor.predict(texts):
        assert math.isfinite(prediction.confidence) and 0.0 <= prediction.confidence <= 1.0
        assert prediction.intent in names
        assert prediction.out_of_scope == (prediction.intent == predictor.oos_label)


@PROPERTIES
@given(text=st.one_of(ANY_TEXT, NORMALISES_TO_NOTHING))
def test_any_text_is_refused_clearly_or_predicted_validly(predictor: Predictor, text: str):
    try:
        request = ClassifyRequest.model_validate({"text": text})
    except ValidationError as error:
        [problem] = error.errors()
        assert problem["type"] == "blank_text" and not text.strip(), problem
        return
    assert_valid(predictor, [request.text])


@PROPERTIES
@given(text=st.one_of(ANY_TEXT, NORMALISES_TO_NOTHING))
def test_the_model_itself_copes_with_any_text(predictor: Predictor, text: str):
    """Below the schema too: even blank text or text that normalises to nothing predicts."""
    assert_valid(predictor, [text])


@settings(PROPERTIES, max_examples=100)
@given(texts=st.lists(ANY_TEXT.filter(str.strip), min_size=1, max_size=12))
def test_batch_and_single_predictions_agree(predictor: Predictor, texts: list[str]):
    ClassifyBatchRequest.model_validate({"texts": texts})
    batch = predictor.predict(texts)
    for text, together in zip(texts, batch, strict=True):
        [alone] = predictor.predict([text])
        assert (alone.text, alone.intent, alone.out_of_scope) == (
            together.text,
            together.intent,
            together.out_of_scope,
        )
        assert alone.confidence == pytest.approx(together.confidence, abs=1e-5)
