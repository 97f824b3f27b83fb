"""Peak resident memory of a process tree, sampled while a benchmark runs."""

from __future__ import annotations

import contextlib
import threading

import psutil


class RssSampler:
    """Samples the server's process tree every `period` seconds: peak RSS per worker."""

    def __init__(self, pid: int, period: float = 0.5) -> None:
        self.root = psutil.Process(pid)
        self.period = period
        self.peak_worker_mib = 0.0
        self.peak_total_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                tree = [self.root, *self.root.children(recursive=True)]
                sizes = {}
                for process in tree:
                    with contextlib.suppress(psutil.Error):
                        sizes[process.pid] = process.memory_info().rss / 2**20
                workers = [
                    sizes.get(process.pid, 0.0)
                    for process in tree
                    if any("worker.service" in part for part in _cmdline(process))
                ]
                self.peak_worker_mib = max(self.peak_worker_mib, *workers, 0.0)
                self.peak_total_mib = max(self.peak_total_mib, sum(sizes.values()))
            self._stop.wait(self.period)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []
