"""Running a command or a pipeline and measuring its wall time, CPU time and peak memory.

A measured command may run workers, and its workers may outlive it (a multiprocessing
forkserver is not waited for by the process that started it), so the measuring is done
by a small helper process, this file run as a script, that makes itself the child
subreaper of everything it starts (Linux): every process of the run, orphaned or not,
is reaped by the run or by the helper, so `RUSAGE_CHILDREN` of the helper accounts for
each of them exactly once. The wall time ends when the commands themselves end.

Memory is known two ways: the largest single process's peak RSS, exactly, from the
kernel; and the sum over all processes of the run, sampled from /proc while it runs.
The run's peak is the larger of the two.

This file imports nothing outside the standard library, so the helper starts quickly
and from any working directory.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024
_PROC = Path("/proc")
_PR_SET_CHILD_SUBREAPER = 36
SAMPLE_INTERVAL_SECONDS = 0.02
# How long processes left behind by a run may take to finish before they are killed.
ORPHAN_GRACE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Run:
    """One measured run of a command or pipeline."""

    seconds: float
    cpu_seconds: float  # user + system of every process of the run
    largest_process_rss_bytes: int  # exact
    all_processes_rss_bytes: int | None  # sampled; None where /proc is not there
    exit_codes: tuple[int, ...]

    @property
    def peak_rss_bytes(self) -> int:
        return max(self.largest_process_rss_bytes, self.all_processes_rss_bytes or 0)

    @property
    def succeeded(self) -> bool:
        return all(code == 0 for code in self.exit_codes)


def run_measured(pipeline: Sequence[Sequence[str]], *, stdout: Path, stderr: Path) -> Run:
    """Runs the commands of `pipeline` connected stdout to stdin, like a shell pipeline.

    The first command reads nothing; the last one's output goes to `stdout`; every
    command's diagnostics go to `stderr`.
    """
    if not pipeline:
        raise ValueError("nothing to run")
    result = stdout.with_name(stdout.name + ".measured.json")
    result.unlink(missing_ok=True)
    helper = [sys.executable, os.fspath(Path(__file__).resolve()), os.fspath(result)]
    with stdout.open("wb") as output, stderr.open("wb") as errors:
        completed = subprocess.run(
            [*helper, json.dumps([list(argv) for argv in pipeline])],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=errors,
            check=False,
        )
    if completed.returncode != 0 or not result.exists():
        raise RuntimeError(f"the measuring helper failed ({completed.returncode}): {tail(stderr)}")
    measured = json.loads(result.read_text(encoding="utf-8"))
    result.unlink()
    measured["exit_codes"] = tuple(measured["exit_codes"])
    return Run(**measured)


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


# --- the helper process -----------------------------------------------------------------------


def _measure_here(pipeline: Sequence[Sequence[str]]) -> Run:
    """Runs `pipeline` as children of this process, which must have no other children."""
    _become_subreaper()
    processes: list[subprocess.Popen[bytes]] = []
    started = time.perf_counter()
    try:
        upstream: IO[bytes] | None = None
        for position, argv in enumerate(pipeline):
            last = position == len(pipeline) - 1
            process = subprocess.Popen(
                argv,
                stdin=upstream if upstream is not None else subprocess.DEVNULL,
                stdout=None if last else subprocess.PIPE,
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
    exit_codes = []
    with ProcessTreeMemory([process.pid for process in processes]) as memory:
        for process in processes:
            _, wait_status = os.waitpid(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(wait_status)
            exit_codes.append(process.returncode)
        seconds = time.perf_counter() - started
    _reap_orphans()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Run(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        largest_process_rss_bytes=usage.ru_maxrss * _MAXRSS_UNIT,
        all_processes_rss_bytes=memory.peak,
        exit_codes=tuple(exit_codes),
    )


def _become_subreaper() -> None:
    """Orphaned descendants become this process's children instead of init's (Linux)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_orphans() -> None:
    """Waits for the processes the run left behind; kills those that outstay the grace."""
    deadline = time.monotonic() + ORPHAN_GRACE_SECONDS
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid != 0:
            continue
        if time.monotonic() > deadline:
            for child in _children(os.getpid()):
                os.kill(child, signal.SIGKILL)
        time.sleep(SAMPLE_INTERVAL_SECONDS)


def _children(pid: int) -> list[int]:
    children: list[int] = []
    try:
        for task in (_PROC / str(pid) / "task").iterdir():
            children.extend(int(child) for child in (task / "children").read_text().split())
    except OSError:  # the process has ended meanwhile
        pass
    return children


def _with_descendants(roots: Iterable[int]) -> list[int]:
    found: list[int] = []
    pending = list(roots)
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(_children(pid))
    return found


def _resident_pages(pid: int) -> int:
    try:
        return int((_PROC / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _main(arguments: list[str]) -> int:
    if len(arguments) != 2:
        print("usage: measure.py RESULT_JSON PIPELINE_JSON", file=sys.stderr)
        return 2
    result_path, pipeline = Path(arguments[0]), json.loads(arguments[1])
    run = _measure_here(pipeline)
    result_path.write_text(json.dumps(asdict(run)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
