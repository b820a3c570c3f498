"""A hub for command-line tests, and helpers to run `rootwatch` commands against it.

The hub is what the commands need of a deployed one, in moto: the audit table (from
template.yaml's key schema), the queues, the bus, and a CloudFormation stack whose outputs
name them, so commands resolve it exactly as they resolve a deployed hub. Items are
written as the processor writes them (`rootwatch.adapters.audit` documents the layout).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from rootwatch import keys
from rootwatch.cli.main import main
from rootwatch.local.outputs import local_stack_template

from tests.support.tables import create_audit_table

STACK = "rootwatch-hub"
REGION = "us-east-1"
RETENTION = timedelta(days=400)
_SERIALIZER = TypeSerializer()


@dataclass
class MotoHub:
    """The hub's resources in moto (inside `mock_aws`) and the stack that names them."""

    dynamodb: Any
    sqs: Any
    events: Any
    cloudformation: Any
    outputs: dict[str, str]

    @property
    def table(self) -> str:
        return self.outputs["TableName"]

    def put(self, items: Iterable[Mapping[str, Any]]) -> None:
        put_items(self.dynamodb, self.table, items)


def create_hub(
    *,
    stack_name: str = STACK,
    parameters: Mapping[str, str] | None = None,
    omit_outputs: Sequence[str] = (),
) -> MotoHub:
    """Create the hub in moto (call inside `mock_aws`)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    table = create_audit_table(dynamodb, name=f"{stack_name}-audit")
    queue_urls = {
        name: sqs.create_queue(QueueName=f"{stack_name}-{name}")["QueueUrl"]
        for name in ("ingest", "ingest-dlq", "notify", "notify-dlq")
    }
    bus = events.create_event_bus(Name=stack_name)
    outputs = {
        "TableName": table,
        "IngestQueueUrl": queue_urls["ingest"],
        "IngestDeadLetterQueueUrl": queue_urls["ingest-dlq"],
        "NotifyQueueUrl": queue_urls["notify"],
        "NotifyDeadLetterQueueUrl": queue_urls["notify-dlq"],
        "EventBusName": stack_name,
        "EventBusArn": bus["EventBusArn"],
    }
    registered = {name: value for name, value in outputs.items() if name not in omit_outputs}
    given = dict(parameters or {})
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=local_stack_template(registered, given),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in given.items()],
    )
    return MotoHub(dynamodb, sqs, events, cloudformation, outputs)


def put_items(dynamodb: Any, table: str, items: Iterable[Mapping[str, Any]]) -> None:
    """BatchWriteItem of plain items (25 at a time, retrying what is left unprocessed)."""
    requests = [
        {
            "PutRequest": {
                "Item": {name: _SERIALIZER.serialize(value) for name, value in item.items()}
            }
        }
        for item in items
    ]
    for start in range(0, len(requests), 25):
        pending: Any = {table: requests[start : start + 25]}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")


def event_item(
    *,
    event_id: str,
    account_id: str,
    at: datetime,
    severity: str = "high",
    event_name: str = "ListBuckets",
    event_source: str = "s3.amazonaws.com",
    region: str = "us-east-1",
    source_ip: str = "203.0.113.7",
    user_agent: str = "aws-cli/2.22.35",
    incident_id: str | None = None,
    partner: str | None = None,
    account_name: str | None = None,
    summary: str | None = None,
    rules: Sequence[str] = ("write",),
    planned_by: str | None = None,
    planned_reason: str | None = None,
    record: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A processed root event item, as the processor leaves it."""
    stored_record = record or {
        "eventVersion": "1.11",
        "userIdentity": {"type": "Root", "accountId": account_id},
        "eventTime": keys.iso(at),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "eventID": event_id,
        "recipientAccountId": account_id,
    }
    item: dict[str, Any] = {
        **keys.event_key(event_id),
        **keys.event_index_keys(
            event_id=event_id,
            account_id=account_id,
            event_time=at,
            severity=severity,
            incident_id=incident_id,
        ),
        "event_id": event_id,
        "account_id": account_id,
        "region": region,
        "event_time": keys.iso(at),
        "event_source": event_source,
        "event_name": event_name,
        "record": json.dumps(stored_record, separators=(",", ":")),
        "received_at": keys.iso(at),
        "state": "done",
        "severity": severity,
        "rules": list(rules),
        "summary": summary or f"Root called {event_name}",
        "outcome": "success",
        "assumed_root": False,
        "tamper": False,
        "source_ip": source_ip,
        "user_agent": user_agent,
        "actor": source_ip,
        "incident_id": incident_id,
        "account_name": account_name,
        "partner": partner,
        "planned_by": planned_by,
        "planned_reason": planned_reason,
        "alert_ids": [],
        "processed_at": keys.iso(at),
        keys.TTL_ATTRIBUTE: int((at + RETENTION).timestamp()),
    }
    return {name: value for name, value in item.items() if value is not None}


def incident_item(
    *,
    incident_id: str,
    account_id: str,
    opened_at: datetime,
    last_seen: datetime,
    severity: str = "high",
    event_names: Mapping[str, int] | None = None,
    actor: str = "203.0.113.7",
    partner: str | None = None,
    window: timedelta = timedelta(minutes=60),
) -> dict[str, Any]:
    """An incident item, as the processor leaves it."""
    names = dict(event_names or {"ListBuckets": 1})
    item: dict[str, Any] = {
        **keys.incident_key(incident_id),
        **keys.incident_index_keys(
            incident_id=incident_id, account_id=account_id, opened_at=opened_at
        ),
        "incident_id": incident_id,
        "account_id": account_id,
        "actor": actor,
        "opened_at": keys.iso(opened_at),
        "last_seen": keys.iso(last_seen),
        "closes_at": keys.iso(last_seen + window),
        "severity": severity,
        "event_count": sum(names.values()),
        "event_names": names,
        "regions": ["us-east-1"],
        "timeline": [],
        "alerted_severity": severity,
        "messages_sent": 1,
        "partner": partner,
        "version": 1,
        keys.TTL_ATTRIBUTE: int((last_seen + RETENTION).timestamp()),
    }
    return {name: value for name, value in item.items() if value is not None}


@dataclass
class CliResult:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[str]:
        return self.out.splitlines()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    """`rootwatch ARGV...` in this process, as the console script runs it."""
    capsys.readouterr()
    try:
        status = main(list(argv))
    except SystemExit as exit_:  # argparse's own usage errors
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    return CliResult(status, captured.out, captured.err)


@dataclass
class ApiCalls:
    """The AWS operations the commands call, counted with botocore's `before-call` hook."""

    operations: list[str] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from rootwatch.cli import hub

        opened = hub.open_session

        def recording_session(profile: str | None, region: str | None) -> boto3.Session:
            session = opened(profile, region)
            session.events.register("before-call", self._record)
            return session

        monkeypatch.setattr(hub, "open_session", recording_session)

    def _record(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    def take(self) -> list[str]:
        taken, self.operations = self.operations, []
        return taken
