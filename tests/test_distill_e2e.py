"""`distill=minilm` end to end on a few utterances: MiniLM fine-tuned for one epoch as the
teacher (cached), the student trained on its outputs (and on altered copies it labels), and the
served model the same network, of the same size, as without a teacher."""

from __future__ import annotations

import json
from pathlib import Path

from intentbot.predictor import Predictor
from intentbot.store import load_bundle
from intentbot.train import train
from intentbot.training.history import read_history
from tests.conftest import SMALL_MODEL, compose_config

UTTERANCES = {
    "time": ["what time is it", "tell me the time", "what's the time now", "time please"],
    "greeting": ["hello there", "hi bot", "good morning", "hey you"],
    "booking": ["book a table", "reserve a table for two", "get me a table", "table for four"],
}


def write_split(path: Path, take: slice) -> Path:
    rows = [
        {"text": text, "intent": intent}
        for intent, texts in UTTERANCES.items()
        for text in texts[take]
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_distilled_run_trains_exports_and_reuses_its_teacher(tmp_path: Path, capsys) -> None:
    files = {
        "train": write_split(tmp_path / "train.jsonl", slice(0, 3)),
        "val": write_split(tmp_path / "val.jsonl", slice(3, 4)),
        "test": write_split(tmp_path / "test.jsonl", slice(3, 4)),
    }
    data = ["data=files", *(f"data.{split}={path}" for split, path in files.items())]
    quick = [*SMALL_MODEL, "trainer.max_epochs=2", "model_name=distill-test", *data]
    teacher = [
        "distill=minilm",
        f"distill.cache={tmp_path / 'teachers'}",
        "distill.recipe.epochs=1",
        "distill.recipe.min_steps=0",
    ]
    distilled = train(compose_config(*quick, *teacher), tmp_path / "distilled")
    assert "fine-tuned in" in capsys.readouterr().out
    [folder] = (tmp_path / "teachers").iterdir()
    assert (folder / "train_logits.safetensors").is_file()

    plain = train(compose_config(*quick), tmp_path / "plain")
    assert distilled["parameters"] == plain["parameters"]  # the same network, the same size
    served = load_bundle(distilled["model_tag"])
    assert served.config["distill"]["teacher"] == "minilm"
    assert load_bundle(plain["model_tag"]).network().config == served.network().config
    assert Predictor(served).predict(["what time is it"])[0].intent in UTTERANCES

    log = next((tmp_path / "distilled").rglob("metrics.csv"))
    assert "train/label_loss" in read_history([log])

    # another seed, with altered copies the cached teacher labels
    again = train(compose_config(*quick, *teacher, "seed=1", "distill.augment=1"), tmp_path / "b")
    out = capsys.readouterr().out
    assert "from the cache" in out and "altered copies labelled" in out
    assert [path.name for path in (tmp_path / "teachers").iterdir()] == [folder.name]
    assert again["parameters"] == distilled["parameters"]
