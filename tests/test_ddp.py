"""Multi-process training on CPU (gloo): two processes share the data, the result loads and
predicts. Inside pytest the spawn launcher; from the command line Lightning's re-launch."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate

from intentbot.predictor import Predictor
from intentbot.store import load_bundle
from intentbot.train import train
from tests.conftest import REPO, compose_config

pytestmark = pytest.mark.slow

TINY = (
    "trainer=ddp",
    "trainer.devices=2",
    "trainer.max_epochs=1",
    "encoder.embedding_dim=16",
    "encoder.hidden_size=16",
    "model.head.hidden_sizes=[16]",
    "model_name=intentbot-ddp",  # leaves intentbot:latest to the other tests
)


def tiny_data(folder) -> tuple[str, ...]:
    """3 intents x 20 rows, batches of 8: a quick fit that still takes several steps."""
    rows = [f"example {n} about {intent},{intent}" for intent in ("a", "b", "c") for n in range(20)]
    (folder / "mine.csv").write_text("text,intent\n" + "\n".join(rows))
    return ("data=files", f"data.train={folder / 'mine.csv'}", "batch_size=8")


def steps_in_first_epoch(run_dir) -> int:
    with (run_dir / "logs" / "version_0" / "metrics.csv").open() as log:
        # the epoch-end row carries the index of the epoch's last step
        return max(int(row["step"]) for row in csv.DictReader(log) if row["val/argmax_acc"]) + 1


def steps_with_two_processes(cfg) -> int:
    """Each of 2 processes gets half of the training set (DistributedSampler)."""
    train_size = len(instantiate(cfg.data).train)
    return math.ceil(math.ceil(train_size / 2) / cfg.batch_size)


def test_ddp_spawn_trains_on_two_processes_and_the_model_loads_and_predicts(tmp_path):
    cfg = compose_config(*TINY, *tiny_data(tmp_path), "trainer.strategy=ddp_spawn")
    run_dir = tmp_path / "run"
    metrics = train(cfg, run_dir)
    assert metrics["epochs"] == 1 and metrics["model_tag"].startswith("intentbot-ddp:")
    assert steps_in_first_epoch(run_dir) == steps_with_two_processes(cfg)
    assert (run_dir / "curves.png").exists()

    # the fit ran in worker processes: the exported weights must be the best checkpoint's
    bundle = load_bundle(metrics["model_tag"])
    best = next((run_dir / "checkpoints").glob("best*.ckpt"))
    trained = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    for name, tensor in bundle.network().state_dict().items():
        assert torch.equal(tensor, trained[f"net.{name}"]), name
    prediction = Predictor(bundle).predict(["example 3 about b"])[0]
    assert prediction.intent in bundle.labels.names and 0.0 < prediction.confidence <= 1.0


def test_ddp_from_the_command_line_relaunches_itself_with_hydra(tmp_path):
    data = tiny_data(tmp_path)
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "intentbot.train",
            *TINY,
            *data,
            "export=false",
            "progress_bar=false",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 1
    assert (run_dir / "train_ddp_process_1.log").exists()  # the second process's Hydra job
    assert steps_in_first_epoch(run_dir) == steps_with_two_processes(compose_config(*TINY, *data))
    assert result.stdout.count("run directory") == 1  # one process reports
