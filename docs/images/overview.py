"""Draw overview.png, the README's picture: data -> training -> bundle -> answers, and back.

.venv/bin/python docs/images/overview.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

INK, SOFT, LOOP, MONO = "#263238", "#546e7a", "#8e24aa", "DejaVu Sans Mono"
TOP, HEIGHT, MIDDLE = 16, 21, 26.5  # the boxes' bottom, height, and the arrows' level
BOXES = [  # left, width, title, lines, colour
    (
        1,
        19,
        "your data",
        ["CSV / TSV", "JSONL", "Rasa NLU YAML", "BIO folders", "CLINC150 JSON"],
        "#e3f2fd",
    ),
    (
        27,
        25,
        "training",
        [
            "tokenizer",
            "(MiniLM vocabulary)",
            "RNN / GRU / LSTM",
            "intent head",
            "+ entity tagger",
            "out-of-scope threshold",
        ],
        "#e8f5e9",
    ),
    (
        59,
        23,
        "model bundle",
        [
            "weights.safetensors",
            "ONNX graphs",
            "tokenizer, labels",
            "threshold, replies",
            "intentbot:<version>",
            "(BentoML store)",
        ],
        "#fff8e1",
    ),
    (
        89,
        30,
        "answers",
        [
            "POST /classify",
            "POST /model/parse (Rasa)",
            "make chat",
            "python -m",
            "  intentbot.classify",
            "ONNX Runtime, no torch",
        ],
        "#fce4ec",
    ),
]
ANSWER = (
    '{"intent": "timer", "confidence": 0.97,\n "out_of_scope": false, "entities":\n'
    ' [{"entity": "duration", ...}], "reply": ...}'
)


def arrow(ax, start, end, style="-|>", **kwargs) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=16, **kwargs))


def main() -> None:
    fig, ax = plt.subplots(figsize=(12, 3.7), dpi=150)
    ax.set_xlim(0, 120)
    ax.set_ylim(3, 39.5)
    ax.axis("off")
    for left, width, title, lines, colour in BOXES:
        box = FancyBboxPatch(
            (left, TOP),
            width,
            HEIGHT,
            fc=colour,
            ec=INK,
            lw=1.2,
            boxstyle="round,pad=0.4,rounding_size=1.5",
        )
        ax.add_patch(box)
        middle = left + width / 2
        ax.text(
            middle,
            TOP + HEIGHT - 2.6,
            title,
            ha="center",
            va="top",
            fontsize=11.5,
            fontweight="bold",
            color=INK,
        )
        ax.text(
            middle,
            TOP + HEIGHT - 7.6,
            "\n".join(lines),
            ha="center",
            va="top",
            fontsize=8.6,
            color=SOFT,
            linespacing=1.45,
            family=MONO,
        )
    for (left, width, *_), (after, *_), label in zip(
        BOXES[:-1], BOXES[1:], ["make\ntrain", "export", "serve"], strict=True
    ):
        start, end = left + width + 0.8, after - 0.8
        arrow(ax, (start, MIDDLE), (end, MIDDLE), lw=1.5, color=INK)
        ax.text(
            (start + end) / 2,
            MIDDLE + 1.6,
            label,
            ha="center",
            va="bottom",
            fontsize=8.6,
            color=INK,
            family=MONO,
        )
    ax.text(104, 13.2, ANSWER, ha="center", va="top", fontsize=7.6, color=SOFT, family=MONO)
    arrow(
        ax,
        (89.5, 12.0),
        (10.5, 15.2),
        lw=1.3,
        color=LOOP,
        linestyle="--",
        connectionstyle="arc3,rad=-0.12",
    )
    ax.text(
        50,
        6.0,
        "collect traffic  ->  python -m intentbot.review  ->  train data.extra=[reviewed.jsonl]",
        ha="center",
        va="center",
        fontsize=9,
        color=LOOP,
        family=MONO,
    )
    fig.tight_layout(pad=0.2)
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=150)


if __name__ == "__main__":
    main()
