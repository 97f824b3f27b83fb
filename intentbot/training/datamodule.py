"""Tokenized splits as DataLoaders: tokenize once, pad per batch."""

from __future__ import annotations

import lightning as L
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from intentbot.examples import Example
from intentbot.labels import LabelSet
from intentbot.splits import Splits
from intentbot.tokenizer import IntentTokenizer

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # ids (B, T), lengths (B,), targets (B,)


class EncodedDataset(torch.utils.data.Dataset):
    """Examples encoded up front: the tokenizer runs once, not once per epoch."""

    def __init__(
        self, examples: list[Example], tokenizer: IntentTokenizer, labels: LabelSet
    ) -> None:
        ids, lengths = tokenizer.encode([example.text for example in examples])
        self.sequences = [row[:length] for row, length in zip(ids, lengths.tolist(), strict=False)]
        self.targets = torch.tensor(labels.indices(example.intent for example in examples))
        self.pad_id = tokenizer.pad_id

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.sequences[index], int(self.targets[index])

    def collate(self, items: list[tuple[torch.Tensor, int]]) -> Batch:
        """Pad to the batch's longest text only: ids (B, T), lengths (B,), targets (B,)."""
        sequences, targets = zip(*items, strict=False)
        ids = pad_sequence(list(sequences), batch_first=True, padding_value=self.pad_id)
        lengths = torch.tensor([len(sequence) for sequence in sequences])
        return ids, lengths, torch.tensor(targets)


class IntentDataModule(L.LightningDataModule):
    """The train/val/test splits as Lightning loaders, encoded with the fitted tokenizer and
    labelled with `labels`' class indices; only the training loader shuffles."""

    def __init__(
        self,
        splits: Splits,
        tokenizer: IntentTokenizer,
        labels: LabelSet,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.splits, self.tokenizer, self.labels = splits, tokenizer, labels
        self.batch_size, self.num_workers = batch_size, num_workers
        self.datasets: dict[str, EncodedDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Encode every split once, whatever `stage`; later calls (fit, then test) reuse them."""
        for name in ("train", "val", "test"):
            if name not in self.datasets:
                examples = getattr(self.splits, name)
                self.datasets[name] = EncodedDataset(examples, self.tokenizer, self.labels)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[name]
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=dataset.collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of the training split."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """The validation split in a fixed order: early stopping and checkpoints watch it."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """The test split for `trainer.test`; train.py's test scores come from `Predictor`."""
        return self._loader("test", shuffle=False)
