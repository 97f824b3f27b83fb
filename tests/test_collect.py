"""Collecting what the service answered (INTENTBOT_COLLECT): off by default, one record per text
when on, rotated by size without losing or splitting a line, shared safely by workers."""

from __future__ import annotations

import asyncio

import pytest

from intentbot import service as service_module
from intentbot.predictor import Prediction, ScoredIntent
from intentbot.records import read_records
from intentbot.serving.collect import Collector, rotated_files
from intentbot.serving.settings import Settings


def predictions(*texts: str) -> list[Prediction]:
    ranking = [ScoredIntent("time", 0.8), ScoredIntent("date", 0.1)]
    return [Prediction(text, "time", 0.8, False, ranking) for text in texts]


def test_settings_turn_collection_on_and_size_its_files():
    assert Settings.from_env({}).collect is None
    settings = Settings.from_env(
        {"INTENTBOT_COLLECT": "logs/traffic.jsonl", "INTENTBOT_COLLECT_MAX_BYTES": "4096"}
    )
    assert (settings.collect, settings.collect_max_bytes) == ("logs/traffic.jsonl", 4096)
    with pytest.raises(ValueError, match="INTENTBOT_COLLECT_MAX_BYTES='big'"):
        Settings.from_env({"INTENTBOT_COLLECT_MAX_BYTES": "big"})


def test_the_file_rotates_by_size_and_keeps_every_record_whole(tmp_path):
    path = tmp_path / "logs" / "traffic.jsonl"
    collector = Collector(path, max_bytes=2000, model="intentbot:a")
    texts = [f"message number {n}" for n in range(40)]
    for start in range(0, len(texts), 3):  # a forward pass of up to 3 texts at a time
        collector.add(predictions(*texts[start : start + 3]))
    collector.close()
    files = [*rotated_files(path), path]
    assert [file.name for file in files[:2]] == ["traffic.1.jsonl", "traffic.2.jsonl"]
    assert all(file.stat().st_size <= 2000 for file in files)
    records = [record for file in files for record in read_records(file)]
    assert [record.text for record in records] == texts  # oldest file first, none lost
    assert records[0].model == "intentbot:a" and records[0].ranking[0] == ("time", 0.8)


def test_a_worker_follows_a_rotation_done_by_another(tmp_path):
    path = tmp_path / "traffic.jsonl"
    first, second = Collector(path, 600), Collector(path, 600)
    for number in range(12):
        (first if number % 2 else second).add(predictions(f"text {number}"))
    first.close()
    second.close()
    files = [*rotated_files(path), path]
    assert len(files) > 2
    texts = [record.text for file in files for record in read_records(file)]
    assert texts == [f"text {number}" for number in range(12)]


def test_the_service_collects_only_when_told(trained_model, monkeypatch, tmp_path):
    """The class in-process, as BentoML instantiates it: every route's texts are kept, each
    with the model's top five whatever the caller asked for."""
    path = tmp_path / "traffic.jsonl"
    monkeypatch.setattr(service_module, "SETTINGS", Settings(model=trained_model.tag))
    silent = service_module.IntentService()
    asyncio.run(silent.classify(text="What time is it?"))
    assert silent.collector is None and not path.exists()

    settings = Settings(model=trained_model.tag, collect=str(path))
    monkeypatch.setattr(service_module, "SETTINGS", settings)
    service = service_module.IntentService()
    answer = asyncio.run(service.classify(text="What time is it?", top_k=1))
    assert len(answer.ranking) == 1
    asyncio.run(service.classify_batch(texts=["hello", "tell me a joke"]))
    asyncio.run(service.parse(text="thanks"))
    records = list(read_records(path))
    texts = ["What time is it?", "hello", "tell me a joke", "thanks"]
    assert [record.text for record in records] == texts
    first = records[0]
    assert (first.intent, first.model, len(first.ranking)) == ("time", trained_model.tag, 5)
    assert first.confidence == answer.confidence and first.entities == ()
    assert first.time is not None and first.reply is None
