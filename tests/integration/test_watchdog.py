"""The watchdog handler as Lambda runs it: spokes in the audit table (template.yaml's keys)
and the notify queue in moto, spokes recorded by the heartbeat and registry adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from rootwatch.adapters.admin import AuditAdmin, EntryUpdate
from rootwatch.adapters.heartbeats import DynamoHeartbeats
from rootwatch.adapters.spoke_registry import SpokeRegistry
from rootwatch.adapters.spokes import DynamoSpokes
from rootwatch.alerts import AccountInfo, Alert
from rootwatch.render.slack import render_slack
from rootwatch.spokes import Heartbeat

from tests.support.handlers import LambdaContext, load_handler
from tests.support.tables import create_audit_table

ACME = "111122223333"
GLOBEX = "444455556666"
INTERVAL = timedelta(minutes=15)


app = load_handler("watchdog")
CONTEXT = LambdaContext("rootwatch-watchdog")


SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "time": "2026-11-28T15:00:00Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:events:us-east-1:{DEFAULT_ACCOUNT_ID}:rule/watchdog"],
    "detail": {},
}


@dataclass
class Hub:
    dynamodb: Any
    sqs: Any
    table: str
    queue_url: str

    def beat(self, account: str, region: str, minutes_ago: int) -> None:
        at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)
        DynamoHeartbeats(self.dynamodb, self.table, timedelta(days=400)).record(
            Heartbeat(account, region, at, f"arn:aws:events:{region}:{account}:rule/x")
        )

    def alerts(self) -> list[Alert]:
        alerts = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return alerts
            for message in messages:
                assert message["MessageAttributes"]["kind"]["StringValue"] == "silent-spoke"
                alerts.append(Alert.from_dict(json.loads(message["Body"])))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def run(self) -> dict[str, Any]:
        result: dict[str, Any] = app.lambda_handler(SCHEDULED, CONTEXT)
        return result


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        table = create_audit_table(dynamodb)
        queue_url = sqs.create_queue(QueueName="rootwatch-notify")["QueueUrl"]
        for name, value in {
            "TABLE_NAME": table,
            "NOTIFY_QUEUE_URL": queue_url,
            "HEARTBEAT_INTERVAL_MINUTES": str(int(INTERVAL.total_seconds() // 60)),
            "SILENT_AFTER_INTERVALS": "3",
        }.items():
            monkeypatch.setenv(name, value)
        app.watchdog.cache_clear()
        yield Hub(dynamodb, sqs, table, queue_url)
        app.watchdog.cache_clear()


def test_a_spoke_silent_for_more_than_three_intervals_alerts_once(hub: Hub) -> None:
    hub.beat(ACME, "us-east-1", minutes_ago=2)
    hub.beat(ACME, "eu-west-1", minutes_ago=44)
    hub.beat(ACME, "ap-southeast-2", minutes_ago=47)
    AuditAdmin(hub.dynamodb, hub.table).update_account(
        EntryUpdate(ACME, {"name": "Acme payer", "partner": "Acme", "emails": ("sec@acme.io",)}),
        updated_by="arn:aws:iam::1:user/ops",
        now=datetime.now(UTC),
    )

    assert hub.run()["alerted"] == 1
    (alert,) = hub.alerts()
    assert alert.kind == "silent-spoke" and alert.severity == "critical"
    assert alert.account == AccountInfo(
        account_id=ACME, name="Acme payer", partner="Acme", emails=("sec@acme.io",)
    )
    assert alert.spoke is not None and alert.spoke.region == "ap-southeast-2"
    assert alert.spoke.interval_minutes == 15
    assert alert.alert_id.startswith(f"silent:{ACME}:ap-southeast-2:")
    text = json.dumps(render_slack(alert))
    assert "Spoke silent" in text and "Acme payer" in text and "47 min" in text

    # The next runs see the same silence, already alerted.
    assert hub.run() == {"silent_after_minutes": 45, "stale": 1, "overdue": 1, "alerted": 0}
    assert hub.alerts() == []
    silent_since = datetime.now(UTC) - 3 * INTERVAL
    (marked,) = DynamoSpokes(hub.dynamodb, hub.table).silent_since(silent_since)
    assert marked.silent_alert_id == alert.alert_id and marked.silent_alerted_at is not None


def test_a_spoke_that_reports_again_and_stops_again_is_a_new_silence(hub: Hub) -> None:
    hub.beat(ACME, "eu-west-1", minutes_ago=120)
    hub.run()
    (first,) = hub.alerts()
    hub.beat(ACME, "eu-west-1", minutes_ago=50)
    hub.run()
    (second,) = hub.alerts()
    assert second.alert_id != first.alert_id
    assert second.spoke is not None and second.spoke.last_heartbeat is not None
    assert second.alert_id.endswith(second.spoke.last_heartbeat)


def test_an_expected_spoke_that_never_reported_alerts_after_a_silence_long(hub: Hub) -> None:
    registry = SpokeRegistry(hub.dynamodb, hub.table)
    now = datetime.now(UTC)
    registry.expect(GLOBEX, "eu-central-1", registered_by="arn:aws:iam::1:user/ops", now=now)
    registry.expect(
        GLOBEX,
        "sa-east-1",
        registered_by="arn:aws:iam::1:user/ops",
        now=now - timedelta(minutes=46),
    )
    assert hub.run()["alerted"] == 1
    (alert,) = hub.alerts()
    assert alert.alert_id == f"silent:{GLOBEX}:sa-east-1:never"
    assert alert.account == AccountInfo(account_id=GLOBEX)
    assert alert.detail is not None and "arn:aws:iam::1:user/ops" in alert.detail
    assert "never reported" in json.dumps(render_slack(alert))


def test_a_forgotten_spoke_is_not_watched(hub: Hub) -> None:
    hub.beat(ACME, "eu-west-1", minutes_ago=120)
    assert SpokeRegistry(hub.dynamodb, hub.table).forget(ACME, "eu-west-1")
    assert hub.run()["stale"] == 0
    assert hub.alerts() == []


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_an_alert_that_cannot_be_queued_fails_the_run_and_is_sent_by_the_next(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.beat(ACME, "eu-west-1", minutes_ago=120)
    monkeypatch.setenv("NOTIFY_QUEUE_URL", hub.queue_url + "-gone")
    app.watchdog.cache_clear()
    with pytest.raises(Exception, match=r"NonExistentQueue|QueueDoesNotExist"):
        hub.run()
    (unmarked,) = DynamoSpokes(hub.dynamodb, hub.table).every()
    assert unmarked.silent_alert_id is None

    monkeypatch.setenv("NOTIFY_QUEUE_URL", hub.queue_url)
    app.watchdog.cache_clear()
    assert hub.run()["alerted"] == 1
    assert len(hub.alerts()) == 1


def test_the_run_reads_the_stale_spokes_with_one_query(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    for region in ("us-east-1", "us-east-2", "us-west-2", "eu-west-1"):
        hub.beat(ACME, region, minutes_ago=5)
    hub.beat(GLOBEX, "eu-west-1", minutes_ago=90)
    calls: list[str] = []
    session = boto3.Session()
    session.events.register("before-call", lambda model, **_: calls.append(model.name))
    monkeypatch.setattr(app.boto3, "client", session.client)
    app.watchdog.cache_clear()
    assert hub.run()["alerted"] == 1
    # One Query (only the stale spoke), its account entry, the alert, the mark.
    assert calls == ["Query", "GetItem", "SendMessageBatch", "UpdateItem"]
