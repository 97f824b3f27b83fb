"""ONNX Runtime must answer exactly as torch: every encoder the config allows, with and without
a tagging head, both graph forms, the grouped batch path, and a trained model end to end."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from intentbot.bundle import WEIGHTS
from intentbot.encoder import POOLINGS, EncoderConfig
from intentbot.engine import graph as graph_module
from intentbot.engine.files import GraphFileError, read_graphs, write_graphs
from intentbot.engine.graph import graphs_of, to_onnx
from intentbot.engine.kinds import KINDS
from intentbot.engine.reference import torch_engine
from intentbot.engine.runtime import (
    FOLDED_FROM,
    GROUP,
    EngineOutput,
    OnnxEngine,
    Session,
    faster,
    fused_session,
    onnx_session,
)
from intentbot.model import IntentNet, NetConfig
from intentbot.ngrams import NgramBag
from intentbot.predictor import Predictor
from intentbot.store import load_bundle
from intentbot.weights import read_network, write_network

VOCAB, CLASSES, TAGS = 60, 7, 5


def random_net(
    kind: str,
    pooling: str,
    layers: int = 1,
    bidirectional: bool = True,
    num_tags: int = 0,
    top_hidden_size: int | None = None,
    projection: int = 0,
    names: int = 0,
    grams: int = 0,
) -> IntentNet:
    """`projection`: the embeddings' projected width; `names`: known-name feature columns;
    `grams`: rows of the n-gram path's table (random, where training would start it at 0)."""
    torch.manual_seed(0)
    encoder = EncoderConfig(
        kind=kind,
        embedding_dim=12,
        hidden_size=8,
        num_layers=layers,
        bidirectional=bidirectional,
        pooling=pooling,
        top_hidden_size=top_hidden_size,
    )
    config = NetConfig(
        VOCAB,
        CLASSES,
        encoder=encoder,
        num_tags=num_tags,
        gazetteer_width=names,
        embedding_projection=projection,
        ngram_features=grams,
    )
    net = IntentNet(config)
    if grams:
        torch.nn.init.normal_(net.ngrams.weight)
    return net.eval()


def padded_batch(lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Random ids, padded with 0 after each length, as the tokenizer pads."""
    generator = np.random.default_rng(1)
    ids = generator.integers(3, VOCAB, (len(lengths), max(lengths)), dtype=np.int64)
    ids[np.arange(max(lengths))[None, :] >= np.array(lengths)[:, None]] = 0
    return ids, np.array(lengths, np.int64)


def assert_same_outputs(got: EngineOutput, expected: EngineOutput, lengths: np.ndarray) -> None:
    """Equal logits, and on real tokens (padding may hold anything) equal tag logits, most
    likely tags and their probabilities."""
    np.testing.assert_allclose(got.intents, expected.intents, atol=1e-5, rtol=1e-5)
    assert (got.tags is None) == (expected.tags is None)
    if expected.tags is not None:
        assert got.tags.logits.shape == expected.tags.logits.shape
        real = np.arange(expected.tags.logits.shape[1])[None, :] < lengths[:, None]  # (B, T)
        for name in ("logits", "confidences"):
            np.testing.assert_allclose(
                getattr(got.tags, name)[real], getattr(expected.tags, name)[real], atol=1e-5
            )
        assert got.tags.choices[real].tolist() == expected.tags.choices[real].tolist()


def random_bag(texts: int, grams: int) -> NgramBag:
    """Up to 6 random n-grams a text, padding after them (the first text has none)."""
    generator = np.random.default_rng(3)
    ids = generator.integers(1, grams, (texts, 6), dtype=np.int64)
    ids[np.arange(6)[None, :] >= generator.integers(1, 7, texts)[:, None]] = 0
    ids[0] = 0
    weights = np.where(ids > 0, generator.random(ids.shape), 0.0).astype(np.float32)
    return NgramBag(ids, weights)


# (num_layers, top_hidden_size): one layer, two alike, and a narrower top layer of its own
STACKS = ((1, None), (2, None), (2, 5))


@pytest.mark.parametrize(
    ("kind", "pooling", "stack", "bidirectional", "fold", "num_tags"),
    list(itertools.product(KINDS, POOLINGS, STACKS, (True, False), (False, True), (0, TAGS))),
)
def test_graph_computes_what_torch_computes(
    kind: str,
    pooling: str,
    stack: tuple[int, int | None],
    bidirectional: bool,
    fold: bool,
    num_tags: int,
) -> None:
    layers, top_hidden_size = stack
    net = random_net(kind, pooling, layers, bidirectional, num_tags, top_hidden_size)
    ids, lengths = padded_batch([5, 1, 3, 5, 2])
    answers = onnx_session(to_onnx(net, fold))(ids, lengths)
    assert len(answers) == (4 if num_tags else 1)  # an intent-only graph stays as it was
    assert_same_outputs(EngineOutput.of(answers), torch_engine(net)(ids, lengths), lengths)


@pytest.mark.parametrize(
    ("kind", "fold", "num_tags"), list(itertools.product(KINDS, (False, True), (0, TAGS)))
)
def test_the_ngram_path_adds_what_torch_adds(kind: str, fold: bool, num_tags: int) -> None:
    """The graph reads the n-grams as torch's EmbeddingBag does: each row times its weight,
    summed into the logits; a text without known n-grams gets the encoder's logits alone, and
    no n-grams passed at all means none known."""
    net = random_net(kind, "max", num_tags=num_tags, grams=40)
    ids, lengths = padded_batch([5, 1, 3, 5, 2])
    bag = random_bag(len(ids), 40)
    session = onnx_session(to_onnx(net, fold))
    expected = torch_engine(net)(ids, lengths, None, bag)
    assert_same_outputs(EngineOutput.of(session(ids, lengths, None, bag)), expected, lengths)
    without = EngineOutput.of(session(ids, lengths)).intents
    encoder_only = net.head(
        net.encoder(net.embedding(torch.from_numpy(ids)), torch.from_numpy(lengths))
    )
    np.testing.assert_allclose(without, encoder_only.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(without[0], expected.intents[0], atol=1e-5)  # no n-gram: same
    assert not np.allclose(without[1:], expected.intents[1:], atol=1e-3)


def test_the_grouped_batch_path_cuts_the_ngrams_with_the_texts() -> None:
    """A batch answered in length groups gives each text its own n-grams back in order."""
    net = random_net("gru", "max", grams=40)
    lengths = list(np.random.default_rng(4).integers(1, 9, GROUP + 7))
    ids, lengths = padded_batch(lengths)
    bag = random_bag(len(ids), 40)
    engine = OnnxEngine(graphs_of(net), threads=2)
    expected = torch_engine(net)(ids, lengths, None, bag)
    assert_same_outputs(engine(ids, lengths, None, bag), expected, lengths)


@pytest.mark.parametrize(("kind", "fold"), list(itertools.product(KINDS, (False, True))))
def test_projected_embeddings_fold_into_the_tables(kind: str, fold: bool) -> None:
    """The projection is folded into the embedding table (and the folded first layer's), known
    names still come after it: the graph reads a table as wide as the projection."""
    net = random_net(kind, "max", layers=2, num_tags=TAGS, projection=5, names=3)
    ids, lengths = padded_batch([5, 1, 3, 5, 2])
    matches = (np.random.default_rng(2).random((*ids.shape, 3)) < 0.4).astype(np.float32)
    model = to_onnx(net, fold)
    answers = onnx_session(model)(ids, lengths, matches)
    expected = torch_engine(net)(ids, lengths, matches)
    assert_same_outputs(EngineOutput.of(answers), expected, lengths)
    if not fold:
        assert [table.shape for table in model.tables.values()] == [(VOCAB, 5)]


@pytest.mark.parametrize(("threads", "num_tags"), [(1, 0), (2, 0), (1, TAGS), (2, TAGS)])
def test_grouped_batches_keep_order_and_values(threads: int, num_tags: int) -> None:
    """Several length groups, lengths in no order: each row must come back in its place."""
    net = random_net("gru", "max", num_tags=num_tags)
    lengths = [(7 * index) % 11 + 1 for index in range(3 * GROUP + 5)]
    ids, lengths = padded_batch(lengths)
    engine = OnnxEngine(graphs_of(net), threads=threads)
    assert len(ids) >= FOLDED_FROM  # the folded, grouped path
    reference = torch_engine(net)
    assert_same_outputs(engine(ids, lengths), reference(ids, lengths), lengths)
    few_ids, few_lengths = ids[: FOLDED_FROM - 1], lengths[: FOLDED_FROM - 1]
    assert_same_outputs(  # the fused path
        engine(few_ids, few_lengths), reference(few_ids, few_lengths), few_lengths
    )


@pytest.mark.parametrize("layers", [1, 2])
def test_a_session_with_two_threads_inside_computes_what_torch_computes(layers: int) -> None:
    """The session `fused_session` may keep for one text: the same numbers, whatever it picks."""
    net = random_net("gru", "max", layers=layers, num_tags=TAGS)
    ids, lengths = padded_batch([6, 2, 4])
    reference = torch_engine(net)(ids, lengths)
    graph = to_onnx(net)
    for session in (onnx_session(graph, threads=2), fused_session(graph, 2)):
        answers = session(ids, lengths)
        assert_same_outputs(EngineOutput.of(answers), reference, lengths)


def test_the_probe_keeps_the_session_that_answers_sooner() -> None:
    calls = {"quick": 0, "slow": 0}

    def quick(ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        calls["quick"] += 1
        return [ids]

    def slow(ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        calls["slow"] += 1
        time.sleep(0.002)
        return [ids]

    assert faster(slow, quick) is quick
    assert faster(quick, slow) is quick
    assert calls["quick"] == calls["slow"] > 0  # both timed, the same number of times


def test_the_second_session_is_kept_only_when_it_wins_by_the_margin() -> None:
    """2 ms against 3 ms: sooner, but not under half the time."""

    def sleeping(seconds: float) -> Session:
        return lambda ids, lengths: time.sleep(seconds) or [ids]

    first, second = sleeping(0.003), sleeping(0.002)
    assert faster(first, second) is second
    assert faster(first, second, margin=0.5) is first


def test_a_table_too_large_to_fold_falls_back_to_the_fused_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(graph_module, "FOLD_LIMIT_BYTES", 0)
    net = random_net("lstm", "mean")
    ids, lengths = padded_batch([4, 2, 6] * 10)
    graphs = graphs_of(net)
    assert graphs.folded is None
    assert OnnxEngine(graphs)._folded is None
    assert_same_outputs(OnnxEngine(graphs)(ids, lengths), torch_engine(net)(ids, lengths), lengths)


@pytest.mark.parametrize("fold", [True, False])
def test_graphs_written_to_files_answer_as_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fold: bool
) -> None:
    """What a serving process loads (no torch) answers as the graphs written from the network,
    and the network read back answers as itself (a top layer of its own width and projected
    embeddings included); a network too large to fold writes no folded files."""
    if not fold:
        monkeypatch.setattr(graph_module, "FOLD_LIMIT_BYTES", 0)
    net = random_net("gru", "attention", layers=2, num_tags=TAGS, top_hidden_size=5, projection=6)
    write_network(net, tmp_path)
    write_graphs(graphs_of(net), tmp_path)
    read = read_graphs(tmp_path, tmp_path / WEIGHTS)
    assert (read.folded is not None) == fold == (tmp_path / "folded.onnx").exists()
    # the tables are rebuilt from the weights file, not stored beside it a second time
    assert (tmp_path / "fused.safetensors").stat().st_size < net.embedding.weight.nbytes
    assert read.fused.origin == str(tmp_path / "fused.onnx")
    ids, lengths = padded_batch([5, 1, 3, 5, 2] * 3)  # past FOLDED_FROM: the folded graph
    engine = OnnxEngine(read)
    reference = torch_engine(net)
    assert_same_outputs(engine(ids, lengths), reference(ids, lengths), lengths)
    assert_same_outputs(engine(ids[:1], lengths[:1]), reference(ids[:1], lengths[:1]), lengths[:1])
    assert_same_outputs(
        torch_engine(read_network(tmp_path))(ids, lengths), reference(ids, lengths), lengths
    )


def test_a_folder_without_graphs_is_named(tmp_path: Path) -> None:
    """Not an older bundle: `read_bundle` has written the graphs of those before this runs."""
    write_network(random_net("gru", "max"), tmp_path)
    with pytest.raises(GraphFileError, match=r"fused\.onnx: unreadable engine graph"):
        read_graphs(tmp_path, tmp_path / WEIGHTS)


def test_trained_model_gives_the_same_answers_on_both_engines(trained_model) -> None:
    bundle = load_bundle(trained_model.tag)
    texts = ["What time is it?", "wake me up at 7", "", "tell me a joke please"] * 5
    on_onnx = Predictor(bundle, engine="onnx").predict(texts)
    on_torch = Predictor(bundle, engine="torch").predict(texts)
    assert [p.intent for p in on_onnx] == [p.intent for p in on_torch]
    assert np.allclose([p.confidence for p in on_onnx], [p.confidence for p in on_torch], atol=1e-5)


def test_unknown_engine_is_named(trained_model) -> None:
    with pytest.raises(ValueError, match=r"engine='tflite' is not one of \('onnx', 'torch'\)"):
        Predictor(load_bundle(trained_model.tag), engine="tflite")


def test_the_engine_leaves_the_floating_point_mode_alone() -> None:
    """ONNX Runtime can flush subnormals to zero on the thread that runs it; that would change
    arithmetic for the whole process (hypothesis, numpy), so the engine must not ask for it."""
    engine = OnnxEngine(graphs_of(random_net("gru", "max")), threads=1)
    ids, lengths = padded_batch([3, 2])
    engine(ids, lengths)
    assert np.float32(1.5e-38) / np.float32(4) > 0  # a subnormal result survives
