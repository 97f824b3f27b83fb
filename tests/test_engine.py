"""ONNX Runtime must answer exactly as torch: every encoder the config allows, both graph forms,
the grouped batch path, and a trained model end to end."""

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
from intentbot.model import IntentNet, NetConfig
from intentbot.predictor import Predictor
from intentbot.store import load_bundle

VOCAB, CLASSES = 60, 7


def random_net(kind: str, pooling: str, layers: int = 1, bidirectional: bool = True) -> IntentNet:
    torch.manual_seed(0)
    encoder = EncoderConfig(
        kind=kind,
        embedding_dim=12,
        hidden_size=8,
        num_layers=layers,
        bidirectional=bidirectional,
        pooling=pooling,
    )
    return IntentNet(NetConfig(VOCAB, CLASSES, encoder=encoder)).eval()


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


@pytest.mark.parametrize(
    ("kind", "pooling", "layers", "bidirectional", "fold"),
    list(itertools.product(KINDS, POOLINGS, (1, 2), (True, False), (False, True))),
)
def test_graph_computes_what_torch_computes(
    kind: str, pooling: str, layers: int, bidirectional: bool, fold: bool
) -> None:
    net = random_net(kind, pooling, layers, bidirectional)
    ids, lengths = padded_batch([5, 1, 3, 5, 2])
    logits = onnx_session(to_onnx(net, fold))(ids.numpy(), lengths.numpy())
    torch.testing.assert_close(
        torch.from_numpy(logits), torch_logits(net, ids, lengths), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_grouped_batches_keep_order_and_values(threads: int) -> None:
    """Several length groups, lengths in no order: each row must come back in its place."""
    net = random_net("gru", "max")
    lengths = [(7 * index) % 11 + 1 for index in range(3 * GROUP + 5)]
    ids, lengths_tensor = padded_batch(lengths)
    engine = OnnxEngine(net, threads=threads)
    assert len(ids) >= FOLDED_FROM  # the folded, grouped path
    torch.testing.assert_close(
        engine(ids, lengths_tensor), torch_logits(net, ids, lengths_tensor), atol=1e-5, rtol=1e-5
    )
    few_ids, few_lengths = ids[: FOLDED_FROM - 1], lengths_tensor[: FOLDED_FROM - 1]
    torch.testing.assert_close(  # the fused path
        engine(few_ids, few_lengths), torch_logits(net, few_ids, few_lengths), atol=1e-5, rtol=1e-5
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
        engine(ids, lengths), torch_logits(net, ids, lengths), atol=1e-5, rtol=1e-5
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
