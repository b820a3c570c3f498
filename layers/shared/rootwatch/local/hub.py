"""`LocalHub`: the hub stack provisioned on moto's server, with its functions driven locally.

    with LocalHub(allowed_account_ids=["111122223333"]) as hub:
        hub.put_events([event, ...])
        hub.drain()
        hub.slack_posts(), hub.emails(), hub.audit_items(), hub.dlq_messages()

The hub is provisioned from `template.yaml` itself. Only what an operator supplies at
deploy time is local: the parameters (who may send, which Slack secrets and addresses get
every alert, the SES sender), the Slack webhook secrets (pointing at the local receiver),
and the verified SES sender identity.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from boto3.dynamodb.types import TypeDeserializer
from moto.sns.models import sns_backends

from rootwatch import keys
from rootwatch.adapters.queues import REASON_ATTRIBUTE
from rootwatch.local.driver import Invocation, LambdaDriver, MetricDatum, SetAside
from rootwatch.local.inputs import InputEvent, from_value, read_inputs
from rootwatch.local.provision import ProvisionedStack, provision
from rootwatch.local.server import Endpoint, MotoServer
from rootwatch.local.slack_receiver import SlackReceiver
from rootwatch.local.template import load_template
from rootwatch.reader import RecordError
from rootwatch.routing import RoutingPolicy

PUT_EVENTS_LIMIT: Final = 10
DEFAULT_REGION: Final = "us-east-1"
DEFAULT_STACK_NAME: Final = "rootwatch-hub"
DEFAULT_SLACK_CHANNELS: Final = ("security-alerts",)
DEFAULT_EMAILS: Final = ("security@example.com",)
DEFAULT_SES_SENDER: Final = "rootwatch@example.com"
_WEBHOOK_PATH_PREFIX: Final = "/services/local/"
# Item attributes that only serve the table's keys and the processor's bookkeeping.
_INTERNAL_ATTRIBUTES: Final = frozenset(
    {keys.PK, keys.SK, *(name for pair in keys.INDEXES.values() for name in pair)}
    | {"record", "lease_until", "claimed_by", "alert", "version"}
)


def default_template() -> Path:
    """`template.yaml` of the working directory, else the one of this source tree."""
    here = Path.cwd() / "template.yaml"
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[4] / "template.yaml"


@dataclass(frozen=True, slots=True)
class SlackPost:
    destination: str
    payload: Any
    status: int

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Email:
    to: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    via: str


@dataclass(frozen=True, slots=True)
class DeadLetterMessage:
    queue: str
    message: Any
    reason: str


@dataclass(frozen=True, slots=True)
class AlarmState:
    name: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    value: float
    threshold: float
    in_alarm: bool


@dataclass(frozen=True, slots=True)
class PutReport:
    put: int
    failed: tuple[tuple[InputEvent, str], ...]


class LocalHub:
    """The hub on this machine. One at a time per process: moto's state is process-wide."""

    def __init__(
        self,
        *,
        template: Path | None = None,
        region: str = DEFAULT_REGION,
        stack_name: str = DEFAULT_STACK_NAME,
        allowed_account_ids: Sequence[str] = (),
        allowed_org_ids: Sequence[str] = (),
        slack_channels: Sequence[str] = DEFAULT_SLACK_CHANNELS,
        emails: Sequence[str] = DEFAULT_EMAILS,
        ses_sender: str = DEFAULT_SES_SENDER,
        parameters: Mapping[str, str] | None = None,
        server: MotoServer | None = None,
    ) -> None:
        self.template_path = template or default_template()
        self.region = region
        self.stack_name = stack_name
        self._parameters = {
            "AllowedAccountIds": ",".join(allowed_account_ids),
            "AllowedOrgIds": ",".join(allowed_org_ids),
            "DefaultSlackSecrets": ",".join(slack_channels),
            "DefaultEmails": ",".join(emails),
            "SesSender": ses_sender,
            **(parameters or {}),
        }
        self._given_server = server
        self._server: MotoServer | None = None
        self._receiver: SlackReceiver | None = None
        self._stack: ProvisionedStack | None = None
        self._driver: LambdaDriver | None = None
        self._webhook_paths: dict[str, str] = {}

    # --- lifecycle ---

    def start(self) -> Self:
        if self._stack is not None:
            return self
        self._server = self._given_server or MotoServer()
        self._server.start()
        # moto's state is process-wide: whatever an earlier hub left is forgotten.
        self._server.reset()
        self._receiver = SlackReceiver().start()
        endpoint = self._server.endpoint(self.region)
        account_id = endpoint.client("sts").get_caller_identity()["Account"]
        self._stack = provision(
            load_template(self.template_path),
            endpoint,
            stack_name=self.stack_name,
            account_id=str(account_id),
            parameters=self._parameters,
        )
        self._supply_operator_resources()
        self._driver = LambdaDriver(self._stack)
        return self

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.stop()
        if self._server is not None and self._given_server is None:
            self._server.stop()
        self._receiver = self._server = None
        self._stack = self._driver = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _supply_operator_resources(self) -> None:
        """What an operator provides besides the stack: webhook secrets and the SES sender."""
        stack = self.stack
        for function in stack.functions.values():
            environment = function.environment
            if "SLACK_SECRET_PREFIX" in environment:
                policy = RoutingPolicy(slack_secret_prefix=environment["SLACK_SECRET_PREFIX"])
                for name in environment.get("DEFAULT_SLACK_SECRETS", "").split(","):
                    if name.strip():
                        self.add_slack_channel(policy.slack_secret_name(name))
            sender = environment.get("SES_SENDER", "").strip()
            if sender:
                self.endpoint.sesv2().create_email_identity(EmailIdentity=sender)

    # --- what the hub is made of ---

    @property
    def stack(self) -> ProvisionedStack:
        if self._stack is None:
            raise RuntimeError("the local hub is not running")
        return self._stack

    @property
    def driver(self) -> LambdaDriver:
        if self._driver is None:
            raise RuntimeError("the local hub is not running")
        return self._driver

    @property
    def slack(self) -> SlackReceiver:
        """The webhook receiver: script its answers (429, 500, ...) before draining."""
        if self._receiver is None:
            raise RuntimeError("the local hub is not running")
        return self._receiver

    @property
    def endpoint(self) -> Endpoint:
        return self.stack.endpoint

    @property
    def server(self) -> MotoServer:
        if self._server is None:
            raise RuntimeError("the local hub is not running")
        return self._server

    @property
    def bus_name(self) -> str:
        return str(self.stack.outputs["EventBusName"])

    @property
    def table_name(self) -> str:
        return str(self.stack.outputs["TableName"])

    def add_slack_channel(self, secret_name: str) -> str:
        """A Slack webhook secret pointing at the local receiver; returns its URL."""
        path = _WEBHOOK_PATH_PREFIX + urllib.parse.quote(secret_name, safe="")
        url = self.slack.webhook_url(path)
        self.endpoint.secretsmanager().create_secret(Name=secret_name, SecretString=url)
        self._webhook_paths[path] = secret_name
        return url

    # --- input ---

    def put_events(self, events: Iterable[Mapping[str, Any] | InputEvent]) -> PutReport:
        """Put events on the hub bus: EventBridge events as they are, records wrapped."""
        inputs = [event if isinstance(event, InputEvent) else from_value(event) for event in events]
        events_client = self.endpoint.events()
        failed: list[tuple[InputEvent, str]] = []
        for start in range(0, len(inputs), PUT_EVENTS_LIMIT):
            chunk = inputs[start : start + PUT_EVENTS_LIMIT]
            response = events_client.put_events(
                Entries=[event.entry(self.bus_name) for event in chunk]  # type: ignore[misc]
            )
            for event, entry in zip(chunk, response["Entries"], strict=True):
                if entry.get("ErrorCode"):
                    failed.append((event, f"{entry['ErrorCode']}: {entry.get('ErrorMessage')}"))
        return PutReport(put=len(inputs) - len(failed), failed=tuple(failed))

    def load(self, paths: Iterable[str | Path]) -> tuple[PutReport, list[RecordError]]:
        """Put every input event found under `paths`; unreadable inputs are returned."""
        errors: list[RecordError] = []
        events = list(read_inputs(paths, on_error=errors.append))
        return self.put_events(events), errors

    # --- running ---

    def drain(self) -> int:
        """Run the functions until every queue they consume is empty."""
        return self.driver.drain()

    def fire_schedules(self, *, at: datetime | None = None) -> int:
        return self.driver.fire_schedules(at=at)

    @property
    def invocations(self) -> list[Invocation]:
        return self.driver.invocations

    @property
    def function_errors(self) -> list[Invocation]:
        return [invocation for invocation in self.driver.invocations if invocation.error]

    @property
    def set_aside(self) -> list[SetAside]:
        return self.driver.set_aside

    @property
    def metrics(self) -> list[MetricDatum]:
        return self.driver.metrics

    def metric_total(self, name: str, **dimensions: str) -> float:
        return sum(
            datum.value
            for datum in self.metrics
            if datum.name == name
            and all(datum.dimensions.get(key) == value for key, value in dimensions.items())
        )

    # --- what came out ---

    def slack_posts(self) -> list[SlackPost]:
        """Every webhook POST the receiver got, in order, with the secret it was sent to."""
        return [
            SlackPost(
                destination=self._webhook_paths.get(post.path, post.path),
                payload=post.payload,
                status=post.status,
            )
            for post in self.slack.posts
        ]

    def emails(self) -> list[Email]:
        """Email sent through SES v2, then email published to the stack's topics."""
        sent = [
            Email(
                to=message.to,
                subject=message.subject,
                text=message.text,
                html=message.html,
                via="ses",
            )
            for message in self.server.sent_emails
        ]
        return sent + self._topic_emails()

    def _topic_emails(self) -> list[Email]:
        # moto keeps what each topic published (its documented internal API).
        backend = sns_backends[self.stack.account_id][self.region]
        sns = self.endpoint.sns()
        emails: list[Email] = []
        for resource in self.stack.of_type("AWS::SNS::Topic"):
            topic = backend.topics.get(str(resource.ref))
            if topic is None or not topic.sent_notifications:
                continue
            subscriptions = sns.list_subscriptions_by_topic(TopicArn=str(resource.ref))
            recipients = tuple(
                subscription["Endpoint"]
                for subscription in subscriptions["Subscriptions"]
                if subscription["Protocol"] in ("email", "email-json")
            )
            for _, message, subject, _, _ in topic.sent_notifications:
                emails.append(
                    Email(to=recipients, subject=subject or "", text=message, html=None, via="sns")
                )
        return emails

    def table_items(self) -> list[dict[str, Any]]:
        """Every item of the audit table, as plain JSON values."""
        dynamodb = self.endpoint.dynamodb()
        deserializer = TypeDeserializer()
        items: list[dict[str, Any]] = []
        # A local dump of the whole table; the command line itself only ever queries.
        for page in dynamodb.get_paginator("scan").paginate(TableName=self.table_name):
            for item in page["Items"]:
                items.append(
                    {key: _plain(deserializer.deserialize(value)) for key, value in item.items()}
                )
        return items

    def audit_items(self) -> list[dict[str, Any]]:
        """The audit log's root events, oldest first, without key and bookkeeping fields."""
        return audit_events(self.table_items())

    def incidents(self) -> list[dict[str, Any]]:
        return incidents_of(self.table_items())

    def dlq_messages(self) -> list[DeadLetterMessage]:
        """What waits in the template's dead-letter queues, left in place."""
        sqs = self.endpoint.sqs()
        letters: list[DeadLetterMessage] = []
        for logical_id, queue_url in self.stack.dead_letter_queues():
            seen: set[str] = set()
            handles: list[str] = []
            while True:
                received = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=60,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                fresh = [message for message in received if message["MessageId"] not in seen]
                if not fresh:
                    break
                for message in fresh:
                    seen.add(message["MessageId"])
                    handles.append(message["ReceiptHandle"])
                    letters.append(_dead_letter(logical_id, message))
            for start in range(0, len(handles), 10):
                sqs.change_message_visibility_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                        for index, handle in enumerate(handles[start : start + 10])
                    ],
                )
        return letters

    def alarms(self) -> list[AlarmState]:
        """Each alarm of the stack, evaluated as CloudWatch would on what happened here."""
        cloudwatch = self.endpoint.client("cloudwatch")
        states: list[AlarmState] = []
        for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
            dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
            value = self._alarm_value(alarm["Namespace"], alarm["MetricName"], dimensions)
            threshold = float(alarm["Threshold"])
            states.append(
                AlarmState(
                    name=alarm["AlarmName"],
                    namespace=alarm["Namespace"],
                    metric=alarm["MetricName"],
                    dimensions=dimensions,
                    value=value,
                    threshold=threshold,
                    in_alarm=_breaches(alarm["ComparisonOperator"], value, threshold),
                )
            )
        return states

    def _alarm_value(self, namespace: str, metric: str, dimensions: Mapping[str, str]) -> float:
        if namespace == "AWS/SQS" and "QueueName" in dimensions:
            url = self.endpoint.sqs().get_queue_url(QueueName=dimensions["QueueName"])["QueueUrl"]
            attributes = (
                self.endpoint.sqs()
                .get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                .get("Attributes", {})
            )
            if metric == "ApproximateNumberOfMessagesVisible":
                return float(attributes.get("ApproximateNumberOfMessages", 0))
            return 0.0
        if namespace == "AWS/Lambda" and "FunctionName" in dimensions:
            name = dimensions["FunctionName"]
            invocations = [
                invocation
                for invocation in self.driver.invocations
                if self.stack.functions[invocation.function].name == name
            ]
            if metric == "Errors":
                return float(sum(1 for invocation in invocations if invocation.error))
            if metric == "Invocations":
                return float(len(invocations))
            return 0.0
        return sum(
            datum.value
            for datum in self.metrics
            if datum.namespace == namespace
            and datum.name == metric
            and all(datum.dimensions.get(key) == value for key, value in dimensions.items())
        )


def audit_events(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The root events among the table's items, oldest first, without bookkeeping fields."""
    events = [_public(item) for item in items if item.get(keys.SK) == "EVENT"]
    return sorted(events, key=lambda item: (str(item.get("event_time")), str(item["event_id"])))


def incidents_of(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The incidents among the table's items, in the order they opened."""
    incidents = [_public(item) for item in items if item.get(keys.SK) == "INCIDENT"]
    return sorted(incidents, key=lambda item: str(item.get("opened_at")))


def _dead_letter(queue: str, message: Mapping[str, Any]) -> DeadLetterMessage:
    body = message.get("Body", "")
    try:
        content: Any = json.loads(body)
    except ValueError:
        content = body
    attributes = message.get("MessageAttributes") or {}
    # The function's own reason; Lambda's error for a failed asynchronous invocation;
    # otherwise the queue's redrive policy moved it after its last receive.
    reason = (
        (attributes.get(REASON_ATTRIBUTE) or {}).get("StringValue")
        or (attributes.get("ErrorMessage") or {}).get("StringValue")
        or "moved here by the queue's redrive policy (maxReceiveCount reached)"
    )
    return DeadLetterMessage(queue=queue, message=content, reason=reason)


def _breaches(operator: str, value: float, threshold: float) -> bool:
    comparisons = {
        "GreaterThanThreshold": value > threshold,
        "GreaterThanOrEqualToThreshold": value >= threshold,
        "LessThanThreshold": value < threshold,
        "LessThanOrEqualToThreshold": value <= threshold,
    }
    return comparisons.get(operator, False)


def _plain(value: Any) -> Any:
    """DynamoDB's values as JSON's: numbers as int or float, sets as sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(item) for item in value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return value


def _public(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in _INTERNAL_ATTRIBUTES}
