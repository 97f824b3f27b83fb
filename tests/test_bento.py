"""The bento: what serving needs is declared once (the `serve` extra, mirrored by
bentofile.yaml), serving runs without the training stack, and a built bento serves from a fresh
virtual environment that holds only the requirements the bento itself lists."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import pytest
import yaml

from bench.servers import serving_process
from intentbot import __version__
from tests.helpers import TRAINING_STACK

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "bundles"
ENV = {**os.environ, "BENTOML_DO_NOT_TRACK": "True"}


def serve_extra() -> list[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return pyproject["project"]["optional-dependencies"]["serve"]


def test_bentofile_packages_are_the_serve_extra() -> None:
    bentofile = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    assert sorted(bentofile["python"]["packages"]) == sorted(serve_extra())


# A child interpreter in which the training-only packages cannot be imported, as in a bento's
# environment: a finder placed first on sys.meta_path refuses them.
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {blocked!r}
    assert not [name for name in sys.modules if name.split(".")[0] in BLOCKED], "loaded early"

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    """
).format(blocked=TRAINING_STACK)


def run_blocked(code: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (in the repository) where TRAINING_STACK are blocked."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=REPO,
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_service_imports_without_the_training_stack() -> None:
    result = run_blocked("import intentbot.service")
    assert result.returncode == 0, result.stderr[-4000:]


def test_the_block_is_real() -> None:
    """Control: the training entry point does not import under the same block."""
    result = run_blocked("import intentbot.train")
    assert result.returncode != 0
    assert re.search(r"No module named '(hydra|lightning|omegaconf)[.']", result.stderr), (
        result.stderr[-4000:]
    )


def test_service_loads_and_answers_without_the_training_stack(trained_model) -> None:
    """The service as `bentoml serve` builds it, minus HTTP: the stored model loads, the ONNX
    engine is built (one text: fused graph; five: folded graph) and a message is answered."""
    code = """
        import asyncio, json
        from intentbot.service import IntentService

        service = IntentService.inner()
        answer = asyncio.run(service.classify("What time is it?"))
        batch = service._predict([("What time is it?", 3)] * 5)
        print(json.dumps({"intent": answer.intent, "batch": [p.intent for p in batch]}))
    """
    env = {"BENTOML_HOME": str(trained_model.bentoml_home), "INTENTBOT_MODEL": trained_model.tag}
    result = run_blocked(code, env)
    assert result.returncode == 0, result.stderr[-4000:]
    answers = json.loads(result.stdout.splitlines()[-1])
    assert answers == {"intent": "time", "batch": ["time"] * 5}


def test_without_torch_an_older_bundle_and_the_torch_engine_name_the_fix(
    trained_model, tmp_path: Path
) -> None:
    """Where serving installs no torch: a model saved before bundles carried their graphs (as
    0.3.0 wrote it), and INTENTBOT_ENGINE=torch, are refused with what to do, not a
    traceback."""
    older = shutil.copytree(FIXTURES / "no-graphs", tmp_path / "older")
    code = f"""
        from pathlib import Path
        from intentbot.bundle import BundleError, read_bundle
        from intentbot.predictor import Predictor
        from intentbot.store import load_bundle

        for attempt in (
            lambda: read_bundle(Path({str(older)!r}), "intentbot:older"),
            lambda: Predictor(load_bundle({trained_model.tag!r}), engine="torch"),
        ):
            try:
                attempt()
            except BundleError as error:
                print(error)
    """
    env = {"BENTOML_HOME": str(trained_model.bentoml_home)}
    result = run_blocked(code, env)
    assert result.returncode == 0, result.stderr[-4000:]
    older_message, torch_message = result.stdout.strip().splitlines()[-2:]
    assert "saved before bundles carried their engine graphs" in older_message
    assert "export_bundle(load_bundle('intentbot:older'), 'intentbot')" in older_message
    assert "install torch for INTENTBOT_ENGINE=torch" in torch_message


def run(command: Sequence[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run a command to completion; on failure the assertion shows its output."""
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result


@pytest.mark.slow
@pytest.mark.server
def test_built_bento_serves_from_its_own_requirements(trained_model, tmp_path: Path) -> None:
    """Build the bento with the trained model, move it to a new store the way a deployment
    gets it (`bentoml export` / `bentoml import`), install only the requirements the bento lists
    into a new virtual environment and serve it from there."""
    # 1. Build from the repository into the fixture's store, which holds the model.
    build_env = {
        **ENV,
        "BENTOML_HOME": str(trained_model.bentoml_home),
        "INTENTBOT_MODEL": trained_model.tag,
    }
    tag = build_bento(build_env)
    name, version = tag.split(":")
    bento = trained_model.bentoml_home / "bentos" / name / version
    info = yaml.safe_load((bento / "bento.yaml").read_text())
    packed = [model["tag"] for service in info["services"] for model in service["models"]]
    assert packed == [trained_model.tag]
    assert info["labels"]["version"] == __version__  # the bento says which release it holds

    # 2. The requirements: the serve extra, and BentoML pinned to the version that built it.
    requirements_file = bento / "env" / "python" / "requirements.txt"
    requirements = requirements_file.read_text().splitlines()
    bentoml_version = importlib.metadata.version("bentoml")
    assert f"bentoml=={bentoml_version}" in requirements, requirements
    assert set(serve_extra()) <= set(requirements), requirements

    # 3. The bento as a file, imported into a store of its own (it brings its model along).
    archive = tmp_path / "intentbot.bento"
    run([sys.executable, "-m", "bentoml", "export", tag, archive], timeout=300, env=build_env)

    # 4. A new virtual environment with only the bento's requirements.
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "venv", venv], timeout=300)
    run([python, "-m", "pip", "install", "-q", "-r", requirements_file], timeout=1200, env=ENV)
    probe = textwrap.dedent(
        """
        import importlib.metadata, importlib.util, json, sys
        print(json.dumps({
            "bentoml": importlib.metadata.version("bentoml"),
            "present": [name for name in sys.argv[1:] if importlib.util.find_spec(name)],
        }))
        """
    )
    checked = ["intentbot", *TRAINING_STACK]
    installed = json.loads(run([python, "-c", probe, *checked], 120, cwd=tmp_path).stdout)
    # the served code can only be the bento's, and no training package (torch included) came in
    # by the way
    assert installed == {"bentoml": bentoml_version, "present": []}

    home = tmp_path / "bentoml-home"
    serve_env = {**ENV, "BENTOML_HOME": str(home)}
    run([python, "-m", "bentoml", "import", archive], timeout=300, env=serve_env)
    models = run([python, "-m", "bentoml", "models", "list", "-o", "json"], 120, env=serve_env)
    assert [model["tag"] for model in json.loads(models.stdout)] == [trained_model.tag]

    # 5. Serve the bento by its tag from the new environment; INTENTBOT_MODEL is left empty so
    # the service's default names the model, the one the bento brought.
    log_path = tmp_path / "serve.log"
    with serving_process(
        {"BENTOML_HOME": str(home), "INTENTBOT_MODEL": ""},
        target=[tag],
        ready_timeout=240,
        cwd=tmp_path,
        log_path=log_path,
        python=str(python),
    ) as (url, _):
        response = httpx.post(f"{url}/classify", json={"text": "What time is it?"}, timeout=60)
        log = log_path.read_text(errors="replace")[-4000:]
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{log}"
        assert response.json()["intent"] == "time", f"{response.text}\n{log}"
        assert httpx.get(f"{url}/version", timeout=60).json() == {"version": __version__}


def build_bento(env: Mapping[str, str]) -> str:
    """`bentoml build` from the repository into env's store; the new bento's tag."""
    build = run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag"], 600, cwd=REPO, env=env
    )
    found = re.search(r"__tag__:(\S+)", build.stdout)
    assert found, f"no bento tag in the build's output:\n{build.stdout}\n{build.stderr}"
    return found.group(1)


@pytest.mark.slow
@pytest.mark.server
def test_a_bento_serves_the_model_it_packed_after_latest_moved_on(
    trained_model, tmp_path: Path
) -> None:
    """Served from the local bento store, a bento reads the global model store; a model trained
    after the build is `intentbot:latest` there, yet the bento serves the one it was built with."""
    packed = trained_model.tag
    name, version = packed.split(":")
    home = tmp_path / "home"
    shutil.copytree(
        trained_model.bentoml_home / "models" / name / version, home / "models" / name / version
    )
    (home / "models" / name / "latest").write_text(version)
    env = {**ENV, "BENTOML_HOME": str(home), "INTENTBOT_MODEL": packed}
    bento = build_bento(env)

    # a newer model (the same weights under a new version) becomes `latest` after the build
    export = (
        "from intentbot.store import export_bundle, load_bundle; "
        "print(export_bundle(load_bundle()))"
    )
    newer = run([sys.executable, "-c", export], 300, cwd=REPO, env=env).stdout.split()[-1]
    assert newer != packed
    latest = run(
        [sys.executable, "-m", "bentoml", "models", "get", "intentbot:latest", "-o", "json"],
        120,
        env=env,
    )
    assert f"{name}:{json.loads(latest.stdout)['version']}" == newer

    log_path = tmp_path / "serve.log"
    serve_env = {"BENTOML_HOME": str(home), "INTENTBOT_MODEL": ""}
    with serving_process(serve_env, target=[bento], cwd=tmp_path, log_path=log_path) as (url, _):
        response = httpx.post(f"{url}/classify", json={"text": "What time is it?"}, timeout=60)
        assert response.status_code == 200, response.text
    log = log_path.read_text(errors="replace")
    assert f"serving model {packed}" in log, log[-3000:]
    assert f"serving model {newer}" not in log
