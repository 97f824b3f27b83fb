"""Known-name features: which tokens are part of a name the training data or a lookup table
knows, counted out of a training utterance's own annotations, through every engine and the
bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from intentbot.bundle import GAZETTEER, Bundle, BundleError, read_bundle, write_bundle
from intentbot.examples import Entity, Example
from intentbot.gazetteer import Gazetteer, words
from intentbot.model import IntentNet, NetConfig
from intentbot.predictor import Predictor
from intentbot.splits import Splits, from_files
from intentbot.store import load_bundle
from intentbot.tagging import TagSet
from intentbot.training.datamodule import IntentDataModule
from tests.test_entities import TEXTS, as_example, spans_of, synthetic_rows, tagging_bundle


def annotated(text: str, intent: str, *names: tuple[str, str]) -> Example:
    """`text` with each (surface, type) of `names` annotated where it first occurs."""
    entities = [
        Entity(text.index(surface), text.index(surface) + len(surface), kind)
        for surface, kind in names
    ]
    return Example(text, intent, entities=sorted(entities, key=lambda e: e.start))


def word_offsets(text: str) -> list[tuple[int, int]]:
    """[BOS] then one token per word, as a word tokenizer would cut `text`."""
    return [(0, 0), *((start, end) for _, start, end in words(text))]


EXAMPLES = [
    annotated("play the happy blues", "music", ("the happy blues", "album")),
    annotated("play the happy blues again", "music", ("the happy blues", "album")),
    annotated("add digging now to my list", "music", ("digging now", "playlist")),
]
TAG_SET = TagSet.from_examples(EXAMPLES)  # album, playlist
ALBUM_B, ALBUM_I, PLAYLIST_B, PLAYLIST_I = 0, 1, 2, 3


def test_a_known_name_marks_its_first_token_b_and_the_rest_i() -> None:
    gazetteer = Gazetteer.from_examples(EXAMPLES, TAG_SET)
    text = "could you play The Happy Blues"
    found = gazetteer.features(text, word_offsets(text))
    assert found.shape == (7, gazetteer.width) == (7, 4)
    assert found[:, ALBUM_B].tolist() == [0, 0, 0, 0, 1, 0, 0]  # casing does not matter
    assert found[:, ALBUM_I].tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert found[:, PLAYLIST_B:].sum() == 0


def test_a_name_split_into_pieces_marks_every_piece() -> None:
    gazetteer = Gazetteer.from_examples(EXAMPLES, TAG_SET)
    text = "add digging now"  # "digging" as two tokenizer pieces: dig ##ging
    offsets = [(0, 0), (0, 3), (4, 7), (7, 11), (12, 15), (0, 0)]  # padding at the end
    found = gazetteer.features(text, offsets)
    assert found[:, PLAYLIST_B].tolist() == [0, 0, 1, 0, 0, 0]
    assert found[:, PLAYLIST_I].tolist() == [0, 0, 0, 1, 1, 0]


def test_a_training_utterance_does_not_see_its_own_annotations() -> None:
    """Annotated once ("digging now"): unknown in its own utterance, known elsewhere.
    Annotated twice ("the happy blues"): each utterance sees the other's."""
    gazetteer = Gazetteer.from_examples(EXAMPLES, TAG_SET)
    playlist = EXAMPLES[2]
    own = gazetteer.features(playlist.text, word_offsets(playlist.text), playlist.entities)
    assert own.sum() == 0
    assert gazetteer.features(playlist.text, word_offsets(playlist.text)).sum() == 2
    album = EXAMPLES[0]
    counted = gazetteer.features(album.text, word_offsets(album.text), album.entities)
    assert counted[:, ALBUM_B].sum() == 1 and counted[:, ALBUM_I].sum() == 2


def test_unicode_forms_of_a_name_match() -> None:
    examples = [annotated("weather in Zürich", "weather", ("Zürich", "city"))] * 2
    gazetteer = Gazetteer.from_examples(examples, TagSet.from_examples(examples))
    full_width_z = "\uff3a"
    for text in ("weather in ZÜRICH", "weather in Zu\u0308rich", f"weather in {full_width_z}ürich"):
        assert gazetteer.features(text, word_offsets(text))[:, 0].tolist() == [0, 0, 0, 1], text


def test_lookup_tables_name_entities_for_every_role_and_never_count_out() -> None:
    examples = [
        Example(
            "fly from oslo to rome",
            "flight",
            entities=[Entity(9, 13, "city", role="from"), Entity(17, 21, "city", role="to")],
        )
    ]
    tag_set = TagSet.from_examples(examples)
    lookups = {"city": ["Oslo", "New York"], "colour": ["red"]}  # no entity is a colour
    gazetteer = Gazetteer.from_examples(examples, tag_set, lookups)
    assert gazetteer.types == ("city|role=from", "city|role=to")
    text = "fly to new york"
    assert gazetteer.features(text, word_offsets(text))[3].tolist() == [1, 0, 1, 0]
    own = gazetteer.features(examples[0].text, word_offsets(examples[0].text), examples[0].entities)
    assert own[3].tolist() == [1, 0, 1, 0]  # oslo: listed, so known even in its own utterance
    assert own[5].sum() == 0  # rome: annotated here only
    assert gazetteer.size == 3


def test_a_rasa_lookup_table_reaches_the_gazetteer(tmp_path: Path) -> None:
    rasa = tmp_path / "nlu.yml"
    rasa.write_text(
        "nlu:\n"
        "- intent: weather\n  examples: |\n"
        + "".join(f"    - weather in [{city}](city)\n" for city in ("paris", "rome", "oslo") * 4)
        + "- intent: greet\n  examples: |\n"
        + "".join(f"    - hello {n}\n" for n in range(12))
        + "- lookup: city\n  examples: |\n    - Reykjavik\n    - Buenos Aires\n"
    )
    splits = from_files(str(rasa))
    assert splits.lookups == {"city": ["Reykjavik", "Buenos Aires"]}
    gazetteer = Gazetteer.from_examples(splits.train, TagSet.from_examples(splits.train))
    text = "weather in buenos aires"
    assert gazetteer.features(text, word_offsets(text)).sum() == 0
    gazetteer = Gazetteer.from_examples(
        splits.train, TagSet.from_examples(splits.train), splits.lookups
    )
    assert gazetteer.features(text, word_offsets(text))[:, 0].tolist() == [0, 0, 0, 1, 0]


def test_the_dict_form_keeps_what_serving_needs() -> None:
    gazetteer = Gazetteer.from_examples(EXAMPLES, TAG_SET, {"album": ["abbey road"]})
    record = json.loads(json.dumps(gazetteer.to_dict()))
    assert record == {
        "types": ["album", "playlist"],
        "names": {"album": ["abbey road", "the happy blues"], "playlist": ["digging now"]},
    }
    again = Gazetteer.from_dict(record)
    for text in ("play abbey road", "play the happy blues", "add digging now"):
        offsets = word_offsets(text)
        assert (again.features(text, offsets) == gazetteer.features(text, offsets)).all()
    with pytest.raises(ValueError, match="`names` must map"):
        Gazetteer.from_dict({"types": ["album"], "names": {"song": ["x"]}})
    with pytest.raises(ValueError, match="`types` must be a list"):
        Gazetteer.from_dict({"types": "album", "names": {}})


def test_training_batches_carry_the_features_counted_out_on_the_training_split() -> None:
    examples = [as_example(row) for row in synthetic_rows()]
    tag_set = TagSet.from_examples(examples)
    gazetteer = Gazetteer.from_examples(examples[:-1], tag_set)
    bundle = tagging_bundle("gru", "max", True)
    splits = Splits(examples, examples[-8:], examples[-8:])
    module = IntentDataModule(splits, bundle.tokenizer, bundle.labels, 8, 0, tag_set, 1, gazetteer)
    module.setup()
    train, val = module.datasets["train"], module.datasets["val"]
    # the last example is not in the gazetteer: counting out its own names changes nothing
    assert (train.matches[-1] == val.matches[-1]).all()
    assert train.matches[-1].shape == (len(train.sequences[-1]), gazetteer.width)
    # an example in it sees fewer names on the training split, where its own count out
    first = next(i for i, example in enumerate(examples) if example.entities)
    seen = module.datasets["train"].matches[first].sum()
    unseen = IntentDataModule(
        Splits(examples, examples, examples),
        bundle.tokenizer,
        bundle.labels,
        8,
        0,
        tag_set,
        1,
        gazetteer,
    )
    unseen.setup()
    assert seen <= unseen.datasets["val"].matches[first].sum()
    batch = next(iter(module.val_dataloader()))
    assert batch.matches.shape == (*batch.ids.shape, gazetteer.width)
    assert batch.matches.dtype == torch.float32


def gazetteer_bundle() -> Bundle:
    """`tagging_bundle` with a gazetteer of the synthetic data's names and a network that
    reads them, their input weights sharpened so that the names move the answers."""
    tagged = tagging_bundle("gru", "attention", True)
    examples = [as_example(row) for row in synthetic_rows()]
    gazetteer = Gazetteer.from_examples(examples, tagged.tag_set)
    config = NetConfig.from_dict(
        {**tagged.net.config.to_dict(), "gazetteer_width": gazetteer.width}
    )
    torch.manual_seed(0)
    net = IntentNet(config).eval()
    with torch.no_grad():
        net.tagger.weight.mul_(4)
        for weight in (net.encoder.rnn.weight_ih_l0, net.encoder.rnn.weight_ih_l0_reverse):
            weight[:, config.encoder.embedding_dim :].mul_(8)  # the known-name columns
    tagged.net, tagged.gazetteer = net, gazetteer
    return tagged


def test_both_engines_read_the_known_names_alike(tmp_path: Path) -> None:
    bundle = gazetteer_bundle()
    texts = TEXTS * 3  # the folded graph in groups; one at a time below is the fused graph
    on_torch = Predictor(bundle, engine="torch").predict(texts)
    on_onnx = Predictor(bundle, engine="onnx").predict(texts)
    assert spans_of(on_onnx) == spans_of(on_torch)
    one_by_one = [Predictor(bundle).predict([text])[0] for text in TEXTS]
    assert spans_of(one_by_one) == spans_of(on_torch[: len(TEXTS)])
    for mine, reference in zip(on_onnx, on_torch, strict=True):
        assert mine.confidence == pytest.approx(reference.confidence, abs=1e-5)
    # the names are read: the same network without them answers otherwise
    blind = Predictor(bundle)
    blind.gazetteer = None
    assert [p.confidence for p in blind.predict(texts)] != pytest.approx(
        [p.confidence for p in on_onnx], abs=1e-3
    )
    write_bundle(bundle, tmp_path)
    loaded = read_bundle(tmp_path)
    assert loaded.gazetteer.to_dict() == bundle.gazetteer.to_dict()
    assert spans_of(Predictor(loaded).predict(texts)) == spans_of(on_torch)


def test_a_bundle_without_its_gazetteer_or_with_another_says_so(tmp_path: Path) -> None:
    bundle = gazetteer_bundle()
    write_bundle(bundle, tmp_path)
    record = json.loads((tmp_path / GAZETTEER).read_text())
    (tmp_path / GAZETTEER).write_text(json.dumps({**record, "types": record["types"][:-1]}))
    with pytest.raises(BundleError, match=r"gazetteer.json: not a gazetteer \(`names`"):
        read_bundle(tmp_path)
    del record["names"][record["types"][-1]]
    (tmp_path / GAZETTEER).write_text(json.dumps({**record, "types": record["types"][:-1]}))
    with pytest.raises(BundleError, match=r"gazetteer.json: \d+ feature columns for a network"):
        read_bundle(tmp_path)
    (tmp_path / GAZETTEER).unlink()
    with pytest.raises(BundleError, match=r"gazetteer.json: unreadable bundle file"):
        read_bundle(tmp_path)


def test_the_default_reads_no_names(trained_model) -> None:
    """Off unless asked for (`model.gazetteer=true`; test_entities' joint run asks): the
    bundled data's model has entities and no gazetteer."""
    bundle = load_bundle(trained_model.tag)
    assert bundle.tag_set is not None and bundle.gazetteer is None
    assert bundle.network().config.gazetteer_width == 0
    assert not (bundle.folder / GAZETTEER).exists()
