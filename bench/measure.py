"""Running a command or a pipeline and measuring its wall time, CPU time and peak memory.

Memory is known two ways. `os.wait4` gives each process's own peak RSS exactly, but for a
process that ran workers it is the peak of the largest one, not of all together; so the
summed RSS of every process of the run and its descendants is also sampled from /proc
while it runs. The run's peak is the larger of the two.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024
_PROC = Path("/proc")
SAMPLE_INTERVAL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Run:
    """One measured run of a command or pipeline."""

    seconds: float
    cpu_seconds: float  # user + system, every process, their waited-for workers included
    largest_process_rss_bytes: int  # exact
    all_processes_rss_bytes: int | None  # sampled; None where /proc is not there
    exit_codes: tuple[int, ...]

    @property
    def peak_rss_bytes(self) -> int:
        return max(self.largest_process_rss_bytes, self.all_processes_rss_bytes or 0)

    @property
    def succeeded(self) -> bool:
        return all(code == 0 for code in self.exit_codes)


class ProcessTreeMemory:
    """Samples, in a thread, the summed RSS of processes and all their descendants.

    `peak` is the highest sum seen, or None when this system has no /proc to read.
    """

    def __init__(self, roots: Sequence[int], interval: float = SAMPLE_INTERVAL_SECONDS) -> None:
        self._roots = list(roots)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.available = (_PROC / "self" / "statm").exists()
        self._peak = 0

    @property
    def peak(self) -> int | None:
        return self._peak if self.available else None

    def __enter__(self) -> ProcessTreeMemory:
        if self.available:
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            pages = sum(_resident_pages(pid) for pid in _with_descendants(self._roots))
            self._peak = max(self._peak, pages * page)
            if self._stop.wait(self._interval):
                return


def run_measured(pipeline: Sequence[Sequence[str]], *, stdout: Path, stderr: Path) -> Run:
    """Runs the commands of `pipeline` connected stdout to stdin, like a shell pipeline.

    The first command reads nothing; the last one's output goes to `stdout`; every
    command's diagnostics go to `stderr`. Each process is reaped with `os.wait4`, whose
    resource usage is that process's own (with its waited-for children), never the caller's.
    """
    if not pipeline:
        raise ValueError("nothing to run")
    processes: list[subprocess.Popen[bytes]] = []
    with stdout.open("wb") as output, stderr.open("wb") as errors:
        started = time.perf_counter()
        try:
            upstream: IO[bytes] | None = None
            for position, argv in enumerate(pipeline):
                last = position == len(pipeline) - 1
                process = subprocess.Popen(
                    argv,
                    stdin=upstream if upstream is not None else subprocess.DEVNULL,
                    stdout=output if last else subprocess.PIPE,
                    stderr=errors,
                )
                if upstream is not None:
                    upstream.close()  # the next process holds the only reading end
                upstream = process.stdout
                processes.append(process)
        except BaseException:
            for process in processes:
                process.kill()
                process.wait()
            raise
        largest_rss = 0
        cpu_seconds = 0.0
        exit_codes = []
        with ProcessTreeMemory([process.pid for process in processes]) as memory:
            for process in processes:
                _, wait_status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(wait_status)
                exit_codes.append(process.returncode)
                largest_rss = max(largest_rss, usage.ru_maxrss * _MAXRSS_UNIT)
                cpu_seconds += usage.ru_utime + usage.ru_stime
        seconds = time.perf_counter() - started
    return Run(
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        largest_process_rss_bytes=largest_rss,
        all_processes_rss_bytes=memory.peak,
        exit_codes=tuple(exit_codes),
    )


def warm_page_cache(paths: Iterable[Path]) -> int:
    """Reads every file once so that measurements start from the same, cached, state."""
    total = 0
    for path in paths:
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
    return total


def count_lines(path: Path) -> int:
    """Non-empty lines in `path`."""
    with path.open("rb") as stream:
        return sum(1 for line in stream if line.strip())


def tail(path: Path, lines: int = 5) -> str:
    """The last `lines` lines of a text file, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _with_descendants(roots: Iterable[int]) -> list[int]:
    found: list[int] = []
    pending = list(roots)
    while pending:
        pid = pending.pop()
        found.append(pid)
        try:
            for task in (_PROC / str(pid) / "task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:  # the process has ended meanwhile
            continue
    return found


def _resident_pages(pid: int) -> int:
    try:
        return int((_PROC / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
