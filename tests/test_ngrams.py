"""The n-gram vocabulary: which n-grams an utterance has, in any script, and their TF-IDF
weights, as the linear n-gram path reads them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from intentbot.ngrams import NgramConfig, NgramVocabulary, char_grams, word_grams

TEXTS = ["Wake me up at 7", "wake me up", "set an alarm for 7", "今日 は 雨 が 降り ます か"]


def weights_of(vocabulary: NgramVocabulary, text: str) -> dict[str, float]:
    """n-gram -> the weight of its occurrences in one text, summed as the table lookup sums
    them, for reading the assertions."""
    bag = vocabulary.bag([text])
    weights: dict[str, float] = {}
    for gram, weight in zip(bag.ids[0], bag.weights[0], strict=True):
        if gram:
            name = vocabulary.grams[gram - 1]
            weights[name] = weights.get(name, 0.0) + float(weight)
    return weights


def test_word_and_character_ngrams_of_any_script() -> None:
    assert list(word_grams("wake me up", (1, 2))) == [
        "wake",
        "me",
        "up",
        "wake me",
        "me up",
    ]
    assert list(char_grams("up", (2, 3))) == [" u", "up", "p ", " up", "up "]
    # a chunk no longer than an order is counted once whole, not once per longer order
    assert list(char_grams("a", (2, 5))) == [" a", "a ", " a "]
    # written without spaces, a phrase is one chunk whose character n-grams still carry words
    assert "天気" in list(char_grams("明日の天気は", (2, 2)))
    assert list(word_grams("x", (0, 0))) == [] == list(char_grams("x", (0, 0)))


def test_each_occurrence_weighs_its_smoothed_idf_unit_length_per_kind() -> None:
    vocabulary = NgramVocabulary.fit([*TEXTS, "up"], NgramConfig((1, 1), (0, 0), 1000))
    weights = weights_of(vocabulary, "wake wake up")
    # document frequencies: wake 2, up 3 of 5 texts; idf = ln((1 + 5) / (1 + df)) + 1
    wake, up = math.log(6 / 3) + 1, math.log(6 / 4) + 1
    norm = math.sqrt(2 * wake**2 + up**2)  # over occurrences: wake twice
    assert weights == pytest.approx({"wake": 2 * wake / norm, "up": up / norm})
    both = NgramVocabulary.fit(TEXTS, NgramConfig((1, 2), (2, 4), 1000))
    bag = both.bag(["wake me up"])
    for is_char in (False, True):
        kind = [
            float(weight)
            for gram, weight in zip(bag.ids[0], bag.weights[0], strict=True)
            if gram and both.grams[gram - 1].startswith("\0") == is_char
        ]
        assert sum(value * value for value in kind) == pytest.approx(1.0, rel=1e-5)


def test_the_vocabulary_is_the_training_data_s_most_frequent_ngrams_reproducibly() -> None:
    config = NgramConfig((1, 1), (0, 0), 3)
    vocabulary = NgramVocabulary.fit(TEXTS, config)
    # in two texts each: 7, me, up, wake; ties broken by the n-gram itself
    assert vocabulary.grams == ["7", "me", "up"]
    assert NgramVocabulary.fit(reversed(TEXTS), config).grams == vocabulary.grams
    assert len(vocabulary) == 4  # the padding row too


def test_case_and_width_forms_do_not_split_an_ngram() -> None:
    vocabulary = NgramVocabulary.fit(
        ["\uff37\uff21\uff2b\uff25 up"],  # full-width WAKE
        NgramConfig((1, 1), (0, 0), 10),
    )
    assert set(weights_of(vocabulary, "wake UP")) == {"wake", "up"}


def test_a_batch_pads_each_text_and_an_unknown_text_has_only_padding() -> None:
    vocabulary = NgramVocabulary.fit(TEXTS, NgramConfig())
    bag = vocabulary.bag(["wake me up", "zzz", "set an alarm for 7 please"])
    assert bag.ids.shape == bag.weights.shape and bag.ids.dtype == np.int64
    assert not bag.ids[1].any() and not bag.weights[1].any()
    known = bag.ids > 0
    assert (bag.weights[known] > 0).all() and not bag.weights[~known].any()
    assert vocabulary.bag([]).ids.shape == (0, 1)
    rows = bag.rows(np.array([2, 0]))
    assert rows.ids.tolist() == [bag.ids[2].tolist(), bag.ids[0].tolist()]


def test_a_stored_vocabulary_weighs_as_the_fitted_one() -> None:
    vocabulary = NgramVocabulary.fit(TEXTS, NgramConfig((1, 2), (1, 3), 500))
    again = NgramVocabulary.from_dict(vocabulary.to_dict())
    for text in ("wake me up at 8", "雨 が 降り"):
        np.testing.assert_allclose(again.bag([text]).weights, vocabulary.bag([text]).weights)
        assert again.bag([text]).ids.tolist() == vocabulary.bag([text]).ids.tolist()
    record = vocabulary.to_dict()
    record["idf"] = record["idf"][:-1]
    with pytest.raises(ValueError, match="one IDF each"):
        NgramVocabulary.from_dict(record)
    with pytest.raises(ValueError, match="missing or malformed"):
        NgramVocabulary.from_dict({"grams": []})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("word_orders", (2, 1), r"model.ngrams.word_orders=\[2, 1\]"),
        ("char_orders", (-1, 3), "0 <= shortest <= longest"),
        ("max_features", 0, "model.ngrams.max_features=0"),
    ],
)
def test_a_bad_setting_names_the_key(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NgramConfig(**{field: value})
