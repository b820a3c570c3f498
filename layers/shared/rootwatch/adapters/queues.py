"""SQS senders: alerts onto the notify queue, and unusable messages into a DLQ with a reason.

Both the processor (malformed ingest messages) and the notifier (undeliverable alerts) park
messages through `SqsDeadLetterQueue`: the body as received, a `reason` attribute, and any
attributes of the letter's own (the notifier's `alert_id`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct, field

from rootwatch.alerts import Alert

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

BATCH_ENTRIES = 10
# SendMessageBatch refuses batches over 256 KiB (bodies and attributes together).
BATCH_BYTES = 256 * 1024
REASON_ATTRIBUTE = "reason"
REASON_LIMIT = 1000


class DeadLetter(Struct, frozen=True):
    """A message that can never be processed, with why."""

    key: str
    body: str
    reason: str
    attributes: Mapping[str, str] = field(default_factory=dict)


class OutgoingMessage(Struct, frozen=True):
    key: str
    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        attributes = sum(
            len(name) + len(value) + len("String") for name, value in self.attributes.items()
        )
        return len(self.body.encode()) + attributes


class AlertQueue(Protocol):
    def send_alerts(self, alerts: Sequence[Alert]) -> set[str]:
        """Enqueue alerts; returns the ids of those SQS did not accept."""
        ...


class DeadLetterQueue(Protocol):
    def send_dead_letters(self, letters: Sequence[DeadLetter]) -> set[str]:
        """Park messages with their reason; returns the keys of those SQS did not accept."""
        ...


class SqsSender:
    """SendMessageBatch in as few calls as SQS allows."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, messages: Sequence[OutgoingMessage]) -> set[str]:
        failed: set[str] = set()
        for batch in _batches(messages):
            entries: list[Any] = [
                {
                    "Id": str(index),
                    "MessageBody": message.body,
                    **(
                        {
                            "MessageAttributes": {
                                name: {"DataType": "String", "StringValue": value}
                                for name, value in message.attributes.items()
                            }
                        }
                        if message.attributes
                        else {}
                    ),
                }
                for index, message in enumerate(batch)
            ]
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            failed.update(batch[int(entry["Id"])].key for entry in response.get("Failed", []))
        return failed


class SqsAlertQueue:
    def __init__(self, sender: SqsSender) -> None:
        self._sender = sender

    def send_alerts(self, alerts: Sequence[Alert]) -> set[str]:
        return self._sender.send(
            [
                OutgoingMessage(
                    key=alert.alert_id,
                    body=alert.to_json(),
                    attributes={"kind": alert.kind, "severity": alert.severity},
                )
                for alert in alerts
            ]
        )


class SqsDeadLetterQueue:
    def __init__(self, sender: SqsSender) -> None:
        self._sender = sender

    def send_dead_letters(self, letters: Sequence[DeadLetter]) -> set[str]:
        return self._sender.send(
            [
                OutgoingMessage(
                    key=letter.key,
                    body=letter.body,
                    attributes={
                        **letter.attributes,
                        REASON_ATTRIBUTE: letter.reason[:REASON_LIMIT] or "unknown",
                    },
                )
                for letter in letters
            ]
        )


def _batches(messages: Sequence[OutgoingMessage]) -> list[list[OutgoingMessage]]:
    batches: list[list[OutgoingMessage]] = []
    current: list[OutgoingMessage] = []
    current_bytes = 0
    for message in messages:
        if current and (
            len(current) == BATCH_ENTRIES or current_bytes + message.size > BATCH_BYTES
        ):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(message)
        current_bytes += message.size
    if current:
        batches.append(current)
    return batches
