"""The `distill` config group: knowledge distillation (Hinton et al., 2015). The recurrent model
learns a fine-tuned transformer's softened outputs beside the labels: which wrong intents the
teacher finds close to the right one is what a label alone does not say. The teacher is used
at training time only; the served graph is the same network as without it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch.nn import functional

from intentbot.examples import Example
from intentbot.labels import LabelSet
from intentbot.splits import Splits
from intentbot.training.augment import altered
from intentbot.training.teacher import TeacherRecipe
from intentbot.training.teacher_cache import cache_root, teacher_for

ALTERED = "altered copy"  # the source of the teacher-labelled copies (`distill.augment`)


def soft_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(softmax(teacher / T) || softmax(student / T)), the mean over the batch, from
    (B, C) logits each. T² keeps the gradients' scale as T changes."""
    return functional.kl_div(
        functional.log_softmax(student / temperature, dim=-1),
        functional.log_softmax(teacher / temperature, dim=-1),
        reduction="batchmean",
        log_target=True,
    ) * (temperature**2)


def blended_loss(
    hard: torch.Tensor,
    student: torch.Tensor,
    teacher: torch.Tensor,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """(1 - alpha) · `hard` (the labels' loss) + alpha · `soft_loss`."""
    return (1 - alpha) * hard + alpha * soft_loss(student, teacher, temperature)


@dataclass(frozen=True)
class Taught:
    """What distillation hands the fit: the splits it trains on (with the altered copies) and
    the teacher's (N, C) logits on their training utterances, in order."""

    splits: Splits
    logits: torch.Tensor
    note: str  # where the teacher came from, for the run's log


@dataclass(frozen=True)
class Distillation:
    """`conf/distill/*.yaml`: `teacher` null learns from the labels alone."""

    teacher: str | None  # minilm, or a folder holding a transformers model and tokenizer.json
    alpha: float  # the soft term's weight in the intent loss
    temperature: float  # both sides' logits are divided by it in the soft term
    augment: int  # altered copies of each training utterance for the teacher to label
    cache: str | None  # where teachers are kept (null: `teacher_cache.cache_root`)
    recipe: TeacherRecipe | None  # how the teacher is fine-tuned

    def weights(self) -> dict[str, float]:
        """The training module's `distillation` argument: the soft term's weight and
        temperature (alpha 0 without a teacher)."""
        alpha = self.alpha if self.teacher else 0.0
        return {"alpha": alpha, "temperature": self.temperature}

    def teach(
        self,
        splits: Splits,
        labels: LabelSet,
        tagging: bool,
        log: Callable[[str], None],
        warn: Callable[[str], None],
    ) -> Taught | None:
        """The teacher of this training split, from the cache or fine-tuned first (minutes),
        its logits on the training utterances and, with `augment`, on altered copies that join
        them labelled with its top intent (not on data with entities: a copy has no spans).
        None without a teacher."""
        if not self.teacher:
            return None
        recipe = self.recipe or TeacherRecipe()
        texts = [example.text for example in splits.train]
        intents = [example.intent for example in splits.train]
        root = cache_root(self.cache)
        log(f"{self.teacher} on {len(texts)} utterances (cache: {root})")
        cached = teacher_for(texts, intents, labels, self.teacher, recipe, root, log=log)
        note = "from the cache" if cached.hit else f"fine-tuned in {cached.seconds:.0f} s"
        if self.augment and tagging:
            warn("distill.augment is left out on data with entities: altered copies have no spans")
        if not self.augment or tagging:
            return Taught(splits, cached.train_logits, f"{note}: {cached.folder}")
        copies = altered(texts, self.augment, recipe.seed)
        logits = cached.logits_on(copies)  # (M, C)
        extra = [
            Example(text, labels.names[answer], ALTERED)
            for text, answer in zip(copies, logits.argmax(dim=-1).tolist(), strict=True)
        ]
        taught = replace(splits, train=[*splits.train, *extra])
        note = f"{note}, {len(extra)} altered copies labelled: {cached.folder}"
        return Taught(taught, torch.cat([cached.train_logits, logits]), note)
