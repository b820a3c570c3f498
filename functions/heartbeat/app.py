"""Heartbeat: records the last heartbeat of each spoke (account and region).

Invoked by the hub rule `heartbeat` with a spoke's scheduled event. Thin by design:
`rootwatch.services.heartbeats` reads the heartbeat, records it and, when it ends a silence
the watchdog alerted, queues the spoke-recovered message; this module wires the AWS clients
once per container and reports the outcome (logs and metrics). An event that is not a
heartbeat is logged with the reason and not retried; a failure to record, or to queue the
message owed, raises, so Lambda retries it and finally puts it in the function's DLQ.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from rootwatch.adapters.heartbeats import DynamoHeartbeats
from rootwatch.adapters.queues import SqsAlertQueue, SqsSender
from rootwatch.keys import iso
from rootwatch.services.heartbeats import HeartbeatRecorder, HeartbeatSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()


@cache
def recorder() -> HeartbeatRecorder:
    """The service and its clients, built on the first heartbeat a container handles."""
    settings = HeartbeatSettings.from_environment(os.environ)
    return HeartbeatRecorder(
        DynamoHeartbeats(boto3.client("dynamodb"), os.environ["TABLE_NAME"], settings.retention),
        SqsAlertQueue(SqsSender(boto3.client("sqs"), os.environ["NOTIFY_QUEUE_URL"])),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(str(event.get("id")) if isinstance(event, dict) else None)
    outcome = recorder().handle(event, now=datetime.now(UTC))
    heartbeat, result = outcome.heartbeat, outcome.result
    if heartbeat is None or result is None:
        metrics.add_metric(name="HeartbeatsRejected", unit=MetricUnit.Count, value=1)
        logger.warning("event is not a spoke heartbeat", extra={"reason": outcome.rejected})
        return {"recorded": False, "reason": outcome.rejected}
    spoke = {
        "account_id": heartbeat.account_id,
        "region": heartbeat.region,
        "heartbeat": iso(heartbeat.at),
    }
    for alert_id in outcome.recovery_alert_ids:
        metrics.add_metric(name="RecoveryAlerts", unit=MetricUnit.Count, value=1)
        logger.info("spoke-recovered message queued", extra={**spoke, "alert_id": alert_id})
    if not result.recorded:
        metrics.add_metric(name="HeartbeatsStale", unit=MetricUnit.Count, value=1)
        logger.info("the spoke already has this heartbeat or a later one", extra=spoke)
        return {"recorded": False, **spoke}
    metrics.add_metric(name="HeartbeatsRecorded", unit=MetricUnit.Count, value=1)
    if result.recovered_from:
        metrics.add_metric(name="SpokesRecovered", unit=MetricUnit.Count, value=1)
        logger.warning(
            "silent spoke reports again",
            extra={
                **spoke,
                "silence": result.recovered_from,
                "previous_heartbeat": iso(result.previous) if result.previous else None,
            },
        )
    else:
        logger.info("heartbeat recorded", extra=spoke)
    return {"recorded": True, **spoke}
