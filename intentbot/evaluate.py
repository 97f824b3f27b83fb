"""`python -m intentbot.evaluate [overrides]`: a stored model on labelled data -> tables,
report.json, errors.jsonl and three pictures. `evaluate(cfg, run_dir)` is the pipeline; `main`
only adds Hydra and clean errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape

from intentbot.cli import exit_on_user_error
from intentbot.console import make_console, print_step
from intentbot.corpus import read_examples
from intentbot.evaluation.diff import compare
from intentbot.evaluation.outcomes import Outcomes, entity_errors, errors, outcomes_of, summarise
from intentbot.evaluation.plots import (
    plot_confidence_histogram,
    plot_confusions,
    plot_reliability,
)
from intentbot.evaluation.view import (
    comparison_tables,
    per_entity_table,
    per_intent_table,
    summary_table,
)
from intentbot.examples import DataError, Example
from intentbot.predictor import Predictor
from intentbot.store import load_bundle


def evaluate(cfg: DictConfig, run_dir: Path, console: Console | None = None) -> dict:
    """Score `cfg.model` (and `cfg.compare`) on the test split of `cfg.data`; returns what
    report.json holds."""
    console = console or make_console()
    run_dir.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(cfg.model)
    if cfg.seed is None:  # carve val/test exactly as the model's training run did
        cfg.seed = bundle.config.get("seed", 0)
    examples = held_out_examples(cfg.data)
    print_step(console, "data", f"{len(examples)} labelled utterances (test split)")
    predictor = Predictor(bundle, threshold=cfg.threshold)
    with console.status(f"{bundle.tag}: predicting"):
        outcomes = outcomes_of(predictor, examples)
    if outcomes.unseen:
        counts = Counter(
            example.intent for example in examples if example.intent in outcomes.unseen
        )
        named = ", ".join(f"{intent} ({counts[intent]})" for intent in outcomes.unseen)
        console.print(
            f"[warning]warning:[/] {counts.total()} utterances of intents {bundle.tag} never saw "
            f"in training count as wrong: {escape(named)}",
            soft_wrap=True,
        )
    report = summarise(outcomes, bundle.tag, cfg.top_confusions)
    report["decision"] = predictor.decision.to_dict()
    report["data"] = OmegaConf.to_container(cfg.data, resolve=True)

    console.print(summary_table(report))
    console.print(per_intent_table(report["per_intent"], cfg.table_rows))
    if report["per_entity"]:
        console.print(per_entity_table(report["per_entity"]))
    rival = _rival(cfg)
    if rival:
        report["compare"] = _compared(cfg, console, outcomes, bundle.tag, rival)
    if cfg.reviewed:
        report["reviewed"] = _on_reviewed(cfg, console, predictor, bundle.tag, rival)

    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    with (run_dir / "errors.jsonl").open("w") as handle:
        for record in [*errors(outcomes), *entity_errors(outcomes)]:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    plot_confusions(outcomes, run_dir / "confusion_matrix.png", cfg.top_confusions)
    plot_reliability(report["reliability"], report["overall"]["ece"], run_dir / "reliability.png")
    plot_confidence_histogram(
        outcomes, predictor.decision.threshold, run_dir / "confidence_histogram.png"
    )
    print_step(console, "run directory", str(run_dir), path=True)
    return report


def _rival(cfg: DictConfig) -> tuple[str, Predictor] | None:
    """The model `compare=` names, ready to answer, with its tag."""
    if not cfg.compare:
        return None
    other = load_bundle(cfg.compare)
    return other.tag, Predictor(other, threshold=cfg.threshold)


def _compared(
    cfg: DictConfig, console: Console, outcomes: Outcomes, tag: str, rival: tuple[str, Predictor]
) -> dict:
    """The rival model on the utterances `outcomes` holds: the diff, printed as tables."""
    rival_tag, rival_predictor = rival
    with console.status(f"{rival_tag}: predicting"):
        rival_outcomes = outcomes_of(rival_predictor, outcomes.examples)
    diff = {"model": rival_tag, **compare(outcomes, rival_outcomes)}
    for table in comparison_tables(diff, tag, rival_tag, cfg.compare_rows):
        console.print(table)
    return diff


def _on_reviewed(
    cfg: DictConfig,
    console: Console,
    predictor: Predictor,
    tag: str,
    rival: tuple[str, Predictor] | None,
) -> dict:
    """The figures (and the comparison) on the utterances a person reviewed: did retraining
    with them in `data.extra` learn them? Not held out from such a model, so not a test score."""
    examples = read_examples(cfg.reviewed)
    print_step(console, "reviewed", f"{len(examples)} utterances in {cfg.reviewed}")
    with console.status(f"{tag}: predicting"):
        outcomes = outcomes_of(predictor, examples)
    section = summarise(outcomes, tag, cfg.top_confusions)
    console.print(summary_table(section, "reviewed utterances"))
    if rival:
        section["compare"] = _compared(cfg, console, outcomes, tag, rival)
    return section


def held_out_examples(data: DictConfig) -> list[Example]:
    """The test split of a data config. With `data=files`, `data.test=PATH` alone is enough:
    evaluation reads just that file and needs no training data."""
    if OmegaConf.is_missing(data, "train"):  # `"train" in data` is False for a missing value
        if not data.get("test"):
            raise DataError(
                "data=files needs data.test=PATH to evaluate on (or data.train=PATH to carve "
                "the test split out of it, as training did)"
            )
        return read_examples(data.test, data.get("text_column"), data.get("label_column"))
    return instantiate(data).test


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """The command line: Hydra composes conf/evaluate.yaml; a user's mistake is one line."""
    with exit_on_user_error(make_console()):
        evaluate(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
