"""Soak benchmark: a real `bentoml serve` on loopback under steady load.

    .venv/bin/python bench/soak.py [--seconds 60] [--concurrency 64] [--model intentbot:latest]

Starts the server (BENTOML_HOME picks the store), warms it up, then keeps `concurrency`
requests in flight for `seconds` across /classify, /classify_batch and /model/parse. Every
answer is matched to its request (texts echoed in order, intent equal to the in-process
Predictor's). Passes when there are zero 5xx, zero transport errors, zero wrong answers and the
server's RSS after the soak is within 20 % of its RSS after warm-up. Writes
bench/results/soak.json and prints a table; exits 1 when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from bench.fixtures import REPO
from bench.servers import live_server
from intentbot.predictor import Predictor
from intentbot.splits import BUNDLED_DATA
from intentbot.store import load_bundle

RESULTS = REPO / "bench" / "results" / "soak.json"
ODD_TEXTS = ["😀 what time is it", "\u202ehello\u202c", "wh\u200bat", "Привет", "?!?!", "a" * 1500]
RSS_TOLERANCE = 0.20


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    transport_errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    texts: int = 0


def server_rss(server_pid: int) -> int:
    """Resident memory (bytes) of the server's processes: the API worker and its supervisor."""
    root = psutil.Process(server_pid)
    return sum(process.memory_info().rss for process in [root, *root.children(recursive=True)])


def worker_rss(server_pid: int) -> int:
    """RSS of the largest process in the tree: the worker that holds the model."""
    root = psutil.Process(server_pid)
    return max(process.memory_info().rss for process in [root, *root.children(recursive=True)])


async def one_request(
    client: httpx.AsyncClient, texts: list[str], expected: dict[str, str], tally: Tally
) -> None:
    route = random.choice(["/classify", "/classify", "/classify_batch", "/model/parse"])
    batch = random.sample(texts, random.randint(1, 8)) if route == "/classify_batch" else None
    body = {"texts": batch} if batch else {"text": random.choice(texts)}
    started = time.perf_counter()
    try:
        response = await client.post(route, json=body)
    except httpx.HTTPError as error:
        tally.transport_errors[type(error).__name__] += 1
        return
    tally.latencies.append(time.perf_counter() - started)
    tally.statuses[response.status_code] += 1
    if response.status_code != 200:
        return
    answer = response.json()
    if route == "/classify_batch":
        got = [(item["text"], item["intent"]) for item in answer["results"]]
    elif route == "/model/parse":
        got = [(answer["text"], answer["intent"]["name"])]
    else:
        got = [(answer["text"], answer["intent"])]
    sent = batch or [body["text"]]
    tally.texts += len(sent)
    if got != [(text, expected[text]) for text in sent]:
        tally.wrong.append(f"{route} {sent!r} -> {got!r}")


async def load(url: str, texts, expected, concurrency: int, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                await one_request(client, texts, expected, tally)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--model", default=os.environ.get("INTENTBOT_MODEL", "intentbot:latest"))
    args = parser.parse_args()
    console = Console()

    bundle = load_bundle(args.model)
    lines = (BUNDLED_DATA / "test.jsonl").read_text().splitlines()
    texts = sorted({json.loads(line)["text"] for line in lines} | set(ODD_TEXTS))
    expected = {p.text: p.intent for p in Predictor(bundle).predict(texts)}
    env = {"INTENTBOT_MODEL": bundle.tag}
    with console.status("starting bentoml serve"), live_server(env) as url:
        server_pid = next(
            p.pid
            for p in psutil.Process().children()
            if "bentoml" in " ".join(p.cmdline()) and "serve" in p.cmdline()
        )
        with console.status(f"warm-up, {args.warmup:.0f} s"):
            asyncio.run(load(url, texts, expected, args.concurrency, args.warmup))
        rss_warm, worker_warm = server_rss(server_pid), worker_rss(server_pid)
        with console.status(f"soak, {args.seconds:.0f} s at concurrency {args.concurrency}"):
            started = time.perf_counter()
            tally = asyncio.run(load(url, texts, expected, args.concurrency, args.seconds))
            elapsed = time.perf_counter() - started
        rss_after, worker_after = server_rss(server_pid), worker_rss(server_pid)
        still_ready = httpx.get(f"{url}/readyz").status_code == 200

    requests = sum(tally.statuses.values())
    server_errors = sum(count for code, count in tally.statuses.items() if code >= 500)
    growth = worker_after / worker_warm - 1
    result = {
        "model": bundle.tag,
        "seconds": round(elapsed, 1),
        "concurrency": args.concurrency,
        "requests": requests,
        "texts": tally.texts,
        "requests_per_second": round(requests / elapsed, 1),
        "statuses": {str(code): count for code, count in sorted(tally.statuses.items())},
        "server_errors": server_errors,
        "transport_errors": dict(tally.transport_errors),
        "wrong_answers": len(tally.wrong),
        "wrong_examples": tally.wrong[:5],
        "latency_ms": {
            "p50": round(1000 * statistics.median(tally.latencies), 1),
            "p99": round(1000 * percentile(tally.latencies, 0.99), 1),
            "max": round(1000 * max(tally.latencies), 1),
        },
        "worker_rss_mb": {
            "after_warmup": round(worker_warm / 2**20, 1),
            "after_soak": round(worker_after / 2**20, 1),
            "growth": round(growth, 4),
        },
        "server_tree_rss_mb": {
            "after_warmup": round(rss_warm / 2**20, 1),
            "after_soak": round(rss_after / 2**20, 1),
        },
        "ready_after": still_ready,
        "cpu_count": os.cpu_count(),
    }
    passed = (
        requests > 0
        and server_errors == 0
        and not tally.transport_errors
        and not tally.wrong
        and abs(growth) <= RSS_TOLERANCE
        and still_ready
    )
    result["passed"] = passed
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    table = Table(title=f"soak: {elapsed:.0f} s at concurrency {args.concurrency}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("requests (texts)", f"{requests:,} ({tally.texts:,})")
    table.add_row("requests / s", f"{requests / elapsed:,.1f}")
    table.add_row("status codes", ", ".join(f"{c}: {n:,}" for c, n in result["statuses"].items()))
    table.add_row(
        "5xx / transport errors", f"{server_errors} / {sum(tally.transport_errors.values())}"
    )
    table.add_row("wrong answers", str(len(tally.wrong)))
    latency = result["latency_ms"]
    table.add_row(
        "latency p50 / p99 / max", f"{latency['p50']} / {latency['p99']} / {latency['max']} ms"
    )
    table.add_row(
        "worker RSS warm-up -> after",
        f"{worker_warm / 2**20:.0f} -> {worker_after / 2**20:.0f} MB ({growth:+.1%})",
    )
    table.add_row("verdict", "[green]pass[/]" if passed else "[red]FAIL[/]")
    console.print(table)
    console.print(f"written: {RESULTS}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
