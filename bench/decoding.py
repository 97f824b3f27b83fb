"""Constrained Viterbi against greedy argmax + repair: exact-span entity scores of one stored
tagging model on a BIO test split, decoded both ways from the same tag logits.

    python -m bench.decoding --bentoml-home STORE --data FOLDER [--model intentbot:latest]

FOLDER is a joint intent + slot benchmark (train/, valid/, test/ in BIO form, e.g. SNIPS).
Writes bench/results/decoding.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console

from bench import fixtures, report
from intentbot.scoring import entity_scores, sentence_accuracy
from intentbot.splits import from_bio_folders
from intentbot.tagging import greedy, viterbi


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.decoding", description=__doc__)
    parser.add_argument("--bentoml-home", default=str(fixtures.DEFAULT_HOME))
    parser.add_argument("--data", required=True, help="a BIO benchmark folder (its test/)")
    parser.add_argument("--model", default="intentbot:latest")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    fixtures.use_store(args.bentoml_home)
    from intentbot.predictor import Predictor
    from intentbot.store import load_bundle
    from intentbot.tagging import decode

    console = Console()
    predictor = Predictor(load_bundle(args.model))
    if predictor.tag_set is None:
        raise SystemExit(f"{args.model} has no tagging head; train it on data with entities")
    examples = from_bio_folders(args.data).test
    texts = fixtures.texts(examples)
    ids, lengths, offsets = predictor.tokenizer.encode_with_offsets(texts)
    intents, tags = predictor.engine(ids, lengths, predictor.matches(texts, offsets))
    right = (
        intents.argmax(-1)
        == np.array(predictor.labels.indices(example.intent for example in examples))
    ).tolist()
    gold = [example.entities for example in examples]
    rows, record = [], {"model": args.model, "data": args.data, "utterances": len(texts)}
    for name, search in (("viterbi", viterbi), ("greedy", greedy)):
        started = time.perf_counter()
        found = decode(
            tags,
            lengths,
            offsets,
            texts,
            predictor.tag_set,
            predictor.synonyms,
            search,
        )
        seconds = time.perf_counter() - started
        scores = entity_scores(gold, found) | {
            "sentence_accuracy": sentence_accuracy(right, gold, found),
            "decode_ms_per_utterance": 1000 * seconds / len(texts),
        }
        record[name] = scores
        rows.append([name, *scores.values()])
    console.print(report.table("decoding", ["search", *record["viterbi"]], rows))
    report.write("decoding", record, console)


if __name__ == "__main__":
    main()
