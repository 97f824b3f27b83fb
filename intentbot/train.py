"""`python -m intentbot.train [overrides]`: data -> vocabulary -> (teacher) -> module -> fit ->
calibrate -> score -> export. `train(cfg, run_dir)` is the pipeline, one function per step; the
config groups build the objects (`model`, `optim`, `oos`, `distill`, `callbacks`, `trainer`,
`logger`); `main` only adds Hydra and clean errors."""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.markup import escape

from intentbot.bundle import Bundle
from intentbot.cli import exit_on_user_error
from intentbot.console import make_console, print_step
from intentbot.oos import OosDecision
from intentbot.predictor import Predictor
from intentbot.replies import load_replies
from intentbot.scoring import score_examples
from intentbot.splits import BUNDLED_DATA, Splits
from intentbot.store import export_bundle
from intentbot.training.budget import batch_size, planned_epochs
from intentbot.training.calibration import OutOfScopeFit
from intentbot.training.datamodule import IntentDataModule
from intentbot.training.distillation import Distillation, Taught
from intentbot.training.logs import epochs_trained, make_loggers, write_curves
from intentbot.training.majority import majority_note
from intentbot.training.module import IntentTrainingModule
from intentbot.training.network import NetworkRecipe
from intentbot.training.selection import CheckpointSelection, warmup_epochs
from intentbot.training.vocabulary import RunVocabulary, fit_vocabulary, save_vocabulary

console = make_console()


@dataclass(frozen=True)
class Fit:
    """What the fit step leaves for the steps after it."""

    trainer: L.Trainer
    checkpoint: ModelCheckpoint
    loggers: list[Logger]
    epochs: int  # planned
    seconds: float


def train(cfg: DictConfig, run_dir: Path, callbacks: Sequence[Callback] = ()) -> dict:
    """Train, score and (with `export=true`) store one model; returns what metrics.json holds.

    `callbacks` are extra Lightning callbacks, for code that embeds training (and tests).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    splits = _data(cfg)
    recipe: NetworkRecipe = instantiate(cfg.model, _convert_="all")
    vocabulary = _vocabulary(cfg, recipe, splits, run_dir)
    oos: OutOfScopeFit = instantiate(cfg.oos)
    distillation: Distillation = instantiate(cfg.distill)
    taught = _teacher(distillation, splits, vocabulary)
    module = _module(cfg, recipe, oos, vocabulary, distillation)
    fit = _fit(
        cfg, module, taught.splits if taught else splits, vocabulary, run_dir, callbacks, taught
    )
    if not fit.trainer.is_global_zero:
        return {}
    _keep_chosen_epoch(module, fit.checkpoint)
    bundle, predictor = _calibrated(cfg, module, vocabulary, splits, oos)
    metrics = _scores(predictor, bundle, splits, fit, module)
    if cfg.export:
        metrics["model_tag"] = export_bundle(bundle, cfg.model_name)
    _report(cfg, metrics, fit, run_dir)
    note = majority_note(predictor, splits, fit.epochs, vocabulary.embeddings is not None)
    if note:
        _warn(note)
    return metrics


def _data(cfg: DictConfig) -> Splits:
    """The `data` group's splits, and what was repaired in them."""
    splits: Splits = instantiate(cfg.data)
    _log("data", f"{len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test")
    for warning in splits.warnings:
        _warn(warning)
    return splits


def _vocabulary(
    cfg: DictConfig, recipe: NetworkRecipe, splits: Splits, run_dir: Path
) -> RunVocabulary:
    """Tokenizer, intents, tags, known names and n-grams from the training split."""
    settings = OmegaConf.to_container(cfg.tokenizer)
    saved = run_dir if cfg.ckpt_path else None
    vocabulary = fit_vocabulary(splits, recipe, settings, cfg.oos_label, saved)
    if rank_zero_only.rank == 0:  # every DDP process fits the same vocabulary; one writes it
        save_vocabulary(vocabulary, run_dir)
    source = f" from {recipe.pretrained}" if vocabulary.embeddings else ""
    tokens, intents = vocabulary.tokenizer.vocab_size, len(vocabulary.labels)
    _log("vocabulary", f"{tokens} tokens{source}, {intents} intents")
    if vocabulary.tag_set:
        types, tags = len(vocabulary.tag_set.types), len(vocabulary.tag_set)
        _log("entities", f"{types} types, {tags} BIO tags")
    if vocabulary.gazetteer:
        _log("gazetteer", f"{vocabulary.gazetteer.size} known names")
    if vocabulary.ngrams:
        _log("n-grams", f"{len(vocabulary.ngrams.grams):,} word and character n-grams")
    return vocabulary


def _teacher(
    distillation: Distillation, splits: Splits, vocabulary: RunVocabulary
) -> Taught | None:
    """With `distill.teacher`: its logits on the training utterances (and on altered copies,
    with `distill.augment`), the teacher fine-tuned first unless cached; None without one."""
    tagging = vocabulary.tag_set is not None
    taught = distillation.teach(
        splits, vocabulary.labels, tagging, lambda message: _log("teacher", message), _warn
    )
    if taught:
        _log("teacher", taught.note, path=True)
    return taught


def _module(
    cfg: DictConfig,
    recipe: NetworkRecipe,
    oos: OutOfScopeFit,
    vocabulary: RunVocabulary,
    distillation: Distillation,
) -> IntentTrainingModule:
    """The network the recipe builds for this vocabulary, its loss and its optimiser."""
    embeddings = vocabulary.embeddings
    encoder = instantiate(cfg.encoder)
    width = embeddings.dim if embeddings else encoder.embedding_dim
    net = recipe.net_config(encoder, vocabulary.sizes(), embeddings is not None, width)
    module = IntentTrainingModule(
        net.to_dict(),
        asdict(instantiate(cfg.optim)),
        oos.class_weights(vocabulary.labels),
        recipe.entity_loss_weight,
        distillation.weights(),
    )
    if embeddings:
        module.net.embedding.weight.data.copy_(embeddings.weights)
    return module


def _fit(
    cfg: DictConfig,
    module: IntentTrainingModule,
    splits: Splits,
    vocabulary: RunVocabulary,
    run_dir: Path,
    callbacks: Sequence[Callback],
    taught: Taught | None,
) -> Fit:
    """Lightning's fit for the planned epochs, with the checkpoint and stopping callbacks; the
    training batches carry the teacher's logits when there is one."""
    batch = batch_size(cfg.batch_size, len(splits.train))
    datamodule = IntentDataModule(
        splits,
        vocabulary.tokenizer,
        vocabulary.labels,
        batch,
        cfg.num_workers,
        vocabulary.tag_set,
        cfg.length_pool,
        vocabulary.gazetteer,
        vocabulary.ngrams,
        taught.logits if taught else None,
    )
    epochs = _planned_epochs(cfg, len(splits.train), batch)
    selection: CheckpointSelection = instantiate(cfg.callbacks)
    val_size = len(splits.val_known)
    if not selection.picks(val_size):
        _log("checkpoint", f"the last epoch's ({val_size} validation utterances: too few to pick)")
    warmup = warmup_epochs(epochs, cfg.optim.warmup_fraction)
    tagging = vocabulary.tag_set is not None
    checkpoint, others = selection.callbacks(tagging, val_size, warmup, run_dir / "checkpoints")
    progress = [RichProgressBar()] if cfg.progress_bar else []
    loggers = make_loggers(cfg.get("logger"), run_dir)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        max_epochs=epochs,
        callbacks=[*callbacks, checkpoint, *others, *progress],
        logger=loggers,
        default_root_dir=str(run_dir),
        enable_progress_bar=cfg.progress_bar,
    )
    parameters = sum(parameter.numel() for parameter in module.parameters())
    kind = module.net.config.encoder.kind
    _log("fit", f"{kind} encoder, {parameters:,} parameters, {epochs} epochs")
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    return Fit(trainer, checkpoint, loggers, epochs, time.perf_counter() - started)


def _planned_epochs(cfg: DictConfig, examples: int, batch: int) -> int:
    """`planned_epochs` from the run's config."""
    budget = cfg.budget
    return planned_epochs(
        examples,
        batch,
        budget.steps,
        (budget.min_epochs, budget.max_epochs),
        cfg.trainer.max_epochs,
        cfg.trainer.get("min_epochs"),
    )


def _keep_chosen_epoch(module: IntentTrainingModule, checkpoint: ModelCheckpoint) -> None:
    """The weights of the epoch the checkpoint callback chose (none under fast_dev_run)."""
    if checkpoint.best_model_path:
        chosen = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(module.complete(chosen["state_dict"]))
        _log("best checkpoint", checkpoint.best_model_path, path=True)


def _calibrated(
    cfg: DictConfig,
    module: IntentTrainingModule,
    vocabulary: RunVocabulary,
    splits: Splits,
    oos: OutOfScopeFit,
) -> tuple[Bundle, Predictor]:
    """The model bundle and its predictor, the out-of-scope decision fitted on the validation
    utterances of intents training has (an unseen intent has no class index to fit to) with
    the bundle's own engine."""
    bundle = Bundle(
        net=module.net.eval(),
        tokenizer=vocabulary.tokenizer,
        labels=vocabulary.labels,
        decision=OosDecision(),  # until fitted just below
        replies=load_replies(cfg.replies or BUNDLED_DATA / "replies.yaml"),
        config=OmegaConf.to_container(cfg, resolve=True),
        tag_set=vocabulary.tag_set,
        synonyms=splits.synonyms,
        gazetteer=vocabulary.gazetteer,
        ngrams=vocabulary.ngrams,
    )
    raw = Predictor(bundle)
    val = splits.val_known
    logits = raw.logits([example.text for example in val])
    targets = torch.tensor(vocabulary.labels.indices(example.intent for example in val))
    bundle.decision = decision = oos.fit(logits, targets, vocabulary.labels.oos_index)
    fitted = f"threshold {decision.threshold:.3f}, temperature {decision.temperature:.2f}"
    _log("out-of-scope", fitted)
    return bundle, raw.with_decision(decision)


def _scores(
    predictor: Predictor, bundle: Bundle, splits: Splits, fit: Fit, module: IntentTrainingModule
) -> dict:
    """What metrics.json holds (the model's tag once exported); the bundle carries them."""
    bundle.metrics = {
        "val": score_examples(predictor, splits.val),
        "test": score_examples(predictor, splits.test),
        "train_seconds": round(fit.seconds, 2),
        "epochs": epochs_trained(fit.trainer, fit.checkpoint),
        "parameters": sum(parameter.numel() for parameter in module.parameters()),
        "model_tag": None,
    }
    return bundle.metrics


def _report(cfg: DictConfig, metrics: dict, fit: Fit, run_dir: Path) -> None:
    """metrics.json, curves.png and the closing lines."""
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    resumed = bool(cfg.ckpt_path)
    curves = write_curves(fit.loggers, resumed, cfg.trainer.get("gradient_clip_val"), run_dir)
    if curves is None:
        _log("curves", "no CSV log (fast_dev_run or no csv logger), no curves.png")
    else:
        _log("curves", str(curves), path=True)
    scores = ", ".join(f"{key} [score]{value:.4f}[/]" for key, value in metrics["test"].items())
    console.print(f"[step]{'test':>16}[/]  {scores}")
    _log("run directory", str(run_dir), path=True)
    if metrics["model_tag"]:
        _log("model", f"{metrics['model_tag']} (serve it: make serve)")


def _log(step: str, message: str, path: bool = False) -> None:
    if rank_zero_only.rank == 0:  # DDP: one process speaks
        print_step(console, step, message, path)


def _warn(message: str) -> None:
    if rank_zero_only.rank == 0:
        console.print(f"[warning]{'warning':>16}[/]  {escape(message)}", soft_wrap=True)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    """The command line: Hydra composes conf/train.yaml; a user's mistake is one line."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    # Lightning's own use of a deprecated torch API; nothing a user can act on
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    with exit_on_user_error(console):
        train(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
