"""`rootwatch events`: root events from the audit log, newest first, a page at a time."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from rootwatch.cli.output import Column
from rootwatch.cli.paging import decode_token, encode_token, filters_digest
from rootwatch.cli.target import (
    DEFAULT_LIMIT,
    SEVERITY_LABELS,
    account_id,
    add_target_options,
    hub_command,
    option,
    page_limit,
    print_page,
    severity_floor,
    stored_time,
    time_range,
)

KEYS: Final = (
    "event_id",
    "event_time",
    "account_id",
    "account_name",
    "partner",
    "region",
    "event_source",
    "event_name",
    "severity",
    "rules",
    "summary",
    "outcome",
    "mfa",
    "source_ip",
    "user_agent",
    "error_code",
    "assumed_root",
    "assumed_root_caller",
    "invoked_by",
    "tamper",
    "incident_id",
    "planned_by",
    "planned_reason",
)
TABLE_COLUMNS: Final = (
    Column("event_time", "TIME (UTC)"),
    Column("severity", "SEVERITY"),
    Column("account_id", "ACCOUNT"),
    Column("source_ip", "SOURCE IP", max_width=39),
    Column("incident_id", "INCIDENT"),
    Column("summary", "WHAT HAPPENED"),
)
# What a narrow terminal takes from the table first: the summary, then long IPv6 addresses.
TABLE_SHRINK: Final = (("summary", 24), ("source_ip", 15), ("summary", 12))
# Events whose time is a little older than the retention may still be stored (TTL counts
# from when they were received, and DynamoDB deletes expired items late).
RETENTION_MARGIN: Final = timedelta(days=2)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "events",
        help="list root events from the audit log, newest first",
        description=(
            "List the root events (and tamper events) in the hub's audit log, newest first. "
            "Filters combine; a page ends with a continuation token (on stderr as "
            "`next: TOKEN`, in JSON as next_token) that --next-token takes with the same "
            "filters."
        ),
    )
    filters = parser.add_argument_group("filters")
    filters.add_argument("--account", metavar="ACCOUNT", help="12-digit account id")
    filters.add_argument("--partner", metavar="NAME", help="partner of the account's entry")
    filters.add_argument(
        "--since",
        metavar="WHEN",
        help="events at or after WHEN: a duration back from now (30m, 24h, 7d) or ISO 8601 "
        "(no zone means UTC)",
    )
    filters.add_argument("--until", metavar="WHEN", help="events before WHEN (same forms)")
    filters.add_argument(
        "--severity",
        choices=SEVERITY_LABELS,
        metavar="S",
        help=f"at least this severe ({', '.join(SEVERITY_LABELS)})",
    )
    filters.add_argument("--event-name", metavar="NAME", help="CloudTrail eventName, exactly")
    filters.add_argument("--source-ip", metavar="IP", help="source IP address, exactly")
    filters.add_argument("--incident", metavar="ID", help="events of one incident")
    add_paging_options(parser)
    add_target_options(parser, inherit=False)
    parser.set_defaults(handler=run)


def add_paging_options(parser: argparse.ArgumentParser) -> None:
    paging = parser.add_argument_group("paging")
    paging.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N per page (default {DEFAULT_LIMIT})",
    )
    paging.add_argument(
        "--next-token", metavar="TOKEN", help="continue where the previous page ended"
    )


@hub_command
def run(args: argparse.Namespace) -> int:
    from rootwatch.adapters.queries import AuditReader, EventFilter  # noqa: PLC0415 (boto3)
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    now = datetime.now(UTC)
    limit = page_limit(args.limit)
    since, until = time_range(args.since, args.until, now=now)
    selection = EventFilter(
        account_id=account_id(args.account) if args.account else None,
        partner=args.partner or None,
        since=since,
        until=until,
        min_severity=severity_floor(args.severity),
        event_name=args.event_name or None,
        source_ip=args.source_ip or None,
        incident_id=args.incident.strip() if args.incident else None,
    )
    digest = filters_digest("events", _filter_arguments(args))
    before = decode_token(args.next_token, digest) if args.next_token else None
    hub = connect(args)
    page = AuditReader(hub.dynamodb(), hub.table_name).events(
        selection,
        limit=limit,
        now=now,
        oldest=now - hub.retention - RETENTION_MARGIN,
        before=before,
    )
    output = option(args, "output")
    print_page(
        [event_row(item, for_table=output == "table") for item in page.items],
        noun="events",
        next_token=encode_token(page.resume_before, digest) if page.resume_before else None,
        output=output,
        columns=TABLE_COLUMNS,
        shrink=TABLE_SHRINK,
        keys=KEYS,
        empty="no events match",
    )
    return 0


def event_row(item: Mapping[str, Any], *, for_table: bool = False) -> dict[str, Any]:
    """An event item with exactly the keys of `KEYS` (times as datetimes for a table)."""
    row = {key: item.get(key) for key in KEYS}
    if for_table:
        row["event_time"] = stored_time(row["event_time"])
    return row


def _filter_arguments(args: argparse.Namespace) -> dict[str, Any]:
    names = (
        "account",
        "partner",
        "since",
        "until",
        "severity",
        "event_name",
        "source_ip",
        "incident",
    )
    return {
        "filters": {name: getattr(args, name) for name in names},
        "stack": option(args, "stack_name"),
    }
