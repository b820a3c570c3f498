"""`rootwatch scan` prints, reports and exits alike reading log files on their records'
outlines (msgspec) and decoding every file whole (the plain way)."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rootwatch import reader as reader_module
from rootwatch.cli import scan

from bench.corpus import CorpusSpec, ensure_corpus

ROOTWATCH = Path(sys.executable).with_name("rootwatch")
EVENTS = Path(__file__).resolve().parents[2] / "events"
# These inputs are small enough for one process, which this replacement reaches.
PLAIN_WAY = (
    "import sys; import rootwatch.reader; "
    "rootwatch.reader._outline_selector = lambda keep: None; "
    "from rootwatch.cli.main import main; sys.exit(main())"
)
ACCOUNT = "111122223333"
SPEC = CorpusSpec(
    records=3_000,
    seed=5,
    root_fraction=0.01,
    tamper_fraction=0.003,
    lookalike_fraction=0.005,
    min_file_records=200,
    max_file_records=700,
)


def record(event_id: str, event_name: Any, identity_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.10",
        "userIdentity": {"type": identity_type, "accountId": ACCOUNT},
        "eventTime": "2026-11-28T14:02:11Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "eventID": event_id,
        "readOnly": False,
        "recipientAccountId": ACCOUNT,
        **fields,
    }


def log_file(*records: Any) -> bytes:
    return json.dumps({"Records": list(records)}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Inputs:
    logs: Path  # a generated corpus
    odd: Path  # the sample events in a log file, and log files unfit to read on outlines

    @property
    def both(self) -> list[Path]:
        return [self.logs, self.odd]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    corpus = ensure_corpus(SPEC, tmp_path_factory.mktemp("corpus"))
    details = [json.loads(path.read_text())["detail"] for path in sorted(EVENTS.glob("*.json"))]
    odd = tmp_path_factory.mktemp("odd")
    (odd / "samples.json.gz").write_bytes(gzip.compress(log_file(*details)))
    root_write = record("w", "CreateUser", "Root")
    files = {
        "not-objects.json": log_file(7, root_write, None),
        "name-a-number.json": log_file(record("n", 12, "Root"), root_write),
        "invalid-utf8.json": log_file(
            record("u", "ListUsers", "IAMUser", userAgent="AGENT")
        ).replace(b"AGENT", b"\xff"),
        "too-deep.json": log_file(
            record("d", "ListUsers", "IAMUser", requestParameters="DEEP")
        ).replace(b'"DEEP"', b"[" * 1100 + b"]" * 1100),
        "truncated.json": log_file(root_write)[:-40],
        "repeated.json": log_file(root_write)[:-1] + b',"Records":[]}',
        "no-account.json": log_file(
            record(
                "x", "DeleteUser", "Root", recipientAccountId=None, userIdentity={"type": "Root"}
            )
        ),
    }
    for name, content in files.items():
        (odd / name).write_bytes(content)
    return Inputs(logs=corpus.directory / "AWSLogs", odd=odd)


def scan_command(*args: str | Path, outlines: bool) -> subprocess.CompletedProcess[str]:
    program = [str(ROOTWATCH)] if outlines else [sys.executable, "-c", PLAIN_WAY]
    return subprocess.run(
        [*program, "scan", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize(
    "options",
    [
        ["--output", "jsonl"],
        ["--output", "table", "--min-severity", "high"],
        ["--output", "csv", "--fail-on", "critical"],
    ],
    ids=["jsonl", "table", "csv"],
)
def test_the_scan_is_the_same_with_every_file_decoded_whole(
    inputs: Inputs, options: list[str]
) -> None:
    on_outlines = scan_command(*inputs.both, *options, outlines=True)
    plain = scan_command(*inputs.both, *options, outlines=False)
    assert (on_outlines.returncode, on_outlines.stdout, on_outlines.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    assert on_outlines.returncode == 2
    assert on_outlines.stdout.count("\n") > 30
    messages = on_outlines.stderr.splitlines()
    assert len(messages) == 8
    assert messages[-1].endswith("; 7 unreadable inputs")


def test_the_scan_decodes_whole_only_the_files_it_cannot_read_on_outlines(
    inputs: Inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded_whole: list[int] = []
    loads = reader_module._loads

    def counted(data: bytes) -> Any:
        decoded_whole.append(len(data))
        return loads(data)

    monkeypatch.setattr(reader_module, "_loads", counted)
    messages = io.StringIO()
    result = scan.scan([str(inputs.logs), str(inputs.odd / "samples.json.gz")], stderr=messages)
    assert decoded_whole == []
    assert messages.getvalue() == ""
    assert result.records_read == SPEC.records + len(list(EVENTS.glob("*.json")))
    scan.scan([str(inputs.odd)], stderr=messages)
    # Invalid UTF-8, too deep, truncated: each tried whole, then as JSON lines.
    assert len(set(decoded_whole)) == 3
