"""Shared fixtures: a private BentoML store, config composition, one small trained model."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Before anything imports bentoml: tests never touch the user's own model store.
BENTOML_HOME = Path(tempfile.mkdtemp(prefix="intentbot-tests-bentoml-"))
os.environ["BENTOML_HOME"] = str(BENTOML_HOME)

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from intentbot.train import train  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"
# Small and quick, yet enough to learn the bundled data ("What time is it?" -> time).
SMALL_MODEL = (
    "encoder.embedding_dim=64",
    "encoder.hidden_size=64",
    "model.head.hidden_sizes=[64]",
    "trainer.max_epochs=12",
    "callbacks.patience=12",
    "batch_size=64",
    "optim.lr=0.01",
)


def compose_config(*overrides: str) -> DictConfig:
    """The training config as `python -m intentbot.train OVERRIDES` would see it, but from
    scratch unless a test asks for pretrained embeddings: tests want small, quick models."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        defaults = ["progress_bar=false", "model.pretrained=null"]
        return compose("train", overrides=[*defaults, *overrides])


@dataclass(frozen=True)
class TrainedModel:
    bentoml_home: Path
    tag: str
    run_dir: Path
    metrics: dict


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """One model trained on the bundled data and exported to the private store."""
    run_dir = tmp_path_factory.mktemp("trained")
    metrics = train(compose_config(*SMALL_MODEL), run_dir)
    return TrainedModel(BENTOML_HOME, metrics["model_tag"], run_dir, metrics)


@pytest.fixture(scope="session", autouse=True)
def _remove_private_store() -> Iterator[None]:
    yield
    shutil.rmtree(BENTOML_HOME, ignore_errors=True)
