"""`rootwatch scan` run as the installed console script on files."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOTWATCH = Path(sys.executable).with_name("rootwatch")
EVENTS = Path(__file__).resolve().parents[2] / "events"
KEYS = [
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
]
ACCOUNT = "111122223333"
ROOT = {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}
ROLE = {
    "type": "AssumedRole",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice",
    "accountId": ACCOUNT,
}


def record(
    event_id: str,
    event_name: str,
    *,
    time: str,
    identity: dict[str, Any] = ROOT,
    source: str = "s3.amazonaws.com",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "eventVersion": "1.10",
        "userIdentity": identity,
        "eventTime": time,
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
        **fields,
    }


def console_login_without_mfa(event_id: str, time: str) -> dict[str, Any]:
    return record(
        event_id,
        "ConsoleLogin",
        time=time,
        source="signin.amazonaws.com",
        eventType="AwsConsoleSignIn",
        responseElements={"ConsoleLogin": "Success"},
        additionalEventData={"MFAUsed": "No"},
    )


def run(*args: str | Path, columns: int = 100) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [str(ROOTWATCH), "scan", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )


def jsonl(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A CloudTrail bucket copy: gzip log files, the same event in two files, noise."""
    folder = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail"
    (folder / "eu-west-1").mkdir(parents=True)
    (folder / "us-east-1").mkdir(parents=True)
    first = {
        "Records": [
            record("read-1", "ListBuckets", time="2026-11-28T10:00:00Z", readOnly=True),
            record(
                "noise-1",
                "ListBuckets",
                time="2026-11-28T09:00:00Z",
                identity={**ROLE, "arn": f"arn:aws:iam::{ACCOUNT}:user/root", "type": "IAMUser"},
            ),
            record("write-1", "PutBucketPolicy", time="2026-11-28T11:00:00Z"),
        ]
    }
    second = {
        "Records": [
            record("write-1", "PutBucketPolicy", time="2026-11-28T11:00:00Z"),
            record(
                "tamper-1",
                "StopLogging",
                time="2026-11-28T08:00:00Z",
                identity=ROLE,
                source="cloudtrail.amazonaws.com",
                requestParameters={"name": "org-trail"},
            ),
        ]
    }
    (folder / "eu-west-1" / "a.json.gz").write_bytes(gzip.compress(json.dumps(first).encode()))
    (folder / "us-east-1" / "b.json.gz").write_bytes(gzip.compress(json.dumps(second).encode()))
    login = {
        "detail-type": "AWS Console Sign In via CloudTrail",
        "source": "aws.signin",
        "account": ACCOUNT,
        "region": "us-east-1",
        "detail": console_login_without_mfa("login-1", "2026-11-28T07:00:00Z"),
    }
    (tmp_path / "AWSLogs" / "login.jsonl").write_text(json.dumps(login) + "\n")
    return tmp_path / "AWSLogs"


def test_jsonl_prints_each_root_or_tamper_event_once_oldest_first(logs: Path) -> None:
    result = run(logs)
    assert result.returncode == 0, result.stderr
    events = jsonl(result.stdout)
    assert [event["event_id"] for event in events] == ["login-1", "tamper-1", "read-1", "write-1"]
    assert all(list(event) == KEYS for event in events)
    login, tamper, read, write = events
    assert login == {
        "event_id": "login-1",
        "event_time": "2026-11-28T07:00:00Z",
        "account_id": ACCOUNT,
        "region": "eu-west-1",
        "event_source": "signin.amazonaws.com",
        "event_name": "ConsoleLogin",
        "severity": "critical",
        "rules": ["login-no-mfa"],
        "outcome": "success",
        "mfa": False,
        "source_ip": "203.0.113.7",
        "user_agent": "aws-cli/2.15.0",
        "assumed_root": False,
        "invoked_by": None,
        "tamper": False,
        "file": str(logs / "login.jsonl"),
    }
    assert (tamper["severity"], tamper["tamper"], tamper["rules"]) == ("critical", True, ["tamper"])
    assert (read["severity"], write["severity"]) == ("low", "high")
    assert write["file"].endswith("eu-west-1/a.json.gz")
    assert result.stderr.strip().splitlines() == [
        "rootwatch scan: 6 records in 3 files; 4 root or tamper events "
        "(2 critical, 1 high, 0 medium, 1 low, 0 info); 1 duplicate skipped; "
        "0 unreadable inputs"
    ]


def test_min_severity_filters_what_is_printed(logs: Path) -> None:
    result = run(logs, "--min-severity", "high")
    assert result.returncode == 0
    assert [event["event_id"] for event in jsonl(result.stdout)] == [
        "login-1",
        "tamper-1",
        "write-1",
    ]
    assert "3 shown" in result.stderr


def test_fail_on_sets_exit_status_one_when_reached(logs: Path) -> None:
    assert run(logs, "--fail-on", "critical").returncode == 1
    assert run(logs, "--fail-on", "low", "--min-severity", "critical").returncode == 1
    quiet = logs.parent / "quiet.json"
    quiet.write_text(
        json.dumps(record("r", "ListBuckets", time="2026-11-28T10:00:00Z", readOnly=True))
    )
    assert run(quiet, "--fail-on", "medium").returncode == 0


def test_table_fits_100_columns(logs: Path) -> None:
    result = run(logs, "--output", "table")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "TIME",
        "(UTC)",
        "SEVERITY",
        "ACCOUNT",
        "REGION",
        "SOURCE",
        "IP",
        "WHAT",
        "HAPPENED",
    ]
    assert len(lines) == 5
    assert all(len(line) <= 100 for line in lines)
    assert lines[1].startswith("2026-11-28 07:00:00  critical  111122223333  eu-west-1")
    assert "Root console login without MFA" in lines[1]
    assert lines[2].endswith("An assumed role stopped CloudT…")
    wide = run(logs, "--output", "table", columns=160).stdout
    assert "An assumed role stopped CloudTrail logging" in wide


def test_the_sample_events_table(tmp_path: Path) -> None:
    result = run(EVENTS, "--output", "table")
    assert result.returncode == 0, result.stderr
    outcomes = yaml.safe_load((EVENTS / "outcomes.yaml").read_text())
    kept = sum(1 for outcome in outcomes.values() if outcome["kept"])
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + kept
    assert all(len(line) <= 100 for line in lines)


def test_csv_has_a_header_and_the_jsonl_keys(logs: Path) -> None:
    result = run(logs, "--output", "csv")
    assert result.returncode == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == KEYS
    assert [row["event_id"] for row in rows] == ["login-1", "tamper-1", "read-1", "write-1"]
    assert (rows[0]["rules"], rows[0]["mfa"], rows[0]["invoked_by"]) == (
        "login-no-mfa",
        "false",
        "",
    )
    assert rows[1]["tamper"] == "true"


def test_csv_cells_cannot_run_as_spreadsheet_formulas(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.json"
    hostile.write_text(
        json.dumps(
            record(
                "h",
                "ListBuckets",
                time="2026-11-28T10:00:00Z",
                readOnly=True,
                userAgent='=HYPERLINK("http://203.0.113.9","open")',
            )
        )
    )
    (row,) = csv.DictReader(io.StringIO(run(hostile, "--output", "csv").stdout))
    assert row["user_agent"] == '\'=HYPERLINK("http://203.0.113.9","open")'


def test_unreadable_inputs_are_named_skipped_and_exit_two(logs: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"Records": [')
    bad_record = tmp_path / "bad-record.json"
    bad_record.write_text(
        json.dumps({"Records": [{"eventName": "ConsoleLogin", "userIdentity": ROOT}]})
    )
    result = run(broken, logs, bad_record, tmp_path / "missing", "--fail-on", "low")
    assert result.returncode == 2
    assert len(jsonl(result.stdout)) == 4
    errors = result.stderr.splitlines()
    assert errors[0] == f"rootwatch scan: {tmp_path / 'missing'}: no such file or directory"
    assert errors[1].startswith(f"rootwatch scan: {broken}: not valid JSON")
    assert errors[2] == f"rootwatch scan: {bad_record}: Records[0]: missing awsRegion"
    assert errors[3].endswith("; 3 unreadable inputs")


@pytest.mark.parametrize(
    "arguments",
    [
        ["--output", "xml", "events"],
        ["--min-severity", "severe", "events"],
        ["--fail-on"],
        [],
        ["events", "--no-such-flag"],
    ],
)
def test_a_bad_command_line_prints_usage_and_exits_two(arguments: list[str]) -> None:
    result = run(*arguments)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage: rootwatch" in result.stderr


def test_a_reader_that_goes_away_ends_the_scan_quietly(tmp_path: Path) -> None:
    records = [
        console_login_without_mfa(
            f"login-{n:05}", f"2026-11-28T{n // 3600 % 24:02}:{n // 60 % 60:02}:{n % 60:02}Z"
        )
        for n in range(3000)
    ]
    (tmp_path / "many.json").write_text(json.dumps({"Records": records}))
    process = subprocess.Popen(
        [str(ROOTWATCH), "scan", str(tmp_path / "many.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert json.loads(first)["event_id"] == "login-00000"
    assert "Traceback" not in errors
    assert "3,000 root or tamper events" in errors
