"""One release number: pyproject.toml, the package, the bento's labels and CHANGELOG.md agree,
and the service reports it at `GET /version`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from starlette.testclient import TestClient

from intentbot import __version__
from intentbot import service as service_module

REPO = Path(__file__).resolve().parent.parent


def test_one_version_everywhere() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    bentofile = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    assert __version__ == pyproject
    assert bentofile["labels"]["version"] == pyproject


def test_the_changelog_has_the_version_as_its_newest_release() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.M)
    assert releases[:2] == ["Unreleased", __version__], releases
    dated = rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$"  # Keep a Changelog
    assert re.search(dated, changelog, flags=re.M)


def test_the_service_reports_the_version() -> None:
    with TestClient(service_module.ROUTES) as client:
        assert client.get("/version").json() == {"version": __version__}
