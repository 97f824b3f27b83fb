"""The documentation keeps up with the code: every setting of `conf/` is on the configuration
page with its default, every INTENTBOT_* variable is on the serving page, BENCHMARKS.md holds
what the benchmark scripts write, and the site builds with `mkdocs build --strict` (no broken
link, no page left out of the navigation)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bench import report

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"
DOCS = REPO / "docs"
CONFIGURATION = DOCS / "configuration.md"
EVALUATE_SECTION = "conf/evaluate.yaml"  # the heading of the page's section on evaluate's keys
GROUPS = ("data", "encoder", "trainer", "logger", "distill")


def render(value: object) -> str:
    """A value as the page writes it (and as YAML and Hydra overrides spell it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render(item) for item in value) + "]"
    return str(value)


def flatten(node: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    """`a.b.c` keys and their values; a mapping whose keys hold dots (a sweep's parameters) is
    one value."""
    for key, value in node.items():
        if isinstance(value, dict) and value and not any("." in str(name) for name in value):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def composed(config: str, *overrides: str) -> dict[str, object]:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(config, overrides=list(overrides))
    return dict(flatten(OmegaConf.to_container(cfg, resolve=False)))


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


def page_rows(path: Path) -> dict[str, dict[str, list[str]]]:
    """Table rows by `## ` section, each keyed by its first cell's `code` (`| `key` | ... |`)."""
    sections: dict[str, dict[str, list[str]]] = {}
    rows: dict[str, list[str]] = sections.setdefault("", {})
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            rows = sections.setdefault(line[3:].strip(), {})
        elif line.startswith("| `"):
            key = line.split("|")[1].strip().strip("`")
            rows.setdefault(key, []).append(line)
    return sections


def rows_of(evaluate: bool) -> dict[str, list[str]]:
    """The training settings' rows, or those of the evaluate section."""
    merged: dict[str, list[str]] = {}
    for heading, rows in page_rows(CONFIGURATION).items():
        if (EVALUATE_SECTION in heading) == evaluate:
            for key, lines in rows.items():
                merged.setdefault(key, []).extend(lines)
    return merged


def missing(expected: dict[str, object], rows: dict[str, list[str]]) -> list[str]:
    """`key = value` for each setting no row names with its value in backticks."""
    return [
        f"{key} = {render(value)}"
        for key, value in expected.items()
        if not any(f"`{render(value)}`" in line for line in rows.get(key, []))
    ]


def test_every_training_setting_is_documented_with_its_default() -> None:
    expected = composed("train")
    raw = yaml.safe_load((CONF / "train.yaml").read_text())
    expected |= dict(flatten({"hydra": raw["hydra"]}))
    for entry in raw["defaults"]:
        if isinstance(entry, dict):
            expected |= entry  # the group's default option, under the group's name
    assert missing(expected, rows_of(evaluate=False)) == [], f"add these to {CONFIGURATION}"


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_option_is_documented(group: str) -> None:
    """Each option's own keys and values (`encoder=rnn` adds `encoder.nonlinearity`)."""
    undocumented = []
    for option in options(group):
        settings = composed("train", f"{group}={option}")
        own = {key: value for key, value in settings.items() if key.startswith(f"{group}.")}
        undocumented += missing(own, rows_of(evaluate=False))
    assert undocumented == [], f"add these to {CONFIGURATION}"


@pytest.mark.parametrize("preset", options("experiment"))
def test_every_preset_value_is_documented(preset: str) -> None:
    """What `experiment=NAME` changes, against the defaults with the same groups chosen."""
    raw = yaml.safe_load((CONF / "experiment" / f"{preset}.yaml").read_text())
    groups = [
        f"{key.removeprefix('override /')}={value}"
        for entry in raw.get("defaults", [])
        if isinstance(entry, dict)
        for key, value in entry.items()
    ]
    before, after = composed("train", *groups), composed("train", f"experiment={preset}")
    changed = {key: value for key, value in after.items() if before.get(key, object()) != value}
    assert changed, f"experiment={preset} changes nothing?"
    assert missing(changed, rows_of(evaluate=False)) == [], f"add these to {CONFIGURATION}"


@pytest.mark.parametrize("search", options("hparams_search"))
def test_every_search_is_documented_with_its_grid(search: str) -> None:
    raw = yaml.safe_load((CONF / "hparams_search" / f"{search}.yaml").read_text())
    rows = rows_of(evaluate=False).get(f"hparams_search={search}", [])
    grid = [f"{key}={value}" for key, value in raw["hydra"]["sweeper"]["params"].items()]
    assert [item for item in grid if not any(f"`{item}`" in line for line in rows)] == []


def test_every_evaluation_setting_is_documented_with_its_default() -> None:
    expected = {k: v for k, v in composed("evaluate").items() if not k.startswith("data.")}
    raw = yaml.safe_load((CONF / "evaluate.yaml").read_text())
    expected |= dict(flatten({"hydra": raw["hydra"]}))
    for entry in raw["defaults"]:
        if isinstance(entry, dict):
            expected |= entry
    assert missing(expected, rows_of(evaluate=True)) == [], f"add these to {CONFIGURATION}"


def test_every_service_setting_is_documented() -> None:
    settings = (REPO / "intentbot" / "serving" / "settings.py").read_text()
    names = sorted(set(re.findall(r'_read\(\s*env,\s*"([A-Z_]+)"', settings)))
    assert len(names) >= 10, names  # the pattern still finds them
    page = (DOCS / "serving.md").read_text(encoding="utf-8")
    assert [name for name in names if f"`INTENTBOT_{name}`" not in page] == []


def test_benchmarks_hold_the_tables_their_scripts_write() -> None:
    """Each section between markers is its script's rendering of bench/results/NAME.json: a
    table edited by hand, or results without their table, fail here."""
    text = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    for name, module_name in report.WRITERS.items():
        module = importlib.import_module(module_name)
        start, end = module.markers(name) if hasattr(module, "markers") else module.MARKERS
        assert text.count(start) == text.count(end) == 1, name
        record = json.loads((report.RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        section = text.split(start)[1].split(end)[0].strip()
        assert section == module.markdown(record), f"python -m bench.report {name}"
        assert section.startswith("Measured "), name  # when, on which machine, by what


def test_benchmarks_show_the_present_only() -> None:
    lines = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300  # one current table per benchmark; history lives in git
    assert [line for line in lines if re.search(r"\bissue \d|#\d", line, re.I)] == []


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`make docs` in a temporary folder: a broken link or anchor, a page missing from the
    navigation or a missing snippet fails it."""
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    assert (tmp_path / "configuration" / "index.html").is_file()
