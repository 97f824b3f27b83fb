"""Multi-process training on CPU (gloo): two processes share the data, the result loads and
predicts. Inside pytest the spawn launcher; from the command line Lightning's re-launch; across
"nodes", the same command once per node on loopback, and a node alone ends in seconds."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from bench.servers import free_port
from intentbot.predictor import Predictor
from intentbot.store import load_bundle
from intentbot.train import train
from intentbot.training.budget import batch_size
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
    return math.ceil(math.ceil(train_size / 2) / batch_size(cfg.batch_size, train_size))


def train_command(run_dir: Path, *overrides: str) -> list[str]:
    """`python -m intentbot.train OVERRIDES` into `run_dir`, as a user runs it."""
    return [
        sys.executable,
        "-m",
        "intentbot.train",
        *overrides,
        "progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]


def test_ddp_spawn_trains_on_two_processes_and_the_model_loads_and_predicts(tmp_path):
    cfg = compose_config(*TINY, *tiny_data(tmp_path), "trainer.strategy=ddp_spawn")
    run_dir = tmp_path / "run"
    metrics = train(cfg, run_dir)
    assert metrics["epochs"] == 1 and metrics["model_tag"].startswith("intentbot-ddp:")
    assert steps_in_first_epoch(run_dir) == steps_with_two_processes(cfg)
    assert (run_dir / "curves.png").exists()

    # the fit ran in worker processes: the exported weights must be the chosen checkpoint's
    # (six validation utterances are too few to pick on, so the run keeps its last epoch)
    bundle = load_bundle(metrics["model_tag"])
    [chosen] = (run_dir / "checkpoints").glob("*-epoch*.ckpt")
    trained = torch.load(chosen, map_location="cpu", weights_only=True)["state_dict"]
    for name, tensor in bundle.network().state_dict().items():
        assert torch.equal(tensor, trained[f"net.{name}"]), name
    prediction = Predictor(bundle).predict(["example 3 about b"])[0]
    assert prediction.intent in bundle.labels.names and 0.0 < prediction.confidence <= 1.0


def test_ddp_from_the_command_line_relaunches_itself_with_hydra(tmp_path):
    data = tiny_data(tmp_path)
    run_dir = tmp_path / "run"
    result = subprocess.run(
        train_command(run_dir, *TINY, *data, "export=false"),
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


def node_env(store: Path, port: int, node_rank: int, world_size: int = 2) -> dict[str, str]:
    """Lightning's own multi-node launch: the same command on each node, told its rank."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HYDRA_FULL_ERROR": "0",
        "COLUMNS": "300",
        "BENTOML_HOME": str(store),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(world_size),
        "NODE_RANK": str(node_rank),
    }


def stored_models(store: Path) -> list[Path]:
    return [folder for folder in (store / "models").glob("*/*") if folder.name != "latest"]


def test_two_nodes_of_one_process_train_as_one_node_of_two(tmp_path):
    data = tiny_data(tmp_path)
    overrides = (*TINY, *data, "trainer.max_epochs=3")
    store, port = tmp_path / "store", free_port()
    with contextlib.ExitStack() as stack:
        nodes = []
        for rank in (0, 1):
            log = stack.enter_context((tmp_path / f"node{rank}.log").open("w"))
            command = train_command(
                tmp_path / f"node{rank}", *overrides, "trainer.num_nodes=2", "trainer.devices=1"
            )
            env = node_env(store, port, rank)
            node = subprocess.Popen(
                command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env
            )
            stack.callback(node.kill)  # a no-op once it has ended; a failed test leaves none behind
            nodes.append(node)
        codes = [node.wait(timeout=300) for node in nodes]
    logs = [(tmp_path / f"node{rank}.log").read_text() for rank in (0, 1)]
    assert codes == [0, 0], logs[0][-2000:] + logs[1][-2000:]

    node0, node1 = tmp_path / "node0", tmp_path / "node1"
    multi = json.loads((node0 / "metrics.json").read_text())
    assert multi["epochs"] == 3 and multi["model_tag"].startswith("intentbot-ddp:")
    # rank 0 alone scores, checkpoints, plots and exports, once
    assert not (node1 / "metrics.json").exists() and not (node1 / "checkpoints").exists()
    assert not (node1 / "curves.png").exists()
    assert [folder.name for folder in stored_models(store)] == [multi["model_tag"].split(":")[1]]
    assert logs[0].count("run directory") == 1 and "run directory" not in logs[1]

    # one node of two processes (Lightning's re-launch), same data, seed and epochs
    single_dir = tmp_path / "single"
    single = subprocess.run(
        train_command(single_dir, *overrides, "export=false"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "BENTOML_HOME": str(tmp_path / "unused")},
    )
    assert single.returncode == 0, single.stdout[-2000:] + single.stderr[-2000:]
    alone = json.loads((single_dir / "metrics.json").read_text())
    for key in ("val", "test", "epochs", "parameters"):
        assert multi[key] == alone[key], key


@pytest.mark.parametrize(
    ("node_rank", "cause"),
    [(0, "1/2 clients joined"), (1, "timed out")],  # the master waits; a worker cannot connect
)
def test_a_node_whose_peer_never_comes_ends_with_one_line_within_the_timeout(
    tmp_path, node_rank, cause
):
    data = tiny_data(tmp_path)
    command = train_command(
        tmp_path / "run",
        *TINY,
        *data,
        "trainer.num_nodes=2",
        "trainer.devices=1",
        "trainer.strategy.timeout_s=3",
    )
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=node_env(tmp_path / "store", free_port(), node_rank),
    )
    elapsed = time.monotonic() - started
    told = result.stdout + result.stderr
    assert result.returncode == 2, told[-3000:]
    assert "Traceback" not in told
    errors = [line for line in told.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, told[-3000:]
    assert "DDP rendezvous at 127.0.0.1:" in errors[0] and cause in errors[0].lower()
    assert "MASTER_ADDR, MASTER_PORT and WORLD_SIZE" in errors[0]
    assert elapsed < 60  # start-up, then 3 s: not torch's 30 minutes
