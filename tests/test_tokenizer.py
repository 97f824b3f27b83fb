"""The HF tokenizer wrapper: fitted on given texts only, unknown words, normalisation, saving."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from intentbot.tokenizer import UNK, IntentTokenizer
from tests.conftest import REPO

TEXTS = ["what time is it", "tell me the time please", "what is the weather", "play some music"]


@pytest.mark.parametrize("kind", ["bpe", "word", "wordpiece"])
def test_unknown_words_map_to_unk_and_lengths_exclude_padding(kind):
    tokenizer = IntentTokenizer.fit(TEXTS, kind=kind, vocab_size=200)
    ids, lengths = tokenizer.encode(["time", "zyxwvut qqq time please"])
    assert ids.shape[0] == 2 and lengths.tolist()[0] == 2  # [BOS] time
    assert tokenizer.unk_id in ids[1].tolist()
    assert (ids[0, lengths[0] :] == tokenizer.pad_id).all()


def test_vocabulary_comes_only_from_the_fitted_texts():
    tokens = IntentTokenizer.fit(TEXTS, kind="word").tokens("weather banana")
    assert tokens == ["[BOS]", "weather", UNK]


def test_lowercase_and_unicode_normalisation_are_configurable():
    folding = IntentTokenizer.fit(TEXTS, kind="word", normalization="nfkc", lowercase=True)
    fullwidth_time = "\uff34\uff29\uff2d\uff25"  # folds to "TIME" under NFKC
    assert folding.tokens(fullwidth_time) == ["[BOS]", "time"]
    strict = IntentTokenizer.fit(TEXTS, kind="word", normalization=None, lowercase=False)
    assert strict.tokens("TIME") == ["[BOS]", UNK]


def test_empty_text_still_has_length_one():
    _, lengths = IntentTokenizer.fit(TEXTS).encode(["", "   "])
    assert lengths.tolist() == [1, 1]


def test_truncation_caps_the_length():
    _, lengths = IntentTokenizer.fit(TEXTS, max_length=4).encode(["time " * 50])
    assert lengths.tolist() == [4]


def test_save_and_load_round_trip(tmp_path):
    tokenizer = IntentTokenizer.fit(TEXTS)
    tokenizer.save(tmp_path / "tok.json")
    loaded = IntentTokenizer.load(tmp_path / "tok.json")
    assert loaded.encode(TEXTS)[0].tolist() == tokenizer.encode(TEXTS)[0].tolist()


def test_corrupt_file_is_named(tmp_path):
    (tmp_path / "tok.json").write_text('{"truncated": ')
    with pytest.raises(ValueError, match=r"tok.json: not a readable tokenizer"):
        IntentTokenizer.load(tmp_path / "tok.json")


def test_bad_kind_lists_the_options():
    with pytest.raises(ValueError, match=r"'spm' is not one of \('bpe', 'word', 'wordpiece'\)"):
        IntentTokenizer.fit(TEXTS, kind="spm")


@pytest.mark.slow  # starts Python with the whole stack in a subprocess
def test_a_word_vocabulary_gets_the_same_ids_in_every_process():
    """Same-seed runs in two processes (a killed run and its resumption) rely on it. WordPiece
    lacks it: its trainer breaks ties between merges in hash-map order, which differs from
    process to process."""
    script = (
        "from intentbot.tokenizer import IntentTokenizer\n"
        f"print(IntentTokenizer.fit({TEXTS!r} * 3, kind='word')._tokenizer.to_str())"
    )
    saved = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout
        for _ in range(3)
    }
    assert len(saved) == 1


@pytest.mark.parametrize(("preset", "expected"), [(None, "false"), ("true", "true")])
def test_tokenizers_thread_pool_is_off_unless_the_user_chose(preset: str | None, expected: str):
    """Short utterances tokenize faster without the pool (BENCHMARKS.md); a user's choice wins."""
    env = {key: value for key, value in os.environ.items() if key != "TOKENIZERS_PARALLELISM"}
    if preset is not None:
        env["TOKENIZERS_PARALLELISM"] = preset
    script = "import os, intentbot.tokenizer; print(os.environ['TOKENIZERS_PARALLELISM'])"
    command = [sys.executable, "-c", script]
    shown = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == expected
