"""Entities end to end: tag targets in batches, both engines finding the same spans for every
encoder, bundles with and without tags, and a tiny joint training that learns to find spans."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from intentbot.bundle import TAGS, Bundle, BundleError, read_bundle, write_bundle
from intentbot.encoder import POOLINGS, EncoderConfig
from intentbot.engine.kinds import KINDS
from intentbot.examples import Entity, Example
from intentbot.labels import LabelSet
from intentbot.model import IntentNet, NetConfig
from intentbot.oos import OosDecision
from intentbot.predictor import Predictor
from intentbot.splits import Splits
from intentbot.store import load_bundle
from intentbot.tagging import IGNORE, TagSet
from intentbot.tokenizer import IntentTokenizer
from intentbot.train import train
from intentbot.training.datamodule import IntentDataModule
from tests.conftest import compose_config

TEMPLATES = {
    "set_timer": [
        "set a timer for {duration}",
        "timer for {duration} please",
        "start a {duration} timer",
        "remind me in {duration} to call mum",
    ],
    "weather": [
        "weather in {city} {date}",
        "what is the weather in {city} {date}",
        "will it rain in {city} {date}",
        "is it sunny {date} in {city}",
    ],
    "play_music": [
        "play {artist}",
        "put on some {artist} music",
        "i want to hear {artist} now",
        "play something by {artist}",
    ],
    "book_flight": [  # two cities told apart by their Rasa roles
        "fly from {city@from} to {city@to}",
        "book a flight to {city@to} from {city@from}",
    ],
    "greeting": [
        *("hi", "hi there", "hello", "hello bot", "hey", "hey there", "good morning"),
        *("good morning bot", "good evening", "good evening bot", "yo", "hiya"),
    ],
}
VALUES = {
    "duration": ["5 minutes", "ten seconds", "2 hours", "half an hour", "20 minutes", "90 seconds"],
    "city": ["paris", "new york", "tokyo", "san francisco", "berlin", "Rome"],
    "date": ["tomorrow", "today", "on friday", "next week"],
    "artist": ["miles davis", "the beatles", "adele", "daft punk", "nina simone", "abba"],
}
TEXTS = [
    "set a timer for 5 minutes",
    "Weather in New York tomorrow",
    "play daft punk",
    "hi",
    "book a flight to Tokyo from Berlin",
    "",
]


def synthetic_rows() -> list[dict]:
    """Every template with every combination of slot values: JSONL rows with character-offset
    entities (about 230); `{city@from}` is a city in the role `from`."""
    rows = []
    for intent, templates in TEMPLATES.items():
        for template in templates:
            slots = [part.split("}")[0] for part in template.split("{")[1:]]
            for values in itertools.product(*(VALUES[slot.split("@")[0]] for slot in slots)):
                text, entities = template, []
                for slot, value in zip(slots, values, strict=True):
                    start = text.index("{" + slot + "}")
                    text = text.replace("{" + slot + "}", value, 1)
                    kind, _, role = slot.partition("@")
                    entity = {"start": start, "end": start + len(value), "entity": kind}
                    entities.append({**entity, "role": role} if role else entity)
                rows.append({"text": text, "intent": intent, "entities": entities})
    return rows


def as_example(row: dict) -> Example:
    entities = [
        Entity(e["start"], e["end"], e["entity"], role=e.get("role")) for e in row["entities"]
    ]
    return Example(row["text"], row["intent"], entities=entities)


def tagging_bundle(kind: str, pooling: str, bidirectional: bool) -> Bundle:
    """An untrained, deterministic tagging model: engines must agree on any weights."""
    torch.manual_seed(0)
    examples = [as_example(row) for row in synthetic_rows()]
    tokenizer = IntentTokenizer.fit([example.text for example in examples], vocab_size=300)
    labels = LabelSet.from_intents(example.intent for example in examples)
    tag_set = TagSet.from_examples(examples)
    encoder = EncoderConfig(kind, 16, 12, bidirectional=bidirectional, pooling=pooling)
    config = NetConfig(
        tokenizer.vocab_size,
        len(labels),
        tokenizer.pad_id,
        tokenizer.unk_id,
        encoder,
        num_tags=len(tag_set),
    )
    net = IntentNet(config).eval()
    with torch.no_grad():
        net.tagger.weight.mul_(4)  # sharper tags: spans of one and several tokens appear
    return Bundle(net, tokenizer, labels, OosDecision(), tag_set=tag_set, synonyms={"adele": "A"})


def spans_of(predictions: list) -> list[list[tuple]]:
    return [
        [(e.entity, e.start, e.end, e.text, e.value) for e in prediction.entities]
        for prediction in predictions
    ]


@pytest.mark.parametrize(
    ("kind", "pooling", "bidirectional"),
    list(itertools.product(KINDS, POOLINGS, (True, False))),
)
def test_both_engines_find_the_same_spans(kind: str, pooling: str, bidirectional: bool) -> None:
    bundle = tagging_bundle(kind, pooling, bidirectional)
    texts = TEXTS * 3  # folded graph in groups; one text at a time below is the fused graph
    on_onnx = Predictor(bundle, engine="onnx").predict(texts)
    on_torch = Predictor(bundle, engine="torch").predict(texts)
    assert spans_of(on_onnx) == spans_of(on_torch)
    assert any(prediction.entities for prediction in on_onnx)
    for mine, reference in zip(on_onnx, on_torch, strict=True):
        assert [e.confidence for e in mine.entities] == pytest.approx(
            [e.confidence for e in reference.entities], abs=1e-5
        )
    fused = Predictor(bundle, engine="onnx")
    assert spans_of([fused.predict([text])[0] for text in TEXTS]) == spans_of(
        on_torch[: len(TEXTS)]
    )
    for prediction in on_onnx:
        for entity in prediction.entities:
            assert prediction.text[entity.start : entity.end] == entity.text


def test_tag_targets_ignore_bos_and_padding() -> None:
    examples = [as_example(row) for row in synthetic_rows()[:40]]
    tokenizer = IntentTokenizer.fit([example.text for example in examples], vocab_size=300)
    labels = LabelSet.from_intents(example.intent for example in examples)
    splits = Splits(examples, examples[:8], examples[:8])
    tag_set = TagSet.from_examples(examples)
    loader = IntentDataModule(splits, tokenizer, labels, batch_size=8, tag_set=tag_set)
    loader.setup()
    batch = next(iter(loader.val_dataloader()))
    assert batch.tags.shape == batch.ids.shape
    assert (batch.tags[:, 0] == IGNORE).all()
    beyond = torch.arange(batch.ids.size(1))[None, :] >= batch.lengths[:, None]
    assert (batch.tags[beyond] == IGNORE).all()
    assert (batch.tags[~beyond][1:] != IGNORE).any()
    assert (batch.tags == tag_set.names.index("B-duration")).sum() == sum(
        len(example.entities) for example in examples[:8]
    )
    intent_only = IntentDataModule(splits, tokenizer, labels, batch_size=8)
    intent_only.setup()
    assert next(iter(intent_only.val_dataloader())).tags is None


def test_a_tagging_bundle_round_trips(tmp_path: Path) -> None:
    bundle = tagging_bundle("gru", "max", True)
    write_bundle(bundle, tmp_path)
    assert json.loads((tmp_path / TAGS).read_text())["names"][:3] == ["O", "B-artist", "I-artist"]
    loaded = read_bundle(tmp_path)
    assert loaded.tag_set == bundle.tag_set and loaded.synonyms == {"adele": "A"}
    assert spans_of(Predictor(loaded).predict(TEXTS)) == spans_of(Predictor(bundle).predict(TEXTS))


def test_a_tagging_bundle_without_its_tags_says_so(tmp_path: Path) -> None:
    write_bundle(tagging_bundle("rnn", "last", False), tmp_path)
    (tmp_path / TAGS).unlink()
    with pytest.raises(BundleError, match=r"tags.json: missing, yet the network has a tagging"):
        read_bundle(tmp_path)


@pytest.fixture(scope="module")
def joint_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """A tiny GRU trained on the synthetic intents and spans, exported to the private store."""
    folder = tmp_path_factory.mktemp("joint")
    data = folder / "timers.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in synthetic_rows()))
    config = compose_config(
        "data=files",
        f"data.train={data}",
        "encoder.embedding_dim=32",
        "encoder.hidden_size=32",
        "model.head.hidden_sizes=[32]",
        "model.word_dropout=0.0",
        "model.embedding_dropout=0.1",
        "tokenizer.vocab_size=300",
        "trainer.max_epochs=20",
        "callbacks.patience=20",
        "batch_size=16",
        "optim.lr=0.01",
        "data.val_fraction=0.2",
        "data.test_fraction=0.2",
        "oos.keep_in_scope=1.0",  # no out-of-scope data here: reject nothing
        "model.gazetteer=true",  # known names, end to end: features, training, bundle, answers
        "~logger",
        "model_name=intentbot-joint",  # keeps intentbot:latest as it is
    )
    return train(config, folder / "run"), folder


def test_joint_training_learns_to_find_the_spans(joint_run: tuple[dict, Path]) -> None:
    metrics, _ = joint_run
    for split in ("val", "test"):
        assert metrics[split]["accuracy"] >= 0.9
        assert metrics[split]["entity_f1"] >= 0.9, metrics[split]
        assert metrics[split]["sentence_accuracy"] >= 0.85
    bundle = load_bundle(metrics["model_tag"])
    assert bundle.entity_types == ("artist", "city", "date", "duration")  # roles aside
    # known names travel with the model: "5 minutes" is a duration the data knows
    assert bundle.network().config.gazetteer_width == 2 * len(bundle.tag_set.types)
    _, _, offsets = bundle.tokenizer.encode_with_offsets([TEXTS[0]])
    marked = bundle.gazetteer.features(TEXTS[0], offsets[0].tolist())
    assert marked[:, 2 * bundle.gazetteer.types.index("duration")].sum() == 1
    predictor = Predictor(bundle)
    timer, weather, music, greeting, flight, _ = predictor.predict(TEXTS)
    assert timer.intent == "set_timer"
    assert [(e.entity, e.text, e.start, e.end) for e in timer.entities] == [
        ("duration", "5 minutes", 16, 25)
    ]
    assert [(e.entity, e.text) for e in weather.entities] == [
        ("city", "New York"),
        ("date", "tomorrow"),
    ]
    assert [(e.entity, e.text) for e in music.entities] == [("artist", "daft punk")]
    assert greeting.entities == []
    assert [(e.entity, e.text, e.role) for e in flight.entities] == [
        ("city", "Tokyo", "to"),
        ("city", "Berlin", "from"),
    ]


def test_data_without_entities_trains_the_model_of_before(tmp_path: Path) -> None:
    rows = [f"example {n} about {intent},{intent}" for intent in ("a", "b", "c") for n in range(12)]
    (tmp_path / "plain.csv").write_text("sentence,label\n" + "\n".join(rows))
    config = compose_config(
        "data=files",
        f"data.train={tmp_path / 'plain.csv'}",
        "trainer.max_epochs=2",
        "~logger",
        "model_name=intentbot-plain",
    )
    metrics = train(config, tmp_path / "run")
    bundle = load_bundle(metrics["model_tag"])
    assert bundle.tag_set is None and bundle.network().config.num_tags == 0
    assert bundle.network().tagger is None
    assert "entity_f1" not in metrics["test"] and "sentence_accuracy" not in metrics["test"]
    assert Predictor(bundle).predict(["example 3 about b"])[0].entities == []
