"""Each default lives in one place: where code that a config group builds (`_target_`) has a
default of its own for a key the config sets, the two must agree, or a reader of either is
misled. Library targets (Lightning's Trainer, its loggers) keep their own defaults."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from tests.conftest import REPO

CONF = REPO / "conf"
GROUPS = {
    group.name: sorted(path.stem for path in group.glob("*.yaml"))
    for group in CONF.iterdir()
    if group.is_dir() and group.name not in ("experiment", "hparams_search")
}


def targets(node: DictConfig, path: str = "") -> Iterator[tuple[str, DictConfig]]:
    """Every node with a `_target_` of intentbot's, and where it is."""
    if "_target_" in node and str(node._target_).startswith("intentbot."):
        yield path, node
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            yield from targets(child, f"{path}.{key}" if path else str(key))


def option_keys(group: str) -> set[str]:
    """Keys whose value differs between a group's options: what makes each option itself
    (`encoder.kind`), which no single code default can match."""
    values: dict[str, set[str]] = {}
    for name in GROUPS.get(group, []):
        for key, value in OmegaConf.to_container(
            OmegaConf.load(CONF / group / f"{name}.yaml")
        ).items():
            values.setdefault(str(key), set()).add(repr(value))
    return {key for key, seen in values.items() if len(seen) > 1}


def disagreements(cfg: DictConfig) -> list[str]:
    """`path.key: code default X, config Y` for each key set both ways differently."""
    found = []
    for path, node in targets(cfg):
        parameters = inspect.signature(get_object(node._target_)).parameters
        identity = option_keys(path)
        for key in node:
            parameter = parameters.get(str(key))
            raw = node._get_node(key)
            if parameter is None or parameter.default is inspect.Parameter.empty:
                continue
            if str(key) in identity or OmegaConf.is_missing(node, key):
                continue
            if OmegaConf.is_interpolation(node, key) or isinstance(raw, DictConfig):
                continue
            value = node[key]
            value = tuple(value) if isinstance(value, ListConfig) else value
            default = parameter.default
            default = tuple(default) if isinstance(default, list) else default
            if value != default:
                found.append(f"{path}.{key}: code default {default!r}, config {value!r}")
    return found


def composed(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides)


@pytest.mark.parametrize(
    "option", [f"{group}={name}" for group, names in GROUPS.items() for name in names]
)
def test_code_defaults_agree_with_the_config(option: str) -> None:
    assert disagreements(composed([option])) == []


def test_the_check_finds_a_disagreement() -> None:
    """An edited config value the code also defaults (EncoderConfig's hidden_size=128)."""
    assert disagreements(composed(["encoder.hidden_size=64"])) == [
        "encoder.hidden_size: code default 128, config 64"
    ]


def test_the_recipes_the_training_groups_build_have_no_defaults_of_their_own() -> None:
    """`model`, `optim`, `oos` and `callbacks` are set in conf/ alone."""
    cfg = composed([])
    for group in ("model", "optim", "oos", "callbacks"):
        parameters = inspect.signature(get_object(cfg[group]._target_)).parameters.values()
        assert [p.name for p in parameters if p.default is not inspect.Parameter.empty] == []
        assert {p.name for p in parameters} == {str(key) for key in cfg[group]} - {"_target_"}


def test_every_group_is_checked() -> None:
    assert {"network", "optim", "oos", "callbacks", "encoder", "data"} <= set(GROUPS)
    assert Path(CONF / "network" / "default.yaml").exists()
