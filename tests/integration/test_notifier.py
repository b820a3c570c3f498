"""The notifier handler as Lambda runs it: SQS batches from moto, Slack over real HTTP.

Each test provisions the notify queue (with its DLQ and redrive), the audit table (from
template.yaml), the Slack webhook secrets, and SES or SNS in moto; a local Slack receiver
answers the webhooks. `drain` plays Lambda's SQS event source: it receives batches, calls
the handler, deletes what succeeded and makes the reported failures visible again at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from msgspec.structs import replace
from rootwatch import keys
from rootwatch.alerts import Alert
from rootwatch.local.slack_receiver import ScriptedResponse, SlackReceiver

from tests.support.alerts import (
    FIRST,
    INJECTIONS,
    assert_html_inert,
    assert_slack_payload_inert,
    with_attacker_text,
)
from tests.support.handlers import LambdaContext, load_handler
from tests.support.tables import create_audit_table

MAX_RECEIVES = 3
SENDER = "rootwatch@alerts.example"
OPS_PATH = "/services/T0/B0/ops"
ACME_PATH = "/services/T0/B1/acme"


# Loaded once, as a Lambda container would; each test builds its clients afresh.
app = load_handler("notifier")
CONTEXT = LambdaContext("rootwatch-notifier")


@dataclass
class Hub:
    sqs: Any
    dynamodb: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    table: str
    receiver: SlackReceiver

    def send(self, alert: Alert) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(alert.to_dict()))

    def drain(self) -> list[dict[str, Any]]:
        """Run the handler over the queue until it is empty; returns each batch response."""
        responses = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return responses
            event = {"Records": [self._record(message) for message in messages]}
            response = app.lambda_handler(event, CONTEXT)
            responses.append(response)
            failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
            for message in messages:
                if message["MessageId"] in failed:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
                else:
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }

    def dead_letters(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return messages

    def delivery_records(self, alert_id: str) -> dict[str, dict[str, Any]]:
        items = self.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"DELIVERY#{alert_id}"}},
        )["Items"]
        return {item[keys.SK]["S"]: item for item in items}


@pytest.fixture
def receiver() -> Iterator[SlackReceiver]:
    with SlackReceiver() as running:
        yield running


def _provision(receiver: SlackReceiver, monkeypatch: pytest.MonkeyPatch) -> Hub:
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="rootwatch-notify-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
    queue_url = sqs.create_queue(
        QueueName="rootwatch-notify", Attributes={"RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    dynamodb = boto3.client("dynamodb")
    table = create_audit_table(dynamodb)
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="rootwatch/slack/ops", SecretString=receiver.webhook_url(OPS_PATH))
    secrets.create_secret(Name="rootwatch/slack/acme", SecretString=receiver.webhook_url(ACME_PATH))
    for name, value in {
        "TABLE_NAME": table,
        "NOTIFY_DLQ_URL": dlq_url,
        "MAX_RECEIVE_COUNT": str(MAX_RECEIVES),
        "SLACK_SECRET_PREFIX": "rootwatch/slack/",
        "DEFAULT_SLACK_SECRETS": "ops",
        "DEFAULT_EMAILS": "soc@example.com",
        "SES_SENDER": "",
        "ALERT_TOPIC_ARN": "",
        "SLACK_TIMEOUT_SECONDS": "5",
    }.items():
        monkeypatch.setenv(name, value)
    app.notifier.cache_clear()
    return Hub(sqs, dynamodb, queue_url, queue_arn, dlq_url, table, receiver)


@pytest.fixture
def hub(receiver: SlackReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """The hub with email through SES."""
    with mock_aws():
        provisioned = _provision(receiver, monkeypatch)
        boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        monkeypatch.setenv("SES_SENDER", SENDER)
        yield provisioned
        app.notifier.cache_clear()


def sent_emails() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def emitted_metrics(output: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, dimensions, value) of every CloudWatch embedded metric printed."""
    found = []
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: blob[name] for group in directive["Dimensions"] for name in group}
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                for single in value if isinstance(value, list) else [value]:
                    found.append((metric["Name"], dimensions, float(single)))
    return found


def metric_total(metrics: list[tuple[str, dict[str, str], float]], name: str, **dims: str) -> float:
    return sum(
        value
        for metric, dimensions, value in metrics
        if metric == name
        and all(dimensions.get(key) == val for key, val in dims.items())
        and ("channel" in dimensions) == ("channel" in dims)
    )


def test_each_destination_gets_an_alert_once_even_when_it_arrives_twice(
    hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.send(FIRST)
    hub.send(FIRST)
    hub.drain()

    assert len(hub.receiver.accepted(OPS_PATH)) == 1
    assert len(hub.receiver.accepted(ACME_PATH)) == 1
    assert len(hub.receiver.posts) == 2
    emails = sent_emails()
    assert sorted(address for email in emails for address in email.destinations["ToAddresses"]) == [
        "root-owner@acme.example",
        "soc@example.com",
    ]
    assert emails[0].subject.startswith("[rootwatch] CRITICAL · Root console login without MFA")
    records = hub.delivery_records(FIRST.alert_id)
    assert {destination: item["status"]["S"] for destination, item in records.items()} == {
        "slack:rootwatch/slack/ops": "delivered",
        "slack:rootwatch/slack/acme": "delivered",
        "email:soc@example.com": "delivered",
        "email:root-owner@acme.example": "delivered",
    }
    assert all(keys.TTL_ATTRIBUTE in item for item in records.values())
    assert hub.dead_letters() == []

    metrics = emitted_metrics(capsys.readouterr().out)
    assert metric_total(metrics, "AlertsSent", channel="slack") == 2
    assert metric_total(metrics, "AlertsSent", channel="email") == 2
    assert metric_total(metrics, "AlertsFailed") == 0


def test_slack_answering_429_then_200_delivers_once(hub: Hub) -> None:
    hub.receiver.script(ScriptedResponse.rate_limited(1), path=OPS_PATH)
    hub.send(FIRST)
    responses = hub.drain()

    assert responses == [{"batchItemFailures": []}]
    assert [post.status for post in hub.receiver.posts if post.path == OPS_PATH] == [429, 200]
    assert len(hub.receiver.accepted(OPS_PATH)) == 1
    assert hub.dead_letters() == []


def test_slack_failing_every_time_ends_in_the_dlq_with_the_reason(
    hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.receiver.always(ScriptedResponse.server_error(), path=OPS_PATH)
    hub.send(FIRST)
    responses = hub.drain()

    assert len(responses) == MAX_RECEIVES
    assert [len(response["batchItemFailures"]) for response in responses] == [1, 1, 0]
    [letter] = hub.dead_letters()
    assert json.loads(letter["Body"]) == json.loads(json.dumps(FIRST.to_dict()))
    reason = letter["MessageAttributes"]["reason"]["StringValue"]
    assert reason == (
        "still failing after 3 receives: slack:rootwatch/slack/ops: "
        "Slack HTTP 500 (internal_error) after 3 attempts"
    )
    assert letter["MessageAttributes"]["alert_id"]["StringValue"] == FIRST.alert_id
    # Three tries per receive on the failing webhook; every other destination told once.
    assert len([post for post in hub.receiver.posts if post.path == OPS_PATH]) == 9
    assert len(hub.receiver.accepted(ACME_PATH)) == 1
    assert len(sent_emails()) == 2

    metrics = emitted_metrics(capsys.readouterr().out)
    assert metric_total(metrics, "AlertsFailed") == 1
    assert metric_total(metrics, "AlertsFailed", channel="slack") == 1
    assert metric_total(metrics, "AlertsRetried") == 2


def test_a_refused_webhook_goes_to_the_dlq_at_once_and_is_recorded(hub: Hub) -> None:
    hub.receiver.always(ScriptedResponse.rejected("invalid_token"), path=OPS_PATH)
    hub.send(FIRST)
    responses = hub.drain()

    assert responses == [{"batchItemFailures": []}]
    [letter] = hub.dead_letters()
    assert letter["MessageAttributes"]["reason"]["StringValue"] == (
        "slack:rootwatch/slack/ops: Slack refused the message: HTTP 400: invalid_token"
    )
    record = hub.delivery_records(FIRST.alert_id)["slack:rootwatch/slack/ops"]
    assert record["status"]["S"] == "failed"
    assert record["reason"]["S"] == "Slack refused the message: HTTP 400: invalid_token"


def test_a_message_that_is_not_an_alert_goes_to_the_dlq_with_its_reason(hub: Hub) -> None:
    hub.sqs.send_message(QueueUrl=hub.queue_url, MessageBody='{"alert_id": "x", "kind": 1}')
    hub.send(FIRST)
    responses = hub.drain()

    assert responses == [{"batchItemFailures": []}]
    [letter] = hub.dead_letters()
    assert letter["MessageAttributes"]["reason"]["StringValue"].startswith("malformed alert:")
    assert len(hub.receiver.accepted()) == 2


def test_an_unreadable_audit_table_retries_then_dead_letters_without_sending(hub: Hub) -> None:
    hub.dynamodb.delete_table(TableName=hub.table)
    hub.send(FIRST)
    responses = hub.drain()

    assert [len(response["batchItemFailures"]) for response in responses] == [1, 1, 0]
    [letter] = hub.dead_letters()
    assert letter["MessageAttributes"]["reason"]["StringValue"].startswith(
        "unexpected ResourceNotFoundException: An error occurred (ResourceNotFoundException)"
    )
    assert hub.receiver.posts == []
    assert sent_emails() == []


def test_injection_strings_never_reach_slack_or_email_unescaped(hub: Hub) -> None:
    for index, text in enumerate(INJECTIONS):
        alert = with_attacker_text(text)
        hub.send(replace(alert, alert_id=f"injection-{index}", account=FIRST.account))
        hub.send(replace(with_attacker_text(text, "update"), alert_id=f"injection-u{index}"))
    hub.drain()

    assert hub.dead_letters() == []
    posts = hub.receiver.accepted()
    assert len(posts) >= 2 * len(INJECTIONS)
    for post in posts:
        assert_slack_payload_inert(post.payload)
    emails = sent_emails()
    assert len(emails) >= 2 * len(INJECTIONS)
    for email in emails:
        assert_html_inert(email.body)
        assert "\r" not in email.subject and "\n" not in email.subject


@pytest.fixture
def hub_with_topic(receiver: SlackReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """The hub with email through the SNS alert topic, read back through an SQS subscriber."""
    with mock_aws():
        provisioned = _provision(receiver, monkeypatch)
        sns = boto3.client("sns")
        topic = sns.create_topic(Name="rootwatch-alerts")["TopicArn"]
        inbox = provisioned.sqs.create_queue(QueueName="email-inbox")["QueueUrl"]
        inbox_arn = provisioned.sqs.get_queue_attributes(
            QueueUrl=inbox, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        monkeypatch.setenv("ALERT_TOPIC_ARN", topic)
        monkeypatch.setenv("INBOX_URL", inbox)
        yield provisioned
        app.notifier.cache_clear()


def test_without_ses_the_plain_text_goes_to_the_alert_topic_once(hub_with_topic: Hub) -> None:
    hub = hub_with_topic
    hub.send(FIRST)
    hub.send(FIRST)
    hub.drain()

    inbox = hub.sqs.receive_message(QueueUrl=os.environ["INBOX_URL"], MaxNumberOfMessages=10)
    [notification] = [json.loads(message["Body"]) for message in inbox.get("Messages", [])]
    assert notification["Subject"] == (
        "[rootwatch] CRITICAL - Root console login without MFA - Acme payer (111122223333)"
    )
    assert notification["Message"].startswith("🚨 CRITICAL · Root console login without MFA\n")
    assert "Source IP" in notification["Message"] and "<" not in notification["Message"]
    assert sent_emails() == []
    assert set(hub.delivery_records(FIRST.alert_id)) == {
        "slack:rootwatch/slack/ops",
        "slack:rootwatch/slack/acme",
        f"sns:{os.environ['ALERT_TOPIC_ARN']}",
    }
