"""Processor: audits the root events of the ingest queue and decides what alerts.

Thin by design: the whole SQS batch goes to `rootwatch.services.processing` (which needs
the batch at once: one account read, one incident write per actor, alerts sent together);
this module wires the AWS clients once per container, reports the outcome (metrics), and
fails the records SQS should deliver again. A bare EventBridge event (as `sam local invoke
-e events/x.json` sends it) is processed as a batch of one.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from rootwatch.adapters.audit import DynamoAuditStore
from rootwatch.adapters.queues import SqsAlertQueue, SqsDeadLetterQueue, SqsSender
from rootwatch.services.processing import (
    BatchReport,
    InboundMessage,
    Processor,
    ProcessorSettings,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()
# The function calls out only through botocore; patching more libraries costs start time.
tracer = Tracer(patch_modules=("botocore",))
# Records the service could not finish are reported like any partial failure (and counted
# as RecordsFailed), so the function's Errors metric stays for faults in the function itself.
batch_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RecordNotProcessedError(Exception):
    """Raised for a record SQS should deliver again."""


@cache
def processor() -> Processor:
    """The service and its clients, built on the first batch a container handles."""
    sqs = boto3.client("sqs")
    return Processor(
        store=DynamoAuditStore(boto3.client("dynamodb"), os.environ["TABLE_NAME"]),
        alerts=SqsAlertQueue(SqsSender(sqs, os.environ["NOTIFY_QUEUE_URL"])),
        dead_letters=SqsDeadLetterQueue(SqsSender(sqs, os.environ["INGEST_DLQ_URL"])),
        settings=ProcessorSettings.from_environment(os.environ),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext
) -> PartialItemFailureResponse | dict[str, Any]:
    deadline = datetime.now(UTC) + timedelta(milliseconds=context.get_remaining_time_in_millis())
    if "Records" not in event:
        single = InboundMessage(message_id=str(event.get("id") or "event"), body=event)
        report = processor().process([single], deadline=deadline)
        count(report)
        if report.failures:
            raise RecordNotProcessedError("; ".join(sorted(set(report.failures.values()))))
        return {"stored": report.stored, "alerts": report.alerts_queued}

    messages = [
        InboundMessage(message_id=record["messageId"], body=record["body"])
        for record in event["Records"]
    ]
    report = processor().process(messages, deadline=deadline)
    count(report)

    def record_handler(record: SQSRecord) -> None:
        reason = report.failures.get(record.message_id)
        if reason is not None:
            raise RecordNotProcessedError(reason)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=batch_processor, context=context
    )


def count(report: BatchReport) -> None:
    for name, value in (
        ("EventsReceived", report.received),
        ("Duplicates", report.duplicates),
        ("Rejected", report.rejected),
        ("Malformed", report.malformed),
        ("IncidentsOpened", report.incidents_opened),
        ("AlertsQueued", report.alerts_queued),
        ("RecordsFailed", len(report.failures)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
