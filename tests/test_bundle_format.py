"""The bundle format: today's bundles say their version, and bundles as earlier versions of
intentbot wrote them (`tests/fixtures/bundles`, written by that code itself: see its README) come
through the one table of upgrades and answer exactly as the code that wrote them did, without
the folder they are read from ever being written."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from intentbot.bundle import read_bundle, write_bundle
from intentbot.bundle_format import FORMAT_KEY, FORMAT_VERSION, NET, BundleError
from intentbot.bundle_upgrades import UPGRADES, format_version, upgraded
from intentbot.engine.choice import ENGINES
from intentbot.predictor import Predictor

FIXTURES = Path(__file__).parent / "fixtures" / "bundles"
GRAPHS = {"fused.onnx", "fused.safetensors", "folded.onnx", "folded.safetensors"}
# each fixture, and the files its upgrades write anew (none: today's layout, read where it is)
# (every one so far: net.json's freeze_embedding is freeze_embeddings since format 5)
REWRITTEN = {
    "no-graphs": GRAPHS | {NET},
    "one-name-sources": {"fused.safetensors", "folded.safetensors", NET},
    "projected-names": GRAPHS | {"weights.safetensors", NET},
    "unversioned": {NET},
    "format-4": {NET},
}


def digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir()}


@pytest.fixture(params=sorted(REWRITTEN))
def older(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A copy of one fixture (the repository's own is never at risk)."""
    return shutil.copytree(FIXTURES / request.param, tmp_path / request.param)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_older_bundle_answers_as_the_code_that_wrote_it(older: Path, engine: str) -> None:
    before = digests(older)
    expected = json.loads((older / "expected.json").read_text())
    predictor = Predictor(read_bundle(older), engine=engine)
    texts = expected["texts"]
    assert np.allclose(predictor.logits(texts), expected["logits"], atol=1e-5)
    found = [
        [[item.entity, item.start, item.end, item.value] for item in prediction.entities]
        for prediction in predictor.predict(texts)
    ]
    assert found == expected["entities"]
    assert digests(older) == before


def test_each_upgrade_writes_only_what_it_changes(older: Path) -> None:
    """In a private copy whose other files are links to the original's; none for a bundle of
    today's layout, which is read where it is."""
    folder = upgraded(older)
    written = {path.name for path in folder.iterdir() if not path.is_symlink()}
    if not REWRITTEN[older.name]:
        assert folder == older
    else:
        assert written == REWRITTEN[older.name]
        assert {path.name for path in folder.iterdir()} >= {path.name for path in older.iterdir()}


def test_an_older_bundle_exported_again_is_of_todays_format(tmp_path: Path) -> None:
    older = shutil.copytree(FIXTURES / "projected-names", tmp_path / "older")
    again = tmp_path / "again"
    again.mkdir()
    write_bundle(read_bundle(older), again)
    assert json.loads((again / NET).read_text())[FORMAT_KEY] == FORMAT_VERSION
    assert format_version(again) == FORMAT_VERSION and format_version(older) == 0
    bundle = read_bundle(again)
    assert bundle.folder == again  # nothing to upgrade
    expected = json.loads((older / "expected.json").read_text())
    assert np.allclose(Predictor(bundle).logits(expected["texts"]), expected["logits"], atol=1e-5)


def test_every_older_version_has_its_upgrade() -> None:
    assert sorted(UPGRADES) == list(range(FORMAT_VERSION))


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (FORMAT_VERSION + 1, r"bundle format \d+, newer than this intentbot reads \(\d+\)"),
        ("4", "format_version is '4', not a version number"),
        (-1, "format_version is -1, not a version number"),
    ],
)
def test_a_version_this_code_cannot_read_is_named(
    tmp_path: Path, version: object, message: str
) -> None:
    folder = shutil.copytree(FIXTURES / "unversioned", tmp_path / "bundle")
    record = json.loads((folder / NET).read_text())
    (folder / NET).write_text(json.dumps({**record, FORMAT_KEY: version}))
    with pytest.raises(BundleError, match=message):
        read_bundle(folder)
