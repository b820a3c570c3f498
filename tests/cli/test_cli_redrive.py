"""`rootwatch redrive` against the hub's queues in moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from rootwatch.cli.redrive import KEYS, describe_body, failure_reason

from tests.support.cli_hub import MotoHub, create_hub

ALERT_ID = "3f9c2a7e0b1d:first:1"
ALERT: dict[str, Any] = {
    "alert_id": ALERT_ID,
    "kind": "first",
    "severity": "critical",
    "account": {"account_id": "111122223333"},
}
EVENT = {
    "source": "aws.signin",
    "detail-type": "AWS Console Sign In via CloudTrail",
    "account": "111122223333",
    "detail": {"eventName": "ConsoleLogin", "eventID": "e-1", "recipientAccountId": "111122223333"},
}


def text(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


@pytest.fixture
def hub() -> Iterator[MotoHub]:
    with mock_aws():
        created = create_hub()
        sqs = created.sqs
        sqs.send_message(
            QueueUrl=created.outputs["NotifyDeadLetterQueueUrl"],
            MessageBody=json.dumps(ALERT),
            MessageAttributes={
                "reason": text("slack:rootwatch/slack/ops: 404 no_service"),
                "alert_id": text(ALERT_ID),
            },
        )
        sqs.send_message(
            QueueUrl=created.outputs["IngestDeadLetterQueueUrl"],
            MessageBody="{not json",
            MessageAttributes={"reason": text("the body is not JSON")},
        )
        sqs.send_message(
            QueueUrl=created.outputs["IngestDeadLetterQueueUrl"],
            MessageBody=json.dumps(EVENT),
            MessageAttributes={
                "ERROR_CODE": text("SQSError"),
                "ERROR_MESSAGE": text("KMS key disabled"),
                "RULE_ARN": text("arn:aws:events:us-east-1:123456789012:rule/hub/root-activity"),
            },
        )
        yield created


def contents(hub: MotoHub, output: str) -> list[tuple[str, dict[str, str]]]:
    """Every message a queue holds (body and attributes), made visible again afterwards."""
    url = hub.outputs[output]
    found = []
    handles = []
    while True:
        messages = hub.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            attributes = {
                name: value["StringValue"]
                for name, value in message.get("MessageAttributes", {}).items()
            }
            found.append((message["Body"], attributes))
            handles.append(message["ReceiptHandle"])
    for handle in handles:
        hub.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return sorted(found)


QUEUES = (
    "IngestQueueUrl",
    "IngestDeadLetterQueueUrl",
    "NotifyQueueUrl",
    "NotifyDeadLetterQueueUrl",
)


def test_dry_run_lists_each_message_and_why_and_changes_nothing(cli: Any, hub: MotoHub) -> None:
    before = {queue: contents(hub, queue) for queue in QUEUES}
    result = cli("redrive", "--dry-run", "--output", "json")
    assert result.status == 0, result.err
    rows = result.json()
    assert [tuple(row) for row in rows] == [KEYS] * 3
    reasons = {row["queue"] + ":" + row["reason"] for row in rows}
    assert reasons == {
        "notify:slack:rootwatch/slack/ops: 404 no_service",
        "ingest:the body is not JSON",
        "ingest:EventBridge could not deliver it: SQSError: KMS key disabled",
    }
    assert {row["action"] for row in rows} == {"would move"}
    assert "3 messages would move; nothing changed" in result.err
    assert {queue: contents(hub, queue) for queue in QUEUES} == before
    # Nothing is left invisible either: the DLQs answer at once with everything.
    table = cli("redrive", "--dry-run", "--queue", "notify")
    assert "why: slack:rootwatch/slack/ops: 404 no_service" in table.out
    assert "alert 3f9c2a7e0b1d:first:1 (first, critical, account 111122223333)" in table.out


def test_redrive_one_queue_moves_its_messages_without_their_failure(cli: Any, hub: MotoHub) -> None:
    result = cli("redrive", "--queue", "notify")
    assert result.status == 0, result.err
    assert "moved 1 message" in result.err
    assert contents(hub, "NotifyDeadLetterQueueUrl") == []
    assert contents(hub, "NotifyQueueUrl") == [(json.dumps(ALERT), {"alert_id": ALERT["alert_id"]})]
    assert len(contents(hub, "IngestDeadLetterQueueUrl")) == 2
    assert contents(hub, "IngestQueueUrl") == []


def test_redrive_all(cli: Any, hub: MotoHub) -> None:
    result = cli("redrive", "--output", "csv")
    assert result.status == 0, result.err
    lines = result.lines()
    assert lines[0] == ",".join(KEYS)
    assert sorted(line.split(",")[2] for line in lines[1:]) == ["moved", "moved", "moved"]
    assert contents(hub, "IngestDeadLetterQueueUrl") == []
    assert [body for body, attributes in contents(hub, "IngestQueueUrl")] == sorted(
        [json.dumps(EVENT), "{not json"]
    )
    assert all(attributes == {} for _body, attributes in contents(hub, "IngestQueueUrl"))
    empty = cli("redrive")
    assert empty.status == 0
    assert "the dead-letter queues are empty" in empty.err


def test_redrive_needs_the_queue_outputs(cli: Any) -> None:
    create_hub(stack_name="rootwatch-old", omit_outputs=("IngestDeadLetterQueueUrl",))
    result = cli("redrive", "--stack-name", "rootwatch-old", "--queue", "ingest")
    assert result.status == 1
    assert "has no output IngestDeadLetterQueueUrl" in result.err


def test_what_a_dead_letter_is_about() -> None:
    assert describe_body(json.dumps(EVENT)) == "event ConsoleLogin in 111122223333 (e-1)"
    assert describe_body("[1]") == "JSON, not an object"
    assert describe_body("x" * 10) == "not JSON (10 characters)"
    assert describe_body(
        json.dumps({"source": "aws.events", "detail-type": "Scheduled Event"})
    ) == ("Scheduled Event from aws.events")
    assert failure_reason({}) == (
        "no reason recorded (moved by the queue's redrive policy after its last receive)"
    )
