"""The heartbeat handler as Lambda runs it, on the audit table (from template.yaml) in moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws
from rootwatch import keys
from rootwatch.adapters.heartbeats import DynamoHeartbeats
from rootwatch.adapters.spoke_registry import SpokeRegistry
from rootwatch.adapters.spokes import DynamoSpokes
from rootwatch.alerts import Alert
from rootwatch.spokes import Heartbeat, HeartbeatResult, silence_alert_id

from tests.support.handlers import LambdaContext, load_handler
from tests.support.tables import create_audit_table

ACME = "111122223333"
RETENTION_DAYS = 30


app = load_handler("heartbeat")
CONTEXT = LambdaContext("rootwatch-heartbeat", remaining_millis=10_000)


@dataclass
class Table:
    dynamodb: Any
    name: str
    sqs: Any
    notify_queue_url: str

    def alerts(self) -> list[Alert]:
        """The alerts on the notify queue (taken off it)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.notify_queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(
                QueueUrl=self.notify_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return [Alert.from_json(message["Body"]) for message in messages]

    def spoke(self, account: str, region: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.name,
            Key={k: {"S": v} for k, v in keys.spoke_key(account, region).items()},
        ).get("Item")
        if item is None:
            return None
        deserializer = TypeDeserializer()
        return {name: deserializer.deserialize(value) for name, value in item.items()}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Table]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        name = create_audit_table(dynamodb)
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="rootwatch-notify")["QueueUrl"]
        monkeypatch.setenv("TABLE_NAME", name)
        monkeypatch.setenv("NOTIFY_QUEUE_URL", queue_url)
        monkeypatch.setenv("RETENTION_DAYS", str(RETENTION_DAYS))
        app.recorder.cache_clear()
        yield Table(dynamodb, name, sqs, queue_url)
        app.recorder.cache_clear()


def _recent(minutes_ago: int) -> datetime:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.replace(microsecond=0)


def heartbeat_at(at: datetime, region: str = "eu-west-1") -> Heartbeat:
    rule = f"arn:aws:events:{region}:{ACME}:rule/rootwatch-heartbeat"
    return Heartbeat(account_id=ACME, region=region, at=at, rule_arn=rule)


def heartbeat(at: datetime, *, account: str = ACME, region: str = "eu-west-1") -> dict[str, Any]:
    """The scheduled event of a spoke's heartbeat rule, as moto delivers it to the hub."""
    return {
        "version": "0",
        "id": f"hb-{account}-{region}-{keys.iso(at)}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": keys.iso(at),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:{region}:{account}:rule/rootwatch-heartbeat"],
        "detail": {},
    }


def emitted(output: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    values = value if isinstance(value, list) else [value]
                    totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


def test_a_heartbeat_records_the_spoke_in_both_indexes(table: Table) -> None:
    at = _recent(3)
    response = app.lambda_handler(heartbeat(at), CONTEXT)
    assert response == {
        "recorded": True,
        "account_id": ACME,
        "region": "eu-west-1",
        "heartbeat": keys.iso(at),
    }
    item = table.spoke(ACME, "eu-west-1")
    assert item is not None
    assert item["last_heartbeat"] == item["first_heartbeat"] == keys.iso(at)
    assert item[keys.TTL_ATTRIBUTE] == int((at + timedelta(days=RETENTION_DAYS)).timestamp())
    spokes = DynamoSpokes(table.dynamodb, table.name)
    assert [(s.account_id, s.region, s.last_heartbeat) for s in spokes.every()] == [
        (ACME, "eu-west-1", at)
    ]
    assert [s.region for s in spokes.of_account(ACME)] == ["eu-west-1"]


def test_the_last_heartbeat_never_moves_backwards(
    table: Table, capsys: pytest.CaptureFixture[str]
) -> None:
    newer, older = _recent(2), _recent(17)
    app.lambda_handler(heartbeat(newer), CONTEXT)
    capsys.readouterr()
    late = app.lambda_handler(heartbeat(older), CONTEXT)
    again = app.lambda_handler(heartbeat(newer), CONTEXT)
    assert late["recorded"] is False and again["recorded"] is False
    item = table.spoke(ACME, "eu-west-1")
    assert item is not None and item["last_heartbeat"] == keys.iso(newer)
    assert item["gsi2sk"] == f"{keys.iso(newer)}#{ACME}#eu-west-1"
    assert item["first_heartbeat"] == keys.iso(newer)
    assert emitted(capsys.readouterr().out) == {"HeartbeatsStale": 2}


def _silence(table: Table, last: datetime) -> str:
    """The spoke heard at `last` made silent and alerted, as the watchdog does it."""
    app.lambda_handler(heartbeat(last), CONTEXT)
    spokes = DynamoSpokes(table.dynamodb, table.name)
    (silent,) = spokes.every()
    alert_id = silence_alert_id(silent)
    assert spokes.mark_alerted(silent, alert_id, at=_recent(60))
    return alert_id


def test_an_ordinary_heartbeat_costs_one_call(table: Table) -> None:
    app.lambda_handler(heartbeat(_recent(20)), CONTEXT)
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    # Clients copy the session's hooks when they are made: make the handler's anew.
    session.events.register("before-call", count)
    app.recorder.cache_clear()
    try:
        app.lambda_handler(heartbeat(_recent(5)), CONTEXT)
    finally:
        session.events.unregister("before-call", count)
    assert calls == ["UpdateItem"]


def test_a_heartbeat_ends_an_alerted_silence_and_says_so_where_the_silence_went(
    table: Table, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    first = _recent(120)
    table.dynamodb.put_item(
        TableName=table.name,
        Item={
            **{k: {"S": v} for k, v in keys.account_key(ACME).items()},
            "name": {"S": "Acme payer"},
            "slack_secrets": {"SS": ["rootwatch/slack/acme"]},
        },
    )
    silence = _silence(table, first)
    capsys.readouterr()

    back = _recent(1)
    app.lambda_handler(heartbeat(back), CONTEXT)
    item = table.spoke(ACME, "eu-west-1")
    assert item is not None
    assert "silent_alert_id" not in item and "silent_alerted_at" not in item
    assert "recovery_pending" not in item
    assert item["first_heartbeat"] == keys.iso(first)
    (alert,) = table.alerts()
    assert (alert.alert_id, alert.kind) == (f"recovered:{silence}", "spoke-recovered")
    assert alert.account.name == "Acme payer"
    assert alert.account.slack_secrets == ("rootwatch/slack/acme",)
    assert alert.spoke is not None
    assert (alert.spoke.last_heartbeat, alert.spoke.reported_at) == (
        keys.iso(first),
        keys.iso(back),
    )
    assert emitted(capsys.readouterr().out) == {
        "HeartbeatsRecorded": 1,
        "SpokesRecovered": 1,
        "RecoveryAlerts": 1,
    }
    (log,) = [r for r in caplog.records if r.getMessage() == "silent spoke reports again"]
    assert log.levelname == "WARNING"
    assert log.__dict__["silence"] == silence
    assert log.__dict__["previous_heartbeat"] == keys.iso(first)

    # Later heartbeats owe nothing.
    app.lambda_handler(heartbeat(_recent(0)), CONTEXT)
    assert table.alerts() == []


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_a_recovery_the_queue_refused_is_sent_when_lambda_retries_the_heartbeat(
    table: Table, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    silence = _silence(table, _recent(120))
    back = heartbeat(_recent(1))
    monkeypatch.setenv("NOTIFY_QUEUE_URL", table.notify_queue_url + "-gone")
    app.recorder.cache_clear()
    with pytest.raises(Exception, match=r"NonExistentQueue|not queued"):
        app.lambda_handler(back, CONTEXT)
    item = table.spoke(ACME, "eu-west-1")
    assert item is not None and item["recovery_pending"] == {silence}
    assert item["last_heartbeat"] == back["time"]

    monkeypatch.setenv("NOTIFY_QUEUE_URL", table.notify_queue_url)
    app.recorder.cache_clear()
    capsys.readouterr()
    response = app.lambda_handler(back, CONTEXT)
    assert response["recorded"] is False
    assert [alert.alert_id for alert in table.alerts()] == [f"recovered:{silence}"]
    item = table.spoke(ACME, "eu-west-1")
    assert item is not None and "recovery_pending" not in item
    assert emitted(capsys.readouterr().out) == {"HeartbeatsStale": 1, "RecoveryAlerts": 1}


def test_two_heartbeats_ending_one_silence_at_once_leave_the_newer_last(table: Table) -> None:
    silence = _silence(table, _recent(120))
    newer, older = heartbeat_at(_recent(1)), heartbeat_at(_recent(16))
    first_client = boto3.client("dynamodb")
    retention = timedelta(days=RETENTION_DAYS)
    store = DynamoHeartbeats(first_client, table.name, retention)
    other = DynamoHeartbeats(boto3.client("dynamodb"), table.name, retention)
    others: list[HeartbeatResult] = []

    def the_other_lands_in_between(**_: Any) -> None:
        if not others:
            others.append(other.record(older))

    # After the newer heartbeat's first write fails on the silence, the older one ends it.
    first_client.meta.events.register("after-call.dynamodb.UpdateItem", the_other_lands_in_between)
    result = store.record(newer)
    (other_result,) = others
    assert other_result.recorded and other_result.recovered_from == silence
    assert result.recorded and result.recovery_pending == (silence,)
    item = table.spoke(ACME, "eu-west-1")
    assert item is not None and item["last_heartbeat"] == keys.iso(newer.at)


def test_a_heartbeat_between_the_watchdogs_read_and_its_mark_still_gets_its_recovery(
    table: Table,
) -> None:
    app.lambda_handler(heartbeat(_recent(120)), CONTEXT)
    spokes = DynamoSpokes(table.dynamodb, table.name)
    (stale,) = spokes.every()
    app.lambda_handler(heartbeat(_recent(2)), CONTEXT)  # the spoke reports again
    alert_id = silence_alert_id(stale)
    assert spokes.mark_alerted(stale, alert_id, at=_recent(1)) is False
    item = table.spoke(ACME, "eu-west-1")
    assert item is not None and "silent_alert_id" not in item
    assert item["recovery_pending"] == {alert_id}

    app.lambda_handler(heartbeat(_recent(0)), CONTEXT)
    assert [alert.alert_id for alert in table.alerts()] == [f"recovered:{alert_id}"]
    item = table.spoke(ACME, "eu-west-1")
    assert item is not None and "recovery_pending" not in item


def test_a_forgotten_spoke_is_not_made_again_by_a_late_mark(table: Table) -> None:
    app.lambda_handler(heartbeat(_recent(120)), CONTEXT)
    spokes = DynamoSpokes(table.dynamodb, table.name)
    (stale,) = spokes.every()
    table.dynamodb.delete_item(
        TableName=table.name,
        Key={k: {"S": v} for k, v in keys.spoke_key(ACME, "eu-west-1").items()},
    )
    assert spokes.mark_alerted(stale, silence_alert_id(stale), at=_recent(1)) is False
    assert table.spoke(ACME, "eu-west-1") is None


def test_a_spoke_expected_and_silent_before_its_first_heartbeat_recovers_too(
    table: Table,
) -> None:
    registry = SpokeRegistry(table.dynamodb, table.name)
    registry.expect(ACME, "eu-west-1", registered_by="arn:aws:iam::1:user/ops", now=_recent(90))
    spokes = DynamoSpokes(table.dynamodb, table.name)
    (never,) = spokes.never_reported()
    assert spokes.mark_alerted(never, silence_alert_id(never), at=_recent(30))

    app.lambda_handler(heartbeat(_recent(1)), CONTEXT)
    (alert,) = table.alerts()
    assert alert.alert_id == f"recovered:silent:{ACME}:eu-west-1:never"
    assert alert.spoke is not None and alert.spoke.last_heartbeat is None


def test_an_expected_spoke_keeps_its_registration_and_joins_the_heartbeats(table: Table) -> None:
    registry = SpokeRegistry(table.dynamodb, table.name)
    registered = _recent(90)
    registry.expect(ACME, "eu-west-1", registered_by="arn:aws:iam::1:user/ops", now=registered)
    spokes = DynamoSpokes(table.dynamodb, table.name)
    assert [s.last_heartbeat for s in spokes.never_reported()] == [None]

    at = _recent(1)
    app.lambda_handler(heartbeat(at), CONTEXT)
    (spoke,) = spokes.every()
    assert (spoke.expected, spoke.registered_at, spoke.last_heartbeat) == (True, registered, at)
    assert list(spokes.never_reported()) == []


@pytest.mark.parametrize(
    "change",
    [
        {"source": "aws.signin", "detail-type": "AWS Console Sign In via CloudTrail"},
        {"resources": ["arn:aws:events:eu-west-1:111122223333:rule/someone-elses-schedule"]},
        {"time": "not a time"},
        {"account": "444455556666"},
    ],
)
def test_anything_but_a_heartbeat_is_logged_and_not_recorded(
    table: Table,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
) -> None:
    response = app.lambda_handler({**heartbeat(_recent(1)), **change}, CONTEXT)
    assert response["recorded"] is False and response["reason"]
    assert table.spoke(ACME, "eu-west-1") is None
    assert emitted(capsys.readouterr().out) == {"HeartbeatsRejected": 1}
    (log,) = [r for r in caplog.records if r.getMessage() == "event is not a spoke heartbeat"]
    assert log.levelname == "WARNING" and log.__dict__["reason"] == response["reason"]


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_a_table_that_cannot_be_written_fails_the_invocation(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    app.recorder.cache_clear()
    with pytest.raises(Exception, match="ResourceNotFound"):
        app.lambda_handler(heartbeat(_recent(1)), CONTEXT)
