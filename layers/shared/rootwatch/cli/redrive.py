"""`rootwatch redrive`: move dead-letter messages back to their queue once the cause is fixed.

The ingest DLQ feeds the ingest queue (the processor's malformed records, and events the
hub rule could not deliver); the notify DLQ feeds the notify queue (undeliverable alerts;
delivery records keep a redriven alert from reaching a destination twice). Each message is
sent to its queue first and deleted from the DLQ only once the queue accepted it, so a
failure leaves it where it was. Only the messages the DLQ held when the command started
move: anything that fails again and returns is left for the next look.

`--dry-run` lists each message with why it failed (its `reason` attribute, or the error
EventBridge recorded) and changes nothing: the messages it read become visible again at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from rootwatch.adapters.queues import REASON_ATTRIBUTE
from rootwatch.cli.output import table_cell
from rootwatch.cli.target import (
    INGEST_DLQ_OUTPUT,
    INGEST_QUEUE_OUTPUT,
    NOTIFY_DLQ_OUTPUT,
    NOTIFY_QUEUE_OUTPUT,
    add_target_options,
    fail,
    hub_command,
    option,
    print_rows,
)
from rootwatch.render.text import plural

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from rootwatch.cli.hub import Hub

QUEUES: Final = {
    "ingest": (INGEST_DLQ_OUTPUT, INGEST_QUEUE_OUTPUT),
    "notify": (NOTIFY_DLQ_OUTPUT, NOTIFY_QUEUE_OUTPUT),
}
# Attributes that describe the failure, not the message: they stay behind.
FAILURE_ATTRIBUTES: Final = frozenset(
    {REASON_ATTRIBUTE, "ERROR_CODE", "ERROR_MESSAGE", "RULE_ARN", "TARGET_ARN"}
)
BATCH: Final = 10
# Long enough to send a batch on and delete it before SQS shows it to anyone else.
HOLD_SECONDS: Final = 60
RECEIVE_WAIT_SECONDS: Final = 1
KEYS: Final = ("queue", "message_id", "action", "reason", "about", "sent_at", "receive_count")


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    queue: str
    message_id: str
    action: str
    reason: str
    about: str
    sent_at: str | None
    receive_count: int | None

    def row(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in KEYS}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "redrive",
        help="move dead-letter messages back to their queue (after fixing the cause)",
        description=(
            "Move the messages of the ingest and notify dead-letter queues back to the "
            "queues they came from, so the processor and notifier try them again. "
            "--dry-run lists each message and why it failed, and changes nothing."
        ),
    )
    parser.add_argument(
        "--queue",
        choices=("ingest", "notify", "all"),
        default="all",
        help="which dead-letter queue (default all)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would move and why it failed"
    )
    add_target_options(parser, inherit=False)
    parser.set_defaults(handler=run)


@hub_command
def run(args: argparse.Namespace) -> int:
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    hub = connect(args)
    names = list(QUEUES) if args.queue == "all" else [args.queue]
    rows: list[DeadLetterRow] = []
    for name in names:
        dlq_output, queue_output = QUEUES[name]
        dead_letter_url, queue_url = hub.output(dlq_output), hub.output(queue_output)
        rows.extend(redrive(hub.sqs(), name, dead_letter_url, queue_url, dry_run=args.dry_run))
    output = option(args, "output")
    if output == "table":
        _print_messages(rows)
    else:
        print_rows([row.row() for row in rows], output=output, columns=(), keys=KEYS)
    _summarise(rows, dry_run=args.dry_run, hub=hub)
    return 1 if any(row.action == "failed" for row in rows) else 0


def redrive(
    sqs: SQSClient, name: str, dead_letter_url: str, queue_url: str, *, dry_run: bool
) -> list[DeadLetterRow]:
    """Move (or, dry, list) the messages `dead_letter_url` holds now to `queue_url`."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"]
    ).get("Attributes", {})
    remaining = int(attributes.get("ApproximateNumberOfMessages", "0"))
    rows: list[DeadLetterRow] = []
    held: list[MessageTypeDef] = []
    try:
        while remaining > 0:
            messages = sqs.receive_message(
                QueueUrl=dead_letter_url,
                MaxNumberOfMessages=min(BATCH, remaining),
                VisibilityTimeout=HOLD_SECONDS,
                WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            remaining -= len(messages)
            if dry_run:
                held.extend(messages)
                rows.extend(_row(name, message, "would move") for message in messages)
                continue
            moved = _move(sqs, messages, dead_letter_url, queue_url)
            for message in messages:
                action = "moved" if message["MessageId"] in moved else "failed"
                if action == "failed":
                    held.append(message)
                rows.append(_row(name, message, action))
    finally:
        # What was only looked at, or could not move, is visible in the DLQ again at once.
        _release(sqs, dead_letter_url, held)
    return rows


def _move(
    sqs: SQSClient, messages: Sequence[MessageTypeDef], dead_letter_url: str, queue_url: str
) -> set[str]:
    """Send a batch to its queue, then delete what was sent; the ids that moved."""
    by_entry = {str(index): message for index, message in enumerate(messages)}
    sent = sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {
                "Id": entry_id,
                "MessageBody": message["Body"],
                **_kept_attributes(message),  # type: ignore[typeddict-item]
            }
            for entry_id, message in by_entry.items()
        ],
    )
    accepted = [by_entry[entry["Id"]] for entry in sent.get("Successful", [])]
    if not accepted:
        return set()
    deleted = sqs.delete_message_batch(
        QueueUrl=dead_letter_url,
        Entries=[
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
            for index, message in enumerate(accepted)
        ],
    )
    # A message sent but not deleted would be redriven twice; reported as failed, it stays
    # in the DLQ, and its copy on the queue is handled once (dedup by event and alert id).
    return {accepted[int(entry["Id"])]["MessageId"] for entry in deleted.get("Successful", [])}


def _kept_attributes(message: MessageTypeDef) -> dict[str, Any]:
    attributes = {
        name: {
            key: value
            for key, value in attribute.items()
            if key in ("DataType", "StringValue", "BinaryValue")
        }
        for name, attribute in message.get("MessageAttributes", {}).items()
        if name not in FAILURE_ATTRIBUTES
    }
    return {"MessageAttributes": attributes} if attributes else {}


def _release(sqs: SQSClient, dead_letter_url: str, messages: Sequence[MessageTypeDef]) -> None:
    for start in range(0, len(messages), BATCH):
        chunk = messages[start : start + BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=dead_letter_url,
            Entries=[
                {
                    "Id": str(index),
                    "ReceiptHandle": message["ReceiptHandle"],
                    "VisibilityTimeout": 0,
                }
                for index, message in enumerate(chunk)
            ],
        )


def _row(queue: str, message: MessageTypeDef, action: str) -> DeadLetterRow:
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    count = attributes.get("ApproximateReceiveCount")
    return DeadLetterRow(
        queue=queue,
        message_id=message["MessageId"],
        action=action,
        reason=failure_reason(message.get("MessageAttributes", {})),
        about=describe_body(message.get("Body", "")),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if sent and sent.isdigit()
        else None,
        receive_count=int(count) if count and count.isdigit() else None,
    )


def failure_reason(attributes: Mapping[str, Any]) -> str:
    """Why a dead letter failed: rootwatch's `reason`, or EventBridge's error, or unknown."""

    def text(name: str) -> str | None:
        value = attributes.get(name, {})
        found = value.get("StringValue") if isinstance(value, Mapping) else None
        return str(found) if found else None

    reason = text(REASON_ATTRIBUTE)
    if reason:
        return reason
    code, message = text("ERROR_CODE"), text("ERROR_MESSAGE")
    if code or message:
        error = ": ".join(part for part in (code, message) if part)
        return f"EventBridge could not deliver it: {error}"
    return "no reason recorded (moved by the queue's redrive policy after its last receive)"


def describe_body(body: str) -> str:
    """A few words on what a message is: an event's name and account, or an alert."""
    try:
        document = json.loads(body)
    except ValueError:
        return f"not JSON ({len(body)} characters)"
    if not isinstance(document, Mapping):
        return "JSON, not an object"
    if "alert_id" in document:
        account = document.get("account")
        account_id = account.get("account_id") if isinstance(account, Mapping) else None
        return (
            f"alert {document.get('alert_id')} ({document.get('kind')}, "
            f"{document.get('severity')}, account {account_id})"
        )
    detail = document.get("detail")
    record = detail if isinstance(detail, Mapping) else document
    name = record.get("eventName")
    if name:
        account = record.get("recipientAccountId") or document.get("account")
        return f"event {name} in {account} ({record.get('eventID')})"
    kind = document.get("detail-type") or "JSON object"
    return f"{kind} from {document.get('source') or 'an unknown source'}"


def _print_messages(rows: Sequence[DeadLetterRow]) -> None:
    """One line per message and the whole reason under it: the reason is the point."""
    if not rows:
        print("the dead-letter queues are empty", file=sys.stderr)
        return
    for row in rows:
        sent = f"  sent {row.sent_at}" if row.sent_at else ""
        print(f"{row.queue:<6}  {row.action:<10}  {table_cell(row.about)}{sent}")
        print(f"{'':<6}  {'':<10}  why: {table_cell(row.reason)}")


def _summarise(rows: Sequence[DeadLetterRow], *, dry_run: bool, hub: Hub) -> None:
    sys.stdout.flush()
    if not rows:
        return
    if dry_run:
        print(f"{plural(len(rows), 'message')} would move; nothing changed", file=sys.stderr)
        return
    moved = sum(1 for row in rows if row.action == "moved")
    print(f"moved {plural(moved, 'message')}", file=sys.stderr)
    if moved < len(rows):
        fail(
            f"{plural(len(rows) - moved, 'message')} could not move and stay in the DLQ "
            f"({hub.describe()}): run rootwatch redrive again"
        )
