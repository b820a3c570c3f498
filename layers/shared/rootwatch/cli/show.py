"""`rootwatch show ID`: one event with its CloudTrail record, or one incident with its
timeline."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from rootwatch import keys
from rootwatch.cli.events import KEYS as EVENT_KEYS
from rootwatch.cli.events import event_row
from rootwatch.cli.incidents import incident_state
from rootwatch.cli.main import UsageError
from rootwatch.cli.output import Column, table_cell, write_csv, write_table
from rootwatch.cli.target import (
    CommandFailure,
    add_target_options,
    counts_text,
    hub_command,
    option,
    stored_time,
)

DEFAULT_TIMELINE: Final = 100
MAX_TIMELINE: Final = 1000
EVENT_FIELDS: Final = (
    ("event_id", "event id"),
    ("event_time", "time (UTC)"),
    ("severity", "severity"),
    ("rules", "rules"),
    ("summary", "what happened"),
    ("account_id", "account"),
    ("account_name", "account name"),
    ("partner", "partner"),
    ("region", "region"),
    ("event_source", "event source"),
    ("event_name", "event name"),
    ("outcome", "result"),
    ("error_code", "error"),
    ("mfa", "MFA used"),
    ("source_ip", "source IP"),
    ("user_agent", "user agent"),
    ("assumed_root", "AssumeRoot session"),
    ("assumed_root_caller", "AssumeRoot caller"),
    ("invoked_by", "invoked by"),
    ("tamper", "tamper"),
    ("incident_id", "incident"),
    ("planned_by", "planned by"),
    ("planned_reason", "plan's reason"),
    ("alert_ids", "alerts"),
    ("state", "processing"),
    ("received_at", "received (UTC)"),
    ("processed_at", "processed (UTC)"),
)
INCIDENT_FIELDS: Final = (
    ("incident_id", "incident"),
    ("state", "state"),
    ("severity", "highest severity"),
    ("account_id", "account"),
    ("account_name", "account name"),
    ("partner", "partner"),
    ("actor", "actor"),
    ("assumed_root_caller", "AssumeRoot caller"),
    ("opened_at", "opened (UTC)"),
    ("last_seen", "last event (UTC)"),
    ("closes_at", "closes (UTC)"),
    ("event_count", "events"),
    ("event_names", "event names"),
    ("regions", "regions"),
    ("alerted_severity", "alerted at"),
    ("messages_sent", "messages sent"),
    ("last_message_at", "last message (UTC)"),
)
# Attributes of the stored items that are bookkeeping, not facts for a reader.
_INTERNAL: Final = frozenset(
    {"lease_until", "claimed_by", "alert", "record", "timeline", "version", "_stamp"}
)
# The event id is what `show` takes next, so it is never cut; the rest gives way.
TIMELINE_COLUMNS: Final = (
    Column("event_time", "TIME (UTC)"),
    Column("severity", "SEVERITY"),
    Column("event_name", "EVENT", max_width=32),
    Column("source_ip", "SOURCE IP", max_width=39),
    Column("event_id", "EVENT ID"),
)
TIMELINE_SHRINK: Final = (("event_name", 14), ("source_ip", 15), ("event_name", 10))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "show",
        help="show one event (with its CloudTrail record) or one incident (with its timeline)",
        description=(
            "Show one event of the audit log, with the CloudTrail record as stored, or one "
            "incident with its events oldest first. ID is an event id (CloudTrail eventID) "
            "or an incident id, as `events` and `incidents` list them and alerts name them."
        ),
    )
    parser.add_argument("id", metavar="ID", help="event id or incident id")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_TIMELINE,
        metavar="N",
        help=f"events of an incident's timeline to show (default {DEFAULT_TIMELINE})",
    )
    add_target_options(parser, inherit=False)
    parser.set_defaults(handler=run)


@hub_command
def run(args: argparse.Namespace) -> int:
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    identifier = args.id.strip()
    if not identifier or any(character.isspace() for character in identifier):
        raise UsageError(f"{args.id!r} is not an event or incident id")
    if not 1 <= args.limit <= MAX_TIMELINE:
        raise UsageError(f"--limit must be 1 to {MAX_TIMELINE}, not {args.limit}")
    hub = connect(args)
    reader = hub.reader()
    event, incident = reader.event_or_incident(identifier)
    output = option(args, "output")
    now = datetime.now(UTC)
    if event is not None:
        print_event(event, output=output)
        return 0
    if incident is not None:
        timeline, more = reader.incident_events(identifier, limit=args.limit)
        print_incident(incident, timeline, more=more, output=output, now=now)
        return 0
    raise CommandFailure(
        f"no event or incident {identifier} in table {hub.table_name} ({hub.describe()})"
    )


def print_event(item: Mapping[str, Any], *, output: str) -> None:
    record = stored_record(item)
    if output == "json":
        document = {key: value for key, value in item.items() if not _hidden(key)}
        document["record"] = record
        _print_json({"event": document})
    elif output == "csv":
        row = event_row(item)
        row["record"] = json.dumps(record, separators=(",", ":"), sort_keys=True)
        write_csv([row], (*EVENT_KEYS, "record"), sys.stdout)
    else:
        _print_fields(item, EVENT_FIELDS)
        if item.get("state") not in (None, "done"):
            print(
                "\nthis event is still being processed: its incident and alert may change",
                file=sys.stderr,
            )
        truncated = " (request and response left out: too large)"
        print(f"\nCloudTrail record{truncated if item.get('record_truncated') else ''}:")
        # ASCII escapes keep the record's text from driving the terminal.
        print(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=True))


def print_incident(
    item: Mapping[str, Any],
    timeline: Sequence[Mapping[str, Any]],
    *,
    more: bool,
    output: str,
    now: datetime,
) -> None:
    incident = {key: value for key, value in item.items() if not _hidden(key)}
    incident["state"] = incident_state(item, now)
    if output == "json":
        _print_json(
            {
                "incident": incident,
                "timeline": [event_row(event) for event in timeline],
                "more_events": more,
            }
        )
        return
    if output == "csv":
        write_csv([event_row(event) for event in timeline], EVENT_KEYS, sys.stdout)
    else:
        _print_fields(incident, INCIDENT_FIELDS)
        print("\nTimeline (oldest first):")
        write_table(
            [event_row(event, for_table=True) for event in timeline],
            TIMELINE_COLUMNS,
            sys.stdout,
            shrink=TIMELINE_SHRINK,
        )
    if more:
        sys.stdout.flush()
        print(
            f"more events than shown: rootwatch events --incident {item.get('incident_id')}",
            file=sys.stderr,
        )


def stored_record(item: Mapping[str, Any]) -> Any:
    """The CloudTrail record kept with an event (JSON text in the item)."""
    text = item.get("record")
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _print_fields(item: Mapping[str, Any], fields: Sequence[tuple[str, str]]) -> None:
    """`label  value` lines, values whole (a user agent or an ARN must not be cut)."""
    shown: list[tuple[str, str]] = []
    for key, label in fields:
        value = item.get(key)
        if value is None or value in ([], {}, ""):
            continue
        if key == "event_names":
            value = counts_text(value).replace(";", ", ")
        if key.endswith(("_at", "_time", "_seen")):
            value = stored_time(value)
        shown.append((label, table_cell(value)))
    width = max((len(label) for label, _value in shown), default=0)
    for label, value in shown:
        print(f"{label:<{width}}  {value}")


def _print_json(document: Mapping[str, Any]) -> None:
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _hidden(key: str) -> bool:
    return key in _INTERNAL or key.startswith("gsi") or key in (keys.PK, keys.SK)
