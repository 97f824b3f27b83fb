"""The model bundle: one folder that holds a trained model and everything needed to answer with it.

Self-describing: safetensors weights plus the arguments to rebuild the network, the engine's
ONNX graphs written from them (`intentbot.engine.files`), the tokenizer, the labels, the
out-of-scope decision, the replies, the resolved training config and its metrics; a model with
an entity tagging head adds its tags and synonyms (`tags.json`, absent from intent-only
bundles, those written before entities included) and, when it reads known-name features, its
gazetteer (`gazetteer.json`); one with a linear n-gram path its n-gram vocabulary
(`ngrams.json`). Nothing is ever unpickled. net.json says the format
(`intentbot.bundle_format`); an older bundle is brought up to today's as it is read
(`intentbot.bundle_upgrades`), so reading here knows today's files only.

Reading loads what answering needs, the graphs, and not the torch network: a serving process
never imports torch. The network is read on first use (`Bundle.network`: evaluation with the
torch engine, retraining). Where the folder lives (the BentoML model store) is
`intentbot.store`'s business, not this module's: serving, the chat and tests read a bundle
without BentoML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from intentbot.bundle_format import NET, WEIGHTS, BundleError, read_json
from intentbot.bundle_upgrades import upgraded
from intentbot.engine.files import GraphFileError, Graphs, read_graphs, write_graphs
from intentbot.gazetteer import Gazetteer
from intentbot.labels import LabelSet
from intentbot.ngrams import NgramVocabulary
from intentbot.oos import OosDecision
from intentbot.tagging import TagSet
from intentbot.tokenizer import IntentTokenizer

if TYPE_CHECKING:
    from intentbot.model import IntentNet

TOKENIZER, LABELS = "tokenizer.json", "labels.json"
DECISION, REPLIES, CONFIG, METRICS = "decision.json", "replies.json", "config.json", "metrics.json"
TAGS, GAZETTEER, NGRAMS = "tags.json", "gazetteer.json", "ngrams.json"


@dataclass
class Bundle:
    """A trained model and everything needed to answer with it; `tag_set` names the tagging
    head's outputs (None: an intent-only model), `synonyms` map lower-cased entity text to its
    value, `gazetteer` finds the known names the network reads (None: it reads none), `ngrams`
    weighs the n-grams its linear path reads (None: it has none). `net` is None in a bundle
    read from `folder` until `network()` reads it."""

    net: IntentNet | None
    tokenizer: IntentTokenizer
    labels: LabelSet
    decision: OosDecision
    replies: dict[str, list[str]] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tag: str | None = None
    tag_set: TagSet | None = None
    synonyms: dict[str, str] = field(default_factory=dict)
    gazetteer: Gazetteer | None = None
    ngrams: NgramVocabulary | None = None
    folder: Path | None = None
    _graphs: Graphs | None = field(default=None, init=False, repr=False)

    def network(self) -> IntentNet:
        """The torch network, read from `folder` on first use (only then is torch imported)."""
        if self.net is None:
            if self.folder is None:
                raise BundleError("a bundle with neither a network nor a folder to read it from")
            try:
                from intentbot.weights import read_network  # torch: only where it is asked for
            except ModuleNotFoundError as error:  # a serving install, such as a bento's
                raise BundleError(
                    f"{self.folder}: reading the torch network needs {error.name}, which is "
                    "not installed here (serving with ONNX Runtime does not need it); install "
                    "torch for INTENTBOT_ENGINE=torch"
                ) from None
            self.net = read_network(self.folder)
        return self.net

    def graphs(self) -> Graphs:
        """The ONNX graphs the engine runs: those read with the bundle, else written from the
        network once (a bundle in memory)."""
        if self._graphs is None:
            from intentbot.engine.graph import graphs_of  # torch, as the network in memory is

            self._graphs = graphs_of(self.network())
        return self._graphs

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
    from intentbot.weights import write_network  # torch: writing is training's side

    write_network(bundle.network(), folder)
    write_graphs(bundle.graphs(), folder)
    bundle.tokenizer.save(folder / TOKENIZER)
    bundle.labels.save(folder / LABELS)
    for name, record in (
        (DECISION, bundle.decision.to_dict()),
        (REPLIES, bundle.replies),
        (CONFIG, bundle.config),
        (METRICS, bundle.metrics),
    ):
        (folder / name).write_text(json.dumps(record, indent=2))
    if bundle.tag_set is not None:
        record = {"names": list(bundle.tag_set.names), "synonyms": bundle.synonyms}
        (folder / TAGS).write_text(json.dumps(record, indent=2, ensure_ascii=False))
    if bundle.gazetteer is not None:
        record = bundle.gazetteer.to_dict()
        (folder / GAZETTEER).write_text(json.dumps(record, indent=1, ensure_ascii=False))
    if bundle.ngrams is not None:
        record = bundle.ngrams.to_dict()
        (folder / NGRAMS).write_text(json.dumps(record, ensure_ascii=False))


def read_bundle(folder: Path, tag: str | None = None) -> Bundle:
    """The model written into `folder`, ready to answer; any missing or damaged file it needs
    is named (the network's own files when the network is first read). An older bundle is
    read from a private copy brought up to today's format."""
    folder = upgraded(folder, tag)
    net = read_json(folder / NET)
    num_tags, width = net.get("num_tags", 0), net.get("gazetteer_width", 0)
    grams = net.get("ngram_features", 0)
    for key, count in (
        ("num_tags", num_tags),
        ("gazetteer_width", width),
        ("ngram_features", grams),
    ):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise BundleError(f"{folder / NET}: {key} is {count!r}, not a count")
    try:
        graphs = read_graphs(folder, folder / WEIGHTS)
    except GraphFileError as error:
        raise BundleError(str(error)) from None
    tag_set, synonyms = _read_tags(folder / TAGS, num_tags)
    try:
        tokenizer = IntentTokenizer.load(folder / TOKENIZER)
        labels = LabelSet.load(folder / LABELS)
    except ValueError as error:
        raise BundleError(str(error)) from None
    bundle = Bundle(
        net=None,
        tokenizer=tokenizer,
        labels=labels,
        decision=_read_decision(folder / DECISION),
        replies=read_json(folder / REPLIES),
        config=read_json(folder / CONFIG),
        metrics=read_json(folder / METRICS),
        tag=tag,
        tag_set=tag_set,
        synonyms=synonyms,
        gazetteer=_read_gazetteer(folder / GAZETTEER, width) if width else None,
        ngrams=_read_ngrams(folder / NGRAMS, grams) if grams else None,
        folder=folder,
    )
    bundle._graphs = graphs
    return bundle


def _read_tags(path: Path, num_tags: int) -> tuple[TagSet | None, dict[str, str]]:
    """The tag set and synonyms of a tagging model; none for an intent-only one (no file)."""
    if not path.exists():
        if num_tags:
            raise BundleError(
                f"{path}: missing, yet the network has a tagging head of {num_tags} tags; "
                "export the model again"
            )
        return None, {}
    record = read_json(path)
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


def _read_gazetteer(path: Path, width: int) -> Gazetteer:
    """The known names of a network that reads `width` feature columns."""
    try:
        gazetteer = Gazetteer.from_dict(read_json(path))
    except ValueError as error:
        raise BundleError(f"{path}: not a gazetteer ({error})") from None
    if gazetteer.width != width:
        raise BundleError(
            f"{path}: {gazetteer.width} feature columns for a network that reads {width} "
            "(net.json); the files come from different models"
        )
    return gazetteer


def _read_ngrams(path: Path, rows: int) -> NgramVocabulary:
    """The n-gram vocabulary of a network whose n-gram table has `rows` rows."""
    try:
        ngrams = NgramVocabulary.from_dict(read_json(path))
    except ValueError as error:
        raise BundleError(f"{path}: not an n-gram vocabulary ({error})") from None
    if len(ngrams) != rows:
        raise BundleError(
            f"{path}: {len(ngrams)} n-gram rows for a network with {rows} (net.json); the "
            "files come from different models"
        )
    return ngrams


def _read_decision(path: Path) -> OosDecision:
    record = read_json(path)
    known = OosDecision.__dataclass_fields__
    for key, value in record.items():
        if key not in known:
            raise BundleError(f"{path}: unknown key {key!r}; expected some of {list(known)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not -1e9 < value < 1e9:
            raise BundleError(f"{path}: {key} is {value!r}, not a finite number")
    return OosDecision(**record)
