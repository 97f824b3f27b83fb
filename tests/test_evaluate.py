"""`python -m intentbot.evaluate`: the report agrees with training and with the predictor, the
files and pictures are written, two models compare, and bad input is one clear line."""

from __future__ import annotations

import io
import json
import subprocess
from collections import Counter
from dataclasses import replace

import pytest
from hydra import compose, initialize_config_dir
from matplotlib.image import imread
from omegaconf import DictConfig

from bench.fixtures import write_jsonl
from intentbot.cli import user_error
from intentbot.console import make_console
from intentbot.evaluate import evaluate
from intentbot.plotting import DPI
from intentbot.predictor import Predictor
from intentbot.splits import from_bundled
from intentbot.store import export_bundle, load_bundle
from tests.conftest import CONF_DIR
from tests.helpers import run_cli

PICTURES = {"confusion_matrix.png": 17, "reliability.png": 7, "confidence_histogram.png": 9}


def evaluate_config(*overrides: str) -> DictConfig:
    """The config as `python -m intentbot.evaluate OVERRIDES` would see it."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("evaluate", overrides=list(overrides))


def run_evaluation(*overrides: str, run_dir) -> tuple[dict, str]:
    output = io.StringIO()
    report = evaluate(evaluate_config(*overrides), run_dir, make_console(file=output, width=200))
    return report, output.getvalue()


@pytest.fixture(scope="module")
def evaluated(trained_model, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("evaluate")
    report, printed = run_evaluation(f"model={trained_model.tag}", run_dir=run_dir)
    return run_dir, report, printed


def test_report_agrees_with_the_training_run(evaluated, trained_model):
    run_dir, report, _ = evaluated
    assert report["model"] == trained_model.tag
    # same data config and the model's own seed: the very test split training scored
    assert report["overall"] == pytest.approx(trained_model.metrics["test"])
    assert json.loads((run_dir / "report.json").read_text()) == report


def test_per_intent_rows_cover_the_test_split_worst_first(evaluated):
    _, report, printed = evaluated
    rows = report["per_intent"]
    assert {row["intent"]: row["support"] for row in rows} == Counter(
        example.intent for example in from_bundled().test
    )
    assert [row["f1"] for row in rows] == sorted(row["f1"] for row in rows)
    assert "worst F1 first" in printed and "in-scope accuracy" in printed
    assert printed.index(rows[0]["intent"]) < printed.index(rows[-1]["intent"])


def test_errors_jsonl_holds_each_wrong_answer_as_the_predictor_gives_it(evaluated, trained_model):
    run_dir, report, _ = evaluated
    lines = (run_dir / "errors.jsonl").read_text().splitlines()
    records = [record for line in lines if (record := json.loads(line))["kind"] == "intent"]
    assert len(records) == report["errors"] > 0
    predictions = Predictor(load_bundle(trained_model.tag)).predict([r["text"] for r in records])
    for record, prediction in zip(records, predictions, strict=True):
        assert prediction.intent == record["predicted"] != record["true"]
        assert prediction.confidence == pytest.approx(record["confidence"], abs=1e-4)


def test_reliability_bins_reproduce_the_ece(evaluated):
    _, report, _ = evaluated
    bins = [row for row in report["reliability"] if row["count"]]
    total = sum(row["count"] for row in bins)
    ece = sum(row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in bins)
    assert ece == pytest.approx(report["overall"]["ece"], abs=1e-4)


def test_pictures_are_written(evaluated):
    run_dir, _, _ = evaluated
    for name, width_inches in PICTURES.items():
        assert imread(run_dir / name).shape[1] == width_inches * DPI, name


def test_compare_lists_exactly_the_utterances_answered_differently(trained_model, tmp_path):
    bundle = load_bundle(trained_model.tag)
    # the same network with a much stricter threshold: it can only reject more
    stricter = replace(bundle, decision=replace(bundle.decision, threshold=0.9))
    other_tag = export_bundle(stricter, "intentbot-stricter")  # keeps intentbot:latest as it is
    report, printed = run_evaluation(
        f"model={trained_model.tag}", f"compare={other_tag}", run_dir=tmp_path
    )

    texts = [example.text for example in from_bundled().test]
    first = Predictor(bundle).predict(texts)
    second = Predictor(load_bundle(other_tag)).predict(texts)
    differing = {
        text for text, a, b in zip(texts, first, second, strict=True) if a.intent != b.intent
    }
    changed = report["compare"]["changed"]
    assert differing and {row["text"] for row in changed} == differing
    assert all(row["b"] == "oos" for row in changed)
    overall = report["compare"]["overall"]
    assert overall["in_scope_accuracy"]["delta"] <= 0 <= overall["oos_recall"]["delta"]
    assert overall["accuracy"]["b"] - overall["accuracy"]["a"] == pytest.approx(
        overall["accuracy"]["delta"]
    )
    assert "answered differently" in printed
    assert json.loads((tmp_path / "report.json").read_text())["compare"]["model"] == other_tag


def test_reviewed_utterances_are_scored_and_compared_too(trained_model, tmp_path):
    """`reviewed=` (review's --out): the same figures on those utterances, and with compare=
    the diff on them, beside the test split's."""
    bundle = load_bundle(trained_model.tag)
    stricter = replace(bundle, decision=replace(bundle.decision, threshold=0.999))
    other_tag = export_bundle(stricter, "intentbot-strictest")
    rows = [("What time is it?", "time"), ("tell me a joke", "joke"), ("zorp blorp", "new_one")]
    reviewed = write_jsonl(tmp_path / "reviewed.jsonl", rows)
    report, printed = run_evaluation(
        f"model={trained_model.tag}",
        f"compare={other_tag}",
        f"reviewed={reviewed}",
        run_dir=tmp_path / "run",
    )
    section = report["reviewed"]
    expected = [
        p.intent == intent
        for p, (_, intent) in zip(
            Predictor(bundle).predict([text for text, _ in rows]), rows, strict=True
        )
    ]
    assert section["examples"] == 3 and section["errors"] == 3 - sum(expected)
    assert section["overall"]["accuracy"] == pytest.approx(sum(expected) / 3)
    assert section["compare"]["model"] == other_tag
    assert {row["text"] for row in section["compare"]["changed"]} <= {text for text, _ in rows}
    assert report["examples"] == len(from_bundled().test)  # the test split's figures stay
    assert "on 3 reviewed utterances" in printed


def run_evaluate(*args: str) -> subprocess.CompletedProcess:
    return run_cli("intentbot.evaluate", *args)


@pytest.mark.slow  # starts Python with the whole stack in a subprocess
def test_cli_evaluates_a_lone_test_file_without_training_data(trained_model, tmp_path):
    test_file = write_jsonl(
        tmp_path / "mine.jsonl",
        [("What time is it?", "time"), ("tell me a joke", "joke"), ("flip a coin", "flip_coin")],
    )
    result = run_evaluate(
        f"model={trained_model.tag}",
        "data=files",
        f"data.test={test_file}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "report.json").read_text())["examples"] == 3
    assert "per intent" in result.stdout
    assert all((tmp_path / "run" / name).exists() for name in PICTURES)


@pytest.mark.slow  # starts Python with the whole stack in a subprocess
def test_unknown_intent_counts_as_wrong_with_a_warning_naming_it(trained_model, tmp_path):
    rows = [("hello", "greeting"), ("hot?", "weather_on_mars"), ("cold?", "weather_on_mars")]
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    result = run_evaluate(
        f"model={trained_model.tag}",
        "data=files",
        f"data.test={bad}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "warning: 2 utterances of intents" in result.stdout
    assert "count as wrong: weather_on_mars (2)" in result.stdout
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["examples"] == 3 and report["errors"] >= 2
    unseen = next(row for row in report["per_intent"] if row["intent"] == "weather_on_mars")
    assert (unseen["support"], unseen["recall"]) == (2, 0.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("data=files",), "data=files needs data.test=PATH"),
        (("model=intentbot:nosuchversion",), "no model 'intentbot:nosuchversion'"),
        (("data=files", "data.test=/no/such/file.csv"), "/no/such/file.csv: no such file"),
    ],
)
def test_bad_config_is_a_user_error(trained_model, tmp_path, overrides, message):
    has_model = any(override.startswith("model=") for override in overrides)
    model = () if has_model else (f"model={trained_model.tag}",)
    with pytest.raises(Exception) as caught:
        run_evaluation(*model, *overrides, run_dir=tmp_path)
    assert message in (user_error(caught.value) or "")


def test_entities_get_a_table_their_figures_and_their_mistakes(evaluated):
    run_dir, report, printed = evaluated
    assert {"entity_precision", "entity_recall", "entity_f1", "sentence_accuracy"} <= set(
        report["overall"]
    )
    rows = report["per_entity"]
    assert {row["entity"] for row in rows} >= {"duration", "city", "datetime"}
    assert [row["f1"] for row in rows] == sorted(row["f1"] for row in rows)
    assert "per entity type" in printed and "duration" in printed
    lines = (run_dir / "errors.jsonl").read_text().splitlines()
    mistakes = [record for line in lines if (record := json.loads(line))["kind"] == "entity"]
    missed = sum(row["support"] - round(row["recall"] * row["support"]) for row in rows)
    assert sum(m["error"] != "spurious" for m in mistakes) >= missed > 0
    for mistake in mistakes:
        assert mistake["error"] in {"missed", "spurious", "wrong type", "wrong boundary"}
        for side in ("expected", "found"):
            if mistake[side]:
                start, end = mistake[side]["start"], mistake[side]["end"]
                assert mistake["text"][start:end] == mistake[side]["text"]
