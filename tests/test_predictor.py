"""Predictor's length sorting is a speed lever only: it must not change any answer."""

from __future__ import annotations

import numpy as np
import torch

from intentbot.bundle import Bundle
from intentbot.encoder import EncoderConfig
from intentbot.labels import LabelSet
from intentbot.model import IntentNet, NetConfig
from intentbot.oos import OosDecision
from intentbot.predictor import Predictor
from intentbot.tokenizer import IntentTokenizer

TEXTS = [
    "what time is it",
    "set an alarm for seven tomorrow morning please",
    "hi",
    "how do i say thank you in french",
    "book a table for two at the italian place near the station on friday night",
    "weather",
    "",
    "what is the exchange rate between dollars and euros today",
    "play some jazz",
]


def make_bundle(kind: str, pooling: str) -> Bundle:
    """An untrained but deterministic network: agreement must hold for any weights."""
    torch.manual_seed(0)
    tokenizer = IntentTokenizer.fit(TEXTS, vocab_size=200)
    labels = LabelSet.from_intents(["time", "alarm", "greeting", "translate", "oos"])
    encoder = EncoderConfig(kind=kind, embedding_dim=16, hidden_size=16, pooling=pooling)
    config = NetConfig(
        tokenizer.vocab_size, len(labels), tokenizer.pad_id, tokenizer.unk_id, encoder
    )
    return Bundle(IntentNet(config).eval(), tokenizer, labels, OosDecision(threshold=0.2))


def test_sorting_by_length_gives_the_reference_answers() -> None:
    texts = TEXTS * 7  # several chunks of 4, in an order that is not sorted
    for kind, pooling in (("gru", "max"), ("lstm", "attention"), ("rnn", "mean"), ("gru", "last")):
        bundle = make_bundle(kind, pooling)
        reference = Predictor(bundle, batch_size=4, sort_by_length=False)
        sorted_ = Predictor(bundle, batch_size=4, sort_by_length=True)
        # sorted chunks pad differently, and the fused and folded graphs add in other orders
        np.testing.assert_allclose(
            sorted_.logits(texts), reference.logits(texts), rtol=1e-5, atol=1e-6
        )
        assert [p.intent for p in sorted_.predict(texts)] == [
            p.intent for p in reference.predict(texts)
        ]


def test_sorting_keeps_the_order_of_the_texts() -> None:
    bundle = make_bundle("gru", "max")
    predictor = Predictor(bundle, batch_size=3)
    texts = TEXTS[::-1]
    assert [p.text for p in predictor.predict(texts)] == texts
    one_by_one = np.concatenate([predictor.logits([text]) for text in texts])
    np.testing.assert_allclose(predictor.logits(texts), one_by_one, rtol=1e-5, atol=1e-6)


def test_with_decision_shares_the_engine_and_leaves_the_original_alone() -> None:
    predictor = Predictor(make_bundle("gru", "max"))
    strict = predictor.with_decision(OosDecision(threshold=1.1))  # nothing is that sure
    assert strict.engine is predictor.engine
    assert all(p.out_of_scope for p in strict.predict(TEXTS))
    assert predictor.decision == OosDecision(threshold=0.2)


def test_each_text_is_ranked_as_far_as_asked_in_one_call() -> None:
    predictor = Predictor(make_bundle("gru", "max"))
    texts = TEXTS[:3]
    one, wide, default = predictor.predict(texts, top_k=[1, 4, 5])
    assert [len(p.ranking) for p in (one, wide, default)] == [1, 4, 5]
    alone = predictor.predict(texts, top_k=4)
    assert [item.intent for item in wide.ranking] == [item.intent for item in alone[1].ranking]
    assert one.intent == predictor.predict(texts, top_k=1)[0].intent
