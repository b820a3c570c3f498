"""The processor handler against moto: Lambda-shaped SQS batches, the audit table, the queues."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rootwatch import keys
from rootwatch.adapters.audit import (
    ConcurrentUpdateError,
    DynamoAuditStore,
    IncidentStepWrite,
)
from rootwatch.alerts import AccountInfo
from rootwatch.incidents import Actor, IncidentEvent, IncidentPolicy, advance
from rootwatch.model import Severity

from tests.support.events import sample_event, variant
from tests.support.handlers import LambdaContext, load_handler
from tests.support.tables import create_audit_table

ACCOUNT = "111122223333"
SESSION_IP = "203.0.113.7"
T0 = datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)
CALLER = (
    "arn:aws:sts::777788889999:assumed-role/"
    "AWSReservedSSO_RootAccessAdmin_9f8e7d6c5b4a3921/mlopez@example.com"
)


def lambda_context(remaining_millis: int = 30_000) -> LambdaContext:
    return LambdaContext(
        "rootwatch-processor", remaining_millis=remaining_millis, memory_limit_in_mb=512
    )


@dataclass
class Hub:
    """The processor's AWS resources in moto, and its handler loaded as Lambda loads it."""

    dynamodb: Any
    sqs: Any
    table: str
    notify_url: str
    dlq_url: str
    handler: ModuleType

    def invoke(self, *events: dict[str, Any] | str, context: LambdaContext | None = None) -> Any:
        return self.handler.lambda_handler(sqs_batch(*events), context or lambda_context())

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(message["Body"]) for message in drain(self.sqs, self.notify_url)]

    def events_of(self, account: str = ACCOUNT) -> list[dict[str, Any]]:
        return query_all(self.dynamodb, self.table, "gsi1", "gsi1pk", f"EVENTS#ACCOUNT#{account}")

    def item(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table, Key={name: {"S": value} for name, value in key.items()}
        )
        item = response.get("Item")
        return plain(item) if item else None


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        table = create_audit_table(dynamodb)
        notify_url = sqs.create_queue(QueueName="rootwatch-notify")["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="rootwatch-ingest-dlq")["QueueUrl"]
        environment = {
            "TABLE_NAME": table,
            "NOTIFY_QUEUE_URL": notify_url,
            "INGEST_DLQ_URL": dlq_url,
            "INCIDENT_WINDOW_MINUTES": "60",
            "UPDATE_INTERVAL_MINUTES": "5",
            "RETENTION_DAYS": "400",
            "ALLOWED_ACCOUNT_IDS": "",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield Hub(dynamodb, sqs, table, notify_url, dlq_url, load_handler("processor"))


def sqs_batch(*events: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{index}",
                "body": event if isinstance(event, str) else json.dumps(event),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764338531000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1764338531000",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rootwatch-ingest",
                "awsRegion": "us-east-1",
            }
            for index, event in enumerate(events)
        ]
    }


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            return messages
        messages.extend(received)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)
            ],
        )


def query_all(dynamodb: Any, table: str, index: str, key: str, value: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#k = :v",
        "ExpressionAttributeNames": {"#k": key},
        "ExpressionAttributeValues": {":v": {"S": value}},
    }
    while True:
        page = dynamodb.query(**arguments)
        items.extend(plain(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = boto3.dynamodb.types.TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def login(event_id: str = "login-1", at: datetime = T0) -> dict[str, Any]:
    return variant(
        sample_event("console-login-no-mfa"), event_id=event_id, at=at, source_ip=SESSION_IP
    )


def session_call(n: int, name: str = "DescribeInstances") -> dict[str, Any]:
    return variant(
        sample_event("root-console-describe-instances"),
        event_id=f"call-{n:04}",
        at=T0 + timedelta(seconds=n),
        source_ip=SESSION_IP,
        account=ACCOUNT,
        eventName=name,
    )


# --- duplicates -------------------------------------------------------------------------


def test_the_same_event_delivered_three_times_gives_one_audit_item_and_one_alert(hub: Hub) -> None:
    event = login()

    first = hub.invoke(event)
    again = hub.invoke(event, variant(event, source=event["source"]))

    assert first == again == {"batchItemFailures": []}
    (item,) = hub.events_of()
    assert item["event_id"] == "login-1"
    assert item["state"] == "done"
    assert item["severity"] == "critical"
    assert item["rules"] == ["login-no-mfa"]
    assert item["incident_id"]
    assert json.loads(item["record"])["eventID"] == "login-1"
    (alert,) = hub.alerts()
    assert alert["kind"] == "first"
    assert alert["alert_id"] == f"{item['incident_id']}:first:1"
    assert alert["event"]["event_id"] == "login-1"
    assert alert["event"]["summary"]
    assert alert["incident"]["event_count"] == 1


def test_the_audit_item_holds_the_record_classification_account_and_retention(hub: Hub) -> None:
    hub.dynamodb.put_item(
        TableName=hub.table,
        Item={
            **{name: {"S": value} for name, value in keys.account_key(ACCOUNT).items()},
            "name": {"S": "Acme payer"},
            "partner": {"S": "Acme"},
            "slack_secrets": {"SS": ["acme"]},
            "emails": {"L": [{"S": "root-owner@acme.example"}]},
        },
    )
    before = datetime.now(UTC)

    hub.invoke(login())

    (item,) = hub.events_of()
    assert (item["account_name"], item["partner"]) == ("Acme payer", "Acme")
    assert item["source_ip"] == SESSION_IP
    assert item["mfa"] is False
    assert item["actor"] == SESSION_IP
    retention = timedelta(days=400)
    assert (before + retention).timestamp() - 5 <= item["expires_at"]
    assert item["expires_at"] <= (datetime.now(UTC) + retention).timestamp() + 5
    assert item["gsi3pk"] == "EVENTS#SEVERITY#critical"
    assert item["gsi4pk"] == f"INCIDENT#{item['incident_id']}"
    incident = hub.item(keys.incident_key(item["incident_id"]))
    assert incident is not None
    assert incident["event_count"] == 1
    assert incident["account_name"] == "Acme payer"
    assert incident["gsi1pk"] == f"INCIDENTS#ACCOUNT#{ACCOUNT}"
    (alert,) = hub.alerts()
    assert alert["account"]["slack_secrets"] == ["acme"]
    assert alert["account"]["emails"] == ["root-owner@acme.example"]


# --- malformed and untrusted input ------------------------------------------------------


def test_a_malformed_record_goes_to_the_dlq_with_its_reason_and_the_rest_are_processed(
    hub: Hub,
) -> None:
    no_event_id = login("x")
    del no_event_id["detail"]["eventID"]

    response = hub.invoke("{not json", no_event_id, login())

    assert response == {"batchItemFailures": []}
    assert [item["event_id"] for item in hub.events_of()] == ["login-1"]
    parked = drain(hub.sqs, hub.dlq_url)
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in parked)
    assert reasons[0].startswith("body is not JSON")
    assert reasons[1] == "missing eventID"
    assert "{not json" in [m["Body"] for m in parked]
    assert len(hub.alerts()) == 1


@pytest.mark.parametrize(
    "untrusted",
    [
        variant(sample_event("console-login-no-mfa"), source="custom.forged"),
        variant(sample_event("console-login-no-mfa"), account="999988887777"),
    ],
    ids=["source-not-aws", "account-not-allowed"],
)
def test_untrusted_events_never_reach_the_audit_log(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, untrusted: dict[str, Any]
) -> None:
    monkeypatch.setenv("ALLOWED_ACCOUNT_IDS", f"{ACCOUNT},123456789012")
    hub.handler = load_handler("processor")

    response = hub.invoke(untrusted)

    assert response == {"batchItemFailures": []}
    assert hub.dynamodb.scan(TableName=hub.table)["Items"] == []
    assert hub.alerts() == []
    assert drain(hub.sqs, hub.dlq_url) == []


def test_a_bare_eventbridge_event_is_processed_as_a_batch_of_one(hub: Hub) -> None:
    result = hub.handler.lambda_handler(login(), lambda_context())

    assert result == {"stored": 1, "alerts": 1}
    assert len(hub.events_of()) == 1


# --- crash safety -----------------------------------------------------------------------


class _FailOnce:
    """Wraps the real alert queue adapter; its first send fails as SQS being unreachable."""

    calls = 0

    def __init__(self, sender: Any) -> None:
        from rootwatch.adapters.queues import SqsAlertQueue

        self._queue = SqsAlertQueue(sender)

    def send_alerts(self, alerts: Any) -> set[str]:
        type(self).calls += 1
        if type(self).calls == 1:
            raise ConnectionError("SQS is unreachable")
        return self._queue.send_alerts(alerts)


def test_an_alert_that_could_not_be_enqueued_is_sent_when_the_message_is_retried(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.handler, "SqsAlertQueue", _FailOnce)
    monkeypatch.setattr(_FailOnce, "calls", 0)
    batch = sqs_batch(login(), session_call(1))

    failed = hub.handler.lambda_handler(batch, lambda_context())

    assert failed == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    stored = {item["event_id"]: item for item in hub.events_of()}
    assert stored["login-1"]["state"] == "alerting"
    assert stored["call-0001"]["state"] == "done"
    assert hub.alerts() == []

    retried = hub.handler.lambda_handler(sqs_batch(login()), lambda_context())

    assert retried == {"batchItemFailures": []}
    (alert,) = hub.alerts()
    assert alert["kind"] == "first"
    assert alert["incident"]["event_count"] == 2
    (login_item,) = [item for item in hub.events_of() if item["event_id"] == "login-1"]
    assert login_item["state"] == "done"
    assert "alert" not in login_item
    assert login_item["alert_ids"] == [alert["alert_id"]]


class _Crash(BaseException):
    """Stands for the invocation dying (timeout, out of memory): nothing after it runs."""


def die_while_enqueueing(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, *, remaining_millis: int
) -> None:
    """One invocation of `login()` that dies as it enqueues its alert."""
    from rootwatch.adapters.queues import SqsAlertQueue

    def die(self: SqsAlertQueue, alerts: Any) -> set[str]:
        raise _Crash

    with monkeypatch.context() as patched, pytest.raises(_Crash):
        patched.setattr(SqsAlertQueue, "send_alerts", die)
        hub.invoke(login(), context=lambda_context(remaining_millis=remaining_millis))


def test_an_invocation_that_dies_between_write_and_enqueue_still_alerts_on_retry(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A context with no time left: its claims have lapsed by the time SQS redelivers.
    die_while_enqueueing(hub, monkeypatch, remaining_millis=0)
    assert hub.alerts() == []

    retried = hub.invoke(login())
    duplicate = hub.invoke(login())

    assert retried == duplicate == {"batchItemFailures": []}
    (alert,) = hub.alerts()
    assert alert["kind"] == "first"
    (item,) = hub.events_of()
    assert item["state"] == "done"


def test_an_event_claimed_by_a_live_invocation_is_left_for_a_later_retry(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    die_while_enqueueing(hub, monkeypatch, remaining_millis=600_000)
    batch = sqs_batch(login(), session_call(1))

    response = hub.handler.lambda_handler(batch, lambda_context())

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    assert hub.alerts() == []
    assert {item["event_id"]: item["state"] for item in hub.events_of()} == {
        "login-1": "alerting",
        "call-0001": "done",
    }


def test_a_step_that_was_written_though_its_call_failed_is_resumed_not_counted_twice(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_apply = DynamoAuditStore.apply_step

    def written_then_lost(self: DynamoAuditStore, step: IncidentStepWrite) -> Any:
        real_apply(self, step)
        raise ConnectionError("the connection dropped before DynamoDB answered")

    monkeypatch.setattr(DynamoAuditStore, "apply_step", written_then_lost)
    batch = sqs_batch(login(), session_call(1))
    failed = hub.handler.lambda_handler(batch, lambda_context())
    assert len(failed["batchItemFailures"]) == 2
    assert hub.alerts() == []
    monkeypatch.setattr(DynamoAuditStore, "apply_step", real_apply)

    retried = hub.handler.lambda_handler(batch, lambda_context())

    assert retried == {"batchItemFailures": []}
    (alert,) = hub.alerts()
    assert alert["kind"] == "first"
    assert alert["incident"]["event_count"] == 2
    incident = hub.item(keys.incident_key(alert["incident"]["incident_id"]))
    assert incident is not None
    assert incident["event_count"] == 2
    assert {item["state"] for item in hub.events_of()} == {"done"}


# --- source IPs first seen ---------------------------------------------------------------


def test_a_source_ip_is_first_seen_for_its_first_incident_only(hub: Hub) -> None:
    login_with_mfa = variant(
        sample_event("console-login-with-mfa"),
        event_id="login-1",
        at=T0,
        source_ip=SESSION_IP,
        account=ACCOUNT,
    )
    hub.invoke(login_with_mfa)
    hub.invoke(
        variant(
            sample_event("root-create-access-key-console"),
            event_id="key-1",
            at=T0 + timedelta(minutes=10),
            source_ip=SESSION_IP,
        )
    )
    hub.invoke(login("login-next-week", at=T0 + timedelta(days=7)))

    alerts = hub.alerts()
    assert [(a["kind"], a["event"]["first_seen_ip"]) for a in alerts] == [
        ("first", True),
        ("escalation", True),
        ("first", False),
    ]
    assert alerts[0]["incident"]["incident_id"] != alerts[2]["incident"]["incident_id"]
    sighting = hub.item(keys.source_ip_key(ACCOUNT, SESSION_IP))
    assert sighting is not None
    assert sighting["first_seen"] == keys.iso(T0)
    (event,) = [item for item in hub.events_of() if item["event_id"] == "login-next-week"]
    assert sighting["expires_at"] == event["expires_at"]


def test_a_source_ip_whose_record_expired_is_first_seen_again(hub: Hub) -> None:
    hub.dynamodb.put_item(
        TableName=hub.table,
        Item={
            **{
                name: {"S": value}
                for name, value in keys.source_ip_key(ACCOUNT, SESSION_IP).items()
            },
            "account_id": {"S": ACCOUNT},
            "source_ip": {"S": SESSION_IP},
            "first_seen": {"S": "2025-01-01T00:00:00Z"},
            keys.TTL_ATTRIBUTE: {
                "N": str(int((datetime.now(UTC) - timedelta(days=1)).timestamp()))
            },
        },
    )

    hub.invoke(login())

    (alert,) = hub.alerts()
    assert alert["event"]["first_seen_ip"] is True
    sighting = hub.item(keys.source_ip_key(ACCOUNT, SESSION_IP))
    assert sighting is not None
    assert sighting["first_seen"] == keys.iso(T0)


# --- AssumeRoot and planned windows through the table ------------------------------------


def test_an_assume_root_session_is_attributed_to_its_caller_from_an_earlier_batch(hub: Hub) -> None:
    hub.invoke(sample_event("assume-root-call"))
    grant = hub.item(keys.assumed_root_key("444455556666", "ASIAR7TQ2VWN8EXAMPLE"))
    assert grant is not None
    assert grant["caller"] == CALLER

    hub.invoke(sample_event("assumed-root-delete-bucket-policy"))

    (item,) = hub.events_of("444455556666")
    assert (item["actor"], item["assumed_root_caller"]) == (CALLER, CALLER)
    pointer = hub.item(keys.actor_key("444455556666", CALLER))
    assert pointer is not None
    assert pointer["incident_id"] == item["incident_id"]


def test_a_planned_window_in_the_table_lowers_a_high_event(hub: Hub) -> None:
    account = "123456789012"
    hub.dynamodb.put_item(
        TableName=hub.table,
        Item={
            **{name: {"S": value} for name, value in keys.window_key(account, "w-1").items()},
            "window_id": {"S": "w-1"},
            "starts_at": {"S": "2026-11-20T09:00:00Z"},
            "ends_at": {"S": "2026-11-20T11:00:00Z"},
            "created_by": {"S": "alice@example.com"},
            "reason": {"S": "remove the old MFA device"},
        },
    )

    hub.invoke(sample_event("root-console-create-user"))

    (item,) = hub.events_of(account)
    assert item["severity"] == "low"
    assert item["rules"] == ["write", "planned"]
    assert item["planned_by"] == "alice@example.com"
    assert hub.alerts() == []


# --- the audit store on its own ---------------------------------------------------------


def test_a_step_written_on_a_pointer_that_moved_is_refused(hub: Hub) -> None:
    store = DynamoAuditStore(hub.dynamodb, hub.table)
    now = datetime.now(UTC)
    actor = Actor(key=SESSION_IP)

    def write(expected_version: int, event_id: str) -> IncidentStepWrite:
        current = store.load_open_incident(ACCOUNT, actor.key).incident
        step = advance(
            current,
            [IncidentEvent(event_id, now, "ListBuckets", "us-east-1", Severity.LOW)],
            account_id=ACCOUNT,
            actor=actor,
            now=now,
            policy=IncidentPolicy(),
        )
        return IncidentStepWrite(
            account_id=ACCOUNT,
            actor=actor.key,
            expected_version=expected_version,
            current=step.current,
            changed=step.changed,
            events=(),
            grants=(),
            account=AccountInfo(ACCOUNT),
            window=timedelta(minutes=60),
            now=now,
            retention=timedelta(days=1),
            claimed_by=event_id,
        )

    store.apply_step(write(0, "a"))
    with pytest.raises(ConcurrentUpdateError):
        store.apply_step(write(0, "b"))
    store.apply_step(write(1, "c"))

    reloaded = store.load_open_incident(ACCOUNT, actor.key)
    assert reloaded.version == 2
    assert reloaded.incident is not None
    assert reloaded.incident.event_count == 2


# --- efficiency -------------------------------------------------------------------------


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.active = False

    def __call__(self, model: Any, **_kwargs: Any) -> None:
        if self.active:
            self.calls[model.name] += 1

    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def counter(hub: Hub) -> CallCounter:
    counting = CallCounter()
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call", counting)
    return counting


def run_batches(hub: Hub, counter: CallCounter, events: list[dict[str, Any]]) -> int:
    counter.calls.clear()
    counter.active = True
    try:
        for start in range(0, len(events), 10):
            response = hub.invoke(*events[start : start + 10])
            assert response == {"batchItemFailures": []}
    finally:
        counter.active = False
    return counter.total()


def test_a_burst_costs_at_most_three_calls_per_event_and_one_per_duplicate(
    hub: Hub, counter: CallCounter
) -> None:
    opening = variant(
        sample_event("console-login-with-mfa"),
        event_id="login-1",
        at=T0,
        source_ip=SESSION_IP,
        account=ACCOUNT,
    )
    burst = [opening] + [session_call(n) for n in range(1, 500)]
    burst[250] = variant(
        sample_event("root-create-access-key-console"),
        event_id="call-0250",
        at=T0 + timedelta(seconds=250),
        source_ip=SESSION_IP,
    )

    unique_calls = run_batches(hub, counter, burst)
    unique_operations = dict(counter.calls)
    duplicate_calls = run_batches(hub, counter, burst)

    assert unique_calls / len(burst) <= 3, unique_operations
    assert "Scan" not in unique_operations
    assert duplicate_calls == len(burst), dict(counter.calls)
    assert set(counter.calls) == {"PutItem"}
    assert len(hub.events_of()) == 500
    incidents = query_all(hub.dynamodb, hub.table, "gsi1", "gsi1pk", f"INCIDENTS#ACCOUNT#{ACCOUNT}")
    assert len(incidents) == 1
    assert incidents[0]["event_count"] == 500
    alerts = hub.alerts()
    assert [(a["kind"], a["severity"]) for a in alerts] == [
        ("first", "high"),
        ("escalation", "critical"),
    ]
    assert alerts[1]["event"]["event_id"] == "call-0250"
    assert alerts[1]["previous_severity"] == "high"
