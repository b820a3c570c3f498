"""`rootwatch local` as a user runs it: the installed console script, in its own process."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import boto3
import pytest

from tests.e2e.conftest import (
    ACME,
    PATIENCE_SECONDS,
    ROOTWATCH,
    command_environment,
    run_rootwatch,
)
from tests.support.events import sample_event, variant

pytestmark = pytest.mark.e2e


def _events(directory: Path) -> Path:
    directory.mkdir()
    login = variant(sample_event("console-login-no-mfa"), account=ACME)
    (directory / "login.json").write_text(json.dumps(login))
    forged = variant(sample_event("console-login-with-mfa"), source="custom.forged")
    (directory / "forged.json").write_text(json.dumps(forged))
    return directory


def test_the_command_prints_alerts_and_the_audit_log_and_writes_the_files(
    tmp_path: Path,
) -> None:
    events = _events(tmp_path / "events")
    out = tmp_path / "out"
    completed = run_rootwatch("local", "--events", events, "--out", out)
    assert completed.returncode == 0, completed.stderr
    stdout = completed.stdout
    assert "Slack · 1 messages" in stdout
    assert "CRITICAL" in stdout
    assert "Audit log · 1 events in 1 incidents" in stdout
    assert "ConsoleLogin" in stdout
    for name in ("audit", "incidents", "slack", "email", "dlq"):
        assert (out / f"{name}.jsonl").is_file()
    (audit,) = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    assert audit["account_id"] == ACME
    assert (out / "logs" / "ProcessorFunction.log").read_text()


def test_unreadable_input_is_named_and_exits_2(tmp_path: Path) -> None:
    events = _events(tmp_path / "events")
    (events / "broken.json").write_text("{not json")
    completed = run_rootwatch("local", "--events", events)
    assert completed.returncode == 2
    assert "broken.json" in completed.stderr
    assert "Audit log · 1 events" in completed.stdout


def test_a_missing_events_path_is_a_usage_error(tmp_path: Path) -> None:
    completed = run_rootwatch("local", "--events", tmp_path / "nowhere")
    assert completed.returncode == 2
    assert "no such file or directory" in completed.stderr


class _Lines:
    """The lines a process prints, read by a thread as they come."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"never printed {pattern!r}; printed:\n{''.join(self.seen)}")


def test_serve_keeps_the_hub_running_for_boto3_and_rootwatch_commands(tmp_path: Path) -> None:
    events = _events(tmp_path / "events")
    process = subprocess.Popen(
        [str(ROOTWATCH), "local", "--events", str(events), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=command_environment(),
    )
    try:
        assert process.stdout is not None
        lines = _Lines(process.stdout)
        url = lines.until(r"endpoint\s+(http://127\.0\.0\.1:\d+)").group(1)
        session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        stack = session.client("cloudformation", endpoint_url=url).describe_stacks(
            StackName="rootwatch-hub"
        )["Stacks"][0]
        outputs: dict[str, Any] = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        later = variant(
            sample_event("root-create-access-key-console"),
            event_id="99999999-9999-4999-8999-999999999999",
            account=ACME,
            source_ip="192.0.2.99",
        )
        session.client("events", endpoint_url=url).put_events(
            Entries=[
                {
                    "Source": later["source"],
                    "DetailType": later["detail-type"],
                    "Detail": json.dumps(later["detail"]),
                    "EventBusName": outputs["EventBusName"],
                }
            ]
        )
        lines.until(r"CreateAccessKey")
        item = session.client("dynamodb", endpoint_url=url).get_item(
            TableName=outputs["TableName"],
            Key={"pk": {"S": "EVENT#99999999-9999-4999-8999-999999999999"}, "sk": {"S": "EVENT"}},
        )
        assert item["Item"]["severity"]["S"] == "critical"
        listed = run_rootwatch(
            "events",
            "--endpoint-url",
            url,
            "--region",
            "us-east-1",
            "--since",
            "2026-01-01",
            "--output",
            "json",
            extra_environment={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        )
        assert listed.returncode == 0, listed.stderr
        assert "99999999-9999-4999-8999-999999999999" in listed.stdout
        assert sample_event("console-login-no-mfa")["detail"]["eventID"] in listed.stdout
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=PATIENCE_SECONDS) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
