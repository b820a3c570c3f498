"""Watchdog: alerts on spokes whose heartbeats stopped, or never started.

Runs on the hub's schedule. Thin by design: `rootwatch.services.heartbeats.Watchdog`
decides which silences to report and queues their alerts for the notifier; this module
wires the AWS clients once per container and reports the run (logs and metrics). When an
alert could not be queued it raises, so Lambda retries the run (the silences not alerted
are found again) and the function's errors alarm fires.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from rootwatch.adapters.queues import SqsAlertQueue, SqsSender
from rootwatch.adapters.spokes import DynamoSpokes
from rootwatch.keys import iso
from rootwatch.services.heartbeats import Watchdog, silence_policy_from_environment

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()


class SilentSpokesNotReported(Exception):
    """Raised when some alerts could not be queued: the run should be retried."""


@cache
def watchdog() -> Watchdog:
    """The service and its clients, built on the first run a container handles."""
    return Watchdog(
        spokes=DynamoSpokes(boto3.client("dynamodb"), os.environ["TABLE_NAME"]),
        alerts=SqsAlertQueue(SqsSender(boto3.client("sqs"), os.environ["NOTIFY_QUEUE_URL"])),
        policy=silence_policy_from_environment(os.environ),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    service = watchdog()
    report = service.run(now=datetime.now(UTC))
    metrics.add_metric(name="SpokesOverdue", unit=MetricUnit.Count, value=report.overdue)
    metrics.add_metric(name="SilentSpokeAlerts", unit=MetricUnit.Count, value=len(report.alerted))
    for silent in report.alerted:
        spoke = silent.spoke
        logger.warning(
            "silent spoke reported",
            extra={
                "account_id": spoke.account_id,
                "region": spoke.region,
                "last_heartbeat": iso(spoke.last_heartbeat) if spoke.last_heartbeat else None,
                "alert_id": silent.alert_id,
                # Unmarked: a heartbeat arrived meanwhile, or the spoke was forgotten.
                "marked": silent.marked,
            },
        )
    summary = {
        "silent_after_minutes": int(service.policy.silent_after.total_seconds() // 60),
        "stale": report.stale,
        "overdue": report.overdue,
        "alerted": len(report.alerted),
    }
    if report.unsent:
        metrics.add_metric(name="AlertsNotQueued", unit=MetricUnit.Count, value=len(report.unsent))
        unsent = [f"{spoke.account_id}/{spoke.region}" for spoke in report.unsent]
        logger.error("silent-spoke alerts not queued", extra={**summary, "spokes": unsent})
        raise SilentSpokesNotReported(
            f"{len(report.unsent)} silent-spoke alerts were not queued: {', '.join(unsent)}"
        )
    logger.info("watchdog run", extra=summary)
    return summary
