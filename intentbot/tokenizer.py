"""Text -> token ids with HuggingFace `tokenizers`, fitted on the training split only.

The library owns normalisation, unknown tokens, truncation and padding; a `[BOS]` token starts
every sequence so that even an utterance that normalises to nothing has length one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

PAD, UNK, BOS = "[PAD]", "[UNK]", "[BOS]"
# bpe first: the only subword trainer whose vocabulary is the same in every process. The
# WordPiece trainer numbers its `##` pieces in hash-map order and breaks ties between equally
# frequent merges by those numbers, so two runs on the same data fit different vocabularies
# (huggingface/tokenizers#1794); kept for those who want BERT-style pieces.
TRAINERS = {
    "bpe": (models.BPE, trainers.BpeTrainer),
    "word": (models.WordLevel, trainers.WordLevelTrainer),
    "wordpiece": (models.WordPiece, trainers.WordPieceTrainer),
}
NORMALIZATIONS = ("nfc", "nfd", "nfkc", "nfkd")

# Utterances are short: handing a batch to tokenizers' thread pool costs more than it saves, and
# its threads then compete with the forward pass (a batch of 256 CLINC150 texts inside `predict`:
# 6.5 ms with the pool, 4.7 ms without; BENCHMARKS.md). A value the user has set wins.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class IntentTokenizer:
    """A fitted HF tokenizer plus the batching the model needs: (ids, lengths)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self.pad_id = tokenizer.token_to_id(PAD)
        self.unk_id = tokenizer.token_to_id(UNK)

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        kind: str = "bpe",
        vocab_size: int = 8000,
        min_frequency: int = 1,
        lowercase: bool = True,
        normalization: str | None = "nfkc",
        max_length: int = 64,
    ) -> IntentTokenizer:
        """Train a new vocabulary on `texts` (the training split)."""
        if kind not in TRAINERS:
            raise ValueError(f"tokenizer.kind={kind!r} is not one of {tuple(TRAINERS)}")
        if normalization is not None and normalization not in NORMALIZATIONS:
            raise ValueError(
                f"tokenizer.normalization={normalization!r} is not one of {NORMALIZATIONS} or null"
            )
        model, trainer_class = TRAINERS[kind]
        tokenizer = Tokenizer(model(unk_token=UNK))
        trainer = trainer_class(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[PAD, UNK, BOS],
            show_progress=False,
        )
        steps = [] if normalization is None else [getattr(normalizers, normalization.upper())()]
        if lowercase:
            steps.append(normalizers.Lowercase())
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls._ready(tokenizer, BOS, max_length)

    @classmethod
    def from_pretrained(
        cls, tokenizer: Tokenizer, start_token: str, max_length: int = 64
    ) -> IntentTokenizer:
        """A pretrained vocabulary as it is (its own normaliser), `start_token` as [BOS]."""
        for token in (PAD, UNK, start_token):
            if tokenizer.token_to_id(token) is None:
                raise ValueError(f"the pretrained tokenizer has no {token} token")
        return cls._ready(Tokenizer.from_str(tokenizer.to_str()), start_token, max_length)

    @classmethod
    def _ready(cls, tokenizer: Tokenizer, start_token: str, max_length: int) -> IntentTokenizer:
        """One start token, then truncation and padding: what `encode` relies on."""
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{start_token} $A",
            special_tokens=[(start_token, tokenizer.token_to_id(start_token))],
        )
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id(PAD), pad_token=PAD)
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | Path) -> IntentTokenizer:
        """Read a tokenizer saved by `save`; a damaged file is named in the error."""
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as error:  # the Rust side raises plain Exception
            raise ValueError(f"{path}: not a readable tokenizer file ({error})") from None

    def save(self, path: str | Path) -> None:
        """One tokenizer.json with vocabulary, normaliser, truncation and padding: `load` needs
        nothing else."""
        self._tokenizer.save(str(path))

    @property
    def vocab_size(self) -> int:
        """Rows the embedding table needs, special tokens included."""
        return self._tokenizer.get_vocab_size()

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded ids (B, T) and true lengths (B,), int64, for a batch of texts. numpy, not
        torch: the serving engine reads numpy, and training shares the memory for free."""
        encodings = self._tokenizer.encode_batch_fast(list(texts))  # no offsets: not needed
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        lengths = np.array([sum(encoding.attention_mask) for encoding in encodings], np.int64)
        return ids, lengths

    def encode_with_offsets(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`encode` plus each token's (start, end) character offsets into its original text,
        (B, T, 2); [BOS] and padding have (0, 0). Only entity tagging needs them, and computing
        them slows `encode`, which stays without."""
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        lengths = np.array([sum(encoding.attention_mask) for encoding in encodings], np.int64)
        offsets = np.array([encoding.offsets for encoding in encodings], np.int64)
        return ids, lengths, offsets.reshape(*ids.shape, 2)

    def tokens(self, text: str) -> list[str]:
        """The tokens of one text, for people inspecting what the model sees."""
        encoding = self._tokenizer.encode(text)
        return [
            token
            for token, mask in zip(encoding.tokens, encoding.attention_mask, strict=False)
            if mask
        ]
