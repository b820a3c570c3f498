"""`rootwatch events`: root events from the audit log, newest first, a page at a time."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from rootwatch import keys
from rootwatch.cli.output import Column
from rootwatch.cli.paging import add_paging_options, print_listing
from rootwatch.cli.target import (
    SEVERITY_LABELS,
    account_id,
    add_target_options,
    hub_command,
    page_limit,
    severity_floor,
    stored_time,
    time_range,
)

KEYS: Final = keys.EVENT_ATTRIBUTES
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
# The options a continuation token is bound to.
FILTER_NAMES: Final = (
    "account",
    "partner",
    "since",
    "until",
    "severity",
    "event_name",
    "source_ip",
    "incident",
)


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


@hub_command
def run(args: argparse.Namespace) -> int:
    from rootwatch.adapters.queries import EventFilter  # noqa: PLC0415 (boto3)

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
    print_listing(
        args,
        noun="events",
        filter_names=FILTER_NAMES,
        now=now,
        limit=limit,
        read=lambda reader, **paging: reader.events(selection, **paging),
        row=lambda item, output: event_row(item, for_table=output == "table"),
        columns=TABLE_COLUMNS,
        shrink=TABLE_SHRINK,
        keys=KEYS,
    )
    return 0


def event_row(item: Mapping[str, Any], *, for_table: bool = False) -> dict[str, Any]:
    """An event item with exactly the keys of `KEYS` (times as datetimes for a table)."""
    row = {key: item.get(key) for key in KEYS}
    if for_table:
        row["event_time"] = stored_time(row["event_time"])
    return row
