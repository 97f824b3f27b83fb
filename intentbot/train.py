"""`python -m intentbot.train [overrides]`: data -> tokenizer -> fit -> calibrate -> score ->
export. `train(cfg, run_dir)` is the pipeline; `main` only adds Hydra and clean errors."""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.markup import escape

from intentbot.bundle import Bundle
from intentbot.cli import exit_on_user_error
from intentbot.console import make_console, print_step
from intentbot.gazetteer import Gazetteer
from intentbot.labels import LabelSet
from intentbot.model import HeadConfig, NetConfig
from intentbot.ngrams import NgramConfig, NgramVocabulary
from intentbot.oos import OosDecision
from intentbot.predictor import Predictor
from intentbot.pretrained import (
    START_TOKEN,
    PretrainedEmbeddings,
    PretrainedMissing,
    load_pretrained,
)
from intentbot.replies import load_replies
from intentbot.scoring import score_examples
from intentbot.splits import BUNDLED_DATA, Splits
from intentbot.store import export_bundle
from intentbot.tagging import TagSet
from intentbot.tokenizer import IntentTokenizer
from intentbot.training.averaging import MovingAverage
from intentbot.training.budget import batch_size, planned_epochs
from intentbot.training.calibration import fit_temperature, fit_threshold
from intentbot.training.curves import plot_curves
from intentbot.training.datamodule import IntentDataModule
from intentbot.training.history import LOG_FILE, log_files, read_history
from intentbot.training.module import IntentTrainingModule
from intentbot.training.stopping import EarlyStoppingAfterWarmup

console = make_console()


def train(cfg: DictConfig, run_dir: Path, callbacks: Sequence[Callback] = ()) -> dict:
    """Train, score and (with `export=true`) store one model; returns what metrics.json holds.

    `callbacks` are extra Lightning callbacks, for code that embeds training (and tests).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    splits: Splits = instantiate(cfg.data)
    _log("data", f"{len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test")
    for warning in splits.warnings:
        _warn(warning)
    pretrained = _pretrained(cfg.model.pretrained)
    tokenizer, labels = _vocabulary(cfg, splits, run_dir, pretrained)
    source = f" from {cfg.model.pretrained}" if pretrained else ""
    _log("vocabulary", f"{tokenizer.vocab_size} tokens{source}, {len(labels)} intents")
    tag_set = TagSet.from_examples(splits.train)  # None: no entities, an intent-only model
    gazetteer = None
    if tag_set:
        _log("entities", f"{len(tag_set.types)} types, {len(tag_set)} BIO tags")
        if cfg.model.gazetteer:
            gazetteer = Gazetteer.from_examples(splits.train, tag_set, splits.lookups)
            _log("gazetteer", f"{gazetteer.size} known names")

    ngrams = _ngrams(cfg, splits)
    encoder = instantiate(cfg.encoder)
    net_config = NetConfig(
        vocab_size=tokenizer.vocab_size,
        num_classes=len(labels),
        pad_id=tokenizer.pad_id,
        unk_id=tokenizer.unk_id,
        encoder=replace(encoder, embedding_dim=pretrained.dim) if pretrained else encoder,
        head=HeadConfig(**OmegaConf.to_container(cfg.model.head)),
        embedding_dropout=cfg.model.embedding_dropout,
        word_dropout=word_dropout(cfg.model.word_dropout, pretrained is not None),
        freeze_embedding=bool(pretrained and cfg.model.freeze_embeddings),
        num_tags=len(tag_set) if tag_set else 0,
        gazetteer_width=gazetteer.width if gazetteer else 0,
        embedding_projection=cfg.model.embedding_projection or 0,
        ngram_features=len(ngrams) if ngrams else 0,
    )
    module = IntentTrainingModule(
        net_config.to_dict(),
        **OmegaConf.to_container(cfg.optim),
        class_weights=_class_weights(cfg, labels),
        entity_loss_weight=cfg.model.entity_loss_weight,
    )
    if pretrained:
        module.net.embedding.weight.data.copy_(pretrained.weights)
    batch = batch_size(cfg.batch_size, len(splits.train))
    datamodule = IntentDataModule(
        splits,
        tokenizer,
        labels,
        batch,
        cfg.num_workers,
        tag_set,
        cfg.length_pool,
        gazetteer,
        ngrams,
    )
    epochs = _planned_epochs(cfg, len(splits.train), batch)
    checkpoint, stopping = _selection(cfg, bool(tag_set), len(splits.val_known), epochs, run_dir)
    callbacks = [*callbacks, checkpoint, *stopping]
    if cfg.callbacks.ema_decay is not None:
        callbacks.append(MovingAverage(cfg.callbacks.ema_decay))
    if cfg.progress_bar:
        callbacks.append(RichProgressBar())
    loggers = _loggers(cfg, run_dir)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        max_epochs=epochs,
        callbacks=callbacks,
        logger=loggers,
        default_root_dir=str(run_dir),
        enable_progress_bar=cfg.progress_bar,
    )
    parameters = sum(parameter.numel() for parameter in module.parameters())
    _log("fit", f"{net_config.encoder.kind} encoder, {parameters:,} parameters, {epochs} epochs")
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    train_seconds = time.perf_counter() - started
    if not trainer.is_global_zero:
        return {}

    if checkpoint.best_model_path:  # none under fast_dev_run
        best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(module.complete(best["state_dict"]))
        _log("best checkpoint", checkpoint.best_model_path, path=True)
    bundle = Bundle(
        net=module.net.eval(),
        tokenizer=tokenizer,
        labels=labels,
        decision=OosDecision(),  # until fitted on validation, with the bundle's own engine
        replies=load_replies(cfg.replies or BUNDLED_DATA / "replies.yaml"),
        config=OmegaConf.to_container(cfg, resolve=True),
        tag_set=tag_set,
        synonyms=splits.synonyms,
        gazetteer=gazetteer,
        ngrams=ngrams,
    )
    raw = Predictor(bundle)
    bundle.decision = _fit_decision(cfg, raw, splits)
    predictor = raw.with_decision(bundle.decision)
    metrics = {
        "val": score_examples(predictor, splits.val),
        "test": score_examples(predictor, splits.test),
        "train_seconds": round(train_seconds, 2),
        "epochs": _epochs(trainer, checkpoint),
        "parameters": parameters,
        "model_tag": None,
    }
    bundle.metrics = metrics
    if cfg.export:
        metrics["model_tag"] = export_bundle(bundle, cfg.model_name)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _write_curves(cfg, loggers, run_dir)
    _report(metrics, run_dir)
    note = _majority_note(raw, splits, epochs, pretrained is not None)
    if note:
        _warn(note)
    return metrics


def _pretrained(source: str | None) -> PretrainedEmbeddings | None:
    """The pretrained embeddings `source` names; without the package that holds MiniLM's
    (`make install` adds it), training goes on from scratch and says so."""
    if not source:
        return None
    try:
        return load_pretrained(source)
    except PretrainedMissing as error:
        _warn(f"{error}; training from scratch (model.pretrained=null)")
        return None


def _selection(
    cfg: DictConfig, tagging: bool, val_size: int, epochs: int, run_dir: Path
) -> tuple[ModelCheckpoint, list[Callback]]:
    """The checkpoint kept (the best on validation) and early stopping, once the warm-up is
    over. A validation split under `callbacks.min_val_size` utterances picks by noise (one
    utterance of 15 is 7 points): such a run trains its whole planned length, whose learning
    rate anneals to zero, and keeps the last epoch."""
    folder = run_dir / "checkpoints"
    if val_size < cfg.callbacks.min_val_size:
        _log("checkpoint", f"the last epoch's ({val_size} validation utterances: too few to pick)")
        last = ModelCheckpoint(
            folder, "last-epoch{epoch:02d}", auto_insert_metric_name=False, save_last=True
        )
        return last, []
    # a joint model picked on intents alone would keep an epoch whose tags are still untrained
    monitor = cfg.callbacks.entity_monitor if tagging else cfg.callbacks.monitor
    checkpoint = ModelCheckpoint(
        dirpath=folder,
        filename="best-epoch{epoch:02d}",
        auto_insert_metric_name=False,
        monitor=monitor,
        mode="max",
        save_last=True,
    )
    # the one-cycle schedule spans `epochs`: no stopping while its learning rate still rises
    warmup = math.ceil(epochs * cfg.optim.warmup_fraction)
    stopping = EarlyStoppingAfterWarmup(monitor, "max", cfg.callbacks.patience, warmup)
    return checkpoint, [stopping]


def _ngrams(cfg: DictConfig, splits: Splits) -> NgramVocabulary | None:
    """The n-gram vocabulary of the training split (`model.ngrams`; null: no n-gram path)."""
    if not cfg.model.get("ngrams"):
        return None
    config = NgramConfig(
        **{
            key: tuple(value) if "orders" in key else value
            for key, value in cfg.model.ngrams.items()
        }
    )
    ngrams = NgramVocabulary.fit((example.text for example in splits.train), config)
    _log("n-grams", f"{len(ngrams.grams):,} word and character n-grams")
    return ngrams


# `model.word_dropout: null`: over pretrained embeddings an unseen word already has a vector,
# and hiding a quarter of the words cost validation accuracy (README "Pretrained embeddings");
# from scratch [UNK] is all an unseen word gets, and the value there is the one it always had
PRETRAINED_WORD_DROPOUT = 0.1
SCRATCH_WORD_DROPOUT = 0.25


def word_dropout(configured: float | None, pretrained: bool) -> float:
    """The share of training tokens replaced by [UNK]: `model.word_dropout`, or when null the
    default for the kind of embeddings the network starts from."""
    if configured is not None:
        return configured
    return PRETRAINED_WORD_DROPOUT if pretrained else SCRATCH_WORD_DROPOUT


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


def _vocabulary(
    cfg: DictConfig, splits: Splits, run_dir: Path, pretrained: PretrainedEmbeddings | None
) -> tuple[IntentTokenizer, LabelSet]:
    """Fit on train only (or take the pretrained vocabulary); a resumed run reuses the files
    its first attempt wrote."""
    tokenizer_file, labels_file = run_dir / "tokenizer.json", run_dir / "labels.json"
    if cfg.ckpt_path and tokenizer_file.exists() and labels_file.exists():
        return IntentTokenizer.load(tokenizer_file), LabelSet.load(labels_file)
    if pretrained:
        tokenizer = IntentTokenizer.from_pretrained(
            pretrained.tokenizer, START_TOKEN, cfg.tokenizer.max_length
        )
    else:
        tokenizer = IntentTokenizer.fit(
            (example.text for example in splits.train), **OmegaConf.to_container(cfg.tokenizer)
        )
    labels = LabelSet.from_intents((example.intent for example in splits.train), cfg.oos_label)
    if rank_zero_only.rank == 0:  # every DDP process fits the same vocabulary; one writes it
        tokenizer.save(tokenizer_file)
        labels.save(labels_file)
    return tokenizer, labels


def _class_weights(cfg: DictConfig, labels: LabelSet) -> list[float] | None:
    """`oos.loss_weight` for the out-of-scope class, 1 for the others; None when all are 1."""
    if labels.oos_index is None or cfg.oos.loss_weight == 1:
        return None
    weights = [1.0] * len(labels)
    weights[labels.oos_index] = float(cfg.oos.loss_weight)
    return weights


def _fit_decision(cfg: DictConfig, predictor: Predictor, splits: Splits) -> OosDecision:
    """Temperature, then the out-of-scope threshold, both on the validation utterances of
    intents training has (an unseen intent has no class index to fit to)."""
    val = splits.val_known
    logits = predictor.logits([example.text for example in val])
    targets = torch.tensor(predictor.labels.indices(example.intent for example in val))
    temperature = fit_temperature(torch.from_numpy(logits), targets) if cfg.oos.calibrate else 1.0
    # the probabilities the decision will compute: the threshold is fitted on those very numbers
    probs = torch.from_numpy(OosDecision(temperature=temperature).probabilities(logits))
    threshold = fit_threshold(
        probs, targets, predictor.labels.oos_index, cfg.oos.keep_in_scope, cfg.oos.objective
    )
    decision = OosDecision(threshold, cfg.oos.ambiguity_threshold, temperature)
    _log("out-of-scope", f"threshold {threshold:.3f}, temperature {temperature:.2f}")
    return decision


def _majority_note(
    predictor: Predictor, splits: Splits, epochs: int, pretrained: bool
) -> str | None:
    """A warning when the model's top-1 accuracy on the validation utterances of known intents
    is no better than always answering the most frequent training intent: it learned nothing
    worth serving, which the scores alone do not say. `epochs` and `pretrained` (the run's)
    shape the advice."""
    val = splits.val_known
    counts = Counter(example.intent for example in splits.train)
    top = max(counts.values())
    # a tie for the most frequent: the constant answer that scores best on validation
    baseline, majority = max(
        (sum(example.intent == intent for example in val) / len(val), intent)
        for intent, count in counts.items()
        if count == top
    )
    answers = predictor.logits([example.text for example in val]).argmax(axis=-1)
    names = predictor.labels.names
    accuracy = sum(
        names[answer] == example.intent for answer, example in zip(answers, val, strict=True)
    ) / len(val)
    if accuracy > baseline:
        return None
    return (
        f"the best model's validation accuracy ({accuracy:.3f}) is no better than always "
        f"answering {majority!r}, the most frequent training intent ({baseline:.3f}); try more "
        f"epochs (this run planned {epochs}: trainer.max_epochs=N), "
        f"model.pretrained={'null' if pretrained else 'minilm'}, or more examples per intent"
    )


def _loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    """The `logger` group maps names to loggers (`~logger` turns logging off)."""
    loggers = [
        instantiate(logger, save_dir=str(run_dir)) for logger in (cfg.get("logger") or {}).values()
    ]
    for logger in loggers:
        # Fix the version folder now: DDP-spawn workers get a pickled copy, and a version
        # looked up after the fit would be the next, empty one.
        _ = logger.version
    return loggers


def _epochs(trainer: L.Trainer, checkpoint: ModelCheckpoint) -> int:
    """Epochs trained. Under DDP-spawn the fit ran in workers and this process's trainer still
    says 0, so the newest `last*.ckpt` of this run tells instead."""
    lasts = sorted(
        Path(checkpoint.dirpath).glob("last*.ckpt"), key=lambda path: path.stat().st_mtime
    )
    if trainer.current_epoch == 0 and lasts:
        return int(torch.load(lasts[-1], map_location="cpu", weights_only=True)["epoch"]) + 1
    return trainer.current_epoch


def _write_curves(cfg: DictConfig, loggers: list[Logger], run_dir: Path) -> None:
    """curves.png from this run's CSV log (and those of earlier attempts when resumed)."""
    csv_logger = next((logger for logger in loggers if isinstance(logger, CSVLogger)), None)
    if csv_logger is None or not (Path(csv_logger.log_dir) / LOG_FILE).exists():
        _log("curves", "no CSV log (fast_dev_run or no csv logger), no curves.png")
        return
    log_dir = Path(csv_logger.log_dir)
    resumed = cfg.ckpt_path and isinstance(csv_logger.version, int)
    files = log_files(log_dir.parent, csv_logger.version) if resumed else [log_dir / LOG_FILE]
    clip = cfg.trainer.get("gradient_clip_val")
    _log("curves", str(plot_curves(read_history(files), run_dir / "curves.png", clip)), path=True)


def _log(step: str, message: str, path: bool = False) -> None:
    if rank_zero_only.rank != 0:  # DDP: one process speaks
        return
    print_step(console, step, message, path)


def _warn(message: str) -> None:
    if rank_zero_only.rank == 0:
        console.print(f"[warning]{'warning':>16}[/]  {escape(message)}", soft_wrap=True)


def _report(metrics: dict, run_dir: Path) -> None:
    scores = ", ".join(f"{key} [score]{value:.4f}[/]" for key, value in metrics["test"].items())
    console.print(f"[step]{'test':>16}[/]  {scores}")
    _log("run directory", str(run_dir), path=True)
    if metrics["model_tag"]:
        _log("model", f"{metrics['model_tag']} (serve it: make serve)")


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
