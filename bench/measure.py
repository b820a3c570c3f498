"""Running a command or a pipeline and measuring its wall time and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


@dataclass(frozen=True, slots=True)
class Run:
    """One measured run: wall time, CPU time and the largest peak RSS of its processes."""

    seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    exit_codes: tuple[int, ...]

    @property
    def succeeded(self) -> bool:
        return all(code == 0 for code in self.exit_codes)


def run_measured(pipeline: Sequence[Sequence[str]], *, stdout: Path, stderr: Path) -> Run:
    """Runs the commands of `pipeline` connected stdout to stdin, like a shell pipeline.

    The first command reads nothing; the last one's output goes to `stdout`; every
    command's diagnostics go to `stderr`. Each process is reaped with `os.wait4`, whose
    resource usage is that process's own, so the peak RSS is never the caller's.
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
        peak_rss = 0
        cpu_seconds = 0.0
        exit_codes = []
        for process in processes:
            _, wait_status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(wait_status)
            exit_codes.append(process.returncode)
            peak_rss = max(peak_rss, usage.ru_maxrss * _MAXRSS_UNIT)
            cpu_seconds += usage.ru_utime + usage.ru_stime
        seconds = time.perf_counter() - started
    return Run(
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        peak_rss_bytes=peak_rss,
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
