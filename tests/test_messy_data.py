"""Real data never stops a run: intents too rare to hold out, intents that validation or test
files have and training lacks, a budget of any length, a model no better than the majority."""

from __future__ import annotations

import pytest

from intentbot.examples import Example
from intentbot.labels import LabelSet
from intentbot.splits import Splits
from intentbot.tokenizer import IntentTokenizer
from intentbot.train import train
from intentbot.training.datamodule import IntentDataModule
from tests.conftest import compose_config
from tests.helpers import write_jsonl

TINY = (
    "encoder.embedding_dim=16",
    "encoder.hidden_size=16",
    "model.head.hidden_sizes=[16]",
    "export=false",
)
WORDS = {"a": "alarm", "b": "book", "c": "call"}


def rows(intent: str, count: int, start: int = 0) -> list[tuple[str, str]]:
    """Utterances a tiny model tells apart at once: each intent has its own word."""
    return [(f"{WORDS.get(intent, intent)} please number {n}", intent) for n in range(start, count)]


def data(tmp_path, train, val=None, test=None) -> tuple[str, ...]:
    overrides = ["data=files", f"data.train={write_jsonl(tmp_path / 'train.jsonl', train)}"]
    for name, split in (("val", val), ("test", test)):
        if split is not None:
            overrides.append(f"data.{name}={write_jsonl(tmp_path / f'{name}.jsonl', split)}")
    return tuple(overrides)


def warnings_in(output: str) -> list[str]:
    return [
        line.split("warning", 1)[1].strip() for line in output.splitlines() if "warning" in line
    ]


def test_unseen_intents_of_val_and_test_files_count_as_wrong_in_metrics(tmp_path, capsys):
    """The model learns a and b perfectly; z (val) and y (test) stay in the figures, wrong."""
    val = [*rows("a", 33, 30), *rows("b", 33, 30), ("zebra crossing", "z"), ("zebra", "z")]
    test = [*rows("a", 43, 40), *rows("b", 43, 40), ("yak", "y"), ("yak yak", "y"), ("y", "y")]
    cfg = compose_config(
        *TINY,
        *data(tmp_path, rows("a", 12) + rows("b", 12), val, test),
        "trainer.max_epochs=20",
        "optim.lr=0.02",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["val"]["argmax_accuracy"] == pytest.approx(6 / 8)
    assert metrics["test"]["argmax_accuracy"] == pytest.approx(6 / 9)
    said = warnings_in(capsys.readouterr().out)
    assert said == [
        "2 validation utterances have intents with no training example, scored as wrong: z (2)",
        "3 test utterances have intents with no training example, scored as wrong: y (3)",
    ]  # one each


def test_an_intent_too_rare_to_hold_out_is_trained_on_and_the_run_goes_on(tmp_path, capsys):
    cfg = compose_config(
        *TINY, *data(tmp_path, rows("a", 12) + rows("b", 12) + rows("c", 1)), "trainer.max_epochs=2"
    )
    train(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "metrics.json").exists()
    assert "c" in LabelSet.load(tmp_path / "run" / "labels.json").names
    [rare] = [line for line in warnings_in(capsys.readouterr().out) if "too few" in line]
    assert "c (1 example: " in rare and "train.jsonl:25) left out of test and validation" in rare


def test_the_validation_loader_holds_only_intents_training_has():
    train_split = [
        Example(f"{word} {n}", intent) for intent, word in WORDS.items() for n in range(4)
    ]
    val = [Example("alarm 9", "a"), Example("zebra", "z"), Example("book 9", "b")]
    splits = Splits(train_split, val, [Example("yak", "y")]).check()
    tokenizer = IntentTokenizer.fit([example.text for example in train_split], vocab_size=100)
    labels = LabelSet.from_intents(example.intent for example in train_split)
    module = IntentDataModule(splits, tokenizer, labels, batch_size=8)
    module.setup("fit")
    assert set(module.datasets) == {"train", "val"}  # test is scored by the Predictor
    assert module.datasets["val"].targets.tolist() == labels.indices(["a", "b"])
    assert len(splits.val) == 3  # the figures still see all three
