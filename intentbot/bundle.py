"""The model bundle: one folder that holds a trained model and everything needed to answer with it.

Self-describing: safetensors weights plus the arguments to rebuild the network, the tokenizer,
the labels, the out-of-scope decision, the replies, the resolved training config and its
metrics; a model with an entity tagging head adds its tags and synonyms (`tags.json`, absent
from intent-only bundles, those written before entities included).
Reading rebuilds the network and calls `load_state_dict`; nothing is ever unpickled.
Where the folder lives (the BentoML model store) is `intentbot.store`'s business, not this
module's: serving, the chat and tests read a bundle without BentoML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from intentbot.labels import LabelSet
from intentbot.model import IntentNet, NetConfig
from intentbot.oos import OosDecision
from intentbot.tagging import TagSet
from intentbot.tokenizer import IntentTokenizer

WEIGHTS, NET, TOKENIZER, LABELS = "weights.safetensors", "net.json", "tokenizer.json", "labels.json"
DECISION, REPLIES, CONFIG, METRICS = "decision.json", "replies.json", "config.json", "metrics.json"
TAGS = "tags.json"


class BundleError(RuntimeError):
    """A model that cannot be found or read; the message names the tag or file."""


@dataclass
class Bundle:
    """A trained model and everything needed to answer with it; `tag_set` names the tagging
    head's outputs (None: an intent-only model), `synonyms` map lower-cased entity text to its
    value."""

    net: IntentNet
    tokenizer: IntentTokenizer
    labels: LabelSet
    decision: OosDecision
    replies: dict[str, list[str]] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tag: str | None = None
    tag_set: TagSet | None = None
    synonyms: dict[str, str] = field(default_factory=dict)

    @property
    def oos_label(self) -> str:
        """The intent name answered for out-of-scope messages (also the replies' key for them)."""
        return self.labels.oos_label

    @property
    def entity_types(self) -> tuple[str, ...]:
        """The entity types the model finds (what reply slots may name); () without a tagger."""
        return self.tag_set.entity_names if self.tag_set else ()

    @property
    def threshold(self) -> float:
        """The calibrated confidence under which an answer counts as out of scope."""
        return self.decision.threshold

    @property
    def ambiguity_threshold(self) -> float:
        """The smallest top-1 minus top-2 margin that still counts as in scope."""
        return self.decision.ambiguity_threshold


def write_bundle(bundle: Bundle, folder: Path) -> None:
    """Write every file of `bundle` into `folder` (which exists)."""
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
    if bundle.tag_set is not None:
        record = {"names": list(bundle.tag_set.names), "synonyms": bundle.synonyms}
        (folder / TAGS).write_text(json.dumps(record, indent=2, ensure_ascii=False))


def read_bundle(folder: Path, tag: str | None = None) -> Bundle:
    """Rebuild the model written into `folder`; any missing or damaged file is named."""
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
    tag_set, synonyms = _read_tags(folder / TAGS, net.config.num_tags)
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
        tag=tag,
        tag_set=tag_set,
        synonyms=synonyms,
    )


def _read_tags(path: Path, num_tags: int) -> tuple[TagSet | None, dict[str, str]]:
    """The tag set and synonyms of a tagging model; none for an intent-only one (no file)."""
    if not path.exists():
        if num_tags:
            raise BundleError(
                f"{path}: missing, yet the network has a tagging head of {num_tags} tags; "
                "export the model again"
            )
        return None, {}
    record = _read_json(path)
    synonyms = record.get("synonyms", {})
    if not isinstance(synonyms, dict) or not all(
        isinstance(item, str) for pair in synonyms.items() for item in pair
    ):
        raise BundleError(f"{path}: synonyms must map entity text to a value, both strings")
    try:
        tag_set = TagSet.from_names(record["names"])
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{path}: not a tag list ({error})") from None
    if len(tag_set) != num_tags:
        raise BundleError(
            f"{path}: {len(tag_set)} tags for a tagging head of {num_tags} outputs (net.json); "
            "the files come from different models"
        )
    return tag_set, synonyms


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
