"""`-m hparams_search=...`: every point of each grid is a valid config, and a search ends with
the comparison table, the best run by validation accuracy and comparison.png."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from tests.conftest import CONF_DIR, REPO, compose_config

pytestmark = pytest.mark.slow

SEARCHES = sorted(path.stem for path in (CONF_DIR / "hparams_search").glob("*.yaml"))


def grid(search: str) -> list[tuple[str, ...]]:
    """Every combination of the search's `hydra.sweeper.params`, as override lists."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [f"hparams_search={search}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    axes = [
        [f"{key}={value}" for value in str(values).split(",")] for key, values in params.items()
    ]
    return list(itertools.product(*axes))


@pytest.mark.parametrize("search", SEARCHES)
def test_every_point_of_the_grid_composes_and_builds_its_encoder(search):
    points = grid(search)
    assert len(points) >= 6
    searched = {override.split("=")[0] for point in points for override in point}
    assert {"encoder", "optim.lr"} <= searched
    for point in points:
        cfg = compose_config(*point)
        encoder = instantiate(cfg.encoder)
        assert encoder.kind == cfg.encoder.kind and encoder.hidden_size == cfg.encoder.hidden_size


def test_grid_searches_encoder_sizes_dropout_and_learning_rate():
    searched = {override.split("=")[0] for point in grid("grid") for override in point}
    assert searched == {"encoder", "encoder.hidden_size", "model.embedding_dropout", "optim.lr"}


def test_search_ends_with_table_best_run_and_comparison_png(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "intentbot.train",
            "-m",
            "hparams_search=quick",
            "trainer.fast_dev_run=true",
            "export=false",
            "progress_bar=false",
            f"hydra.sweep.dir={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = result.stdout[result.stdout.index("multirun comparison") :]
    for point in grid("quick"):
        assert " ".join(point) in table
    assert "best by val accuracy" in table
    assert (tmp_path / "comparison.png").stat().st_size > 10_000
    assert len(list(tmp_path.glob("*/metrics.json"))) == len(grid("quick"))
