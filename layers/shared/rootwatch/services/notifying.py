"""Delivering one alert message to every destination it routes to, at least once each.

For each message from the notify queue:

1. Parse the alert; a message that is not an alert goes to the DLQ with the reason.
2. Route it (defaults plus the account entry's destinations).
3. Read its delivery records once, and skip every destination that already has it: a
   retried message never sends twice where it was delivered.
4. Send to the others. Slack `429` waits `Retry-After` when the invocation has the time;
   timeouts and `5xx` are retried with exponential backoff; other `4xx` are permanent for
   that destination. Each success is recorded (and each permanent failure, with its reason).
5. If a destination failed for a reason that may pass and the message has receives left,
   the message fails, so SQS delivers it again after its visibility timeout. Otherwise
   (only permanent failures, or the last receive) it goes to the DLQ with the reason of
   every failed destination, and counts as handled.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, Literal, Protocol

from msgspec import Struct
from msgspec.structs import replace

from rootwatch.adapters.queues import DeadLetter, DeadLetterQueue
from rootwatch.alerts import Alert
from rootwatch.render.email import RenderedEmail, render_email
from rootwatch.render.slack import render_slack
from rootwatch.render.text import clean, plural
from rootwatch.routing import Destination, RoutingPolicy, route

REASON_LIMIT = 1000
# Alert ids key delivery records and travel as SQS attributes.
_ALERT_ID = re.compile(r"[\x21-\x7e]{1,200}")


class DeadLetterNotSent(Exception):
    """SQS did not take the message onto the DLQ; the message must be retried."""


class DeliveryError(Exception):
    """A destination could not be reached; `permanent` when trying again cannot help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class SlackReply(Struct, frozen=True):
    """Slack's answer to one POST; `status` is None when no HTTP answer came (timeout)."""

    status: int | None
    retry_after_seconds: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookDirectory(Protocol):
    def webhook_url(self, secret_name: str) -> str:
        """The webhook URL stored in the secret; raises DeliveryError."""
        ...


class SlackPoster(Protocol):
    def post(self, url: str, payload: Mapping[str, Any]) -> SlackReply: ...


class Mailer(Protocol):
    def send(self, to: str, email: RenderedEmail, alert_id: str) -> None:
        """Send to one address; raises DeliveryError."""
        ...


class TopicPublisher(Protocol):
    def publish(self, topic_arn: str, email: RenderedEmail) -> None:
        """Publish the plain-text email to the topic; raises DeliveryError."""
        ...


class DeliveryLog(Protocol):
    def delivered(self, alert_id: str) -> frozenset[str]:
        """Ids of the destinations this alert was already delivered to."""
        ...

    def record_delivered(self, alert: Alert, destination: Destination, attempts: int) -> None: ...

    def record_failed(self, alert: Alert, destination: Destination, reason: str) -> None: ...


class RetryPolicy(Struct, frozen=True):
    # Tries for one destination when Slack times out or answers 5xx.
    attempts: int = 3
    # The first wait between those tries; it doubles each time.
    backoff_seconds: float = 0.5
    # How many `Retry-After` waits one destination may take in one invocation.
    rate_limit_waits: int = 3
    # The wait when Slack answers 429 without a usable `Retry-After`.
    default_retry_after_seconds: float = 1.0
    # Invocation time kept back for recording results and dead-lettering.
    reserve_seconds: float = 3.0
    # The longest one send may take (the HTTP timeout); no send starts with less time left.
    send_seconds: float = 5.0


DestinationStatus = Literal["sent", "already-delivered", "failed"]
Disposition = Literal["delivered", "retry", "dead-lettered"]


class DestinationResult(Struct, frozen=True):
    destination: Destination
    status: DestinationStatus
    attempts: int = 0
    reason: str | None = None
    permanent: bool = False
    # Something that went wrong around the send without failing it (a record not written).
    warning: str | None = None


class MessageResult(Struct, frozen=True):
    disposition: Disposition
    alert: Alert | None = None
    destinations: tuple[DestinationResult, ...] = ()
    reason: str | None = None

    @property
    def failed(self) -> tuple[DestinationResult, ...]:
        return tuple(result for result in self.destinations if result.status == "failed")

    @property
    def sent(self) -> tuple[DestinationResult, ...]:
        return tuple(result for result in self.destinations if result.status == "sent")


class NotifierSettings(Struct, frozen=True):
    table_name: str
    dlq_url: str
    max_receive_count: int
    slack_secret_prefix: str
    default_slack_secrets: tuple[str, ...] = ()
    default_emails: tuple[str, ...] = ()
    ses_sender: str | None = None
    alert_topic_arn: str | None = None
    slack_timeout_seconds: float = 5.0
    retention_days: int | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> NotifierSettings:
        def required(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise ValueError(f"environment variable {name} must be set")
            return value

        def number(name: str, default: float | None) -> float | None:
            text = environ.get(name, "").strip()
            if not text:
                return default
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"environment variable {name} must be a number") from None
            if value <= 0:
                raise ValueError(f"environment variable {name} must be positive")
            return value

        max_receive_count = number("MAX_RECEIVE_COUNT", None)
        if max_receive_count is None:
            raise ValueError("environment variable MAX_RECEIVE_COUNT must be set")
        retention_days = number("RETENTION_DAYS", None)
        return cls(
            table_name=required("TABLE_NAME"),
            dlq_url=required("NOTIFY_DLQ_URL"),
            max_receive_count=int(max_receive_count),
            slack_secret_prefix=environ.get("SLACK_SECRET_PREFIX", "").strip(),
            default_slack_secrets=_comma_list(environ.get("DEFAULT_SLACK_SECRETS", "")),
            default_emails=_comma_list(environ.get("DEFAULT_EMAILS", "")),
            ses_sender=environ.get("SES_SENDER", "").strip() or None,
            alert_topic_arn=environ.get("ALERT_TOPIC_ARN", "").strip() or None,
            slack_timeout_seconds=number("SLACK_TIMEOUT_SECONDS", 5.0) or 5.0,
            retention_days=int(retention_days) if retention_days else None,
        )

    @property
    def routing(self) -> RoutingPolicy:
        return RoutingPolicy(
            slack_secret_prefix=self.slack_secret_prefix,
            default_slack_secrets=self.default_slack_secrets,
            default_emails=self.default_emails,
            # SES sends to each address; without a sender, the topic carries email.
            alert_topic_arn=None if self.ses_sender else self.alert_topic_arn,
        )


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


class _Rendered:
    """Each channel's rendering of one alert, made once and only when needed."""

    def __init__(self, alert: Alert) -> None:
        self.alert = alert

    @cached_property
    def slack(self) -> dict[str, Any]:
        return render_slack(self.alert)

    @cached_property
    def email(self) -> RenderedEmail:
        return render_email(self.alert)


class Notifier:
    def __init__(
        self,
        *,
        routing: RoutingPolicy,
        deliveries: DeliveryLog,
        dead_letters: DeadLetterQueue,
        webhooks: WebhookDirectory,
        slack: SlackPoster,
        mailer: Mailer | None,
        topic: TopicPublisher | None,
        max_receive_count: int,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._routing = routing
        self._deliveries = deliveries
        self._dead_letters = dead_letters
        self._webhooks = webhooks
        self._slack = slack
        self._mailer = mailer
        self._topic = topic
        self._max_receive_count = max_receive_count
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    def handle(
        self, body: str, *, receive_count: int, remaining_seconds: Callable[[], float]
    ) -> MessageResult:
        """Deliver one notify-queue message; `retry` means: fail it so SQS tries again."""
        try:
            alert = parse_alert(body)
        except ValueError as error:
            reason = _bounded(f"malformed alert: {error}")
            self._dead_letter(body, reason, None)
            return MessageResult("dead-lettered", reason=reason)

        try:
            return self._deliver_all(alert, body, receive_count, remaining_seconds)
        except Exception as error:
            # Nothing retrying can fix reaches here on the last receive: keep the message,
            # with what went wrong, rather than let SQS move it to the DLQ without a reason.
            if receive_count < self._max_receive_count:
                raise
            reason = _bounded(f"unexpected {type(error).__name__}: {error}")
            self._dead_letter(body, reason, alert.alert_id)
            return MessageResult("dead-lettered", alert, reason=reason)

    def _deliver_all(
        self,
        alert: Alert,
        body: str,
        receive_count: int,
        remaining_seconds: Callable[[], float],
    ) -> MessageResult:
        destinations = route(alert, self._routing)
        if not destinations:
            reason = "no destination: set DEFAULT_SLACK_SECRETS or DEFAULT_EMAILS"
            self._dead_letter(body, reason, alert.alert_id)
            return MessageResult("dead-lettered", alert, reason=reason)

        already = self._deliveries.delivered(alert.alert_id)
        rendered = _Rendered(alert)
        results = tuple(
            DestinationResult(destination, "already-delivered")
            if destination.destination_id in already
            else self._deliver(rendered, destination, remaining_seconds)
            for destination in destinations
        )

        failed = [result for result in results if result.status == "failed"]
        if not failed:
            return MessageResult("delivered", alert, results)
        reason = "; ".join(f"{r.destination.destination_id}: {r.reason}" for r in failed)
        may_pass = any(not result.permanent for result in failed)
        if may_pass and receive_count < self._max_receive_count:
            return MessageResult("retry", alert, results, reason)
        if may_pass:
            reason = f"still failing after {receive_count} receives: {reason}"
        reason = _bounded(reason)
        self._dead_letter(body, reason, alert.alert_id)
        return MessageResult("dead-lettered", alert, results, reason)

    def _dead_letter(self, body: str, reason: str, alert_id: str | None) -> None:
        letter = DeadLetter(
            key=alert_id or "message",
            body=body,
            reason=reason,
            attributes={"alert_id": alert_id} if alert_id else {},
        )
        if self._dead_letters.send_dead_letters([letter]):
            raise DeadLetterNotSent("SQS did not accept the message onto the DLQ")

    # --- one destination ---

    def _deliver(
        self,
        rendered: _Rendered,
        destination: Destination,
        remaining_seconds: Callable[[], float],
    ) -> DestinationResult:
        try:
            attempts = self._send(rendered, destination, remaining_seconds)
        except DeliveryError as error:
            failure = DestinationResult(
                destination, "failed", reason=error.reason, permanent=error.permanent
            )
            if not error.permanent:
                return failure
            reason = _bounded(error.reason)
            return self._record(
                failure,
                lambda: self._deliveries.record_failed(rendered.alert, destination, reason),
            )
        sent = DestinationResult(destination, "sent", attempts=attempts)
        return self._record(
            sent,
            lambda: self._deliveries.record_delivered(rendered.alert, destination, attempts),
        )

    @staticmethod
    def _record(result: DestinationResult, write: Callable[[], None]) -> DestinationResult:
        # The send already happened: a record that cannot be written must not undo it. At
        # worst a later retry of the same message sends it there once more.
        try:
            write()
        except Exception as error:
            return replace(result, warning=f"delivery record not written: {type(error).__name__}")
        return result

    def _send(
        self,
        rendered: _Rendered,
        destination: Destination,
        remaining_seconds: Callable[[], float],
    ) -> int:
        """Send to one destination; returns the attempts it took or raises DeliveryError."""
        if destination.kind == "slack":
            url = self._webhooks.webhook_url(destination.target)
            return self._post_to_slack(url, rendered.slack, remaining_seconds)
        self._require_time(remaining_seconds, "not attempted")
        if destination.kind == "sns":
            if self._topic is None:
                raise DeliveryError("no SNS publisher configured", permanent=True)
            self._topic.publish(destination.target, rendered.email)
            return 1
        if self._mailer is None:
            raise DeliveryError(
                "email is not configured: set SES_SENDER or ALERT_TOPIC_ARN", permanent=True
            )
        self._mailer.send(destination.target, rendered.email, rendered.alert.alert_id)
        return 1

    def _post_to_slack(
        self, url: str, payload: Mapping[str, Any], remaining_seconds: Callable[[], float]
    ) -> int:
        retry = self._retry
        attempts = failures = waits = 0
        last_problem = "not attempted"
        while True:
            self._require_time(remaining_seconds, last_problem)
            attempts += 1
            reply = self._slack.post(url, payload)
            if reply.ok:
                return attempts
            if reply.status == 429:
                wait = reply.retry_after_seconds
                if wait is None or wait < 0:
                    wait = retry.default_retry_after_seconds
                last_problem = f"rate limited by Slack (Retry-After {wait:g} s)"
                if waits >= retry.rate_limit_waits or not self._can_wait(wait, remaining_seconds):
                    raise DeliveryError(last_problem, permanent=False)
                waits += 1
                self._sleep(wait)
                continue
            if reply.status is None or reply.status >= 500:
                failures += 1
                answer = f"HTTP {reply.status}" if reply.status else "no answer"
                detail = f" ({reply.error})" if reply.error else ""
                last_problem = f"Slack {answer}{detail} after {plural(attempts, 'attempt')}"
                delay = retry.backoff_seconds * 2 ** (failures - 1)
                if failures >= retry.attempts or not self._can_wait(delay, remaining_seconds):
                    raise DeliveryError(last_problem, permanent=False)
                self._sleep(delay)
                continue
            detail = f": {reply.error}" if reply.error else ""
            raise DeliveryError(
                f"Slack refused the message: HTTP {reply.status}{detail}", permanent=True
            )

    def _can_wait(self, seconds: float, remaining_seconds: Callable[[], float]) -> bool:
        budget = remaining_seconds() - self._retry.reserve_seconds - self._retry.send_seconds
        return seconds <= budget

    def _require_time(self, remaining_seconds: Callable[[], float], problem: str) -> None:
        if not self._can_wait(0, remaining_seconds):
            raise DeliveryError(f"invocation out of time ({problem})", permanent=False)


def parse_alert(body: str) -> Alert:
    """The alert in a notify-queue message; ValueError says what is wrong with it."""
    alert = Alert.from_json(body)
    if not _ALERT_ID.fullmatch(alert.alert_id):
        raise ValueError("alert_id is not 1-200 printable ASCII characters")
    if not alert.account.account_id:
        raise ValueError("account.account_id is empty")
    return alert


def _bounded(reason: str) -> str:
    """One line of printable text (it becomes an SQS attribute and a table attribute)."""
    return clean(reason, REASON_LIMIT) or "unknown"
