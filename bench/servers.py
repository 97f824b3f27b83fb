"""A real `bentoml serve` on loopback, started as a user starts it and stopped with everything it
started: what the serving benchmarks and the end-to-end tests share (tests import it from here;
bench/ never imports tests/).

with live_server({"BENTOML_HOME": str(home), "INTENTBOT_MODEL": tag}) as url:
    httpx.post(f"{url}/classify", json={"text": "hi"})
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import psutil

from bench.fixtures import REPO

# BentoML picks a free port for its process manager's control socket, and ZeroMQ cannot bind
# one that a closed connection still holds (TIME_WAIT, common after a load test): that start
# fails with this line in the log, and a second start picks another port.
CONTROL_PORT_TAKEN = "ZMQError: Address already in use"
START_ATTEMPTS = 3


class ServerError(RuntimeError):
    """The server exited or never became ready; the message ends with its log."""


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def live_server(
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 90.0,
    cwd: Path = REPO,
    port: int | None = None,
) -> Iterator[str]:
    """Run `bentoml serve` from `cwd` (so through its bentofile.yaml) on 127.0.0.1 with `env`
    added to this process's environment; yield the base URL once /readyz answers 200.
    `port` (default: a free one) lets a test restart a server at the same address."""
    with serving_process(env, ready_timeout=ready_timeout, cwd=cwd, port=port) as (url, _):
        yield url


@contextlib.contextmanager
def serving_process(
    env: Mapping[str, str] | None = None,
    *,
    target: Sequence[str] = (),
    ready_timeout: float = 90.0,
    cwd: Path = REPO,
    port: int | None = None,
    log_path: Path | None = None,
    python: str = sys.executable,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`live_server` with the process itself (for its pid), what to serve (`target`: a bento
    tag or `module:Service`; default the bentofile in `cwd`), where its log goes (default a
    temporary file) and which Python runs it (another virtual environment's)."""
    port = port or free_port()
    command = [python, "-m", "bentoml", "serve", *target]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    full_env = {**os.environ, "BENTOML_DO_NOT_TRACK": "True", **(env or {})}
    url = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        if log_path is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="intentbot-serve-"))
            log_path = Path(folder) / "serve.log"
        for attempt in range(1, START_ATTEMPTS + 1):
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    command, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT
                )
            try:
                _wait_ready(process, url, ready_timeout, log_path)
                break
            except ServerError:
                stop(process)
                if attempt == START_ATTEMPTS or CONTROL_PORT_TAKEN not in log_path.read_text():
                    raise
        try:
            yield url, process
        finally:
            stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"bentoml serve exited with {process.returncode}\n{_tail(log_path)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise ServerError(f"bentoml serve not ready after {timeout:.0f}s\n{_tail(log_path)}")


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the server (BentoML then stops its workers); SIGKILL what is left of the
    processes it started after `grace` seconds."""
    with contextlib.suppress(psutil.NoSuchProcess):
        tree = [psutil.Process(process.pid)]
        tree += tree[0].children(recursive=True)
        process.terminate()
        _, alive = psutil.wait_procs(tree, timeout=grace)
        for survivor in alive:
            survivor.kill()
    process.wait()


def _tail(log_path: Path, lines: int = 40) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
