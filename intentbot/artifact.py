"""Export and load the model bundle in the BentoML model store.

A bundle is self-describing: safetensors weights plus the arguments to rebuild the network,
the tokenizer, the labels, the out-of-scope decision, the replies, the resolved training config
and its metrics. Loading rebuilds and calls `load_state_dict`; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import bentoml
from bentoml.exceptions import NotFound
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from intentbot.labels import LabelSet
from intentbot.model import IntentNet, NetConfig
from intentbot.oos import OosDecision
from intentbot.tokenizer import IntentTokenizer

WEIGHTS, NET, TOKENIZER, LABELS = "weights.safetensors", "net.json", "tokenizer.json", "labels.json"
DECISION, REPLIES, CONFIG, METRICS = "decision.json", "replies.json", "config.json", "metrics.json"


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

    BentoML writes into a temporary folder and registers it only when the block succeeds.
    """
    metadata = {key: value for key, value in bundle.metrics.get("test", {}).items()}
    with bentoml.models.create(model_name, metadata=metadata, labels={"kind": "intentbot"}) as ref:
        folder = Path(ref.path)
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
    bundle.tag = str(ref.tag)
    return bundle.tag


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
    net = IntentNet(NetConfig.from_dict(_read_json(folder / NET)))
    try:
        net.load_state_dict(load_file(folder / WEIGHTS))
    except (SafetensorError, OSError, RuntimeError) as error:
        raise BundleError(f"{folder / WEIGHTS}: unreadable weights ({error})") from None
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
        decision=OosDecision(**_read_json(folder / DECISION)),
        replies=_read_json(folder / REPLIES),
        config=_read_json(folder / CONFIG),
        metrics=_read_json(folder / METRICS),
        tag=str(stored.tag),
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: unreadable bundle file ({error})") from None
