"""Older bundles brought up to today's format as they are read: the format's history as one
table, `UPGRADES`, of the function that takes a bundle's files from one version to the next.

A bundle says its version in net.json (`format_version`). One written before it said so reads
as version 0, though it may hold any layout up to today's: each upgrade checks for the layout it
changes and leaves a later one alone. The folder itself is never written (a store's or a bento's
may be read-only): the first upgrade that changes a file makes a private copy (`Workspace`),
linked to the files left alone, and the bundle is read from there.

Two upgrades write the engine's graphs again from the network, which needs torch; where it is
missing (a bento), the error gives the one command that exports the model again, once.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from intentbot.bundle_format import FORMAT_KEY, FORMAT_VERSION, NET, WEIGHTS, BundleError, read_json
from intentbot.engine.files import FORMS, SOURCES, TAG_CHOICES, graph_files, write_graphs


class Workspace:
    """A bundle folder being upgraded: `folder` holds its newest files, the original until an
    upgrade first writes one (`rewrite`), a private copy from then on."""

    def __init__(self, original: Path, tag: str | None = None) -> None:
        self.original, self.tag = original, tag
        self.folder = original

    def rewrite(self, name: str) -> Path:
        """Where to write file `name`: in the private copy (made on the first call, each file a
        link to the original's), its link removed, so the original stays as it was."""
        if self.folder == self.original:
            self.folder = Path(tempfile.mkdtemp(prefix="intentbot-upgraded-"))
            atexit.register(shutil.rmtree, self.folder, ignore_errors=True)
            for path in self.original.iterdir():
                (self.folder / path.name).symlink_to(path.resolve())
        target = self.folder / name
        target.unlink(missing_ok=True)
        return target


def _write_graphs(work: Workspace) -> None:
    """0 -> 1 (0.4.0): a bundle carries the engine's graphs; written from the network where
    there are none."""
    if not (work.folder / "fused.onnx").exists():
        _rebuild_graphs(work, "saved before bundles carried their engine graphs")


def _fold_name_projection(work: Workspace) -> None:
    """1 -> 2 (0.5.0): the first recurrent layer reads known-name features beside each
    embedding, where a projection P (`gazetteer.weight`, (E, G)) added P m to it. Its input term
    W_ih (e + P m) is W_ih e + (W_ih P) m: W_ih gains the columns W_ih P."""
    with safe_open(work.folder / WEIGHTS, framework="numpy") as stored:  # reads the header only
        if "gazetteer.weight" not in stored.keys():  # noqa: SIM118 (not a dict)
            return
    state = load_file(work.folder / WEIGHTS)
    projection = state.pop("gazetteer.weight")
    for suffix in ("l0", "l0_reverse"):
        name = f"encoder.rnn.weight_ih_{suffix}"
        if name in state:
            state[name] = np.concatenate([state[name], state[name] @ projection], axis=1)
    save_file(state, work.rewrite(WEIGHTS))


def _list_table_sources(work: Workspace) -> None:
    """2 -> 3 (0.5.0): a graph table's source lists the matrices it is multiplied by, where it
    named one or none (`times`)."""
    for form in FORMS:
        path = work.folder / f"{form}.safetensors"
        if not path.exists():
            continue
        with safe_open(path, framework="numpy") as stored:
            metadata = stored.metadata() or {}
            sources = json.loads(metadata.get(SOURCES, "{}"))
            if all(isinstance(source["times"], list) for source in sources.values()):
                continue
            arrays = {name: stored.get_tensor(name) for name in stored.keys()}  # noqa: SIM118
        for source in sources.values():
            times = source["times"]
            source["times"] = [] if times is None else [times] if isinstance(times, str) else times
        metadata = {**metadata, SOURCES: json.dumps(sources)}
        save_file(arrays, work.rewrite(path.name), metadata=metadata)


def _choose_tags_in_graphs(work: Workspace) -> None:
    """3 -> 4 (0.5.0): a tagging model's graphs also output each token's most likely tag and
    its probability; graphs that end at the tag logits are written again from the network."""
    if not read_json(work.folder / NET).get("num_tags"):
        return
    import onnxruntime  # the engine's own: a serving process has it

    graph = work.folder / "fused.onnx"
    try:
        session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own classes, not exported by name
        raise BundleError(f"{graph}: not a graph ONNX Runtime can run ({error})") from None
    if TAG_CHOICES not in {output.name for output in session.get_outputs()}:
        _rebuild_graphs(work, "saved before its graphs chose each token's tag")


def _rebuild_graphs(work: Workspace, why: str) -> None:
    """The engine's graphs written from the network into the copy, replacing any there."""
    try:
        from intentbot.engine.graph import graphs_of  # torch and onnx: training's side
        from intentbot.weights import read_network
    except ModuleNotFoundError as error:  # a serving install, such as a bento's
        tag = work.tag or "TAG"
        raise BundleError(
            f"{work.original}: {why}, and writing them needs {error.name}, which is not "
            "installed here; export the model again where intentbot is installed for "
            'training: python -c "from intentbot.store import export_bundle, load_bundle; '
            f"export_bundle(load_bundle('{tag}'), '{tag.split(':')[0]}')\""
        ) from None
    # today's code reads the network: its description first takes today's names
    _freeze_embeddings_by_its_config_name(work)
    graphs = graphs_of(read_network(work.folder))
    for path in graph_files(work.folder):
        work.rewrite(path.name)
    write_graphs(graphs, work.folder)


def _freeze_embeddings_by_its_config_name(work: Workspace) -> None:
    """4 -> 5 (unreleased): the network's description says `freeze_embeddings`, as the setting
    `model.freeze_embeddings` does, where it said `freeze_embedding`."""
    net = read_json(work.folder / NET)
    if "freeze_embedding" not in net:
        return
    net["freeze_embeddings"] = net.pop("freeze_embedding")
    work.rewrite(NET).write_text(json.dumps(net, indent=2))


# version -> the upgrade to the next; the release that brought each change is in its docstring
UPGRADES: dict[int, Callable[[Workspace], None]] = {
    0: _write_graphs,
    1: _fold_name_projection,
    2: _list_table_sources,
    3: _choose_tags_in_graphs,
    4: _freeze_embeddings_by_its_config_name,
}


def upgraded(folder: Path, tag: str | None = None) -> Path:
    """`folder` when its bundle is of today's format, else a private copy brought up to it;
    `tag` names the model in the advice of an error."""
    work = Workspace(folder, tag)
    for version in range(format_version(folder), FORMAT_VERSION):
        try:
            UPGRADES[version](work)
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:
            raise BundleError(
                f"{folder}: cannot bring the bundle from format {version} to {version + 1} "
                f"({error!r})"
            ) from None
    return work.folder


def format_version(folder: Path) -> int:
    """The format net.json says its bundle has; 0 where it says none (written before it did)."""
    version = read_json(folder / NET).get(FORMAT_KEY, 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise BundleError(f"{folder / NET}: {FORMAT_KEY} is {version!r}, not a version number")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{folder / NET}: bundle format {version}, newer than this intentbot reads "
            f"({FORMAT_VERSION}); install the intentbot that wrote it, or a later one"
        )
    return version
