"""A training process killed with SIGKILL mid-run resumes with `ckpt_path=last` (same run
directory) and finishes; its test metrics are compared with an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from intentbot.train import train
from tests.conftest import REPO, compose_config

pytestmark = pytest.mark.slow

MAX_EPOCHS = 6
INTENTS = ("alarm", "weather", "music", "greeting", "timer", "joke")
FILLER = [
    "please",
    "could",
    "you",
    "the",
    "a",
    "now",
    "today",
    "me",
    "my",
    "for",
    "about",
    "some",
    "tell",
    "set",
    "play",
]


def noisy_intents(path: Path) -> Path:
    """Enough overlap between intents that the metrics are not trivially 1.0."""
    rng = random.Random(0)
    rows = []
    for number in range(60):
        for intent in INTENTS:
            words = [*rng.sample(FILLER, 4), f"w{number % 9}"]
            if rng.random() < 0.7:
                words.append(intent)
            rng.shuffle(words)
            rows.append(f"{' '.join(words)} {number},{intent}")
    path.write_text("text,intent\n" + "\n".join(rows) + "\n")
    return path


def overrides(data: Path) -> list[str]:
    return [
        "data=files",
        f"data.train={data}",
        # word-level: the same ids in every process (WordPiece training breaks ties in hash-map
        # order, so the pytest process and the killed one would not share a vocabulary)
        "tokenizer.kind=word",
        "model.pretrained=null",  # the same in this process and the command line's
        "encoder.embedding_dim=32",
        "encoder.hidden_size=32",
        "model.head.hidden_sizes=[32]",
        f"trainer.max_epochs={MAX_EPOCHS}",
        f"callbacks.patience={MAX_EPOCHS}",
        "batch_size=16",
        "export=false",
    ]


@dataclass(frozen=True)
class Runs:
    uninterrupted: dict
    resumed: dict
    killed_at_epoch: int
    killed_returncode: int
    metrics_before_resume: bool
    resumed_run_dir: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("kill-resume")
    data = noisy_intents(folder / "noisy.csv")
    uninterrupted = train(compose_config(*overrides(data)), folder / "straight")

    run_dir = folder / "killed"
    command = [
        sys.executable,
        "-m",
        "intentbot.train",
        *overrides(data),
        "progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # into the next epoch
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    killed_at = int(torch.load(last, map_location="cpu", weights_only=True)["epoch"])
    metrics_before = (run_dir / "metrics.json").exists()

    resumed = train(compose_config(*overrides(data), "ckpt_path=last"), run_dir)
    return Runs(uninterrupted, resumed, killed_at, child.returncode, metrics_before, run_dir)


def test_sigkilled_run_resumes_from_last_and_finishes(runs: Runs):
    assert runs.killed_returncode == -signal.SIGKILL
    assert not runs.metrics_before_resume  # it really died before finishing
    assert runs.killed_at_epoch < MAX_EPOCHS - 1
    assert runs.resumed["epochs"] == MAX_EPOCHS
    saved = json.loads((runs.resumed_run_dir / "metrics.json").read_text())
    assert saved["test"] == runs.resumed["test"]


def test_resumed_metrics_match_an_uninterrupted_run(runs: Runs):
    for key in ("accuracy", "macro_f1"):
        assert runs.resumed["test"][key] == pytest.approx(
            runs.uninterrupted["test"][key], abs=0.005
        ), (key, runs.resumed["test"], runs.uninterrupted["test"])
