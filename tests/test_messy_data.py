"""Real data never stops a run: intents too rare to hold out, intents that validation or test
files have and training lacks, a budget of any length, a model no better than the majority."""

from __future__ import annotations

import math
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
from lightning.pytorch.callbacks import Callback

from bench.fixtures import write_jsonl
from intentbot.examples import Example
from intentbot.labels import LabelSet
from intentbot.splits import Splits
from intentbot.tokenizer import IntentTokenizer
from intentbot.train import _planned_epochs, train
from intentbot.training.budget import batch_size
from intentbot.training.datamodule import IntentDataModule
from intentbot.training.majority import majority_note
from intentbot.training.stopping import EarlyStoppingAfterWarmup
from tests.conftest import compose_config

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
    ]  # one each, and no majority warning: this model learned


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


class Abort(Exception):
    pass


class ScheduleProbe(Callback):
    """Records the run's planned length, its LR schedule and early stopping's first epoch."""

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        [stopping] = [c for c in trainer.callbacks if isinstance(c, EarlyStoppingAfterWarmup)]
        self.seen = {
            "max_epochs": trainer.max_epochs,
            "min_epochs": trainer.min_epochs,
            "batches": trainer.num_training_batches,
            "total_steps": trainer.lr_scheduler_configs[0].scheduler.total_steps,
            "start_epoch": stopping.start_epoch,
        }
        raise Abort


@pytest.mark.parametrize(
    ("overrides", "epochs", "min_epochs"),
    [
        (("budget.max_epochs=400",), 400, 0),
        (("budget.steps=10", "budget.min_epochs=5"), 5, 0),
        (("trainer.max_epochs=30",), 30, 0),
        (("trainer.max_epochs=30", "trainer.min_epochs=45"), 45, 45),
        (("trainer.min_epochs=7",), 80, 7),
    ],
)
def test_the_lr_schedule_and_early_stopping_follow_the_budget_asked_for(
    tmp_path, overrides, epochs, min_epochs
):
    """100 utterances, batches of 64: 2 batches an epoch; the default budget gives 40 epochs."""
    probe = ScheduleProbe()
    files = data(tmp_path, rows("a", 50) + rows("b", 50))
    cfg = compose_config(*TINY, *files, "batch_size=64", "callbacks.min_val_size=0", *overrides)
    with pytest.raises(Abort):
        train(cfg, tmp_path / "run", callbacks=[probe])
    assert probe.seen == {
        "max_epochs": epochs,
        "min_epochs": min_epochs,
        "batches": 2,
        "total_steps": epochs * 2,
        "start_epoch": math.ceil(epochs * 0.1),
    }


def test_a_user_min_epochs_raises_the_planned_epochs():
    assert _planned_epochs(compose_config("trainer.min_epochs=90"), 2_000, 64) == 90
    assert _planned_epochs(compose_config("trainer.min_epochs=5"), 2_000, 64) == 79
    both = compose_config("trainer.max_epochs=7", "trainer.min_epochs=9")
    assert _planned_epochs(both, 10, 64) == 9


@pytest.mark.parametrize(
    ("examples", "expected"), [(35, 8), (135, 8), (270, 16), (600, 32), (1_024, 64), (15_000, 64)]
)
def test_small_data_gets_batches_small_enough_for_sixteen_steps_an_epoch(examples, expected):
    assert batch_size(None, examples) == expected
    assert batch_size(48, examples) == 48  # a number set by the user is used as it is
    if examples >= 16 * 8:
        assert math.ceil(examples / expected) >= 16


def test_early_stopping_waits_for_the_warm_up_to_end(tmp_path):
    """lr 1e-12 (the schedule refuses 0): validation never improves. Plain early stopping
    would end at epoch 2 of 20; here patience (1) counts from the end of the warm-up (half of
    20 epochs: 10)."""
    cfg = compose_config(
        *TINY,
        *data(tmp_path, rows("a", 12) + rows("b", 12)),
        "trainer.max_epochs=20",
        "optim.lr=1e-12",
        "optim.warmup_fraction=0.5",
        "callbacks.patience=1",
        "callbacks.min_val_size=0",
    )
    assert train(cfg, tmp_path / "run")["epochs"] == 12  # 10 warming up, 1 best, 1 worse


def test_a_validation_split_too_small_to_choose_on_keeps_the_whole_run_s_last_epoch(tmp_path):
    """24 validation utterances (under callbacks.min_val_size): no early stopping, though
    validation never improves (lr 1e-12), and the model exported is the last epoch's; with the
    bar at 24 the same run stops early."""
    train_rows, val_rows = rows("a", 12) + rows("b", 12), rows("a", 24, 12) + rows("b", 24, 12)
    overrides = (
        *TINY,
        *data(tmp_path, train_rows, val=val_rows),
        "trainer.max_epochs=6",
        "optim.lr=1e-12",
        "callbacks.patience=1",
    )
    cfg = compose_config(*overrides)
    assert cfg.callbacks.min_val_size == 100
    assert train(cfg, tmp_path / "run")["epochs"] == 6
    kept = {path.name for path in (tmp_path / "run" / "checkpoints").glob("*.ckpt")}
    assert kept == {"last-epoch05.ckpt", "last.ckpt"}
    enough = compose_config(*overrides, "callbacks.min_val_size=24")
    assert train(enough, tmp_path / "enough")["epochs"] < 6


def test_a_model_no_better_than_the_majority_ends_the_run_with_a_warning(tmp_path, capsys):
    """Validation holds only the most frequent training intent: nothing can beat answering it."""
    cfg = compose_config(
        *TINY,
        *data(tmp_path, rows("a", 16) + rows("b", 8), val=rows("a", 20, 16)),
        "trainer.max_epochs=1",
    )
    train(cfg, tmp_path / "run")
    last = warnings_in(capsys.readouterr().out)[-1]
    assert last.startswith("the best model's validation accuracy (")
    assert "no better than always answering 'a', the most frequent training intent (1.000)" in last
    assert "try more epochs (this run planned 1: trainer.max_epochs=N)" in last
    assert "model.pretrained=minilm, or more examples per intent" in last  # it ran from scratch


def predictor_answering(*intents: str, names=("a", "b", "c")) -> SimpleNamespace:
    """A stand-in for `Predictor` whose top-1 answers are `intents`, in order."""
    logits = np.eye(len(names))[[names.index(intent) for intent in intents]]
    return SimpleNamespace(logits=lambda texts: logits[: len(texts)], labels=LabelSet(names))


def test_the_majority_note_compares_top1_with_the_most_frequent_training_intent():
    train_split = [Example(f"t{n}", intent) for n, intent in enumerate("aaabbc")]
    val = [Example("v1", "a"), Example("v2", "b"), Example("v3", "c"), Example("v4", "z")]
    splits = Splits(train_split, val, val)  # z: unseen, left out of the comparison
    assert majority_note(predictor_answering("a", "b", "a"), splits, 9, True) is None  # 2/3
    note = majority_note(predictor_answering("b", "a", "a"), splits, 9, True)
    assert note.startswith("the best model's validation accuracy (0.000) is no better than")
    assert "always answering 'a', the most frequent training intent (0.333)" in note
    assert note.endswith(
        "(this run planned 9: trainer.max_epochs=N), model.pretrained=null, or "
        "more examples per intent"
    )
    # a tie for the most frequent (a and b, 3 each): the better constant answer on validation
    tied_val = [Example("v1", "a"), Example("v2", "b"), Example("v3", "b"), Example("v4", "c")]
    tied = Splits([*train_split, Example("t9", "b")], tied_val, tied_val)
    answers = predictor_answering("a", "b", "a", "c")  # 3/4: above either constant answer
    assert majority_note(answers, tied, 9, True) is None
    note = majority_note(predictor_answering("a", "a", "b", "a"), tied, 9, True)
    assert "(0.500) is no better than always answering 'b', the most frequent" in note
