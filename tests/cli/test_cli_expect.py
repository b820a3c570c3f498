"""`rootwatch expect`: planned windows written, read back as the processor reads them, and
their effect on classification (detection) and on messages (the notifier's rendering)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws
from rootwatch import keys
from rootwatch.adapters.audit import DynamoAuditStore
from rootwatch.adapters.queries import AuditReader, window_from_item
from rootwatch.alerts import AccountInfo, Alert, EventFacts, IncidentFacts
from rootwatch.detection import classify
from rootwatch.model import Classification, CloudTrailRecord, PlannedWindow, Severity
from rootwatch.reader import parse_record
from rootwatch.render.email import render_email
from rootwatch.render.slack import render_slack

from tests.support.cli_hub import MotoHub, create_hub
from tests.support.events import sample_event, variant

ACME = "111122223333"
GLOBEX = "444455556666"
CALLER = "arn:aws:sts::123456789012:user/moto"


@pytest.fixture
def hub() -> Iterator[MotoHub]:
    with mock_aws():
        yield create_hub(parameters={"RetentionDays": "30"})


def record(sample: str, *, at: datetime, account: str = ACME) -> CloudTrailRecord:
    event = variant(sample_event(sample), at=at, account=account)
    return parse_record(event["detail"], envelope=event)


def window_in_force(hub: MotoHub, account: str, at: datetime) -> PlannedWindow | None:
    """The window the processor applies to an event of `account` at `at`."""
    context = DynamoAuditStore(hub.dynamodb, hub.table).load_account(account, now=at)
    return context.window_at(at)


def alert_for(event: CloudTrailRecord, classification: Classification) -> Alert:
    return Alert(
        alert_id="inc:first:1",
        kind="first",
        severity=classification.severity.label,
        account=AccountInfo(account_id=event.account_id, name="Acme payer", partner="Acme"),
        incident=IncidentFacts(
            incident_id="3f9c2a7e0b1d",
            severity=classification.severity.label,
            opened_at=keys.iso(event.event_time),
            last_seen=keys.iso(event.event_time),
            event_count=1,
        ),
        event=EventFacts(
            event_id=event.event_id,
            event_time=keys.iso(event.event_time),
            region=event.aws_region,
            event_source=event.event_source,
            event_name=event.event_name,
            summary=classification.summary,
            severity=classification.severity.label,
            rules=classification.rules,
            outcome=classification.outcome,
            mfa=classification.mfa,
            source_ip=event.source_ip,
            user_agent=event.user_agent,
            planned_by=classification.planned_by,
            planned_reason=classification.planned_reason,
        ),
    )


def slack_text(alert: Alert) -> str:
    payload = render_slack(alert)
    return str(payload["blocks"])


def test_a_window_lowers_high_to_low_and_the_message_names_the_plan(cli: Any, hub: MotoHub) -> None:
    result = cli("expect", "--account", ACME, "--for", "2h", "--reason", "Rotate the MFA device")
    assert result.status == 0, result.err
    assert "critical stays critical" in result.err
    now = datetime.now(UTC)
    window = window_in_force(hub, ACME, now)
    assert window is not None
    assert window.created_by == CALLER
    assert window.reason == "Rotate the MFA device"
    assert window.ends_at - window.starts_at == timedelta(hours=2)

    event = record("root-console-create-user", at=now)
    unplanned = classify(event)
    planned = classify(event, window)
    assert unplanned is not None and planned is not None
    assert unplanned.severity is Severity.HIGH
    assert planned.severity is Severity.LOW
    assert (planned.planned_by, planned.planned_reason) == (CALLER, "Rotate the MFA device")

    message = slack_text(alert_for(event, planned))
    assert "inside root use planned by" in message
    assert "Rotate the MFA device" in message and CALLER in message
    email = render_email(alert_for(event, planned))
    assert "Rotate the MFA device" in email.text and "Rotate the MFA device" in email.html
    assert "no planned root use for this account" in slack_text(alert_for(event, unplanned))


def test_a_window_never_lowers_critical(cli: Any, hub: MotoHub) -> None:
    cli("expect", "--account", ACME, "--for", "1h", "--reason", "break-glass drill")
    now = datetime.now(UTC)
    event = record("root-create-access-key-console", at=now)
    planned = classify(event, window_in_force(hub, ACME, now))
    assert planned is not None
    assert planned.severity is Severity.CRITICAL


def test_a_window_covers_only_its_account_and_time(cli: Any, hub: MotoHub) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    result = cli(
        "expect",
        "--account",
        ACME,
        "--for",
        "30m",
        "--reason",
        "scheduled",
        "--start",
        keys.iso(start),
    )
    assert result.status == 0, result.err
    assert window_in_force(hub, ACME, start - timedelta(seconds=1)) is None
    assert window_in_force(hub, ACME, start) is not None
    assert window_in_force(hub, ACME, start + timedelta(minutes=30)) is None
    assert window_in_force(hub, GLOBEX, start + timedelta(minutes=1)) is None


def test_list_shows_current_and_upcoming_and_all_shows_cancelled(cli: Any, hub: MotoHub) -> None:
    first = cli("expect", "--account", ACME, "--for", "1h", "--reason", "now", "--output", "json")
    later = cli(
        "expect",
        "--account",
        GLOBEX,
        "--for",
        "1h",
        "--reason",
        "tomorrow",
        "--start",
        keys.iso(datetime.now(UTC) + timedelta(days=1)),
        "--output",
        "json",
    )
    now_id, later_id = first.json()[0]["window_id"], later.json()[0]["window_id"]
    listed = cli("expect", "list", "--output", "json")
    assert [(row["window_id"], row["state"]) for row in listed.json()] == [
        (now_id, "active"),
        (later_id, "upcoming"),
    ]
    only = cli("expect", "list", "--account", GLOBEX, "--output", "json")
    assert [row["window_id"] for row in only.json()] == [later_id]

    cancelled = cli("expect", "cancel", now_id)
    assert cancelled.status == 0, cancelled.err
    assert window_in_force(hub, ACME, datetime.now(UTC) + timedelta(seconds=1)) is None
    assert [row["window_id"] for row in cli("expect", "list", "--output", "json").json()] == [
        later_id
    ]
    everything = cli("expect", "list", "--all", "--output", "json").json()
    states = {row["window_id"]: row["state"] for row in everything}
    assert states == {now_id: "cancelled", later_id: "upcoming"}
    kept = next(row for row in everything if row["window_id"] == now_id)
    assert kept["cancelled_by"] == CALLER

    table = cli("expect", "list", "--all")
    assert table.lines()[0].split()[:3] == ["WINDOW", "STATE", "ACCOUNT"]


def test_cancelling_an_upcoming_window_leaves_it_covering_nothing(cli: Any, hub: MotoHub) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    created = cli(
        "expect",
        "--account",
        ACME,
        "--for",
        "1h",
        "--reason",
        "later",
        "--start",
        keys.iso(start),
        "--output",
        "json",
    )
    window_id = created.json()[0]["window_id"]
    assert cli("expect", "cancel", window_id).status == 0
    assert window_in_force(hub, ACME, start + timedelta(minutes=10)) is None
    item = AuditReader(hub.dynamodb, hub.table).window(window_id)
    assert item is not None
    assert window_from_item(item).ends_at == window_from_item(item).starts_at


def test_cancel_refuses_unknown_and_ended_windows(cli: Any, hub: MotoHub) -> None:
    missing = cli("expect", "cancel", "0123456789ab")
    assert missing.status == 1 and "no planned window 0123456789ab" in missing.err
    window_id = cli(
        "expect", "--account", ACME, "--for", "1h", "--reason", "x", "--output", "json"
    ).json()[0]["window_id"]
    assert cli("expect", "cancel", window_id).status == 0
    again = cli("expect", "cancel", window_id)
    assert again.status == 1 and "nothing to cancel" in again.err
    assert cli("expect", "cancel", "not an id").status == 2


def test_a_window_expires_a_retention_after_it_ends(cli: Any, hub: MotoHub) -> None:
    window_id = cli(
        "expect", "--account", ACME, "--for", "1h", "--reason", "x", "--output", "json"
    ).json()[0]["window_id"]
    item = AuditReader(hub.dynamodb, hub.table).window(window_id)
    assert item is not None
    ends_at = window_from_item(item).ends_at
    assert item[keys.TTL_ATTRIBUTE] == int((ends_at + timedelta(days=30)).timestamp())
    assert item["gsi2sk"] == f"{keys.iso(ends_at)}#{window_id}"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--account", ACME, "--for", "2h"], "expect needs --reason"),
        (["--for", "2h", "--reason", "x"], "expect needs --account"),
        (["--account", ACME, "--reason", "x", "--for", "0m"], "longer than zero"),
        (["--account", ACME, "--reason", "x", "--for", "8d"], "at most 7d"),
        (["--account", ACME, "--reason", "x", "--for", "two hours"], "not a duration"),
        (["--account", ACME, "--reason", "   ", "--for", "1h"], "expect needs --reason"),
        (
            ["--account", ACME, "--reason", "x", "--for", "1h", "--start", "2020-01-01T00:00Z"],
            "would end in the past",
        ),
        (["--account", ACME, "--reason", "x", "--for", "1h", "--start", "soon"], "ISO 8601"),
        (["--account", "acme", "--reason", "x", "--for", "1h"], "12-digit"),
        (["--account", ACME, "--reason", "x" * 501, "--for", "1h"], "at most 500"),
    ],
)
def test_expect_usage_errors(cli: Any, arguments: list[str], message: str) -> None:
    result = cli("expect", *arguments)
    assert result.status == 2
    assert message in result.err
    assert cli("expect", "list", "--all", "--output", "json").json() == []


def test_target_options_before_or_after_the_action(cli: Any) -> None:
    cli("expect", "--account", ACME, "--for", "1h", "--reason", "x")
    before = cli("expect", "--output", "json", "list")
    after = cli("expect", "list", "--output", "json")
    assert before.status == after.status == 0
    assert before.json() == after.json()
    elsewhere = cli("expect", "--region", "eu-west-1", "list")
    assert elsewhere.status == 1 and "region eu-west-1" in elsewhere.err
