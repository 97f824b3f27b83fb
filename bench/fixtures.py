"""What every benchmark needs: the CLINC150 splits (or a BIO benchmark's, such as SNIPS) and a
CLINC150-sized model in a private BentoML store (trained here, with `experiment=clinc150`, when
the store has none)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from intentbot.examples import Example
from intentbot.splits import Splits, from_bio_folders, from_clinc150

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = REPO.parent / "shared" / "data"
DEFAULT_DATA = SHARED_DATA / "clinc150" / "data_full.json"
DEFAULT_HOME = Path(tempfile.gettempdir()) / "intentbot-bench-store"
TRAIN_COMMAND = [
    sys.executable,
    "-m",
    "intentbot.train",
    "experiment=clinc150",
    "progress_bar=false",
]


def load_splits(path: str | Path, variant: str = "full") -> Splits:
    """CLINC150's `variant` (its JSON, or the folder that holds it), or a BIO benchmark folder
    (`train/seq.in`, ...: intents and entities)."""
    if (Path(path) / "train" / "seq.in").is_file():
        return from_bio_folders(str(path))
    return from_clinc150(str(path), variant)


def texts(examples: list[Example]) -> list[str]:
    return [example.text for example in examples]


def use_store(home: str | Path) -> Path:
    """Point BentoML at `home` (this process and the servers it starts); call before any
    BentoML store lookup."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["BENTOML_HOME"] = str(home)
    return home


def scratch_home(name: str) -> Path:
    """A fresh folder for one benchmark's runs, its BentoML store inside (`use_store`)."""
    home = Path(tempfile.mkdtemp(prefix=f"intentbot-bench-{name}-"))
    use_store(home / "store")
    return home


def has_model(tag: str) -> bool:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        bentoml.models.get(tag)
    except NotFound:
        return False
    return True


def ensure_model(tag: str | None, data: str | Path, run_dir: Path) -> str:
    """`tag` if the store (BENTOML_HOME) has it; with no tag, `intentbot:latest`, trained
    first with `experiment=clinc150` when the store is empty."""
    if tag is not None:
        if not has_model(tag):
            raise SystemExit(f"error: no model {tag!r} in {os.environ.get('BENTOML_HOME')}")
        return tag
    if not has_model("intentbot:latest"):
        print(f"no model in {os.environ['BENTOML_HOME']}: training one (several minutes)")
        train_model(data, run_dir)
    import bentoml

    return str(bentoml.models.get("intentbot:latest").tag)


def train_model(data: str | Path, run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """`python -m intentbot.train experiment=clinc150` into `run_dir` and the current store."""
    command = [*TRAIN_COMMAND, f"data.path={data}", f"hydra.run.dir={run_dir}", *overrides]
    return subprocess.run(command, cwd=REPO, check=True)


def add_store_arguments(parser: argparse.ArgumentParser, model: bool = True) -> None:
    """--bentoml-home and --data, and with `model` --model: what every speed benchmark takes."""
    if model:
        parser.add_argument(
            "--model",
            help="model tag in the store (default: intentbot:latest, "
            "trained first with experiment=clinc150 when the store has none)",
        )
    parser.add_argument(
        "--bentoml-home",
        default=str(DEFAULT_HOME),
        help="BentoML store to use (default: %(default)s)",
    )
    parser.add_argument(
        "--data", default=str(DEFAULT_DATA), help="CLINC150 JSON, or a BIO folder (SNIPS)"
    )


def add_data_arguments(parser: argparse.ArgumentParser, *names: str) -> None:
    """`--NAME DIR` for each data set, defaulting to its folder in ../shared/data."""
    for name in names:
        parser.add_argument(f"--{name}", type=Path, default=SHARED_DATA / name)


def write_jsonl(path: Path, pairs: Iterable[tuple[str, str]]) -> Path:
    """A labelled JSONL file of (text, intent) pairs."""
    lines = (json.dumps({"text": text, "intent": intent}) for text, intent in pairs)
    path.write_text("\n".join(lines) + "\n")
    return path
