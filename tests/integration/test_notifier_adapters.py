"""The notifier's adapters against moto and a local Slack receiver over real HTTP."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
import requests
from moto import mock_aws
from rootwatch import keys
from rootwatch.adapters.deliveries import DeliveryRecords
from rootwatch.adapters.mail import SesMailer, SnsTopicPublisher
from rootwatch.adapters.queues import DeadLetter, SqsDeadLetterQueue, SqsSender
from rootwatch.adapters.secrets import WebhookSecrets, is_acceptable_webhook_url
from rootwatch.adapters.slack import SlackWebhookClient
from rootwatch.local.slack_receiver import ScriptedResponse, SlackReceiver
from rootwatch.render.email import render_email
from rootwatch.routing import Destination
from rootwatch.services.notifying import DeliveryError

from tests.support.alerts import FIRST
from tests.support.tables import create_audit_table

PAYLOAD = {
    "text": "hello",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}],
}


@pytest.fixture
def receiver() -> Iterator[SlackReceiver]:
    with SlackReceiver() as running:
        yield running


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


# --- Slack webhook client and the local receiver ---------------------------------------------


def test_slack_client_reports_what_slack_answered(receiver: SlackReceiver) -> None:
    receiver.script(
        ScriptedResponse.rate_limited(7),
        ScriptedResponse.server_error(),
        ScriptedResponse.rejected("channel_is_archived"),
    )
    client = SlackWebhookClient(timeout_seconds=5)
    url = receiver.webhook_url("/services/T/B/x")
    rate_limited = client.post(url, PAYLOAD)
    assert (rate_limited.status, rate_limited.retry_after_seconds) == (429, 7.0)
    assert client.post(url, PAYLOAD).status == 500
    refused = client.post(url, PAYLOAD)
    assert (refused.status, refused.error) == (400, "channel_is_archived")
    ok = client.post(url, PAYLOAD)
    assert ok.ok and ok.error is None
    assert [post.payload for post in receiver.posts] == [PAYLOAD] * 4
    assert [post.path for post in receiver.accepted()] == ["/services/T/B/x"]


def test_a_webhook_nobody_answers_is_reported_without_its_url() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T/B/secret-token"
    reply = SlackWebhookClient(timeout_seconds=1).post(url, PAYLOAD)
    assert reply.status is None
    assert reply.error == "ConnectionError"


def test_a_webhook_that_accepts_but_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/services/T/B/x"
        reply = SlackWebhookClient(timeout_seconds=0.2).post(url, PAYLOAD)
    assert (reply.status, reply.error) == (None, "timed out")


def test_the_receiver_refuses_what_slack_would_refuse(receiver: SlackReceiver) -> None:
    url = receiver.webhook_url()
    assert requests.post(url, data=b"not json", timeout=5).text == "invalid_payload"
    assert requests.post(url, json={"blocks": []}, timeout=5).text == "no_text"
    too_many = {"text": "x", "blocks": [{"type": "divider"}] * 51}
    assert requests.post(url, json=too_many, timeout=5).text == "invalid_blocks"
    too_long = {"text": "x", "blocks": [{"type": "section", "text": {"text": "y" * 3001}}]}
    assert requests.post(url, json=too_long, timeout=5).status_code == 400
    assert [post.status for post in receiver.posts] == [400] * 4
    assert receiver.accepted() == []


def test_the_receiver_scripts_per_path_before_any_path(receiver: SlackReceiver) -> None:
    receiver.script(ScriptedResponse.server_error(), path="/a")
    receiver.script(ScriptedResponse.rate_limited(1))
    receiver.always(ScriptedResponse.rejected(), path="/b")
    answers = [
        requests.post(receiver.webhook_url(path), json=PAYLOAD, timeout=5).status_code
        for path in ("/b", "/a", "/a", "/b", "/c")
    ]
    assert answers == [429, 500, 200, 400, 200]


# --- webhook secrets ---------------------------------------------------------------------------


def test_webhook_urls_come_from_secrets_and_are_cached(aws: None) -> None:
    client = boto3.client("secretsmanager")
    client.create_secret(Name="rootwatch/slack/ops", SecretString=" https://hooks.slack.com/x \n")
    secrets = WebhookSecrets(client, max_age_seconds=300)
    assert secrets.webhook_url("rootwatch/slack/ops") == "https://hooks.slack.com/x"
    client.put_secret_value(
        SecretId="rootwatch/slack/ops", SecretString="https://hooks.slack.com/y"
    )
    assert secrets.webhook_url("rootwatch/slack/ops") == "https://hooks.slack.com/x"
    assert WebhookSecrets(client).webhook_url("rootwatch/slack/ops") == "https://hooks.slack.com/y"


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        (
            "rootwatch/slack/missing",
            None,
            "cannot read the webhook secret (ResourceNotFoundException)",
        ),
        ("rootwatch/slack/plain-http", "http://hooks.example.com/x", "not an https URL"),
        ("rootwatch/slack/not-a-url", "hooks.slack.com/x", "not an https URL"),
        ("rootwatch/slack/creds", "https://user:pw@hooks.example.com/x", "not an https URL"),
        ("rootwatch/slack/a name;with spaces", None, "not a valid secret name"),
    ],
)
def test_unusable_webhook_secrets_are_permanent_failures(
    aws: None, name: str, value: str | None, reason: str
) -> None:
    client = boto3.client("secretsmanager")
    if value is not None:
        client.create_secret(Name=name, SecretString=value)
    with pytest.raises(DeliveryError) as failure:
        WebhookSecrets(client).webhook_url(name)
    assert failure.value.permanent
    assert reason in failure.value.reason
    assert "hooks" not in failure.value.reason


def test_plain_http_webhooks_are_accepted_only_on_loopback() -> None:
    assert is_acceptable_webhook_url("http://127.0.0.1:8080/services/x")
    assert is_acceptable_webhook_url("http://localhost/x")
    assert not is_acceptable_webhook_url("http://127.0.0.1.evil.example/x")
    assert not is_acceptable_webhook_url("https://hooks.slack.com/x y")


# --- delivery records and the DLQ --------------------------------------------------------------


def test_delivery_records_keep_a_delivery_over_any_later_failure(aws: None) -> None:
    dynamodb = boto3.client("dynamodb")
    table = create_audit_table(dynamodb)
    moment = datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)
    records = DeliveryRecords(dynamodb, table, retention_days=30, clock=lambda: moment)
    ops = Destination("slack", "rootwatch/slack/ops")
    soc = Destination("email", "soc@example.com")

    assert records.delivered(FIRST.alert_id) == frozenset()
    records.record_failed(FIRST, ops, "Slack HTTP 500")
    records.record_delivered(FIRST, soc, attempts=1)
    assert records.delivered(FIRST.alert_id) == {"email:soc@example.com"}

    records.record_delivered(FIRST, ops, attempts=2)
    records.record_failed(FIRST, ops, "a late failure from a concurrent receive")
    assert records.delivered(FIRST.alert_id) == {
        "slack:rootwatch/slack/ops",
        "email:soc@example.com",
    }

    item = dynamodb.get_item(
        TableName=table,
        Key={"pk": {"S": f"DELIVERY#{FIRST.alert_id}"}, "sk": {"S": "slack:rootwatch/slack/ops"}},
    )["Item"]
    assert item["status"]["S"] == "delivered"
    assert item["attempts"]["N"] == "2"
    assert item["incident_id"]["S"] == "3f9c2a7e"
    assert item["at"]["S"] == "2026-11-28T14:02:11Z"
    assert int(item[keys.TTL_ATTRIBUTE]["N"]) == int(moment.timestamp()) + 30 * 86400


def test_undeliverable_alerts_reach_the_dlq_with_their_reason(aws: None) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="notify-dlq")["QueueUrl"]
    letter = DeadLetter(
        key="a", body='{"alert_id": "a"}', reason="slack:x: HTTP 500", attributes={"alert_id": "a"}
    )
    assert SqsDeadLetterQueue(SqsSender(sqs, dlq)).send_dead_letters([letter]) == set()
    [message] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert message["Body"] == '{"alert_id": "a"}'
    assert message["MessageAttributes"]["reason"]["StringValue"] == "slack:x: HTTP 500"
    assert message["MessageAttributes"]["alert_id"]["StringValue"] == "a"


# --- email -------------------------------------------------------------------------------------


def test_ses_refusals_are_permanent(aws: None) -> None:
    mailer = SesMailer(boto3.client("sesv2"), "unverified@alerts.example")
    with pytest.raises(DeliveryError) as refused:
        mailer.send("soc@example.com", render_email(FIRST), FIRST.alert_id)
    assert refused.value.permanent
    assert refused.value.reason == "SES refused: MessageRejected"


@pytest.mark.parametrize(
    "address", ["not-an-address", "a@b", "x@example.com\r\nBcc: y@example.com", "a,b@example.com"]
)
def test_addresses_that_are_not_one_mailbox_are_refused_before_sending(
    aws: None, address: str
) -> None:
    ses = boto3.client("sesv2")
    ses.create_email_identity(EmailIdentity="rootwatch@alerts.example")
    with pytest.raises(DeliveryError, match="not a valid email address"):
        SesMailer(ses, "rootwatch@alerts.example").send(address, render_email(FIRST), "a")


def test_publishing_to_a_missing_topic_is_permanent(aws: None) -> None:
    publisher = SnsTopicPublisher(boto3.client("sns"))
    with pytest.raises(DeliveryError) as refused:
        publisher.publish("arn:aws:sns:us-east-1:123456789012:missing", render_email(FIRST))
    assert refused.value.permanent
    assert refused.value.reason.startswith("SNS refused: NotFound")


def test_the_topic_gets_the_plain_text_and_the_ascii_subject(aws: None) -> None:
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
    email = render_email(FIRST)
    SnsTopicPublisher(sns).publish(topic, email)
    [message] = sqs.receive_message(QueueUrl=inbox)["Messages"]
    notification = json.loads(message["Body"])
    assert notification["Message"] == email.text
    assert notification["Subject"] == email.ascii_subject
