"""The LightningModule: IntentNet plus loss, per-stage metrics and the optimiser (`optim`
group); a net with a tagging head learns intents and BIO tags together (one encoder, two
losses), and where a batch carries a teacher's logits the intent loss blends in its softened
outputs (`distill` group)."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import grad_norm
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from intentbot.model import IntentNet, NetConfig
from intentbot.tagging import IGNORE
from intentbot.training.datamodule import Batch
from intentbot.training.distillation import blended_loss
from intentbot.training.optimisation import Optimisation

STAGES = ("train", "val")
LOSSES = ("loss", "label_loss", "tag_loss")  # label_loss: with a teacher; tag_loss: with entities
FROZEN = "net.embedding.weight"  # what checkpoints leave out when the embeddings are frozen


class IntentTrainingModule(L.LightningModule):
    """Hyperparameters are plain dicts and floats so checkpoints load with weights_only."""

    def __init__(
        self,
        net: dict,
        optimisation: dict,
        class_weights: list[float] | None,
        entity_loss_weight: float,
        distillation: dict | None = None,
    ) -> None:
        """`net`: `NetConfig.to_dict()`; `optimisation`: an `Optimisation`'s fields;
        `class_weights`: the intent loss's, one per class (None: all 1); `entity_loss_weight`:
        the tagging loss's weight beside it; `distillation`: `Distillation.weights()`, the soft
        term's `alpha` and `temperature` (None: the labels alone)."""
        super().__init__()
        self.save_hyperparameters()
        self.net = IntentNet(NetConfig.from_dict(net))
        self.optimisation = Optimisation(**optimisation)
        weights = torch.tensor(class_weights) if class_weights else None
        smoothing = self.optimisation.label_smoothing
        self.loss = nn.CrossEntropyLoss(weight=weights, label_smoothing=smoothing)
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
        self.tag_loss = nn.CrossEntropyLoss(ignore_index=IGNORE)
        tags = self.net.config.num_tags
        # tag_acc: the share of real tokens given their right BIO tag; sentence_acc: the share of
        # utterances with the right intent and every tag right; joint_acc: the mean of that and
        # the intent's accuracy, what joint checkpoints watch by default: on a few hundred
        # utterances sentence accuracy stays at 0 for epochs, and a checkpoint picked on it alone
        # was the first epoch's (xSID Japanese: 36 % intent accuracy, the majority intent)
        self.tag_metrics = nn.ModuleDict(
            {
                f"{stage}/{name}": metric  # the name it is logged under
                for stage in (STAGES if tags else ())
                for name, metric in (
                    ("tag_acc", MulticlassAccuracy(tags, average="micro", ignore_index=IGNORE)),
                    ("sentence_acc", MeanMetric()),
                    ("joint_acc", MeanMetric()),
                )
            }
        )
        # the epoch's mean losses: updated every step, logged once at the epoch's end
        self.losses = nn.ModuleDict(
            {f"{stage}/{name}": MeanMetric() for stage in STAGES for name in LOSSES}
        )

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and (B,) lengths -> (B, C) logits: the wrapped IntentNet, unchanged."""
        return self.net(ids, lengths)

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        """The batch's loss; updates the stage's metrics, which `_log_epoch` logs at the end of
        the epoch."""
        ids, lengths, targets, tags, matches, grams, teacher = batch
        if tags is None:
            logits = self.net(ids, lengths, grams=grams)  # (B, C)
            loss = self._intent_loss(logits, targets, teacher, stage)
        else:
            # (B, C), (B, T, K)
            logits, tag_logits = self.net.outputs(ids, lengths, matches, grams)
            tag_loss = self._tag_step(tag_logits, tags, stage)
            intent_loss = self._intent_loss(logits, targets, teacher, stage)
            loss = intent_loss + self.hparams.entity_loss_weight * tag_loss
            tags_right = ((tag_logits.argmax(-1) == tags) | (tags == IGNORE)).all(dim=1)  # (B,)
            intents_right = logits.argmax(-1) == targets  # (B,)
            sentences_right = (tags_right & intents_right).float()
            self.tag_metrics[f"{stage}/sentence_acc"].update(sentences_right)
            joint = (sentences_right + intents_right.float()) / 2
            self.tag_metrics[f"{stage}/joint_acc"].update(joint)
        self.metrics[f"{stage}_metrics"].update(logits, targets)
        self._add_loss(stage, "loss", loss, len(targets))
        return loss

    def _intent_loss(
        self, logits: torch.Tensor, targets: torch.Tensor, teacher: torch.Tensor | None, stage: str
    ) -> torch.Tensor:
        """The labels' loss, blended with the teacher's where the batch carries its (B, C)
        logits; logs the labels' loss alone too, to compare with runs without a teacher."""
        hard = self.loss(logits, targets)
        distillation = self.hparams.distillation
        if teacher is None or not distillation or not distillation["alpha"]:
            return hard
        self._add_loss(stage, "label_loss", hard, len(targets))
        return blended_loss(
            hard, logits, teacher, distillation["alpha"], distillation["temperature"]
        )

    def _tag_step(self, tag_logits: torch.Tensor, tags: torch.Tensor, stage: str) -> torch.Tensor:
        """The tagging loss over real tokens; adds it and the token-level tag accuracy to the
        epoch's figures."""
        flat_logits, flat_tags = tag_logits.flatten(0, 1), tags.flatten()  # (B*T, K), (B*T,)
        loss = self.tag_loss(flat_logits, flat_tags)
        self._add_loss(stage, "tag_loss", loss, len(tags))
        self.tag_metrics[f"{stage}/tag_acc"].update(flat_logits, flat_tags)
        return loss

    def _add_loss(self, stage: str, name: str, value: torch.Tensor, size: int) -> None:
        """Adds a batch of `size` texts to the epoch's mean of `stage/name`."""
        self.losses[f"{stage}/{name}"].update(value.detach(), weight=size)

    def on_train_epoch_end(self) -> None:
        """Logs the training epoch's figures (train/loss, train/argmax_acc, ...)."""
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        """Logs the validation epoch's figures, which checkpoints and early stopping monitor."""
        self._log_epoch("val")

    def _log_epoch(self, stage: str) -> None:
        """Logs each of the stage's figures that this epoch updated, then resets them."""
        # once an epoch, not every step: on a few hundred utterances Lightning's per-step
        # logging of seven figures took 15 % of a run's time
        every_stage = [*self.tag_metrics.items(), *self.losses.items()]  # keyed "stage/name"
        stage_only = [item for item in every_stage if item[0].startswith(f"{stage}/")]
        for name, metric in [*self.metrics[f"{stage}_metrics"].items(), *stage_only]:
            if metric.update_called:
                # compute() gathers every process's updates under DDP
                shown = stage == "val" or name == "train/loss"
                self.log(name, metric.compute(), prog_bar=shown)
            metric.reset()

    def training_step(self, batch: Batch, batch_index: int) -> torch.Tensor:
        """The loss Lightning backpropagates; logs train/loss and the train metrics."""
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_index: int) -> None:
        """Logs val/loss and the val metrics, what checkpoints and early stopping monitor."""
        self._step(batch, "val")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Logs train/grad_norm for the gradient panel of curves.png."""
        # before clipping: the raw norm shows vanishing or exploding gradients (rnn vs gru/lstm);
        # only on the steps the logger writes (Lightning's rule, `log_every_n_steps`)
        every = self.trainer.log_every_n_steps
        if not every or (self.trainer.global_step + 1) % every:
            return
        norms = grad_norm(self.net, norm_type=2)
        if norms:
            self.log("train/grad_norm", norms["grad_2.0_norm_total"], on_step=True, on_epoch=False)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Adds the random generators' states, so a resumed run continues exactly; leaves out
        a frozen embedding table, which training never changes."""
        # MiniLM's table is 47 of a checkpoint's 59 MB, and `last.ckpt` is written every epoch:
        # on a few hundred utterances (80 epochs) writing it took longer than training
        if self.net.config.freeze_embeddings:
            checkpoint["state_dict"].pop(FROZEN, None)
        # Lightning restores weights, optimiser and loop position but not the random generators:
        # without them a resumed run shuffles and drops out differently from an uninterrupted one
        checkpoint["rng_states"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["rng_states"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restores what `on_save_checkpoint` added and the frozen table it left out (this
        module's own, which is the one the checkpoint was trained with); older checkpoints still
        load."""
        self.complete(checkpoint["state_dict"])
        states = checkpoint.get("rng_states", {})
        if "torch" in states:
            torch.set_rng_state(states["torch"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])

    def complete(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A checkpoint's weights with the frozen embedding table put back where it was left out;
        returns `state`."""
        state.setdefault(FROZEN, self.net.embedding.weight.detach().clone())
        return state

    def configure_optimizers(self) -> dict:
        """The optimiser and its schedule (`Optimisation`); needs the trainer attached, as the
        schedule's length is the planned number of steps."""
        steps = int(self.trainer.estimated_stepping_batches)
        return self.optimisation.optimizers(self.parameters(), steps)
