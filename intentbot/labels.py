"""Intent names <-> class indices, and which one means out-of-scope."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class LabelSet:
    """A fixed, sorted list of intents; index i is the model's output i."""

    names: tuple[str, ...]
    oos_label: str = "oos"

    @classmethod
    def from_intents(cls, intents: Iterable[str], oos_label: str = "oos") -> LabelSet:
        """The label set of training data: each distinct intent once, sorted, so the class
        order does not depend on the order of the examples."""
        return cls(tuple(sorted(set(intents))), oos_label)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, intent: str) -> int:
        """The model output that stands for `intent`; KeyError for an intent it does not know."""
        return self._positions[intent]

    @cached_property  # read on every prediction
    def _positions(self) -> dict[str, int]:
        return {name: position for position, name in enumerate(self.names)}

    def indices(self, intents: Iterable[str]) -> list[int]:
        """`index` for many intents at once: the targets of a dataset."""
        positions = self._positions
        return [positions[intent] for intent in intents]

    @property
    def oos_index(self) -> int | None:
        """The out-of-scope class, or None when the data has no out-of-scope examples."""
        return self._positions.get(self.oos_label)

    def save(self, path: str | Path) -> None:
        """JSON beside the weights: the class order must travel with the model."""
        Path(path).write_text(json.dumps({"names": list(self.names), "oos_label": self.oos_label}))

    @classmethod
    def load(cls, path: str | Path) -> LabelSet:
        """Read what `save` wrote, in its order; a damaged file is a ValueError naming it."""
        try:
            record = json.loads(Path(path).read_text())
            return cls(tuple(record["names"]), record["oos_label"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a readable label file ({error})") from None
