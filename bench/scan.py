"""`python -m bench scan`: `rootwatch scan` against jq and the parse floor, same files.

Measured in one run on one corpus, each tool best of `--repeat` runs, interleaved so
that a slow moment on the machine does not fall on one tool only:

- `rootwatch scan LOGS --output jsonl`, the installed console script;
- `gzip -dc FILES | jq -c '<root by userIdentity.type>'`, one jq over every file;
- the floor, `python bench/floor.py FILES`: decompress and parse, nothing else.

Then `rootwatch scan` once more on a corpus half the size, to show that its peak memory
does not grow with the input. Each tool's output is counted against the corpus manifest,
so a tool that selected the wrong records cannot pass for a fast one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.corpus import Corpus, CorpusSpec, ensure_corpus
from bench.jqtool import find_jq, jq_version
from bench.measure import (
    SAMPLE_INTERVAL_SECONDS,
    Run,
    count_lines,
    run_measured,
    tail,
    warm_page_cache,
)
from bench.report import Goal, Row, exit_status, format_goals, format_rows, megabytes

NAME = "scan"
SUMMARY = "rootwatch scan throughput and peak memory, against jq and the parse floor"

DEFAULT_RECORDS = 500_000
QUICK_RECORDS = 50_000
JUDGED_RECORDS = 500_000
SCAN_OVER_JQ = 3.0
SCAN_OVER_FLOOR = 0.7
PEAK_RSS_LIMIT_BYTES = 300_000_000
# A load average within this of the number of CPUs means other work competes for them.
BUSY_MARGIN = 0.5
# The full corpus is twice the half one; a scan that keeps one file at a time has the
# same peak on both, give or take the largest file of each.
PEAK_RSS_GROWTH_LIMIT = 1.25
FLOOR_SCRIPT = Path(__file__).with_name("floor.py")
JQ_FILTER = '.Records[] | select(.userIdentity.type == "Root")'


class MeasurementError(Exception):
    """A tool failed or printed something other than what the corpus holds."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rootwatch",
        type=Path,
        help="the rootwatch console script to measure (default: the one beside this Python)",
    )


def run(options: argparse.Namespace) -> int:
    records = options.records or (QUICK_RECORDS if options.quick else DEFAULT_RECORDS)
    repeat = options.repeat or (1 if options.quick else 3)
    spec = CorpusSpec(records=records, seed=options.seed)
    corpus = ensure_corpus(spec, options.cache_dir, progress=_say)
    half = ensure_corpus(
        dataclasses.replace(spec, records=max(1, records // 2)), options.cache_dir, _say
    )
    rootwatch = options.rootwatch or _installed_rootwatch()
    scan_problem = _scan_unavailable(rootwatch)
    if scan_problem is not None:
        _say(scan_problem)
    jq = find_jq(_say)
    if jq is None:
        _say("the jq comparison is skipped")

    _say(f"warming the page cache ({megabytes(corpus.gzip_bytes + half.gzip_bytes)})")
    warm_page_cache(corpus.files + half.files)
    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="rootwatch-bench-") as scratch:
            measured = _measure(
                corpus,
                half,
                Path(scratch),
                rootwatch=rootwatch if scan_problem is None else None,
                jq=jq,
                repeat=repeat,
            )
    except MeasurementError as error:
        _say(f"bench scan: {error}")
        return 2

    print(_header(corpus, repeat, jq, load=(load_before, os.getloadavg()[0])))
    print()
    print(format_rows(measured.rows()))
    print(f"seconds: wall clock, best of {repeat}; CPU s: user + system time of that run")
    print(
        "peak RSS: highest of all runs, each the larger of its biggest process's own peak and"
        f"\n  the sum over all its processes, sampled every {SAMPLE_INTERVAL_SECONDS * 1000:g} ms"
    )
    print()
    goals = evaluate(measured)
    print(format_goals(goals))
    processors = os.cpu_count() or 1
    if load_before >= processors - BUSY_MARGIN:
        print(
            f"\nthe machine was busy before the measurements (load average {load_before:.1f} on "
            f"{processors} CPUs):\nwall-clock figures and ratios are not reliable; rerun on an "
            "idle machine"
        )
    if scan_problem is not None:
        print(f"\n{scan_problem}")
        return 2
    return exit_status(goals)


@dataclass(frozen=True, slots=True)
class Measured:
    """Best runs of each tool, None for a tool that was not run."""

    corpus: Corpus
    half: Corpus
    scan: Row | None
    scan_half: Row | None
    jq: Row | None
    floor: Row

    def rows(self) -> list[Row]:
        candidates = (self.scan, self.jq, self.floor, self.scan_half)
        return [row for row in candidates if row is not None]


def evaluate(measured: Measured) -> list[Goal]:
    """The goals of `make bench` for scan, judged on what was measured."""
    scan, half, jq, floor = measured.scan, measured.scan_half, measured.jq, measured.floor
    goals = []
    if scan is None or half is None:
        return [Goal("rootwatch scan measured", False, "not available")]
    expected = (measured.corpus.scan_events, measured.half.scan_events)
    goals.append(
        Goal(
            "scan selects every root and tamper event, nothing else",
            (scan.selected, half.selected) == expected,
            f"{scan.selected:,} + {half.selected:,} of {expected[0]:,} + {expected[1]:,}",
        )
    )
    # Start-up and the last file weigh on a small corpus: throughput is judged on the
    # size the goals were set for.
    judged = measured.corpus.records >= JUDGED_RECORDS
    unjudged = f"(under {JUDGED_RECORDS:,} records)"
    over_jq = f"scan >= {SCAN_OVER_JQ:g}x jq (records/s)"
    if jq is None:
        goals.append(Goal(over_jq, None, "jq not run"))
    else:
        ratio = scan.records_per_second / jq.records_per_second
        holds = ratio >= SCAN_OVER_JQ if judged else None
        goals.append(Goal(over_jq, holds, f"{ratio:.2f}x" + ("" if judged else f" {unjudged}")))
    ratio = scan.records_per_second / floor.records_per_second
    holds = ratio >= SCAN_OVER_FLOOR if judged else None
    goals.append(
        Goal(
            f"scan >= {SCAN_OVER_FLOOR:g}x floor (records/s)",
            holds,
            f"{ratio:.2f}x" + ("" if judged else f" {unjudged}"),
        )
    )
    peak = max(scan.peak_rss_bytes, half.peak_rss_bytes)
    goals.append(
        Goal(
            f"scan peak RSS < {megabytes(PEAK_RSS_LIMIT_BYTES)}",
            peak < PEAK_RSS_LIMIT_BYTES,
            megabytes(peak),
        )
    )
    growth = scan.peak_rss_bytes / half.peak_rss_bytes
    goals.append(
        Goal(
            f"scan peak RSS flat in corpus size (full <= {PEAK_RSS_GROWTH_LIMIT:g}x half)",
            growth <= PEAK_RSS_GROWTH_LIMIT,
            f"{growth:.2f}x",
        )
    )
    return goals


def _measure(
    corpus: Corpus,
    half: Corpus,
    scratch: Path,
    *,
    rootwatch: Path | None,
    jq: str | None,
    repeat: int,
) -> Measured:
    files = [os.fspath(path) for path in corpus.files]
    scan_runs: list[tuple[Run, int]] = []
    jq_runs: list[tuple[Run, int]] = []
    floor_runs: list[tuple[Run, int]] = []
    for attempt in range(1, repeat + 1):
        _say(f"run {attempt} of {repeat}")
        if rootwatch is not None:
            scan_runs.append(_run_scan(rootwatch, corpus, scratch))
        if jq is not None:
            jq_runs.append(
                _run_tool(
                    "jq",
                    [["gzip", "-dc", *files], [jq, "-c", JQ_FILTER]],
                    scratch,
                    count=count_lines,
                    expected=corpus.root_records,
                )
            )
        floor_runs.append(
            _run_tool(
                "floor",
                [[sys.executable, os.fspath(FLOOR_SCRIPT), *files]],
                scratch,
                count=_printed_number,
                expected=corpus.records,
            )
        )
    scan_half = None
    if rootwatch is not None:
        _say("rootwatch scan on the half corpus")
        scan_half = _best(
            "rootwatch scan, half corpus", half, [_run_scan(rootwatch, half, scratch)]
        )
    return Measured(
        corpus=corpus,
        half=half,
        scan=_best("rootwatch scan", corpus, scan_runs) if scan_runs else None,
        scan_half=scan_half,
        jq=_best("gzip -dc | jq -c (one jq)", corpus, jq_runs) if jq_runs else None,
        floor=_best("floor: zlib + fastest parser", corpus, floor_runs),
    )


def _run_scan(rootwatch: Path, corpus: Corpus, scratch: Path) -> tuple[Run, int]:
    # Only the log files: the manifest beside them is not CloudTrail input.
    logs = os.fspath(corpus.directory / "AWSLogs")
    command = [os.fspath(rootwatch), "scan", logs, "--output", "jsonl"]
    return _run_tool("rootwatch scan", [command], scratch, count=count_lines, expected=None)


def _run_tool(
    name: str,
    pipeline: Sequence[Sequence[str]],
    scratch: Path,
    *,
    count: Callable[[Path], int],
    expected: int | None,
) -> tuple[Run, int]:
    """Runs `pipeline`; the count of what it selected must be `expected` when given."""
    stdout, stderr = scratch / "stdout", scratch / "stderr"
    result = run_measured(pipeline, stdout=stdout, stderr=stderr)
    if not result.succeeded:
        raise MeasurementError(f"{name} exited with {result.exit_codes}:\n{tail(stderr)}".rstrip())
    selected = count(stdout)
    if expected is not None and selected != expected:
        raise MeasurementError(f"{name} selected {selected:,} records, the corpus has {expected:,}")
    return result, selected


def _best(tool: str, corpus: Corpus, runs: Sequence[tuple[Run, int]]) -> Row:
    """The fastest run, with the highest peak RSS seen in any run."""
    fastest, selected = min(runs, key=lambda measured: measured[0].seconds)
    return Row(
        tool=tool,
        records=corpus.records,
        files=len(corpus.files),
        seconds=fastest.seconds,
        cpu_seconds=fastest.cpu_seconds,
        peak_rss_bytes=max(measured.peak_rss_bytes for measured, _ in runs),
        selected=selected,
    )


def _printed_number(path: Path) -> int:
    return int(path.read_text(encoding="utf-8").strip())


def _installed_rootwatch() -> Path:
    beside = Path(sys.executable).parent / "rootwatch"
    if beside.exists():
        return beside
    found = shutil.which("rootwatch")
    return Path(found) if found is not None else beside


def _scan_unavailable(rootwatch: Path) -> str | None:
    """Why `rootwatch scan` cannot be measured, or None when it can."""
    try:
        result = subprocess.run(
            [os.fspath(rootwatch), "scan", "--help"], capture_output=True, text=True, check=False
        )
    except OSError as error:
        return f"rootwatch scan cannot be measured: {rootwatch}: {error.strerror}"
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return f"rootwatch scan cannot be measured: `rootwatch scan --help` failed: {detail}"
    return None


def _header(corpus: Corpus, repeat: int, jq: str | None, *, load: tuple[float, float]) -> str:
    tools = f"Python {platform.python_version()}" + (f", {jq_version(jq)}" if jq else "")
    return (
        f"bench scan · {datetime.now(UTC):%Y-%m-%d} · {os.cpu_count()} CPUs "
        f"(load average {load[0]:.1f} before, {load[1]:.1f} after) · {tools}\n"
        f"corpus: {corpus.records:,} records in {len(corpus.files):,} files "
        f"({megabytes(corpus.gzip_bytes)} gzip, {megabytes(corpus.json_bytes)} JSON), "
        f"{corpus.root_records:,} root, {corpus.tamper_by_others:,} tamper by others, "
        f"{corpus.lookalikes:,} root look-alikes"
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
