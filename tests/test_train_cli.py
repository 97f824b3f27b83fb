"""`python -m intentbot.train`: each encoder trains, sweeps end in a table, errors are one line."""

from __future__ import annotations

import csv
import json
import subprocess

import lightning as L
import pytest
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback

from intentbot.train import _planned_epochs, train
from intentbot.training.budget import batch_size
from tests.conftest import REPO, compose_config
from tests.helpers import run_cli

FAST = ("trainer.fast_dev_run=true", "export=false")
# a small network, enough steps for the toy set below (ten epochs of nine batches)
BRIEF = (
    "export=false",
    "trainer.max_epochs=10",
    "batch_size=8",
    "encoder.embedding_dim=16",
    "encoder.hidden_size=16",
    "model.head.hidden_sizes=[16]",
    "optim.lr=0.01",
)


def toy_csv(folder, per_intent: int = 30):
    """Three intents, each utterance naming its own: learnable at a glance (chance is 1/3)."""
    intents = ("alpha", "beta", "gamma")
    rows = [f"example {n} about {intent},{intent}" for intent in intents for n in range(per_intent)]
    path = folder / "mine.csv"
    path.write_text("sentence,label\n" + "\n".join(rows))
    return path


@pytest.mark.parametrize("encoder", ["rnn", "gru", "lstm"])
def test_each_encoder_learns_a_toy_set_well_above_chance(encoder, tmp_path):
    data = ("data=files", f"data.train={toy_csv(tmp_path)}")
    metrics = train(compose_config(f"encoder={encoder}", *data, *BRIEF), tmp_path / "run")
    assert metrics["model_tag"] is None and metrics["parameters"] > 0
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["test"]["accuracy"] >= 0.75  # measured: 0.89 (rnn), 1.0 (gru, lstm)
    assert written["test"] == metrics["test"]


def test_own_csv_with_split_carved_from_train(tmp_path):
    data = ("data=files", f"data.train={toy_csv(tmp_path, per_intent=12)}")
    metrics = train(compose_config(*data, *FAST), tmp_path / "run")
    assert "oos_recall" not in metrics["test"]  # no out-of-scope examples in this data


def run_train(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return run_cli("intentbot.train", *args, "progress_bar=false", cwd=cwd)


@pytest.mark.slow
def test_multirun_ends_with_one_comparison_table(tmp_path):
    result = run_train("-m", "encoder=rnn,gru,lstm", *FAST, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    table = result.stdout[result.stdout.index("multirun comparison") :]
    for number, encoder in enumerate(("rnn", "gru", "lstm")):
        assert f"encoder={encoder}" in table
        assert (tmp_path / str(number) / "metrics.json").exists()
        assert (tmp_path / str(number) / ".hydra" / "config.yaml").exists()


@pytest.mark.slow  # starts Python with the whole stack in a subprocess
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("data=files",), "data.train is required"),
        (("data=files", "data.train=BAD"), "BAD.csv:3: no intent label for 'bye'"),
        (("model.pretrained=null", "tokenizer.kind=spm"), "tokenizer.kind='spm' is not one of"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_non_zero_exit(tmp_path, args, message):
    (tmp_path / "BAD.csv").write_text("text,intent\nhello,greeting\nbye,\n")
    args = tuple(
        arg.replace("BAD", str(tmp_path / "BAD.csv")) if arg.endswith("BAD") else arg
        for arg in args
    )
    result = run_train(*args, "export=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert message in result.stdout.replace("\n", "")
    assert "Traceback" not in result.stdout + result.stderr


class CrashAfterSecondEpoch(Callback):
    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def test_resume_from_last_checkpoint_finishes_an_interrupted_run(tmp_path):
    rows = [f"example {n} about {intent},{intent}" for intent in ("a", "b") for n in range(12)]
    (tmp_path / "mine.csv").write_text("text,intent\n" + "\n".join(rows))
    cfg = compose_config(
        "data=files",
        f"data.train={tmp_path / 'mine.csv'}",
        "export=false",
        "callbacks.patience=10",
        "trainer.max_epochs=4",
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, tmp_path / "run", callbacks=[CrashAfterSecondEpoch()])
    assert not (tmp_path / "run" / "metrics.json").exists()
    cfg.ckpt_path = "last"
    assert train(cfg, tmp_path / "run")["epochs"] == 4
    with (tmp_path / "run" / "logs" / "version_1" / "metrics.csv").open() as log:
        resumed_epochs = {int(row["epoch"]) for row in csv.DictReader(log)}
    assert min(resumed_epochs) >= 1  # went on from the checkpoint instead of starting over


@pytest.mark.slow
def test_same_seed_and_data_give_the_same_figures_in_two_processes(tmp_path):
    """The vocabulary fit included: nothing may depend on hash-map or thread order."""
    small = ("encoder.hidden_size=32", "encoder.embedding_dim=32", "model.head.hidden_sizes=[32]")
    args = ("trainer.max_epochs=3", "export=false", "logger=csv", *small)
    figures = []
    for attempt in ("first", "second"):
        result = run_train(*args, f"hydra.run.dir={tmp_path / attempt}")
        assert result.returncode == 0, result.stderr[-2000:]
        metrics = json.loads((tmp_path / attempt / "metrics.json").read_text())
        figures.append((metrics["val"], metrics["test"]))
        vocabulary = (tmp_path / attempt / "tokenizer.json").read_text()
        figures[-1] += (vocabulary,)
    assert figures[0] == figures[1]


@pytest.mark.parametrize(
    ("examples", "epochs"), [(100, 80), (2_000, 79), (20_000, 8), (1_000_000, 3)]
)
def test_the_budget_gives_about_the_same_steps_whatever_the_size(examples, epochs):
    """Batches of 8 for 100 utterances (13 an epoch: the epoch cap binds), 64 from 1,024 on."""
    cfg = compose_config()
    assert cfg.trainer.max_epochs is None and cfg.budget.steps == 2500
    batch = batch_size(cfg.batch_size, examples)
    assert _planned_epochs(cfg, examples, batch) == epochs
    assert _planned_epochs(compose_config("trainer.max_epochs=7"), examples, batch) == 7


def test_word_dropout_left_null_follows_the_embeddings():
    cfg = compose_config()
    assert cfg.model.word_dropout is None
    recipe = instantiate(cfg.model, _convert_="all")
    assert recipe.word_dropout_for(pretrained=True) == 0.1
    assert recipe.word_dropout_for(pretrained=False) == 0.25
    given = instantiate(cfg.model, _convert_="all", word_dropout=0.0)
    assert given.word_dropout_for(pretrained=True) == 0.0  # a value given is kept, 0 included


def test_the_snips_preset_reads_bio_folders(tmp_path):
    cfg = compose_config("experiment=snips", f"data.path={tmp_path}")
    assert cfg.data._target_ == "intentbot.splits.from_bio_folders"
    assert cfg.data.path == str(tmp_path)
