"""Import boundaries: what each entry point may pull in, checked in a fresh interpreter, and
which modules may import which, read from the source.

The serving path needs no training stack (torch, Lightning, Hydra, plots), the model core no
BentoML, and the HTTP chat and review no torch. A child process imports one module while
recording who imported what, then reports every forbidden module that got loaded and the chain
of imports that led to it (for example `intentbot.service -> intentbot.x -> matplotlib`).

Read from the source (`ast`, every import statement, those inside functions and under
`TYPE_CHECKING` too): no two modules of intentbot import each other, however indirectly (a lazy
import hides a cycle, it does not remove it), and `FORBIDDEN` names what a package must never
import (the benchmarks build on intentbot, the tests build on both).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import TRAINING_STACK

REPO = Path(__file__).resolve().parent.parent
TRAINING_CODE = (
    "intentbot.training",
    "intentbot.evaluation",
    "intentbot.plotting",
    "intentbot.train",
    "intentbot.evaluate",
    "intentbot.cli",
)
BOUNDARIES = {
    "intentbot.predictor": ("bentoml", "torch"),  # ONNX Runtime runs the bundle's graphs
    "intentbot.bundle": ("bentoml", "torch"),  # the torch network is read on request only
    "intentbot.service": TRAINING_STACK + TRAINING_CODE,
    "intentbot.chat.loop": ("torch",),
    "intentbot.review.loop": ("torch", "bentoml"),  # starts at once; a model only on request
}
FORBIDDEN = {  # package: what no module of it may import, even lazily
    "bench": ("tests",),  # what both need lives in bench/ (servers, fixtures)
    "intentbot": ("tests", "bench"),
    "intentbot.bulk": ("intentbot.serving",),  # the HTTP service's own business
}

# Wraps __import__ to keep the stack of modules being imported. A module enters sys.modules just
# before its code runs, so the next import call (or the end of the one that loaded it) sees it
# new, and the stack then is the chain that brought it in. Only a forbidden package's first
# module is reported, not each of its submodules.
CHILD = textwrap.dedent(
    """
    import builtins, importlib, importlib.util, json, sys

    target, forbidden = sys.argv[1], tuple(sys.argv[2:])
    chains, stack, seen, original = {}, [target], set(sys.modules), builtins.__import__

    def note_new_modules():
        if len(sys.modules) == len(seen):
            return
        for name in sorted(set(sys.modules) - seen, key=len):
            seen.add(name)
            bad = any(name == b or name.startswith(b + ".") for b in forbidden)
            if bad and not any(name.startswith(known + ".") for known in chains):
                chain = [*stack, name]  # without repeats (`from a import b` imports a twice)
                chains[name] = [n for i, n in enumerate(chain) if i == 0 or chain[i - 1] != n]

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        note_new_modules()
        try:
            package = (globals or {}).get("__package__")
            full = importlib.util.resolve_name("." * level + name, package) if level else name
        except (ImportError, ValueError):
            full = name
        stack.append(full)
        try:
            return original(name, globals, locals, fromlist, level)
        finally:
            note_new_modules()
            stack.pop()

    builtins.__import__ = recording_import
    importlib.import_module(target)
    note_new_modules()
    builtins.__import__ = original
    print(json.dumps(chains))
    """
)


def forbidden_imports(module: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """{forbidden module loaded by `import module`: the chain of imports that loaded it}."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, module, *forbidden],
        cwd=REPO,
        env={**os.environ, "BENTOML_DO_NOT_TRACK": "True"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"`import {module}` failed:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", sorted(BOUNDARIES))
def test_import_loads_nothing_forbidden(module: str) -> None:
    chains = forbidden_imports(module, BOUNDARIES[module])
    lines = [" -> ".join(chain) for chain in chains.values()]
    assert not chains, f"`import {module}` loads forbidden modules:\n  " + "\n  ".join(lines)


@pytest.mark.slow  # starts Python with the whole stack in a subprocess
def test_the_check_sees_a_violation() -> None:
    """Control: the training entry point does load Lightning, and the chain names its path."""
    chains = forbidden_imports("intentbot.train", ("lightning",))
    assert "lightning" in chains
    assert chains["lightning"][0] == "intentbot.train"
    assert chains["lightning"][-1] == "lightning"


def modules(folder: Path) -> dict[str, Path]:
    """Every module below `folder` (a package in the repository) by its dotted name."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of everything `path` imports, wherever the statement stands; `from a
    import b` names `a.b`, a module or a name in `a` (`imports` tells them apart)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield from ((f"{base}.{alias.name}", node.lineno) for alias in node.names)


def imports(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of `known` it imports (a name inside a module counts as the
    module)."""
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for name, _ in imported(module, path):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle (`[a, b, a]`) through each group of modules that reach each other."""
    reach = {start: _reachable(graph, start) for start in graph}
    found, covered = [], set()
    for start in sorted(graph):
        if start in covered or start not in reach[start]:
            continue
        group = {other for other in reach[start] if start in reach[other]}
        covered |= group
        paths, seen = [[start]], {start}
        while paths:  # breadth first, inside the group, back to `start`
            path = paths.pop(0)
            if start in graph[path[-1]]:
                found.append([*path, start])
                break
            for step in sorted(graph[path[-1]] & group - seen):
                seen.add(step)
                paths.append([*path, step])
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def test_no_module_imports_itself_through_others() -> None:
    found = cycles(imports(modules(REPO / "intentbot")))
    lines = [" -> ".join(cycle) for cycle in found]
    assert not found, "import cycles (lazy imports included):\n  " + "\n  ".join(lines)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_what_it_must_not(package: str) -> None:
    folder = REPO.joinpath(*package.split("."))
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for module, path in modules(folder).items()
        for name, line in imported(module, path)
        if any(name == other or name.startswith(f"{other}.") for other in FORBIDDEN[package])
    ]
    assert not bad, f"{package} must not import {FORBIDDEN[package]}:\n  " + "\n  ".join(bad)


def test_the_source_checks_see_cycles_and_imports_inside_functions(tmp_path: Path) -> None:
    """Control: a lazy import that closes a cycle, a relative one, and a clean module."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from . import c\n")
    (package / "c.py").write_text("import os\n\ndef late():\n    import pkg.a\n")
    (package / "d.py").write_text("from pkg import a\n")
    graph = imports(modules(package))
    assert graph["pkg.d"] == {"pkg.a"} and graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    assert ("os", 1) in list(imported("pkg.c", package / "c.py"))
