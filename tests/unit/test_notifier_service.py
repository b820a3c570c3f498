"""The notifying service against small fakes of its own interfaces: retries and DLQ policy."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from rootwatch.adapters.queues import DeadLetter
from rootwatch.alerts import Alert
from rootwatch.render.email import RenderedEmail, render_email
from rootwatch.render.slack import render_slack
from rootwatch.routing import Destination, RoutingPolicy
from rootwatch.services.notifying import (
    DeadLetterNotSent,
    DeliveryError,
    MessageResult,
    Notifier,
    NotifierSettings,
    RetryPolicy,
    SlackReply,
    parse_alert,
)

from tests.support.alerts import FIRST, with_attacker_text

OPS = "rootwatch/slack/ops"
ACME = "rootwatch/slack/acme"
ROUTING = RoutingPolicy(
    slack_secret_prefix="rootwatch/slack/",
    default_slack_secrets=("ops",),
    default_emails=("soc@example.com",),
)
BODY = json.dumps(FIRST.to_dict())
MAX_RECEIVES = 3
PLENTY_OF_TIME = 55.0


@dataclass
class Webhooks:
    broken: dict[str, DeliveryError] = field(default_factory=dict)

    def webhook_url(self, secret_name: str) -> str:
        if secret_name in self.broken:
            raise self.broken[secret_name]
        return f"https://hooks.slack.test/{secret_name}"


@dataclass
class Slack:
    """Answers each webhook with its scripted replies in turn, then 200."""

    replies: dict[str, list[SlackReply]] = field(default_factory=dict)
    posts: list[tuple[str, int | None]] = field(default_factory=list)

    def post(self, url: str, payload: Mapping[str, Any]) -> SlackReply:
        json.dumps(payload)
        secret = url.removeprefix("https://hooks.slack.test/")
        queue = self.replies.get(secret, [])
        reply = queue.pop(0) if queue else SlackReply(200)
        self.posts.append((secret, reply.status))
        return reply

    def posted(self, secret: str) -> int:
        return sum(1 for posted, _ in self.posts if posted == secret)

    def delivered(self, secret: str) -> int:
        return sum(1 for posted, status in self.posts if posted == secret and status == 200)


@dataclass
class Mail:
    failure: DeliveryError | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, to: str, email: RenderedEmail, alert_id: str) -> None:
        if self.failure:
            raise self.failure
        self.sent.append((to, email.subject))


@dataclass
class Topic:
    published: list[tuple[str, str]] = field(default_factory=list)

    def publish(self, topic_arn: str, email: RenderedEmail) -> None:
        self.published.append((topic_arn, email.ascii_subject))


@dataclass
class Deliveries:
    records: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    read_error: Exception | None = None
    write_error: Exception | None = None

    def delivered(self, alert_id: str) -> frozenset[str]:
        if self.read_error:
            raise self.read_error
        return frozenset(
            destination
            for (alert, destination), (status, _) in self.records.items()
            if alert == alert_id and status == "delivered"
        )

    def record_delivered(self, alert: Alert, destination: Destination, attempts: int) -> None:
        if self.write_error:
            raise self.write_error
        self.records[(alert.alert_id, destination.destination_id)] = ("delivered", "")

    def record_failed(self, alert: Alert, destination: Destination, reason: str) -> None:
        self.records[(alert.alert_id, destination.destination_id)] = ("failed", reason)


@dataclass
class DeadLetters:
    letters: list[tuple[str, str, str | None]] = field(default_factory=list)
    refuse: bool = False

    def send_dead_letters(self, letters: Sequence[DeadLetter]) -> set[str]:
        if self.refuse:
            return {letter.key for letter in letters}
        for letter in letters:
            self.letters.append((letter.body, letter.reason, letter.attributes.get("alert_id")))
        return set()


@dataclass
class Clock:
    """Remaining invocation time that runs down only when the service sleeps."""

    remaining: float = PLENTY_OF_TIME
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.remaining -= seconds


@dataclass
class World:
    webhooks: Webhooks = field(default_factory=Webhooks)
    slack: Slack = field(default_factory=Slack)
    mail: Mail = field(default_factory=Mail)
    topic: Topic = field(default_factory=Topic)
    deliveries: Deliveries = field(default_factory=Deliveries)
    dead_letters: DeadLetters = field(default_factory=DeadLetters)
    clock: Clock = field(default_factory=Clock)

    def notifier(self, routing: RoutingPolicy = ROUTING) -> Notifier:
        return Notifier(
            routing=routing,
            deliveries=self.deliveries,
            dead_letters=self.dead_letters,
            webhooks=self.webhooks,
            slack=self.slack,
            mailer=self.mail,
            topic=self.topic,
            max_receive_count=MAX_RECEIVES,
            retry=RetryPolicy(send_seconds=5.0, reserve_seconds=3.0),
            sleep=self.clock.sleep,
        )

    def handle(self, receive: int = 1, body: str = BODY) -> MessageResult:
        return self.notifier().handle(
            body, receive_count=receive, remaining_seconds=lambda: self.clock.remaining
        )


def statuses(result: MessageResult) -> dict[str, str]:
    return {item.destination.destination_id: item.status for item in result.destinations}


def test_an_alert_goes_once_to_each_destination_and_is_recorded() -> None:
    world = World()
    result = world.handle()
    assert result.disposition == "delivered"
    assert statuses(result) == {
        f"slack:{OPS}": "sent",
        f"slack:{ACME}": "sent",
        "email:soc@example.com": "sent",
        "email:root-owner@acme.example": "sent",
    }
    assert world.slack.delivered(OPS) == 1 and world.slack.delivered(ACME) == 1
    assert [to for to, _ in world.mail.sent] == ["soc@example.com", "root-owner@acme.example"]
    assert len(world.deliveries.records) == 4
    assert world.dead_letters.letters == []


def test_a_retried_message_skips_destinations_that_already_have_it() -> None:
    world = World()
    world.handle()
    again = world.handle(receive=2)
    assert again.disposition == "delivered"
    assert set(statuses(again).values()) == {"already-delivered"}
    assert world.slack.delivered(OPS) == 1
    assert len(world.mail.sent) == 2


def test_slack_429_waits_retry_after_then_delivers_once() -> None:
    world = World()
    world.slack.replies[OPS] = [SlackReply(429, retry_after_seconds=2)]
    result = world.handle()
    assert result.disposition == "delivered"
    assert world.clock.slept == [2]
    assert next(item for item in result.sent if item.destination.target == OPS).attempts == 2


def test_a_429_without_retry_after_waits_a_second() -> None:
    world = World()
    world.slack.replies[OPS] = [SlackReply(429)]
    assert world.handle().disposition == "delivered"
    assert world.clock.slept == [1.0]


def test_a_retry_after_beyond_the_invocation_fails_the_message_for_sqs_to_retry() -> None:
    world = World()
    world.slack.replies[OPS] = [SlackReply(429, retry_after_seconds=120)]
    result = world.handle()
    assert result.disposition == "retry"
    assert world.clock.slept == []
    assert "rate limited by Slack (Retry-After 120 s)" in (result.reason or "")
    # The other destinations were delivered and will be skipped on the retry.
    assert statuses(result)[f"slack:{ACME}"] == "sent"
    assert world.handle(receive=2).disposition == "delivered"
    assert world.slack.delivered(ACME) == 1


def test_5xx_and_timeouts_are_retried_with_exponential_backoff() -> None:
    world = World()
    world.slack.replies[OPS] = [SlackReply(500), SlackReply(None, error="timed out")]
    result = world.handle()
    assert result.disposition == "delivered"
    assert world.clock.slept == [0.5, 1.0]


def test_a_slack_that_keeps_failing_is_retried_then_dead_lettered_with_the_reason() -> None:
    world = World()
    world.slack.replies[OPS] = [SlackReply(503, error="service_unavailable")] * 9
    first = world.handle(receive=1)
    assert first.disposition == "retry"
    assert world.dead_letters.letters == []
    second = world.handle(receive=2)
    assert second.disposition == "retry"
    last = world.handle(receive=MAX_RECEIVES)
    assert last.disposition == "dead-lettered"
    body, reason, alert_id = world.dead_letters.letters[0]
    assert (body, alert_id) == (BODY, FIRST.alert_id)
    assert reason == (
        "still failing after 3 receives: slack:rootwatch/slack/ops: "
        "Slack HTTP 503 (service_unavailable) after 3 attempts"
    )
    # Every other destination got the alert exactly once across the three receives.
    assert world.slack.delivered(ACME) == 1
    assert len(world.mail.sent) == 2


def test_a_4xx_is_permanent_recorded_and_dead_lettered_at_once() -> None:
    world = World()
    world.slack.replies[OPS] = [SlackReply(404, error="no_service")]
    result = world.handle(receive=1)
    assert result.disposition == "dead-lettered"
    assert world.slack.posted(OPS) == 1
    assert world.deliveries.records[(FIRST.alert_id, f"slack:{OPS}")] == (
        "failed",
        "Slack refused the message: HTTP 404: no_service",
    )
    assert (
        "slack:rootwatch/slack/ops: Slack refused the message" in world.dead_letters.letters[0][1]
    )


def test_a_permanent_failure_waits_while_another_destination_may_still_succeed() -> None:
    world = World()
    world.slack.replies[OPS] = [SlackReply(400, error="invalid_blocks")] * 2
    world.slack.replies[ACME] = [SlackReply(500)] * 3
    assert world.handle(receive=1).disposition == "retry"
    # Receive 2: Slack takes the message for acme; only the permanent failure is left.
    second = world.handle(receive=2)
    assert second.disposition == "dead-lettered"
    assert world.slack.delivered(ACME) == 1 and world.slack.posted(ACME) == 4
    assert world.slack.posted(OPS) == 2 and world.slack.delivered(OPS) == 0
    assert world.dead_letters.letters[0][1] == (
        "slack:rootwatch/slack/ops: Slack refused the message: HTTP 400: invalid_blocks"
    )


def test_a_missing_webhook_secret_is_permanent() -> None:
    world = World()
    world.webhooks.broken[ACME] = DeliveryError("cannot read the webhook secret", permanent=True)
    result = world.handle()
    assert result.disposition == "dead-lettered"
    assert world.slack.delivered(OPS) == 1


def test_an_email_failure_that_may_pass_is_retried() -> None:
    world = World()
    world.mail.failure = DeliveryError("SES refused: TooManyRequestsException", permanent=False)
    assert world.handle().disposition == "retry"


def test_without_ses_email_goes_once_to_the_topic() -> None:
    world = World()
    topic = "arn:aws:sns:us-east-1:111122223333:alerts"
    routing = RoutingPolicy("rootwatch/slack/", ("ops",), ("soc@example.com",), topic)
    result = world.notifier(routing).handle(BODY, receive_count=1, remaining_seconds=lambda: 50)
    assert result.disposition == "delivered"
    assert world.topic.published == [(topic, render_email(FIRST).ascii_subject)]
    assert world.mail.sent == []


def test_email_without_a_mailer_is_a_configuration_error() -> None:
    world = World()
    notifier = Notifier(
        routing=ROUTING,
        deliveries=world.deliveries,
        dead_letters=world.dead_letters,
        webhooks=world.webhooks,
        slack=world.slack,
        mailer=None,
        topic=None,
        max_receive_count=MAX_RECEIVES,
    )
    result = notifier.handle(BODY, receive_count=1, remaining_seconds=lambda: 50)
    assert result.disposition == "dead-lettered"
    assert "email is not configured" in (result.reason or "")


def test_nothing_is_sent_when_the_invocation_is_about_to_end() -> None:
    world = World()
    world.clock.remaining = 4.0
    result = world.handle()
    assert result.disposition == "retry"
    assert world.slack.posts == []
    assert world.mail.sent == []
    assert "invocation out of time" in (result.reason or "")


def test_a_delivery_record_that_cannot_be_written_does_not_undo_the_send() -> None:
    world = World()
    world.deliveries.write_error = RuntimeError("throttled")
    result = world.handle()
    assert result.disposition == "delivered"
    assert all(item.warning == "delivery record not written: RuntimeError" for item in result.sent)


def test_records_that_cannot_be_read_fail_the_message_until_the_last_receive() -> None:
    world = World()
    world.deliveries.read_error = RuntimeError("table unavailable")
    with pytest.raises(RuntimeError):
        world.handle(receive=1)
    result = world.handle(receive=MAX_RECEIVES)
    assert result.disposition == "dead-lettered"
    assert result.reason == "unexpected RuntimeError: table unavailable"
    assert world.slack.posts == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "malformed alert: body is not JSON (Expecting value"),
        ("[1, 2]", "malformed alert: body is not a JSON object"),
        ('{"alert_id": "a"}', "malformed alert: Object missing required field `kind`"),
        (
            json.dumps({**FIRST.to_dict(), "kind": "party"}),
            "malformed alert: Invalid enum value 'party' - at `$.kind`",
        ),
        (
            json.dumps({**FIRST.to_dict(), "kind": ["x"]}),
            "malformed alert: Expected `str`, got `array` - at `$.kind`",
        ),
        (json.dumps({**FIRST.to_dict(), "alert_id": "a\nb"}), "malformed alert: alert_id is not"),
        (
            json.dumps({**FIRST.to_dict(), "account": {"account_id": 1}}),
            "malformed alert: Expected `str`, got `int` - at `$.account.account_id`",
        ),
        (
            json.dumps({**FIRST.to_dict(), "account": {"account_id": ""}}),
            "malformed alert: account.account_id is empty",
        ),
    ],
)
def test_a_message_that_is_not_an_alert_goes_to_the_dlq_with_why(body: str, reason: str) -> None:
    world = World()
    result = world.handle(body=body)
    assert result.disposition == "dead-lettered"
    assert world.dead_letters.letters[0][0] == body
    assert world.dead_letters.letters[0][1].startswith(reason)
    assert world.slack.posts == []


def test_characters_utf8_or_sqs_cannot_carry_travel_escaped() -> None:
    agent = "Mozilla/5.0 \ud800\uffff\ufffe"
    alert = with_attacker_text(agent)
    body = alert.to_json()
    assert body.isascii()
    assert Alert.from_json(body) == alert
    world = World()
    assert world.handle(body=body).disposition == "delivered"
    shown = json.dumps(render_slack(Alert.from_json(body)), ensure_ascii=False)
    assert "Mozilla/5.0" in shown and "\ud800" not in shown


def test_fields_a_newer_processor_adds_do_not_stop_delivery() -> None:
    world = World()
    newer = FIRST.to_dict()
    newer["account"] = {**newer["account"], "region_hint": "eu-west-1"}
    result = world.handle(body=json.dumps({**newer, "sent_by": "processor 2"}))
    assert result.disposition == "delivered"
    assert world.slack.posts


def test_an_alert_with_no_destination_is_dead_lettered_rather_than_lost() -> None:
    world = World()
    alert = FIRST.to_dict() | {"account": {"account_id": "111122223333"}}
    result = world.notifier(RoutingPolicy("rootwatch/slack/")).handle(
        json.dumps(alert), receive_count=1, remaining_seconds=lambda: 50
    )
    assert result.disposition == "dead-lettered"
    assert result.reason and result.reason.startswith("no destination")


def test_a_message_the_dlq_does_not_accept_fails_so_sqs_delivers_it_again() -> None:
    world = World()
    world.dead_letters.refuse = True
    with pytest.raises(DeadLetterNotSent):
        world.handle(body="not json")
    assert world.dead_letters.letters == []


def test_parse_alert_round_trips_what_the_processor_sends() -> None:
    assert parse_alert(BODY) == FIRST


def test_settings_come_from_the_functions_environment() -> None:
    settings = NotifierSettings.from_environ(
        {
            "TABLE_NAME": "audit",
            "NOTIFY_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
            "MAX_RECEIVE_COUNT": "5",
            "SLACK_SECRET_PREFIX": "rootwatch/slack/",
            "DEFAULT_SLACK_SECRETS": "ops, security,",
            "DEFAULT_EMAILS": "soc@example.com",
            "SES_SENDER": "",
            "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:1:alerts",
            "SLACK_TIMEOUT_SECONDS": "4",
        }
    )
    assert settings.default_slack_secrets == ("ops", "security")
    assert settings.max_receive_count == 5 and settings.slack_timeout_seconds == 4.0
    assert settings.routing.alert_topic_arn == "arn:aws:sns:us-east-1:1:alerts"
    with_ses = NotifierSettings.from_environ(
        {
            "TABLE_NAME": "audit",
            "NOTIFY_DLQ_URL": "u",
            "MAX_RECEIVE_COUNT": "5",
            "SES_SENDER": "rootwatch@example.com",
            "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:1:alerts",
        }
    )
    assert with_ses.routing.alert_topic_arn is None


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("TABLE_NAME", "TABLE_NAME must be set"),
        ("MAX_RECEIVE_COUNT", "MAX_RECEIVE_COUNT must be set"),
    ],
)
def test_settings_say_which_variable_is_missing(missing: str, message: str) -> None:
    environ = {"TABLE_NAME": "audit", "NOTIFY_DLQ_URL": "u", "MAX_RECEIVE_COUNT": "5"}
    del environ[missing]
    with pytest.raises(ValueError, match=message):
        NotifierSettings.from_environ(environ)
