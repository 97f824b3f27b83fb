"""Export and load the model bundle in the BentoML model store.

A bundle is self-describing: safetensors weights plus the arguments to rebuild the network,
the tokenizer, the labels, the out-of-scope decision, the replies, the resolved training config
and its metrics. Loading rebuilds and calls `load_state_dict`; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import bentoml
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.models.model import ModelStore
from bentoml.exceptions import NotFound
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from intentbot.labels import LabelSet
from intentbot.model import IntentNet, NetConfig
from intentbot.oos import OosDecision
from intentbot.tokenizer import IntentTokenizer

WEIGHTS, NET, TOKENIZER, LABELS = "weights.safetensors", "net.json", "tokenizer.json", "labels.json"
DECISION, REPLIES, CONFIG, METRICS = "decision.json", "replies.json", "config.json", "metrics.json"
STAGING_PREFIX = ".intentbot-export-"


class BundleError(RuntimeError):
    """A model that cannot be found or read; the message names the tag or file."""


@dataclass
class Bundle:
    """A trained model and everything needed to answer with it."""

    net: IntentNet
    tokenizer: IntentTokenizer
    labels: LabelSet
    decision: OosDecision
    replies: dict[str, list[str]] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tag: str | None = None

    @property
    def oos_label(self) -> str:
        return self.labels.oos_label

    @property
    def threshold(self) -> float:
        return self.decision.threshold

    @property
    def ambiguity_threshold(self) -> float:
        return self.decision.ambiguity_threshold


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
            _write_files(bundle, Path(ref.path))
        bundle.tag = _publish(staging, Path(store._path), ref.tag)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return bundle.tag


def _write_files(bundle: Bundle, folder: Path) -> None:
    state = {name: tensor.contiguous() for name, tensor in bundle.net.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    bundle.tokenizer.save(folder / TOKENIZER)
    bundle.labels.save(folder / LABELS)
    for name, record in (
        (NET, bundle.net.config.to_dict()),
        (DECISION, bundle.decision.to_dict()),
        (REPLIES, bundle.replies),
        (CONFIG, bundle.config),
        (METRICS, bundle.metrics),
    ):
        (folder / name).write_text(json.dumps(record, indent=2))


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
    """Rebuild a stored model; any missing or damaged file is named in the error."""
    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        home = os.environ.get("BENTOML_HOME", "~/bentoml")
        raise BundleError(
            f"no model {tag!r} in the BentoML store at {home}; train one with `make train` "
            "or list them with `bentoml models list`"
        ) from None
    folder = Path(stored.path)
    try:
        net = IntentNet(NetConfig.from_dict(_read_json(folder / NET)))
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{folder / NET}: not a network description ({error!r})") from None
    try:
        net.load_state_dict(load_file(folder / WEIGHTS))
    except (SafetensorError, OSError) as error:
        raise BundleError(f"{folder / WEIGHTS}: unreadable weights ({error})") from None
    except RuntimeError as error:  # names and shapes differ from what net.json describes
        raise BundleError(
            f"{folder / WEIGHTS}: does not fit the network in {folder / NET} ({error})"
        ) from None
    net.eval()
    try:
        tokenizer = IntentTokenizer.load(folder / TOKENIZER)
        labels = LabelSet.load(folder / LABELS)
    except ValueError as error:
        raise BundleError(str(error)) from None
    return Bundle(
        net=net,
        tokenizer=tokenizer,
        labels=labels,
        decision=_read_decision(folder / DECISION),
        replies=_read_json(folder / REPLIES),
        config=_read_json(folder / CONFIG),
        metrics=_read_json(folder / METRICS),
        tag=str(stored.tag),
    )


def _read_decision(path: Path) -> OosDecision:
    record = _read_json(path)
    known = OosDecision.__dataclass_fields__
    for key, value in record.items():
        if key not in known:
            raise BundleError(f"{path}: unknown key {key!r}; expected some of {list(known)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not -1e9 < value < 1e9:
            raise BundleError(f"{path}: {key} is {value!r}, not a finite number")
    return OosDecision(**record)


def _read_json(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: unreadable bundle file ({error})") from None
    if not isinstance(record, dict):
        raise BundleError(f"{path}: expected a JSON object, found {type(record).__name__}")
    return record
