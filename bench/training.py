"""Training speed: `python -m intentbot.train experiment=clinc150` timed end to end, with
Lightning's SimpleProfiler saying where the time goes, against the TF-IDF peer's fit time.

    python -m bench.training [--bentoml-home DIR] [--data FILE] [hydra overrides...]

e.g. `python -m bench.training trainer.max_epochs=2` for a quick run. The trained model is
exported to the store (`--bentoml-home`), where `bench.inference` and `bench.serving` find it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench import fixtures, report
from bench.memory import RssSampler
from bench.peers import tfidf_peer
from intentbot.store import load_bundle

TARGET_SECONDS = 300.0
MARKERS = ("<!-- training:start -->", "<!-- training:end -->")
HEADING = "## Training speed (`bench/training.py`)"
PLUMBING = ("data.path=", "hydra.run.dir=", "+trainer.profiler", "progress_bar=")  # not shown


def parse_profile(text: str) -> dict[str, dict[str, float]]:
    """SimpleProfiler's table -> {action: {calls, total_s}}."""
    actions = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("Action", "Total"):
            continue
        try:
            actions[cells[0]] = {"calls": int(cells[2]), "total_s": float(cells[3])}
        except ValueError:
            continue
    return actions


def phases(actions: dict[str, dict[str, float]], fit_seconds: float) -> list[dict]:
    """The profiler's actions grouped into the phases of a training step, plus the rest."""

    def total(pattern: str) -> float:
        return sum(
            record["total_s"] for name, record in actions.items() if re.search(pattern, name)
        )

    def calls(pattern: str) -> int:
        return max(
            (record["calls"] for name, record in actions.items() if re.search(pattern, name)),
            default=0,
        )

    forward, backward = total(r"Strategy\.training_step$"), total(r"Strategy\.backward$")
    rows = [
        (
            "data loading (setup + train batches)",
            calls(r"train_dataloader_next$"),
            total(r"train_dataloader_next$|DataModule\.setup$"),
        ),
        ("forward + loss (training_step)", calls(r"Strategy\.training_step$"), forward),
        ("backward", calls(r"Strategy\.backward$"), backward),
        (
            "clipping, optimizer update, hooks",
            calls(r"\.optimizer_step$"),
            total(r"\.optimizer_step$") - forward - backward,
        ),
        (
            "validation (every epoch)",
            calls(r"Strategy\.validation_step$"),
            total(r"Strategy\.validation_step$|val_next$"),
        ),
    ]
    rest = fit_seconds - sum(seconds for _, _, seconds in rows)
    rows.append(("the rest (Lightning loops, logging, checkpoints)", 0, rest))
    return [
        {"phase": phase, "calls": count, "total_s": round(seconds, 3)}
        for phase, count, seconds in rows
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fixtures.add_store_arguments(parser, model=False)
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/)")
    parser.add_argument("overrides", nargs="*", help="hydra overrides, e.g. trainer.max_epochs=2")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    console = Console(width=max(120, Console().width))
    fixtures.use_store(args.bentoml_home)
    machine = report.machine()
    run_dir = Path(tempfile.mkdtemp(prefix="intentbot-bench-training-"))
    profile_dir = run_dir / "profile"
    overrides = [
        "+trainer.profiler._target_=lightning.pytorch.profilers.SimpleProfiler",
        f"+trainer.profiler.dirpath={profile_dir}",
        "+trainer.profiler.filename=profile",
        *args.overrides,
    ]
    command = [*fixtures.TRAIN_COMMAND, f"data.path={args.data}", f"hydra.run.dir={run_dir}"]
    command += overrides
    console.print(f"training: {' '.join(command[1:])}")
    started, started_wall = time.perf_counter(), time.time()
    log_path = run_dir / "train.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=fixtures.REPO, stdout=log, stderr=subprocess.STDOUT)
        with RssSampler(process.pid, period=0.25) as sampler:
            code = process.wait()
    wall = time.perf_counter() - started
    if code != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        raise SystemExit(f"error: training failed (exit {code}); log {log_path}\n{tail}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    epochs = metrics["epochs"]
    fit_seconds = metrics["train_seconds"]
    best = sorted((run_dir / "checkpoints").glob("best-*.ckpt"))
    best_epoch = int(re.search(r"(\d+)", best[-1].stem).group(1)) if best else None
    # the checkpoint file is written when its epoch ends: its age from the start of the run
    to_best = best[-1].stat().st_mtime - started_wall if best else None

    splits = fixtures.load_splits(args.data)
    tokens_per_epoch = None
    if metrics.get("model_tag"):
        tokenizer = load_bundle(metrics["model_tag"]).tokenizer
        _, lengths = tokenizer.encode(fixtures.texts(splits.train))
        tokens_per_epoch = int(lengths.sum())
    tokens_per_s = tokens_per_epoch * epochs / fit_seconds if tokens_per_epoch else None
    with console.status("TF-IDF + LinearSVC peer"):
        _, peer_seconds = tfidf_peer(
            fixtures.texts(splits.train), [example.intent for example in splits.train]
        )

    profiles = sorted(profile_dir.glob("*profile*.txt"))
    actions = parse_profile(profiles[-1].read_text()) if profiles else {}
    time_goes = phases(actions, fit_seconds)

    summary = [
        ["full run, wall (start to model exported)", f"{wall:.1f} s"],
        ["fit (trainer.fit)", f"{fit_seconds:.1f} s"],
        ["epochs trained", str(epochs)],
        ["seconds per epoch (fit / epochs, validation included)", f"{fit_seconds / epochs:.1f}"],
        ["best checkpoint", f"epoch {best_epoch}" if best_epoch is not None else "-"],
        ["start to best checkpoint written", f"{to_best:.1f} s" if to_best else "-"],
        ["training tokens per epoch", f"{tokens_per_epoch:,}" if tokens_per_epoch else "-"],
        ["tokens/s (training)", f"{tokens_per_s:,.0f}" if tokens_per_s else "-"],
        ["peak RSS (training process tree)", f"{sampler.peak_total_mib:.0f} MiB"],
        ["test accuracy / in-scope acc / oos recall", _accuracy(metrics)],
        ["peer: TF-IDF + LinearSVC fit", f"{peer_seconds:.1f} s"],
        ["fit time / peer fit time", f"{fit_seconds / peer_seconds:.0f}x"],
    ]
    title = f"Training experiment=clinc150 {' '.join(args.overrides)} (2-core shared CPU)"
    console.print(report.table(title, ["measure", "value"], summary))
    console.print(
        report.table(
            "Where the fit's time goes (Lightning SimpleProfiler)",
            ["phase", "calls", "seconds", "share of fit"],
            [
                [row["phase"], row["calls"], row["total_s"], f"{row['total_s'] / fit_seconds:.0%}"]
                for row in time_goes
            ],
        )
    )
    shortened = any(o.startswith(("trainer.max_epochs", "trainer.limit")) for o in args.overrides)
    if shortened:  # the target is about the full run: project it from this run's epochs
        full_epochs = full_run_epochs()
        measured = wall - fit_seconds + fit_seconds / epochs * full_epochs
        name = f"full run wall seconds, PROJECTED ({full_epochs} epochs at this run's rate)"
    else:
        measured, name = wall, "full run (experiment=clinc150) wall seconds"
    targets = report.goal_rows({"wall": round(measured, 1)}, [(name, "wall", "<=", TARGET_SECONDS)])
    console.print(report.targets_console("Targets", targets))
    record = {
        "command": " ".join(command[1:]),
        "bench_command": report.command_line("bench.training"),
        "machine": machine,
        "wall_seconds": round(wall, 2),
        "fit_seconds": fit_seconds,
        "epochs": epochs,
        "seconds_per_epoch": round(fit_seconds / epochs, 2),
        "best_epoch": best_epoch,
        "seconds_to_best_checkpoint": round(to_best, 2) if to_best else None,
        "tokens_per_epoch": tokens_per_epoch,
        "tokens_per_s": round(tokens_per_s, 1) if tokens_per_s else None,
        "peak_rss_mib": round(sampler.peak_total_mib, 1),
        "test": metrics["test"],
        "model_tag": metrics.get("model_tag"),
        "peer_tfidf_fit_seconds": round(peer_seconds, 2),
        "profile": time_goes,
        "profile_actions": actions,
        "run_dir": str(run_dir),
        "targets": targets,
    }
    path = report.write("training", record, console, args.output)
    if path.resolve().parent == fixtures.RESULTS.resolve():
        report.update_benchmarks(MARKERS, HEADING, markdown(record), console)


def markdown(record: dict) -> str:
    """The BENCHMARKS.md section: the goal, then the run's figures, where the fit's time went
    among them."""
    shown = [part for part in record["command"].split() if not part.startswith(PLUMBING)]
    fit, test = record["fit_seconds"], record["test"]
    to_best, per_epoch = record["seconds_to_best_checkpoint"], record["tokens_per_epoch"]
    best = (
        f"epoch {record['best_epoch']}, written {to_best:.1f} s after the start" if to_best else "-"
    )
    tokens = f"{per_epoch:,} an epoch, {record['tokens_per_s']:,.0f} a second" if per_epoch else "-"
    lines = [
        f"{report.measured(record, record.get('bench_command', 'make bench'))}: "
        f"`python {' '.join(shown)}` timed from start to exported model, Lightning's "
        f"SimpleProfiler on; model `{record['model_tag']}`.",
        "",
        *report.targets_table(record["targets"]),
        "",
        "| measure | value |",
        "|---|---|",
        f"| wall, start to model exported | {record['wall_seconds']:.1f} s |",
        f"| fit | {fit:.1f} s, {record['epochs']} epochs, {record['seconds_per_epoch']:.1f} s each "
        "(validation included) |",
        f"| best checkpoint | {best} |",
        f"| training tokens | {tokens} |",
        f"| peak RSS, process tree | {record['peak_rss_mib']:,.0f} MiB |",
        f"| test accuracy / in-scope / out-of-scope recall | {_accuracy({'test': test})} |",
        f"| peer: TF-IDF + LinearSVC fit | {record['peer_tfidf_fit_seconds']:.1f} s |",
        f"| where the fit's time went | {_phases(record['profile'], fit)} |",
    ]
    return "\n".join(lines)


def _phases(profile: list[dict], fit: float) -> str:
    """Each phase's seconds and share of the fit in one cell: a table of its own would cost
    the page a line a phase."""
    return "; ".join(
        f"{row['phase']}: {row['total_s']:.1f} s, {row['total_s'] / fit:.0%}" for row in profile
    )


def full_run_epochs() -> int:
    """`trainer.max_epochs` of the benchmark configuration (early stopping may end it sooner)."""
    import yaml

    experiment = yaml.safe_load((fixtures.REPO / "conf/experiment/clinc150.yaml").read_text())
    return int(experiment["trainer"]["max_epochs"])


def _accuracy(metrics: dict) -> str:
    test = metrics["test"]
    keys = ("accuracy", "in_scope_accuracy", "oos_recall")
    return " / ".join(f"{test[key]:.3f}" for key in keys if key in test)


if __name__ == "__main__":
    main()
