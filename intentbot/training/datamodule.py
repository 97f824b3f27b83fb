"""Tokenized splits as DataLoaders: tokenize once, pad per batch; with a tag set, per-token BIO
targets beside the intents, with a gazetteer each token's known-name features, with an n-gram
vocabulary each utterance's weighted n-grams, and with a teacher its logits (distillation)."""

from __future__ import annotations

from typing import NamedTuple

import lightning as L
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, RandomSampler

from intentbot.examples import Example
from intentbot.gazetteer import Gazetteer
from intentbot.labels import LabelSet
from intentbot.model import Grams
from intentbot.ngrams import NgramVocabulary
from intentbot.splits import Splits
from intentbot.tagging import IGNORE, TagSet
from intentbot.tokenizer import IntentTokenizer
from intentbot.training.bucketing import LengthBucketSampler

# ids (T,), intent, tag ids (T,) or None, known-name features (T, G) or None, n-gram ids and
# weights (N,) or None, the teacher's logits (C,) or None
Item = tuple[
    torch.Tensor,
    int,
    torch.Tensor | None,
    torch.Tensor | None,
    tuple[torch.Tensor, ...] | None,
    torch.Tensor | None,
]


class Batch(NamedTuple):
    """One padded batch; `tags` only for a model with a tagging head."""

    ids: torch.Tensor  # (B, T)
    lengths: torch.Tensor  # (B,)
    targets: torch.Tensor  # (B,) intent indices
    tags: torch.Tensor | None  # (B, T) tag ids, IGNORE on [BOS] and padding
    matches: torch.Tensor | None = None  # (B, T, G) known-name features, with a gazetteer
    grams: Grams | None = None  # (B, N) n-gram ids and weights, with an n-gram vocabulary
    teacher: torch.Tensor | None = None  # (B, C) the teacher's logits, when distilling


class EncodedDataset(torch.utils.data.Dataset):
    """Examples encoded up front: the tokenizer runs once, not once per epoch; with `tag_set`,
    each token's BIO tag too (from the tokenizer's character offsets), and with `gazetteer` its
    known-name features, each example's own annotations counted out when `own_names_out` (the
    training split: see `intentbot.gazetteer`). With `teacher`, (N, C) logits in the examples'
    order, each batch carries its rows."""

    def __init__(
        self,
        examples: list[Example],
        tokenizer: IntentTokenizer,
        labels: LabelSet,
        tag_set: TagSet | None = None,
        gazetteer: Gazetteer | None = None,
        own_names_out: bool = False,
        ngrams: NgramVocabulary | None = None,
        teacher: torch.Tensor | None = None,
    ) -> None:
        if teacher is not None and len(teacher) != len(examples):
            raise ValueError(
                f"{len(teacher)} rows of teacher logits for {len(examples)} examples: the teacher "
                "must be computed on this very split (remove its cache folder to compute it again)"
            )
        self.teacher = teacher
        texts = [example.text for example in examples]
        self.grams: list[tuple[torch.Tensor, ...]] | None = None
        if ngrams is not None:
            bag = ngrams.bag(texts)
            counts = (bag.ids != 0).sum(axis=1).clip(min=1).tolist()  # a padding row at least
            self.grams = [
                (torch.from_numpy(ids[:count]), torch.from_numpy(weights[:count]))
                for ids, weights, count in zip(bag.ids, bag.weights, counts, strict=True)
            ]
        self.tags: list[torch.Tensor] | None = None
        self.matches: list[torch.Tensor] | None = None
        if tag_set is None:
            ids, lengths = tokenizer.encode(texts)
        else:
            ids, lengths, offsets = tokenizer.encode_with_offsets(texts)
            token_offsets = [
                row[:length].tolist() for row, length in zip(offsets, lengths.tolist(), strict=True)
            ]
            self.tags = [
                torch.tensor(tag_set.token_tags(row, example.entities))
                for row, example in zip(token_offsets, examples, strict=True)
            ]
            if gazetteer is not None:
                self.matches = [
                    torch.from_numpy(
                        gazetteer.features(
                            example.text, row, example.entities if own_names_out else ()
                        )
                    )
                    for row, example in zip(token_offsets, examples, strict=True)
                ]
        ids = torch.from_numpy(ids)
        self.sequences = [row[:length] for row, length in zip(ids, lengths.tolist(), strict=False)]
        self.targets = torch.tensor(labels.indices(example.intent for example in examples))
        self.pad_id = tokenizer.pad_id

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> Item:
        tags = self.tags[index] if self.tags is not None else None
        matches = self.matches[index] if self.matches is not None else None
        grams = self.grams[index] if self.grams is not None else None
        teacher = self.teacher[index] if self.teacher is not None else None
        return self.sequences[index], int(self.targets[index]), tags, matches, grams, teacher

    def collate(self, items: list[Item]) -> Batch:
        """Pad to the batch's longest text only: ids (B, T), lengths (B,), targets (B,), tags
        (B, T), known-name features (B, T, G) as floats, the n-grams (B, N) and the teacher's
        logits (B, C)."""
        sequences, targets, tags, matches, grams, teacher = zip(*items, strict=True)
        ids = pad_sequence(list(sequences), batch_first=True, padding_value=self.pad_id)
        lengths = torch.tensor([len(sequence) for sequence in sequences])
        padded_tags = None
        if self.tags is not None:
            padded_tags = pad_sequence(list(tags), batch_first=True, padding_value=IGNORE)
        padded_matches = None
        if self.matches is not None:
            padded_matches = pad_sequence(list(matches), batch_first=True).float()
        padded_grams = None
        if self.grams is not None:
            gram_ids, gram_weights = zip(*grams, strict=True)
            padded_grams = Grams(
                pad_sequence(list(gram_ids), batch_first=True),
                pad_sequence(list(gram_weights), batch_first=True),
            )
        stacked_teacher = torch.stack(teacher) if self.teacher is not None else None
        return Batch(
            ids,
            lengths,
            torch.tensor(targets),
            padded_tags,
            padded_matches,
            padded_grams,
            stacked_teacher,
        )


class IntentDataModule(L.LightningDataModule):
    """The train and validation splits as Lightning loaders, encoded with the fitted tokenizer and
    labelled with `labels`' class indices (and `tag_set`'s tags, when given: the training split
    has entities, and `gazetteer`'s known-name features); only the training loader shuffles,
    and with `length_pool` > 1 in pools of that many batches sorted by length
    (`LengthBucketSampler`). `teacher_logits`, (N, C) over the training split in its order, go
    with the training batches only: validation scores the labels."""

    def __init__(
        self,
        splits: Splits,
        tokenizer: IntentTokenizer,
        labels: LabelSet,
        batch_size: int = 64,
        num_workers: int = 0,
        tag_set: TagSet | None = None,
        length_pool: int = 1,
        gazetteer: Gazetteer | None = None,
        ngrams: NgramVocabulary | None = None,
        teacher_logits: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.ngrams, self.teacher_logits = ngrams, teacher_logits
        self.splits, self.tokenizer, self.labels = splits, tokenizer, labels
        self.tag_set, self.gazetteer = tag_set, gazetteer
        self.batch_size, self.num_workers = batch_size, num_workers
        self.length_pool = length_pool
        self.datasets: dict[str, EncodedDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Encode the training split and the validation utterances of known intents once,
        whatever `stage` (test figures come from `Predictor`, in train.py)."""
        for name, examples in (("train", self.splits.train), ("val", self.splits.val_known)):
            if name not in self.datasets:
                self.datasets[name] = EncodedDataset(
                    examples,
                    self.tokenizer,
                    self.labels,
                    self.tag_set,
                    self.gazetteer,
                    own_names_out=name == "train",
                    ngrams=self.ngrams,
                    teacher=self.teacher_logits if name == "train" else None,
                )

    def _loader(self, name: str, **batching: object) -> DataLoader:
        """`batching`: DataLoader's batch_size and shuffle, or a batch_sampler; none: fixed
        order in batches of `batch_size`."""
        dataset = self.datasets[name]
        return DataLoader(
            dataset,
            collate_fn=dataset.collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **(batching or {"batch_size": self.batch_size}),
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of the training split; with `length_pool` > 1, each batch of
        utterances of similar length."""
        dataset = self.datasets["train"]
        if self.length_pool == 1:  # plain shuffled batches, exactly as without pools
            return self._loader("train", batch_size=self.batch_size, shuffle=True)
        lengths = [len(sequence) for sequence in dataset.sequences]
        sampler = LengthBucketSampler(
            RandomSampler(dataset), self.batch_size, False, lengths, self.length_pool
        )
        return self._loader("train", batch_sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        """The validation utterances of intents training has, in a fixed order: early stopping
        and checkpoints watch them (an unseen intent has no class index)."""
        return self._loader("val")
