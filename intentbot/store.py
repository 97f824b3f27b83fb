"""The BentoML model store: export a bundle to it atomically, load one back by tag.

The only module of the core that imports BentoML; the bundle's folder format is
`intentbot.bundle`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import bentoml
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.models.model import ModelStore
from bentoml.exceptions import NotFound

from intentbot.bundle import Bundle, BundleError, read_bundle, write_bundle

STAGING_PREFIX = ".intentbot-export-"


def export_bundle(bundle: Bundle, model_name: str = "intentbot") -> str:
    """Save to the BentoML store (BENTOML_HOME) and return the new tag `name:version`.

    Atomic: a process killed at any point leaves either no trace in the store or the complete
    new model as `latest`, never a half-written model or a broken `latest` (`_publish`).
    """
    metadata = {key: value for key, value in bundle.metrics.get("test", {}).items()}
    store = BentoMLContainer.model_store.get()
    staging = _staging_folder(Path(store._path))
    try:
        with bentoml.models.create(
            model_name,
            metadata=metadata,
            labels={"kind": "intentbot"},
            _model_store=ModelStore(str(staging)),  # written in full here first
        ) as ref:
            write_bundle(bundle, Path(ref.path))
        bundle.tag = _publish(staging, Path(store._path), ref.tag)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return bundle.tag


def _staging_folder(store: Path) -> Path:
    """A private folder beside the store (same file system, so a rename moves it at once);
    those left by killed exports are removed."""
    home = store.parent
    for stale in home.glob(f"{STAGING_PREFIX}*"):
        pid = stale.name.removeprefix(STAGING_PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=home))


def _publish(staging: Path, store: Path, tag: bentoml.Tag) -> str:
    """Move the finished model into the store with one rename, then point `latest` at it with
    another (BentoML itself copies file by file into the store and rewrites `latest` in place)."""
    (store / tag.name).mkdir(parents=True, exist_ok=True)
    os.rename(staging / tag.name / tag.version, store / tag.name / tag.version)
    latest = store / tag.name / "latest"
    pending = latest.with_name(f".latest-{os.getpid()}")
    pending.write_text(tag.version)
    os.replace(pending, latest)
    return str(tag)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_bundle(tag: str = "intentbot:latest") -> Bundle:
    """Rebuild a stored model; a missing tag or any missing or damaged file is named."""
    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        home = os.environ.get("BENTOML_HOME", "~/bentoml")
        raise BundleError(
            f"no model {tag!r} in the BentoML store at {home}; train one with `make train` "
            "or list them with `bentoml models list`"
        ) from None
    return read_bundle(Path(stored.path), str(stored.tag))
