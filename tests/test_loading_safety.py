"""Loading never runs code from a file, damaged files are named in the error, and an export
killed at any moment leaves the store's `latest` intact and no half-written model visible."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import bentoml
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from intentbot.bundle import (
    CONFIG,
    DECISION,
    LABELS,
    METRICS,
    NET,
    REPLIES,
    TOKENIZER,
    WEIGHTS,
    BundleError,
)
from intentbot.engine.files import GraphFileError
from intentbot.predictor import Predictor
from intentbot.store import STAGING_PREFIX, export_bundle, load_bundle
from intentbot.train import train
from tests.conftest import REPO, compose_config

MARKER = "intentbot-pwned"


class RunsCode:
    """Unpickling this calls `open(marker, "w")`: proof that a loader executed the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted_checkpoint(path: Path, marker: Path) -> Path:
    """A file that looks like a Lightning checkpoint and runs code when unpickled."""
    torch.save({"state_dict": {}, "epoch": 0, "payload": RunsCode(marker)}, path)
    return path


def test_crafted_file_runs_code_with_plain_pickle(tmp_path):
    """The control: the crafted file really is an exploit when a loader trusts it."""
    marker = tmp_path / MARKER
    crafted_checkpoint(tmp_path / "evil.ckpt", marker)
    torch.load(tmp_path / "evil.ckpt", weights_only=False)
    assert marker.exists()


def test_resume_refuses_a_checkpoint_that_runs_code(tmp_path):
    """`ckpt_path=last` on a crafted last.ckpt: refused with torch's weights-only error."""
    run_dir, marker = tmp_path / "run", tmp_path / MARKER
    (run_dir / "checkpoints").mkdir(parents=True)
    crafted_checkpoint(run_dir / "checkpoints" / "last.ckpt", marker)
    cfg = compose_config("export=false", "trainer.max_epochs=1", "ckpt_path=last")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        train(cfg, run_dir)
    assert not marker.exists()


@pytest.fixture
def damaged_copy(trained_model) -> Path:
    """A fresh copy of the trained model under another name (so `intentbot:latest` and the
    trained tag stay untouched); returns its folder."""
    tag = export_bundle(load_bundle(trained_model.tag), "damaged")
    return Path(bentoml.models.get(tag).path)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# where each damage shows: reading the bundle (the weights too: the engine's tables are made from
# them), reading its torch network (only evaluation with the torch engine and retraining do),
# or building the ONNX Runtime engine from the graph files
LOAD, NETWORK, ENGINE = "load", "network", "engine"


def _bad_sources(path: Path) -> None:
    """Table sources whose matrices are a number, not weight names."""
    with safe_open(path, framework="numpy") as stored:
        arrays = {name: stored.get_tensor(name) for name in stored.keys()}  # noqa: SIM118
        sources = json.loads(stored.metadata()["sources"])
    for source in sources.values():
        source["times"] = 5
    save_file(arrays, path, metadata={"sources": json.dumps(sources)})


DAMAGE = {
    "weights: pickle instead of safetensors": (WEIGHTS, "pickle", LOAD),
    "weights: truncated": (WEIGHTS, truncate, LOAD),
    "weights: random bytes": (WEIGHTS, lambda p: p.write_bytes(os.urandom(4096)), LOAD),
    "weights: empty": (WEIGHTS, lambda p: p.write_bytes(b""), LOAD),
    "weights: missing": (WEIGHTS, Path.unlink, LOAD),
    "weights: wrong shapes": (NET, lambda p: p.write_text(_edit(p, hidden_size=7)), NETWORK),
    "tokenizer: truncated": (TOKENIZER, truncate, LOAD),
    "tokenizer: not a tokenizer": (TOKENIZER, lambda p: p.write_text('{"a": 1}'), LOAD),
    "tokenizer: missing": (TOKENIZER, Path.unlink, LOAD),
    "labels: truncated": (LABELS, truncate, LOAD),
    "labels: wrong shape": (LABELS, lambda p: p.write_text("[1, 2]"), LOAD),
    "net: truncated": (NET, truncate, LOAD),
    "net: unknown key": (NET, lambda p: p.write_text(_edit(p, surprise=1)), NETWORK),
    "net: not an object": (NET, lambda p: p.write_text("[]"), LOAD),
    "net: a newer format": (NET, lambda p: p.write_text(_edit(p, format_version=99)), LOAD),
    "decision: unknown key": (DECISION, lambda p: p.write_text('{"limit": 0.5}'), LOAD),
    "decision: not numbers": (DECISION, lambda p: p.write_text('{"threshold": "high"}'), LOAD),
    "replies: truncated": (REPLIES, truncate, LOAD),
    "replies: invalid UTF-8": (REPLIES, lambda p: p.write_bytes(b'{"a": ["\xff"]}'), LOAD),
    "config: missing": (CONFIG, Path.unlink, LOAD),
    "metrics: truncated": (METRICS, truncate, LOAD),
    "fused graph: random bytes": ("fused.onnx", lambda p: p.write_bytes(os.urandom(4096)), ENGINE),
    "fused graph: missing": ("fused.onnx", Path.unlink, LOAD),  # today's bundles have graphs
    "folded graph: truncated": ("folded.onnx", truncate, ENGINE),
    "fused tables: truncated": ("fused.safetensors", truncate, LOAD),
    "folded tables: missing": ("folded.safetensors", Path.unlink, LOAD),
    "folded tables: sources not names": ("folded.safetensors", _bad_sources, LOAD),
}


def _edit(path: Path, **changes) -> str:
    record = json.loads(path.read_text())
    if "hidden_size" in changes:
        record["encoder"]["hidden_size"] = changes.pop("hidden_size")
    return json.dumps({**record, **changes})


@pytest.mark.parametrize(("name", "damage", "found_by"), DAMAGE.values(), ids=DAMAGE)
def test_damaged_bundle_file_is_an_error_naming_it(damaged_copy: Path, name, damage, found_by):
    marker = damaged_copy / MARKER
    if damage == "pickle":
        torch.save({"weight": RunsCode(marker)}, damaged_copy / name)
    else:
        damage(damaged_copy / name)
    tag = f"damaged:{damaged_copy.name}"
    named = name.replace(".", r"\.")
    if found_by == LOAD:
        with pytest.raises(BundleError, match=named):
            load_bundle(tag)
    elif found_by == NETWORK:
        bundle = load_bundle(tag)
        [answer] = Predictor(bundle).predict(["What time is it?"])  # serving needs no network
        assert answer.intent == "time"
        with pytest.raises(BundleError, match=named):
            bundle.network()
    else:
        with pytest.raises(GraphFileError, match=named):
            Predictor(load_bundle(tag))
    assert not marker.exists()


# Export in a child process that stops at one step (as if killed right there) and is SIGKILLed.
EXPORT_CHILD = """
import os, shutil, sys, time
import intentbot.store as store
import intentbot.weights as weights_module
from bentoml._internal.models import model

bundle = store.load_bundle(sys.argv[1])
print("FIRST", store.export_bundle(bundle, "atomic"), flush=True)

def stop_here(*args, **kwargs):
    print("STOPPED", flush=True)
    time.sleep(120)

step = sys.argv[2]
if step == "weights":          # writing the bundle's files
    weights_module.save_file = stop_here
elif step == "copy":           # BentoML copying the finished model into a store
    model.shutil.copytree = stop_here
elif step == "latest":         # the new version is in place, `latest` not switched yet
    store.os.replace = stop_here
store.export_bundle(bundle, "atomic")
"""


def stored(name: str) -> list[bentoml.Model]:
    try:
        return bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("step", ["weights", "copy", "latest"])
def test_export_killed_midway_leaves_latest_intact(trained_model, step: str):
    for model in stored("atomic"):
        bentoml.models.delete(model.tag)
    child = subprocess.Popen(
        [sys.executable, "-c", EXPORT_CHILD, trained_model.tag, step],
        cwd=REPO,
        env={**os.environ, "BENTOML_HOME": str(trained_model.bentoml_home)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = child.stdout.readline().split()[-1]
        assert child.stdout.readline().strip() == "STOPPED"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert load_bundle("atomic:latest").tag == first
    for model in stored("atomic"):  # every visible version is complete
        assert load_bundle(str(model.tag)).tag == str(model.tag)
    assert len(stored("atomic")) == (2 if step == "latest" else 1)
    # the killed export's staging folder is cleared by the next export
    assert list(trained_model.bentoml_home.glob(f"{STAGING_PREFIX}{child.pid}-*"))
    newest = export_bundle(load_bundle(first), "atomic")
    assert load_bundle("atomic:latest").tag == newest
    assert not list(trained_model.bentoml_home.glob(f"{STAGING_PREFIX}{child.pid}-*"))


def test_export_leaves_no_staging_folder(trained_model):
    export_bundle(load_bundle(trained_model.tag), "atomic")
    leftovers = list(trained_model.bentoml_home.glob(f"{STAGING_PREFIX}{os.getpid()}-*"))
    assert leftovers == []
    assert not any(
        path.name.startswith(STAGING_PREFIX)
        for path in (trained_model.bentoml_home / "models").iterdir()
    )
