"""`rootwatch scan`: find root activity, and tamper by anyone, in CloudTrail files.

Records stream file by file; only the events kept (root activity is rare) are held, so they
can be printed once each (an eventID seen in several files is one event), oldest first.
Large inputs are read by a few processes at once, each holding one file at a time.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final, TextIO

from rootwatch.cli.output import (
    Column,
    ProgressBar,
    write_csv,
    write_jsonl,
    write_table,
)
from rootwatch.detection import classify, might_be_kept
from rootwatch.keys import iso
from rootwatch.model import Classification, CloudTrailRecord, Severity
from rootwatch.reader import OutlineTest, Reader, RecordError

OUTPUTS: Final = ("jsonl", "table", "csv")
KEYS: Final = (
    "event_id",
    "event_time",
    "account_id",
    "region",
    "event_source",
    "event_name",
    "severity",
    "rules",
    "outcome",
    "mfa",
    "source_ip",
    "user_agent",
    "assumed_root",
    "invoked_by",
    "tamper",
    "file",
)
TABLE_COLUMNS: Final = (
    Column("event_time", "TIME (UTC)"),
    Column("severity", "SEVERITY"),
    Column("account_id", "ACCOUNT"),
    Column("region", "REGION"),
    Column("source_ip", "SOURCE IP", max_width=39),
    Column("summary", "WHAT HAPPENED"),
)
# At 100 columns the summary gives up width first, then long source "IPs" (service names,
# IPv6) and long regions, then the summary again.
TABLE_SHRINK: Final = (
    ("summary", 36),
    ("source_ip", 15),
    ("region", 9),
    ("summary", 20),
    ("source_ip", 11),
)
# From this much input on, a scan shows a progress bar on a terminal and reads files in
# parallel; below it, it is over before either would help.
LARGE_INPUT_BYTES: Final = 32 * 1024 * 1024
# Each process holds one file at a time, so memory grows with this, not with the input.
MAX_WORKERS: Final = 4

_SEVERITIES: Final = tuple(severity.label for severity in Severity)
_PROGRAM: Final = "rootwatch scan"


@dataclass(frozen=True, slots=True)
class Finding:
    record: CloudTrailRecord
    classification: Classification
    file: str

    def row(self) -> dict[str, Any]:
        """The event with exactly the keys of `KEYS`."""
        record, classification = self.record, self.classification
        return {
            "event_id": record.event_id,
            "event_time": iso(record.event_time),
            "account_id": record.account_id,
            "region": record.aws_region,
            "event_source": record.event_source,
            "event_name": record.event_name,
            "severity": classification.severity.label,
            "rules": list(classification.rules),
            "outcome": classification.outcome,
            "mfa": classification.mfa,
            "source_ip": record.source_ip,
            "user_agent": record.user_agent,
            "assumed_root": classification.assumed_root,
            "invoked_by": classification.invoked_by,
            "tamper": classification.tamper,
            "file": self.file,
        }

    def table_row(self) -> dict[str, Any]:
        return {
            "event_time": self.record.event_time,
            "severity": self.classification.severity,
            "account_id": self.record.account_id,
            "region": self.record.aws_region,
            "source_ip": self.record.source_ip,
            "summary": self.classification.summary,
        }


@dataclass(frozen=True, slots=True)
class ScanResult:
    findings: list[Finding]
    records_read: int
    files_read: int
    duplicates: int
    unreadable: int


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="find root activity in CloudTrail files",
        description=(
            "Find root-user activity, and tamper with rootwatch or CloudTrail by anyone, in "
            "CloudTrail log files (.json, .json.gz), single records, EventBridge events, "
            "JSON arrays and JSON lines, given as files or directories (read recursively). "
            "Each event is printed once, oldest first; a summary goes to stderr."
        ),
        epilog=(
            "exit status: 2 if an input could not be read, else 1 if an event reached "
            "--fail-on, else 0"
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="file or directory to scan")
    parser.add_argument(
        "--output", choices=OUTPUTS, default="jsonl", help="output format (default: jsonl)"
    )
    parser.add_argument(
        "--min-severity",
        choices=_SEVERITIES,
        default=Severity.INFO.label,
        metavar="S",
        help=f"print only events at least this severe ({', '.join(_SEVERITIES)})",
    )
    parser.add_argument(
        "--fail-on",
        choices=_SEVERITIES,
        default=None,
        metavar="S",
        help="exit with status 1 when an event at least this severe is found",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = scan(args.paths, stderr=sys.stderr)
    minimum = Severity.parse(args.min_severity)
    shown = [f for f in result.findings if f.classification.severity >= minimum]
    try:
        _write(shown, args.output, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of our output went away (`| head`); say nothing more to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    print(summary_line(result, shown=len(shown)), file=sys.stderr)

    if result.unreadable:
        return 2
    if args.fail_on is not None:
        threshold = Severity.parse(args.fail_on)
        if any(f.classification.severity >= threshold for f in result.findings):
            return 1
    return 0


def scan(paths: Sequence[str], *, stderr: TextIO) -> ScanResult:
    """Read every input under `paths`, naming each unusable one on `stderr`.

    A large input is read by several processes, a file each; results are taken in file
    order, so the output, the messages and which file an event is credited to stay the
    same whatever the number of processes.
    """
    progress: ProgressBar | None = None

    def report(error: RecordError) -> None:
        if progress is not None:
            progress.clear()
        print(f"{_PROGRAM}: {error}", file=stderr)

    paths_reader = Reader(on_error=report)
    files = paths_reader.input_files(paths)
    sizes = [_size(path) for path in files]
    large = sum(sizes) >= LARGE_INPUT_BYTES
    if large and stderr.isatty():
        progress = ProgressBar(sum(sizes), stderr)

    found: dict[str, Finding] = {}
    duplicates = records_read = 0
    unreadable = paths_reader.errors
    with _file_scans(files, workers=_worker_count(len(files)) if large else 1) as scans:
        for path, size, file_scan in zip(files, sizes, scans, strict=True):
            for error in file_scan.errors:
                report(error)
            unreadable += len(file_scan.errors)
            records_read += file_scan.records_read
            for record, classification in file_scan.kept:
                if record.event_id in found:
                    duplicates += 1
                else:
                    found[record.event_id] = Finding(record, classification, str(path))
            if progress is not None:
                progress.advance(size)
    if progress is not None:
        progress.clear()

    findings = sorted(found.values(), key=lambda f: (f.record.event_time, f.record.event_id))
    return ScanResult(
        findings=findings,
        records_read=records_read,
        files_read=len(files),
        duplicates=duplicates,
        unreadable=unreadable,
    )


@dataclass(frozen=True, slots=True)
class FileScan:
    """What one file held: its kept events in file order, its record count, its errors."""

    kept: list[tuple[CloudTrailRecord, Classification]]
    records_read: int
    errors: list[RecordError]


def scan_file(path: Path) -> FileScan:
    errors: list[RecordError] = []
    reader = Reader(keep=OutlineTest(might_be_kept), on_error=errors.append)
    kept = []
    for record in reader.read_file(path):
        classification = classify(record)
        if classification is not None:
            kept.append((record, classification))
    return FileScan(kept=kept, records_read=reader.records_read, errors=errors)


@contextmanager
def _file_scans(files: Sequence[Path], *, workers: int) -> Iterator[Iterator[FileScan]]:
    if workers <= 1:
        yield map(scan_file, files)
        return
    # Workers start from a fresh interpreter, never a fork of this one (which may hold
    # threads), and are this process's own children, so its resource usage counts theirs.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        yield pool.map(scan_file, files)
    finally:
        pool.shutdown(cancel_futures=True)


def _worker_count(files: int) -> int:
    try:
        processors = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        processors = os.cpu_count() or 1
    return max(1, min(processors, files, MAX_WORKERS))


def summary_line(result: ScanResult, *, shown: int) -> str:
    """One line: what was read, what was found by severity, what could not be read."""
    counts = Counter(f.classification.severity for f in result.findings)
    by_severity = ", ".join(
        f"{counts[severity]} {severity.label}" for severity in sorted(Severity, reverse=True)
    )
    found = len(result.findings)
    parts = [
        f"{_PROGRAM}: {_plural(result.records_read, 'record')} "
        f"in {_plural(result.files_read, 'file')}",
        f"{_plural(found, 'root or tamper event')} ({by_severity})",
    ]
    if shown != found:
        parts.append(f"{shown} shown")
    if result.duplicates:
        parts.append(f"{_plural(result.duplicates, 'duplicate')} skipped")
    parts.append(f"{_plural(result.unreadable, 'unreadable input')}")
    return "; ".join(parts)


def _write(findings: Sequence[Finding], output: str, stream: TextIO) -> None:
    if output == "table":
        if findings:
            write_table(
                [f.table_row() for f in findings], TABLE_COLUMNS, stream, shrink=TABLE_SHRINK
            )
    elif output == "csv":
        write_csv((f.row() for f in findings), KEYS, stream)
    else:
        write_jsonl((f.row() for f in findings), stream)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
