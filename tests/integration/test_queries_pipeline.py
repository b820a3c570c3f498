"""The commands over what the real pipeline wrote: the local hub (template.yaml on moto's
server, the processor and notifier driven as Lambda drives them), queried with
`--endpoint-url` as a newcomer queries `rootwatch local --serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rootwatch.local.hub import LocalHub
from rootwatch.local.server import MotoServer

from tests.support.cli_hub import CliResult, run_cli
from tests.support.events import sample_event, variant

PLANNED = "111122223333"
OTHER = "444455556666"
SOURCE_IP = "203.0.113.7"
REASON = "Close the old payer account"
CONSOLE_SCRIPT = Path(sys.executable).parent / "rootwatch"


@pytest.fixture
def hub(moto_server: MotoServer) -> Iterator[LocalHub]:
    with LocalHub(allowed_account_ids=[PLANNED, OTHER], server=moto_server) as local:
        yield local


def cli(capsys: pytest.CaptureFixture[str], hub: LocalHub, *argv: str) -> CliResult:
    return run_cli(capsys, *argv, "--endpoint-url", hub.endpoint.url)


def put(hub: LocalHub, sample: str, *, account: str, at: datetime, event_id: str) -> None:
    report = hub.put_events(
        [
            variant(
                sample_event(sample), account=account, at=at, source_ip=SOURCE_IP, event_id=event_id
            )
        ]
    )
    assert report.failed == ()


def test_a_plan_lowers_high_keeps_critical_and_alerts_name_it(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    planned = cli(capsys, hub, "expect", "--account", PLANNED, "--for", "1h", "--reason", REASON)
    assert planned.status == 0, planned.err
    now = datetime.now(UTC).replace(microsecond=0)
    put(hub, "root-console-create-user", account=PLANNED, at=now, event_id="e-planned-high")
    put(
        hub,
        "root-create-access-key-console",
        account=PLANNED,
        at=now + timedelta(seconds=5),
        event_id="e-planned-critical",
    )
    put(hub, "root-console-create-user", account=OTHER, at=now, event_id="e-unplanned-high")
    hub.drain()

    listed = cli(capsys, hub, "events", "--output", "json")
    assert listed.status == 0, listed.err
    events = {event["event_id"]: event for event in listed.json()["events"]}
    assert set(events) == {"e-planned-high", "e-planned-critical", "e-unplanned-high"}
    assert listed.json()["events"][0]["event_id"] == "e-planned-critical"
    assert events["e-planned-high"]["severity"] == "low"
    assert "planned" in events["e-planned-high"]["rules"]
    assert events["e-planned-high"]["planned_reason"] == REASON
    assert events["e-planned-high"]["planned_by"].startswith("arn:aws:")
    assert events["e-planned-critical"]["severity"] == "critical"
    assert events["e-planned-critical"]["planned_reason"] == REASON
    assert events["e-unplanned-high"]["severity"] == "high"
    assert events["e-unplanned-high"]["planned_by"] is None

    # What the CLI lists is what the pipeline stored.
    stored = {item["event_id"]: item["severity"] for item in hub.audit_items()}
    assert stored == {event_id: event["severity"] for event_id, event in events.items()}

    alerts = [post.payload["text"] for post in hub.slack_posts() if post.accepted]
    critical = [text for text in alerts if "CRITICAL" in text]
    assert critical, alerts
    blocks = json.dumps([post.payload for post in hub.slack_posts()])
    assert "inside root use planned by" in blocks and REASON in blocks


def test_incidents_and_show_follow_the_processor(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for index, sample in enumerate(
        ["console-login-no-mfa", "root-console-describe-instances", "root-console-create-user"]
    ):
        put(hub, sample, account=OTHER, at=now + timedelta(seconds=index), event_id=f"e-{index}")
    hub.drain()
    incidents = cli(capsys, hub, "incidents", "--account", OTHER, "--output", "json")
    assert incidents.status == 0, incidents.err
    [incident] = incidents.json()["incidents"]
    assert incident["event_count"] == 3
    assert incident["severity"] == "critical"
    assert incident["state"] == "open"
    shown = cli(capsys, hub, "show", incident["incident_id"], "--output", "json").json()
    assert [event["event_id"] for event in shown["timeline"]] == ["e-0", "e-1", "e-2"]
    event = cli(capsys, hub, "show", "e-0", "--output", "json").json()["event"]
    assert event["record"]["eventName"] == "ConsoleLogin"
    assert event["incident_id"] == incident["incident_id"]


def test_the_console_script_reaches_the_local_hub_without_configured_credentials(
    hub: LocalHub, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    put(hub, "console-login-no-mfa", account=OTHER, at=now, event_id="e-script")
    hub.drain()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment |= {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    completed = subprocess.run(
        [str(CONSOLE_SCRIPT), "events", "--endpoint-url", hub.endpoint.url, "--output", "json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert [event["event_id"] for event in json.loads(completed.stdout)["events"]] == ["e-script"]


def test_an_unreachable_endpoint_says_so_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    completed = subprocess.run(
        [str(CONSOLE_SCRIPT), "incidents", "--endpoint-url", f"http://127.0.0.1:{closed_port}"],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith(
        f"rootwatch: error: cannot reach http://127.0.0.1:{closed_port}: is `rootwatch local "
        "--serve` running there?"
    )
    assert "Traceback" not in completed.stderr
