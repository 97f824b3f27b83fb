"""ONNX Runtime must answer exactly as torch: every encoder the config allows, with and without
a tagging head, both graph forms, the grouped batch path, and a trained model end to end."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from intentbot.encoder import POOLINGS, EncoderConfig
from intentbot.engine import runtime as engine_module
from intentbot.engine.graph import to_onnx
from intentbot.engine.kinds import KINDS
from intentbot.engine.runtime import FOLDED_FROM, GROUP, OnnxEngine, make_engine, onnx_session
from intentbot.model import IntentNet, NetConfig, Outputs
from intentbot.predictor import Predictor
from intentbot.store import load_bundle

VOCAB, CLASSES, TAGS = 60, 7, 5


def random_net(
    kind: str, pooling: str, layers: int = 1, bidirectional: bool = True, num_tags: int = 0
) -> IntentNet:
    torch.manual_seed(0)
    encoder = EncoderConfig(
        kind=kind,
        embedding_dim=12,
        hidden_size=8,
        num_layers=layers,
        bidirectional=bidirectional,
        pooling=pooling,
    )
    return IntentNet(NetConfig(VOCAB, CLASSES, encoder=encoder, num_tags=num_tags)).eval()


def padded_batch(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids, padded with 0 after each length, as the tokenizer pads."""
    generator = torch.Generator().manual_seed(1)
    lengths_tensor = torch.tensor(lengths)
    ids = torch.randint(3, VOCAB, (len(lengths), max(lengths)), generator=generator)
    ids[torch.arange(max(lengths))[None, :] >= lengths_tensor[:, None]] = 0
    return ids, lengths_tensor


def torch_logits(net: IntentNet, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return net(ids, lengths)


def assert_same_outputs(got: Outputs, expected: Outputs, lengths: torch.Tensor) -> None:
    """Equal logits, and equal tag logits on real tokens (padding may hold anything)."""
    torch.testing.assert_close(got.intents, expected.intents, atol=1e-5, rtol=1e-5)
    assert (got.tags is None) == (expected.tags is None)
    if expected.tags is not None:
        assert got.tags.shape == expected.tags.shape
        real = torch.arange(expected.tags.size(1))[None, :] < lengths[:, None]  # (B, T)
        torch.testing.assert_close(got.tags[real], expected.tags[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("kind", "pooling", "layers", "bidirectional", "fold", "num_tags"),
    list(itertools.product(KINDS, POOLINGS, (1, 2), (True, False), (False, True), (0, TAGS))),
)
def test_graph_computes_what_torch_computes(
    kind: str, pooling: str, layers: int, bidirectional: bool, fold: bool, num_tags: int
) -> None:
    net = random_net(kind, pooling, layers, bidirectional, num_tags)
    ids, lengths = padded_batch([5, 1, 3, 5, 2])
    answers = onnx_session(to_onnx(net, fold))(ids.numpy(), lengths.numpy())
    assert len(answers) == (2 if num_tags else 1)  # an intent-only graph stays as it was
    got = Outputs(*(torch.from_numpy(answer) for answer in answers), *[None][: 2 - len(answers)])
    with torch.inference_mode():
        assert_same_outputs(got, net.outputs(ids, lengths), lengths)


@pytest.mark.parametrize(("threads", "num_tags"), [(1, 0), (2, 0), (1, TAGS), (2, TAGS)])
def test_grouped_batches_keep_order_and_values(threads: int, num_tags: int) -> None:
    """Several length groups, lengths in no order: each row must come back in its place."""
    net = random_net("gru", "max", num_tags=num_tags)
    lengths = [(7 * index) % 11 + 1 for index in range(3 * GROUP + 5)]
    ids, lengths_tensor = padded_batch(lengths)
    engine = OnnxEngine(net, threads=threads)
    assert len(ids) >= FOLDED_FROM  # the folded, grouped path
    reference = make_engine(net, "torch")
    with torch.inference_mode():
        assert_same_outputs(
            engine(ids, lengths_tensor), reference(ids, lengths_tensor), lengths_tensor
        )
        few_ids, few_lengths = ids[: FOLDED_FROM - 1], lengths_tensor[: FOLDED_FROM - 1]
        assert_same_outputs(  # the fused path
            engine(few_ids, few_lengths), reference(few_ids, few_lengths), few_lengths
        )


def test_a_table_too_large_to_fold_falls_back_to_the_fused_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "FOLD_LIMIT_BYTES", 0)
    net = random_net("lstm", "mean")
    ids, lengths = padded_batch([4, 2, 6] * 10)
    engine = OnnxEngine(net)
    assert engine._folded is None
    torch.testing.assert_close(
        engine(ids, lengths).intents, torch_logits(net, ids, lengths), atol=1e-5, rtol=1e-5
    )


def test_trained_model_gives_the_same_answers_on_both_engines(trained_model) -> None:
    bundle = load_bundle(trained_model.tag)
    texts = ["What time is it?", "wake me up at 7", "", "tell me a joke please"] * 5
    on_onnx = Predictor(bundle, engine="onnx").predict(texts)
    on_torch = Predictor(bundle, engine="torch").predict(texts)
    assert [p.intent for p in on_onnx] == [p.intent for p in on_torch]
    assert np.allclose([p.confidence for p in on_onnx], [p.confidence for p in on_torch], atol=1e-5)


def test_unknown_engine_is_named() -> None:
    with pytest.raises(ValueError, match=r"engine='tflite' is not one of \('onnx', 'torch'\)"):
        make_engine(random_net("gru", "max"), "tflite")


def test_the_engine_leaves_the_floating_point_mode_alone() -> None:
    """ONNX Runtime can flush subnormals to zero on the thread that runs it; that would change
    arithmetic for the whole process (hypothesis, numpy), so the engine must not ask for it."""
    engine = OnnxEngine(random_net("gru", "max"), threads=1)
    ids, lengths = padded_batch([3, 2])
    engine(ids, lengths)
    assert np.float32(1.5e-38) / np.float32(4) > 0  # a subnormal result survives
