"""The LightningModule: IntentNet plus loss, per-stage metrics and the optimiser."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import grad_norm
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from intentbot.model import IntentNet, NetConfig
from intentbot.training.datamodule import Batch

STAGES = ("train", "val", "test")


class IntentTrainingModule(L.LightningModule):
    """Hyperparameters are plain dicts and floats so checkpoints load with weights_only."""

    def __init__(
        self,
        net: dict,
        lr: float = 2e-3,
        weight_decay: float = 0.01,
        label_smoothing: float = 0.1,
        warmup_fraction: float = 0.1,
        class_weights: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = IntentNet(NetConfig.from_dict(net))
        weights = torch.tensor(class_weights) if class_weights else None
        self.loss = nn.CrossEntropyLoss(weight=weights, label_smoothing=label_smoothing)
        classes = self.net.config.num_classes
        metrics = MetricCollection(
            {
                "argmax_acc": MulticlassAccuracy(classes, average="micro"),
                "macro_f1": MulticlassF1Score(classes, average="macro"),
            }
        )
        # keyed "train_metrics" etc.: a plain "train" key would shadow nn.Module.train
        self.metrics = nn.ModuleDict(
            {f"{stage}_metrics": metrics.clone(prefix=f"{stage}/") for stage in STAGES}
        )

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and (B,) lengths -> (B, C) logits: the wrapped IntentNet, unchanged."""
        return self.net(ids, lengths)

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        ids, lengths, targets = batch
        logits = self(ids, lengths)  # (B, C)
        loss = self.loss(logits, targets)
        metrics = self.metrics[f"{stage}_metrics"]
        metrics.update(logits, targets)
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_epoch=True,
            on_step=False,
            batch_size=len(targets),
            sync_dist=True,  # the mean over every process's batches under DDP
        )
        self.log_dict(
            metrics,
            prog_bar=stage == "val",
            on_step=False,
            on_epoch=True,
        )
        return loss

    def training_step(self, batch: Batch, batch_index: int) -> torch.Tensor:
        """The loss Lightning backpropagates; logs train/loss and the train metrics."""
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_index: int) -> None:
        """Logs val/loss and the val metrics, what checkpoints and early stopping monitor."""
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_index: int) -> None:
        """Logs the test loss and argmax metrics (before any out-of-scope decision)."""
        self._step(batch, "test")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Logs train/grad_norm every step for the gradient panel of curves.png."""
        # before clipping: the raw norm shows vanishing or exploding gradients (rnn vs gru/lstm)
        norms = grad_norm(self.net, norm_type=2)
        if norms:
            self.log("train/grad_norm", norms["grad_2.0_norm_total"], on_step=True, on_epoch=False)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Adds the random generators' states, so a resumed run continues exactly."""
        # Lightning restores weights, optimiser and loop position but not the random generators:
        # without them a resumed run shuffles and drops out differently from an uninterrupted one
        checkpoint["rng_states"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["rng_states"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restores what `on_save_checkpoint` added; older checkpoints without it still load."""
        states = checkpoint.get("rng_states", {})
        if "torch" in states:
            torch.set_rng_state(states["torch"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])

    def configure_optimizers(self) -> dict:
        """AdamW under a one-cycle schedule stepped per batch; needs the trainer attached, as
        the schedule's length is the planned number of steps."""
        optimiser = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        # one-cycle: warm up, then anneal to ~0 by the last planned step
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser,
            max_lr=self.hparams.lr,
            total_steps=max(1, int(self.trainer.estimated_stepping_batches)),
            pct_start=self.hparams.warmup_fraction,
        )
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
