"""The distillation loss: alpha 0 is the labels' loss alone, the soft term is zero when the
student already answers as the teacher, a student trained on it moves toward the teacher's
soft labels, and the training module blends it in only where a batch carries the teacher."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from intentbot.encoder import EncoderConfig
from intentbot.model import HeadConfig, NetConfig
from intentbot.training.augment import altered
from intentbot.training.datamodule import Batch
from intentbot.training.distillation import blended_loss, soft_loss
from intentbot.training.module import IntentTrainingModule

CLASSES = 4


def logits(seed: int, rows: int = 8) -> torch.Tensor:
    return torch.randn(rows, CLASSES, generator=torch.Generator().manual_seed(seed)) * 3


def test_alpha_zero_is_the_labels_loss_alone() -> None:
    student, teacher = logits(0), logits(1)
    targets = torch.arange(8) % CLASSES
    hard = nn.functional.cross_entropy(student, targets)
    torch.testing.assert_close(blended_loss(hard, student, teacher, 0.0, 2.0), hard)


def test_the_soft_term_is_zero_when_the_student_answers_as_the_teacher() -> None:
    teacher = logits(1)
    assert float(soft_loss(teacher.clone(), teacher, 3.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(soft_loss(logits(0), teacher, 3.0)) > 0.1


def test_a_student_trained_toward_a_fixed_teacher_takes_its_soft_labels() -> None:
    torch.manual_seed(0)
    features = torch.randn(32, 6)
    teacher = nn.Linear(6, CLASSES)(features).detach() * 3  # soft labels a student can reach
    student = nn.Linear(6, CLASSES)
    optimiser = torch.optim.Adam(student.parameters(), lr=0.05)

    def distance() -> float:  # how far the student's softened answers are from the teacher's
        with torch.no_grad():
            return float(soft_loss(student(features), teacher, 2.0))

    before = distance()
    for _ in range(300):
        loss = blended_loss(torch.zeros(()), student(features), teacher, 1.0, 2.0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert distance() < before / 10
    agree = (student(features).argmax(-1) == teacher.argmax(-1)).float().mean()
    assert float(agree) >= 0.9


def module(alpha: float) -> IntentTrainingModule:
    torch.manual_seed(0)
    config = NetConfig(
        vocab_size=30,
        num_classes=CLASSES,
        encoder=EncoderConfig(embedding_dim=8, hidden_size=6),
        head=HeadConfig(hidden_sizes=(5,)),
        embedding_dropout=0.0,
        word_dropout=0.0,
    )
    optimisation = {"lr": 1e-3, "weight_decay": 0.0, "label_smoothing": 0.0, "warmup_fraction": 0.1}
    trained = IntentTrainingModule(
        config.to_dict(), optimisation, None, 1.0, {"alpha": alpha, "temperature": 2.0}
    )
    trained.log = lambda *args, **kwargs: None  # no trainer attached
    return trained.eval()


def batch(teacher: torch.Tensor | None) -> Batch:
    ids = torch.randint(1, 30, (8, 5), generator=torch.Generator().manual_seed(3))
    return Batch(ids, torch.full((8,), 5), torch.arange(8) % CLASSES, None, teacher=teacher)


def test_the_module_blends_the_teacher_in_only_where_the_batch_carries_it() -> None:
    plain = module(0.0)._step(batch(None), "train")
    assert torch.equal(module(0.0)._step(batch(logits(1)), "train"), plain)  # alpha 0
    assert torch.equal(module(0.5)._step(batch(None), "val"), plain)  # validation: labels only
    distilled = module(0.5)._step(batch(logits(1)), "train")
    student = module(0.5).net(batch(None).ids, batch(None).lengths)
    expected = 0.5 * plain + 0.5 * soft_loss(student, logits(1), 2.0)
    torch.testing.assert_close(distilled, expected)


def test_altered_copies_are_new_repeatable_and_leave_one_word_texts_alone() -> None:
    texts = ["what is the weather like in paris", "book a table for two at eight", "hi"]
    copies = altered(texts, 3, seed=0)
    assert copies == altered(texts, 3, seed=0)
    assert copies != altered(texts, 3, seed=1)
    assert 0 < len(copies) <= 6 and len(set(copies)) == len(copies)
    assert not set(copies) & set(texts)
    words = {word for text in texts for word in text.split()}
    assert all(set(copy.split()) <= words for copy in copies)  # words of the training texts
    assert altered(["hi", "hello"], 3, seed=0) == []
