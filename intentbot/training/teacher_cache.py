"""Teachers kept on disk, one per training set: fine-tuning takes minutes, and every seed of
a student (and the benchmark that measures the teacher itself) reuses the same one.

The key is a hash of the training texts, their intents, the label order, the teacher's source
and its recipe: the same data and recipe find the folder, anything else fine-tunes a new one.
A folder is written under a temporary name and renamed when complete, so a run killed while
fine-tuning, or two processes at once (DDP), never leave half a teacher behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from intentbot.labels import LabelSet
from intentbot.training.teacher import (
    Teacher,
    TeacherRecipe,
    fine_tune,
    teacher_folder,
    transformers_module,
)

LOGITS, RECORD = "train_logits.safetensors", "cached.json"
CACHE_VARIABLE = "INTENTBOT_CACHE"


def cache_root(configured: str | None = None) -> Path:
    """Where teachers live: `distill.cache`, else `$INTENTBOT_CACHE/teachers`, else the user's
    cache folder (`$XDG_CACHE_HOME` or ~/.cache) under intentbot/teachers."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser() / "teachers"
    base = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    return base / "intentbot" / "teachers"


def cache_key(
    texts: Sequence[str],
    intents: Sequence[str],
    labels: LabelSet,
    source: str,
    recipe: TeacherRecipe,
) -> str:
    """What the teacher depends on, hashed: the same data, labels and recipe give the same key."""
    content = {
        "texts": list(texts),
        "intents": list(intents),
        "labels": list(labels.names),
        "source": source if source == "minilm" else str(Path(source).resolve()),
        "recipe": recipe.to_dict(),
    }
    encoded = json.dumps(content, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:24]


@dataclass(frozen=True)
class CachedTeacher:
    """A teacher's folder in the cache and its outputs on the training texts."""

    folder: Path
    train_logits: torch.Tensor  # (N, C): its logits on the training texts, in their order
    seconds: float  # how long its fine-tuning took (when it was made)
    hit: bool  # found in the cache: nothing was fine-tuned this time

    def load(self) -> Teacher:
        """The teacher itself, for other texts than the training ones."""
        return Teacher.load(self.folder)

    def logits_on(self, texts: Sequence[str]) -> torch.Tensor:
        """(M, C) logits on other texts (altered copies of the training ones), kept beside the
        teacher: the next seed asks for the same texts."""
        digest = hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode("utf-8"))
        path = self.folder / f"logits-{digest.hexdigest()[:24]}.safetensors"
        if path.is_file():
            return load_file(str(path))["logits"]
        logits = torch.from_numpy(self.load().logits(texts))
        partial = self.folder / f".{path.name}.{os.getpid()}.partial"
        save_file({"logits": logits}, str(partial))
        partial.replace(path)
        return logits


def teacher_for(
    texts: Sequence[str],
    intents: Sequence[str],
    labels: LabelSet,
    source: str,
    recipe: TeacherRecipe,
    root: Path,
    log: Callable[[str], None] | None = None,
) -> CachedTeacher:
    """The teacher of this training set from `root`, fine-tuned and stored first on a miss.
    The caller's random generators are left as they were: a student's seed gives the same
    run whether its teacher was cached or not."""
    transformers_module()  # a missing package is the same clear error, cached or not
    teacher_folder(source)
    folder = root / cache_key(texts, intents, labels, source, recipe)
    if (folder / RECORD).is_file():
        return _read(folder, hit=True)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        teacher, logits = fine_tune(
            texts, labels.indices(intents), labels.names, source, recipe, log
        )
    seconds = time.perf_counter() - started
    partial = root / f".{folder.name}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    teacher.save(partial)
    save_file({"logits": logits}, str(partial / LOGITS))
    record = {"seconds": round(seconds, 1), "examples": len(texts), "recipe": recipe.to_dict()}
    (partial / RECORD).write_text(json.dumps({**record, "source": source}), encoding="utf-8")
    try:
        partial.rename(folder)
    except OSError:  # another process published the same teacher first: keep theirs
        shutil.rmtree(partial, ignore_errors=True)
    return _read(folder, hit=False)


def _read(folder: Path, hit: bool) -> CachedTeacher:
    record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    logits = load_file(str(folder / LOGITS))["logits"]
    return CachedTeacher(folder, logits, record["seconds"], hit)
