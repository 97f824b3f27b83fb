"""HTTP serving speed: an asyncio load generator against a real `bentoml serve` of intentbot and,
in the same run, a bare BentoML service with the same request and answer types answering a
constant (`bench/bare_service.py`, "bare" in the tables).

    python -m bench.serving [--model TAG] [--bentoml-home DIR] [--seconds 20]

Each level keeps N requests in flight (N keep-alive connections from a raw asyncio client,
127.0.0.1 only) for `--seconds` (and at most `--max-requests`), each a POST /classify with a
real CLINC150 test utterance. The load generator runs on the same 2 cores as the server: it
takes CPU from it, which is why it is kept lean (`Connection`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from bench import fixtures, report
from bench.memory import RssSampler
from bench.servers import ServerError, serving_process

GOALS = [  # each against the typed bare service
    ("req/s at c=32, share of bare's", "throughput_share_c32", ">=", 0.9),
    ("p50 at c=1 minus bare's (ms)", "p50_c1_extra_ms", "<=", 0.5),
    ("p99 at c=32 / bare's", "p99_c32_ratio", "<=", 1.5),
    ("worker RSS / bare's", "worker_rss_ratio", "<=", 1.5),
    ("errors (intentbot, all levels)", "errors", "<=", 0),
]
REQUEST_TIMEOUT = 30.0  # seconds, then the request counts as an error
MARKERS = ("<!-- serving:start -->", "<!-- serving:end -->")
HEADING = "## HTTP serving (`bench/serving.py`)"


@dataclass(frozen=True)
class Server:
    """One `bentoml serve` set-up: which service, with which environment."""

    name: str
    target: str | None  # None: the repository's bentofile.yaml (intentbot)
    service: str  # its BentoML name, for `services.<name>.workers`
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    levels: str = "main"  # "main": every concurrency; "variant": --variant-concurrency


SERVERS = [
    Server("bare", "bench.bare_service:Bare", "bare"),
    Server("intentbot", None, "intentbot"),
    Server(
        "intentbot no-batching",
        None,
        "intentbot",
        env={"INTENTBOT_MAX_BATCH_SIZE": "1"},
        levels="variant",
    ),
    Server(
        "intentbot torch-engine",
        None,
        "intentbot",
        env={"INTENTBOT_ENGINE": "torch"},  # the default is ONNX Runtime
        levels="variant",
    ),
    Server(
        "intentbot 2-threads",
        None,
        "intentbot",
        env={"INTENTBOT_ENGINE_THREADS": "2"},  # the default is 1
        levels="variant",
    ),
    Server("bare 2-workers", "bench.bare_service:Bare", "bare", workers=2, levels="variant"),
    Server("intentbot 2-workers", None, "intentbot", workers=2, levels="variant"),
]


@dataclass
class Level:
    server: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    error_kinds: dict[str, int]


@contextlib.contextmanager
def serve(server: Server, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """`bentoml serve` on 127.0.0.1 at a free port; yields (url, pid) once /readyz answers,
    then stops the process tree it started."""
    full_env = {
        "BENTOML_CONFIG_OPTIONS": f"services.{server.service}.workers={server.workers}",
        **env,
        **server.env,
    }
    target = [server.target] if server.target else []
    try:
        with serving_process(
            full_env, target=target, ready_timeout=180, cwd=fixtures.REPO, log_path=log
        ) as (url, process):
            yield url, process.pid
    except ServerError as error:
        raise SystemExit(f"error: {server.name}: {str(error).splitlines()[0]}; see {log}") from None


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for this load:
    a ready-made request out, status line, headers and a Content-Length or chunked body in.
    Nothing else is parsed or built per request, because the client shares the server's two
    cores (with httpx the bare service peaked at 120 req/s at concurrency 32, now 428)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> int:
        """Send one request, read the whole answer; returns its status code."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(request)
        status = int((await reader.readline()).split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value == b"chunked"
            elif name == b"connection":
                close = value == b"close"
        if chunked:
            while size := int((await reader.readline()).strip(), 16):
                await reader.readexactly(size + 2)
            await reader.readline()
        else:
            await reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def requests_for(url: str, texts: list[str]) -> tuple[str, int, list[bytes]]:
    """Host, port and one ready-made POST /classify per text."""
    host, port = url.removeprefix("http://").split(":")
    built = []
    for text in texts:
        body = json.dumps({"text": text}).encode()
        head = (
            f"POST /classify HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        built.append(head.encode() + body)
    return host, int(port), built


async def load(
    url: str, texts: list[str], concurrency: int, seconds: float, max_requests: int
) -> tuple[list[float], dict[str, int], float]:
    """Keep `concurrency` POST /classify in flight for `seconds` (or `max_requests`), one
    connection each; returns the latencies of the 200s, the errors by kind and the elapsed
    seconds."""
    host, port, built = requests_for(url, texts)
    requests = itertools.cycle(built)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    connections = [Connection(host, port) for _ in range(concurrency)]

    async def one(connection: Connection, request: bytes) -> None:
        started = time.perf_counter()
        try:
            status = await asyncio.wait_for(connection.exchange(request), REQUEST_TIMEOUT)
        except (
            TimeoutError,
            OSError,
            asyncio.IncompleteReadError,
            ValueError,
            IndexError,
        ) as error:
            connection.close()  # a broken exchange leaves the stream unusable
            kind = type(error).__name__
        else:
            if status == 200:
                latencies.append(time.perf_counter() - started)
                return
            kind = f"HTTP {status}"
        errors[kind] = errors.get(kind, 0) + 1

    # warm-up: open the connections, let the server settle (not counted)
    await asyncio.gather(*(one(connection, next(requests)) for connection in connections))
    latencies.clear()
    errors.clear()
    started = time.perf_counter()
    deadline = started + seconds

    async def user(connection: Connection) -> None:
        nonlocal sent
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            await one(connection, next(requests))
        connection.close()

    await asyncio.gather(*(user(connection) for connection in connections))
    return latencies, errors, time.perf_counter() - started


def measure(server: str, url: str, texts: list[str], concurrency: int, args) -> Level:
    latencies, errors, elapsed = asyncio.run(
        load(url, texts, concurrency, args.seconds, args.max_requests)
    )
    ordered = sorted(latencies)

    def percentile(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1e3 if ordered else 0.0

    count = len(latencies) + sum(errors.values())
    return Level(
        server,
        concurrency,
        count,
        sum(errors.values()),
        elapsed,
        len(latencies) / elapsed,
        statistics.median(ordered) * 1e3 if ordered else 0.0,
        percentile(0.99),
        errors,
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fixtures.add_store_arguments(parser)
    parser.add_argument("--seconds", type=float, default=20.0, help="per level (default 20)")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per level, at most")
    parser.add_argument(
        "--concurrency",
        default="1,8,32,64",
        help="levels for bare and intentbot (default: %(default)s)",
    )
    parser.add_argument(
        "--variant-concurrency",
        default="1,32",
        help="levels for the batching/worker/thread variants (default: %(default)s)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(server.name for server in SERVERS),
        help="which set-ups, comma-separated (default: all)",
    )
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    console = Console(width=max(140, Console().width))
    fixtures.use_store(args.bentoml_home)
    machine = report.machine()
    tag = fixtures.ensure_model(args.model, args.data, Path(args.bentoml_home) / "runs" / "bench")
    texts = fixtures.texts(fixtures.load_splits(args.data).test)
    chosen = [name.strip() for name in args.servers.split(",")]
    unknown = set(chosen) - {server.name for server in SERVERS}
    if unknown:
        raise SystemExit(
            f"error: unknown --servers {sorted(unknown)}; "
            f"choose from {[server.name for server in SERVERS]}"
        )
    env = {"INTENTBOT_MODEL": tag}
    levels: list[Level] = []
    memory: dict[str, dict] = {}
    logs = Path(tempfile.mkdtemp(prefix="intentbot-bench-serving-"))
    for server in [server for server in SERVERS if server.name in chosen]:
        spec = args.concurrency if server.levels == "main" else args.variant_concurrency
        concurrencies = [int(level) for level in spec.split(",") if level.strip()]
        log = logs / f"{server.name.replace(' ', '_').replace(',', '')}.log"
        with console.status(f"{server.name}: starting"), serve(server, env, log) as (url, pid):
            with RssSampler(pid) as sampler:
                for concurrency in concurrencies:
                    levels.append(measure(server.name, url, texts, concurrency, args))
                    level = levels[-1]
                    console.print(
                        f"{server.name:>26} c={concurrency:<3} "
                        f"{level.requests_per_s:8.0f} req/s  p50 {level.p50_ms:7.2f} ms"
                        f"  p99 {level.p99_ms:7.2f} ms  errors {level.errors}"
                    )
            memory[server.name] = {
                "workers": server.workers,
                "peak_worker_rss_mib": round(sampler.peak_worker_mib, 1),
                "peak_tree_rss_mib": round(sampler.peak_total_mib, 1),
            }

    rows = [
        [
            level.server,
            level.concurrency,
            level.requests,
            level.errors,
            level.requests_per_s,
            level.p50_ms,
            level.p99_ms,
            memory[level.server]["peak_worker_rss_mib"],
        ]
        for level in levels
    ]
    console.print(
        report.table(
            f"POST /classify, {args.seconds:.0f} s per level ({tag}; 2-core shared CPU, the load "
            "generator on the same cores)",
            [
                "server",
                "concurrency",
                "requests",
                "errors",
                "req/s",
                "p50 ms",
                "p99 ms",
                "peak worker RSS MiB",
            ],
            rows,
        )
    )
    targets = evaluate_targets(levels, memory)
    console.print(report.targets_console("Targets (bare: the typed constant service)", targets))
    record = {
        "model": tag,
        "machine": machine,
        "command": report.command_line("bench.serving"),
        "args": {key: str(value) for key, value in vars(args).items()},
        "levels": [vars(level) for level in levels],
        "memory": memory,
        "targets": targets,
        "logs": str(logs),
    }
    path = report.write("serving", record, console, args.output)
    if path.resolve().parent == fixtures.RESULTS.resolve():
        report.update_benchmarks(MARKERS, HEADING, markdown(record), console)


def markdown(record: dict) -> str:
    """The BENCHMARKS.md section: the goals, then one row per set-up (its levels side by side,
    its errors and peak memory), so set-ups compare down a column."""
    concurrencies = sorted({level["concurrency"] for level in record["levels"]})
    lines = report.section_head(
        f"{report.measured(record, record.get('command', 'make bench'))}: model "
        f"`{record['model']}`, POST /classify with the test utterances of "
        f"`{Path(record['args']['data']).name}` in turn, {float(record['args']['seconds']):.0f} s "
        "per level; at c=N, N keep-alive connections from a raw asyncio client on the same cores "
        "as the server, each level's cell req/s (p50 / p99 ms), `-` where a set-up was not run "
        "at it. Bare: `bench/bare_service.py`, a BentoML service with intentbot's request and "
        "answer types that answers a constant.",
        record["targets"],
        [
            "server",
            *(f"c={level}" for level in concurrencies),
            "errors / requests",
            "peak RSS MiB (a worker / all)",
        ],
    )
    for name, memory in record["memory"].items():
        levels = [level for level in record["levels"] if level["server"] == name]
        lines.append(_row(name, levels, concurrencies, memory))
    return "\n".join(lines)


def _row(name: str, levels: list[dict], concurrencies: list[int], memory: dict) -> str:
    """One set-up's row: each level's req/s (p50 / p99 ms) or `-`, its errors summed over its
    levels (of how many requests), its peak RSS."""
    found = {level["concurrency"]: level for level in levels}
    cells = [_level(found[level]) if level in found else "-" for level in concurrencies]
    errors = sum(level["errors"] for level in levels)
    requests = sum(level["requests"] for level in levels)
    cells += [
        f"{errors:,} / {requests:,}",
        f"{memory['peak_worker_rss_mib']:,.0f} / {memory['peak_tree_rss_mib']:,.0f}",
    ]
    return f"| {_setup(name)} | {' | '.join(cells)} |"


def _level(level: dict) -> str:
    """A level's cell: throughput, with the latencies it came at."""
    return report.aside(
        f"{level['requests_per_s']:,.0f}", [f"{level['p50_ms']:.2f}", f"{level['p99_ms']:.1f}"]
    )


def _setup(name: str) -> str:
    """A set-up as the table names it: its name and what differs (`INTENTBOT_...=1`, workers)."""
    server = next((server for server in SERVERS if server.name == name), None)
    if server is None:
        return name
    changes = [f"`{key}={value}`" for key, value in server.env.items()]
    changes += [f"{server.workers} workers"] if server.workers > 1 else []
    base = name.split()[0]
    return f"{base}, {', '.join(changes)}" if changes else base


def evaluate_targets(levels: list[Level], memory: dict[str, dict]) -> list[dict]:
    """The goals, each against the typed bare service; a figure
    whose levels or servers this run left out is not checked."""
    found = {(level.server, level.concurrency): level for level in levels}
    figures: dict[str, float] = {
        "errors": sum(level.errors for level in levels if level.server == "intentbot")
    }
    ours, bare = found.get(("intentbot", 32)), found.get(("bare", 32))
    if ours and bare:
        figures["throughput_share_c32"] = round(ours.requests_per_s / bare.requests_per_s, 3)
        figures["p99_c32_ratio"] = round(ours.p99_ms / bare.p99_ms, 3)
    ours, bare = found.get(("intentbot", 1)), found.get(("bare", 1))
    if ours and bare:
        figures["p50_c1_extra_ms"] = round(ours.p50_ms - bare.p50_ms, 3)
    if "intentbot" in memory and "bare" in memory:
        rss = memory["intentbot"]["peak_worker_rss_mib"] / memory["bare"]["peak_worker_rss_mib"]
        figures["worker_rss_ratio"] = round(rss, 3)
    return report.goal_rows(figures, GOALS)


if __name__ == "__main__":
    main()
