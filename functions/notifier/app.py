"""Notifier: delivers the alerts on the notify queue to Slack and email.

Thin by design: each SQS record goes to `rootwatch.services.notifying`, which routes,
renders, delivers and dead-letters; this module wires the AWS clients once per
container, reports the outcome (logs and metrics), and fails the records to retry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from rootwatch.adapters.deliveries import DeliveryRecords
from rootwatch.adapters.mail import SesMailer, SnsTopicPublisher
from rootwatch.adapters.queues import SqsDeadLetterQueue, SqsSender
from rootwatch.adapters.secrets import WebhookSecrets
from rootwatch.adapters.slack import SlackWebhookClient
from rootwatch.services.notifying import (
    Mailer,
    MessageResult,
    Notifier,
    NotifierSettings,
    RetryPolicy,
    SlackPoster,
    SlackReply,
    TopicPublisher,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()
# Only botocore: patching every supported library costs start time, and Slack posts are
# traced by TracedSlack, which keeps the webhook URL (a credential) out of the trace.
tracer = Tracer(patch_modules=("botocore",))
# A batch that fails entirely (Slack down) is reported like any partial failure: the
# function's Errors metric stays for faults in the function itself.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class DeliveryIncomplete(Exception):
    """Raised for a record SQS should deliver again (some destination may still succeed)."""


class TracedSlack:
    """Each Slack post as a subsegment with Slack's answer, and no URL in it."""

    def __init__(self, poster: SlackPoster) -> None:
        self._poster = poster

    @tracer.capture_method(capture_response=False)
    def post(self, url: str, payload: Mapping[str, Any]) -> SlackReply:
        reply = self._poster.post(url, payload)
        answer = str(reply.status) if reply.status is not None else "no answer"
        tracer.put_annotation(key="slack_status", value=answer)
        return reply


@cache
def notifier() -> Notifier:
    """The service and its clients, built on the first message a container handles."""
    settings = NotifierSettings.from_environ(os.environ)
    mailer: Mailer | None = None
    topic: TopicPublisher | None = None
    # Only the email route in use gets a client.
    if settings.ses_sender:
        mailer = SesMailer(boto3.client("sesv2"), settings.ses_sender)
    elif settings.alert_topic_arn:
        topic = SnsTopicPublisher(boto3.client("sns"))
    return Notifier(
        routing=settings.routing,
        deliveries=DeliveryRecords(
            boto3.client("dynamodb"), settings.table_name, settings.retention_days
        ),
        dead_letters=SqsDeadLetterQueue(SqsSender(boto3.client("sqs"), settings.dlq_url)),
        webhooks=WebhookSecrets(boto3.client("secretsmanager")),
        slack=TracedSlack(SlackWebhookClient(settings.slack_timeout_seconds)),
        mailer=mailer,
        topic=topic,
        max_receive_count=settings.max_receive_count,
        retry=RetryPolicy(send_seconds=settings.slack_timeout_seconds),
    )


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    try:
        result = notifier().handle(
            record.body,
            receive_count=int(record.attributes.approximate_receive_count or 1),
            remaining_seconds=lambda: lambda_context.get_remaining_time_in_millis() / 1000,
        )
    except Exception:
        metrics.add_metric(name="AlertsRetried", unit=MetricUnit.Count, value=1)
        logger.exception(
            "alert message failed; SQS will retry", extra={"message_id": record.message_id}
        )
        raise
    report(result, record.message_id)
    if result.disposition == "retry":
        raise DeliveryIncomplete(result.reason)


def report(result: MessageResult, message_id: str) -> None:
    alert = result.alert
    logger.set_correlation_id(alert.alert_id if alert else None)
    context = {
        "message_id": message_id,
        "disposition": result.disposition,
        "kind": alert.kind if alert else None,
        "severity": alert.severity if alert else None,
        "destinations": [
            {
                "destination": outcome.destination.destination_id,
                "status": outcome.status,
                "attempts": outcome.attempts,
                "reason": outcome.reason,
            }
            for outcome in result.destinations
        ],
    }
    for outcome in result.destinations:
        if outcome.warning:
            logger.warning(
                outcome.warning, extra={"destination": outcome.destination.destination_id}
            )
    for outcome in result.sent:
        _count("AlertsSent", outcome.destination.channel)
    if result.sent:
        metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=len(result.sent))
    already = sum(1 for outcome in result.destinations if outcome.status == "already-delivered")
    if already:
        metrics.add_metric(name="AlertsAlreadyDelivered", unit=MetricUnit.Count, value=already)
    if result.disposition == "delivered":
        logger.info("alert delivered", extra=context)
    elif result.disposition == "retry":
        metrics.add_metric(name="AlertsRetried", unit=MetricUnit.Count, value=1)
        logger.warning("alert not yet delivered everywhere; SQS will retry", extra=context)
    else:
        metrics.add_metric(name="AlertsFailed", unit=MetricUnit.Count, value=1)
        for outcome in result.failed:
            _count("AlertsFailed", outcome.destination.channel)
        logger.error("alert sent to the DLQ", extra={**context, "reason": result.reason})


def _count(name: str, channel: str) -> None:
    # Per channel as its own metric; the totals go through `metrics` with the service.
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="channel", value=channel)


@tracer.capture_lambda_handler
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
