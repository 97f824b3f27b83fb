"""Import boundaries: what each entry point may pull in, checked in a fresh interpreter.

The serving path needs no training stack (torch, Lightning, Hydra, plots), the model core no
BentoML, and the HTTP chat and review no torch. A child process imports one module while
recording who imported what, then reports every forbidden module that got loaded and the chain
of imports that led to it (for example `intentbot.service -> intentbot.x -> matplotlib`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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
