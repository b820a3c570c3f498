"""`rootwatch incidents`: incidents from the audit log, newest first, with counts."""

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
    counts_text,
    hub_command,
    page_limit,
    severity_floor,
    stored_time,
    time_range,
)
from rootwatch.cli.timeparse import parse_iso

# The stored attributes, with the state (open or closed, from the closing time) after the id.
KEYS: Final = (
    "incident_id",
    "state",
    *(name for name in keys.INCIDENT_ATTRIBUTES if name != "incident_id"),
)
TABLE_COLUMNS: Final = (
    Column("incident_id", "INCIDENT"),
    Column("opened_at", "OPENED (UTC)"),
    Column("severity", "SEVERITY"),
    Column("state", "STATE"),
    Column("account_id", "ACCOUNT"),
    Column("event_count", "EVENTS"),
    Column("actor", "ACTOR", max_width=40),
    Column("top_events", "MOST FREQUENT"),
)
TABLE_SHRINK: Final = (("top_events", 16), ("actor", 15), ("top_events", 8))
# How many event names a table row lists, most frequent first.
TOP_EVENT_NAMES: Final = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "incidents",
        help="list incidents (open and closed), newest first",
        description=(
            "List incidents by the time they opened, newest first: root activity in one "
            "account from one source (or one AssumeRoot caller), with its event count and "
            "highest severity. `rootwatch show ID` prints one with its timeline."
        ),
    )
    filters = parser.add_argument_group("filters")
    filters.add_argument("--account", metavar="ACCOUNT", help="12-digit account id")
    filters.add_argument("--partner", metavar="NAME", help="partner of the account's entry")
    filters.add_argument(
        "--since",
        metavar="WHEN",
        help="opened at or after WHEN: a duration back from now (30m, 24h, 7d) or ISO 8601",
    )
    filters.add_argument("--until", metavar="WHEN", help="opened before WHEN (same forms)")
    filters.add_argument(
        "--severity",
        choices=SEVERITY_LABELS,
        metavar="S",
        help=f"highest severity at least S ({', '.join(SEVERITY_LABELS)})",
    )
    state = filters.add_mutually_exclusive_group()
    state.add_argument(
        "--open", dest="state", action="store_const", const="open", help="only open incidents"
    )
    state.add_argument(
        "--closed",
        dest="state",
        action="store_const",
        const="closed",
        help="only closed incidents",
    )
    add_paging_options(parser)
    add_target_options(parser, inherit=False)
    parser.set_defaults(handler=run)


@hub_command
def run(args: argparse.Namespace) -> int:
    from rootwatch.adapters.queries import IncidentFilter  # noqa: PLC0415 (boto3)

    now = datetime.now(UTC)
    limit = page_limit(args.limit)
    since, until = time_range(args.since, args.until, now=now)
    selection = IncidentFilter(
        account_id=account_id(args.account) if args.account else None,
        partner=args.partner or None,
        since=since,
        until=until,
        min_severity=severity_floor(args.severity),
        state=args.state,
    )
    print_listing(
        args,
        noun="incidents",
        filter_names=("account", "partner", "since", "until", "severity", "state"),
        now=now,
        limit=limit,
        read=lambda reader, **paging: reader.incidents(selection, **paging),
        row=lambda item, output: incident_row(item, now=now, output=output),
        columns=TABLE_COLUMNS,
        shrink=TABLE_SHRINK,
        keys=KEYS,
    )
    return 0


def incident_row(item: Mapping[str, Any], *, now: datetime, output: str) -> dict[str, Any]:
    """An incident item with the keys of `KEYS`, shaped for the output format.

    JSON keeps event names as an object; CSV and tables show them as text, and a table
    also shows only the most frequent ones, with times in its own style.
    """
    row = {key: item.get(key) for key in KEYS}
    row["state"] = incident_state(item, now)
    names = item.get("event_names")
    if output != "json":
        row["event_names"] = counts_text(names)
    if output == "table":
        for key in ("opened_at", "last_seen", "closes_at"):
            row[key] = stored_time(row[key])
        row["top_events"] = top_event_names(names if isinstance(names, Mapping) else {})
    return row


def incident_state(item: Mapping[str, Any], now: datetime) -> str:
    closes_at = item.get("closes_at")
    if not isinstance(closes_at, str):
        return "unknown"
    try:
        return "open" if parse_iso(closes_at) > now else "closed"
    except ValueError:
        return "unknown"


def top_event_names(counts: Mapping[str, Any]) -> str:
    ranked = sorted(counts.items(), key=lambda pair: (-int(pair[1]), pair[0]))
    shown = [f"{name}:{count}" for name, count in ranked[:TOP_EVENT_NAMES]]
    if len(ranked) > TOP_EVENT_NAMES:
        shown.append(f"+{len(ranked) - TOP_EVENT_NAMES} more")
    return ", ".join(shown)
