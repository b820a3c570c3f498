"""`rootwatch expect`: declare planned root use, list the plans, cancel one.

Inside a planned window, the account's high and medium root events are lowered to low and
their messages say whose plan it was and why; critical events stay critical (design §3).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from rootwatch.cli.main import UsageError
from rootwatch.cli.output import Column
from rootwatch.cli.target import (
    CommandFailure,
    account_id,
    add_target_options,
    hub_command,
    option,
    print_rows,
    stored_time,
)
from rootwatch.cli.timeparse import describe_moment, parse_duration, parse_iso
from rootwatch.keys import iso
from rootwatch.model import PlannedWindow

# A plan covers a piece of work, not a season: longer ones are refused.
MAX_WINDOW: Final = timedelta(days=7)
REASON_LIMIT: Final = 500
KEYS: Final = (
    "window_id",
    "state",
    "account_id",
    "starts_at",
    "ends_at",
    "created_by",
    "created_at",
    "reason",
    "cancelled_at",
    "cancelled_by",
)
TABLE_COLUMNS: Final = (
    Column("window_id", "WINDOW"),
    Column("state", "STATE"),
    Column("account_id", "ACCOUNT"),
    Column("starts_at", "STARTS (UTC)"),
    Column("ends_at", "ENDS (UTC)"),
    Column("created_by", "PLANNED BY", max_width=60),
    Column("reason", "REASON"),
)
TABLE_SHRINK: Final = (("reason", 20), ("created_by", 24), ("reason", 10))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "expect",
        help="declare planned root use for an account (and list or cancel plans)",
        description=(
            "Declare that root will be used in an account for a while: its high and medium "
            "root events are then lowered to low and their alerts name the plan and its "
            "reason; critical events stay critical. `expect list` and `expect cancel ID` "
            "manage the plans."
        ),
    )
    parser.add_argument("--account", metavar="ACCOUNT", help="12-digit account id")
    parser.add_argument(
        "--for", dest="duration", metavar="DURATION", help="how long: 30m, 2h, 1d (at most 7d)"
    )
    parser.add_argument("--reason", help="why root is used (shown in alerts)")
    parser.add_argument(
        "--start", metavar="WHEN", help="ISO 8601 start (no zone means UTC; default now)"
    )
    add_target_options(parser, inherit=False)
    parser.set_defaults(handler=run_create)
    actions = parser.add_subparsers(dest="expect_action", metavar="[list | cancel ID]")

    listing = actions.add_parser("list", help="list current and upcoming plans")
    listing.add_argument("--account", metavar="ACCOUNT", help="only this account's plans")
    listing.add_argument(
        "--all", action="store_true", help="ended and cancelled plans too (within retention)"
    )
    add_target_options(listing, inherit=True)
    listing.set_defaults(handler=run_list)

    cancel = actions.add_parser("cancel", help="end a plan now")
    cancel.add_argument("window_id", metavar="ID", help="the plan's id (as `expect list` shows)")
    add_target_options(cancel, inherit=True)
    cancel.set_defaults(handler=run_cancel)


@hub_command
def run_create(args: argparse.Namespace) -> int:
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    now = datetime.now(UTC)
    given = (("--account", args.account), ("--for", args.duration), ("--reason", args.reason))
    missing = [flag for flag, value in given if not (value or "").strip()]
    if missing:
        raise UsageError(
            f"expect needs {', '.join(missing)} (or an action: expect list, expect cancel ID)"
        )
    account = account_id(args.account)
    try:
        duration = parse_duration(args.duration)
        starts_at = (
            now if not args.start or args.start.strip().lower() == "now" else parse_iso(args.start)
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    if duration <= timedelta(0):
        raise UsageError("--for must be longer than zero")
    if duration > MAX_WINDOW:
        raise UsageError("--for must be at most 7d: declare a longer job as several plans")
    reason = " ".join(args.reason.split())
    if len(reason) > REASON_LIMIT:
        raise UsageError(f"--reason must be at most {REASON_LIMIT} characters")
    ends_at = starts_at + duration
    if ends_at <= now:
        raise UsageError(f"the plan would end in the past ({describe_moment(ends_at)})")
    hub = connect(args)
    window = PlannedWindow(
        window_id=uuid.uuid4().hex[:12],
        account_id=account,
        starts_at=starts_at.replace(microsecond=0),
        ends_at=ends_at.replace(microsecond=0),
        created_by=hub.caller_arn(),
        reason=reason,
    )
    hub.admin().create_window(window, created_at=now, expires_at=window.ends_at + hub.retention)
    output = option(args, "output")
    print_rows(
        [window_row(_window_item(window, created_at=now), now=now, output=output)],
        output=output,
        columns=TABLE_COLUMNS,
        shrink=TABLE_SHRINK,
        keys=KEYS,
    )
    print(
        f"planned root use in {account} from {describe_moment(window.starts_at)} to "
        f"{describe_moment(window.ends_at)}: high and medium events there are lowered to low "
        f"and name this plan; critical stays critical. Cancel: rootwatch expect cancel "
        f"{window.window_id}",
        file=sys.stderr,
    )
    return 0


@hub_command
def run_list(args: argparse.Namespace) -> int:
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    now = datetime.now(UTC)
    account = account_id(args.account) if args.account else None
    hub = connect(args)
    windows = hub.reader().windows(ending_after=None if args.all else now, account_id=account)
    output = option(args, "output")
    rows = [window_row(item, now=now, output=output) for item in windows]
    if not args.all:
        # The index read starts at this second; a plan ending within it is over too.
        rows = [row for row in rows if row["state"] in ("active", "upcoming")]
    print_rows(
        rows,
        output=output,
        columns=TABLE_COLUMNS,
        shrink=TABLE_SHRINK,
        keys=KEYS,
        empty="no planned root use" + ("" if args.all else " now or ahead (--all for past plans)"),
    )
    return 0


@hub_command
def run_cancel(args: argparse.Namespace) -> int:
    from rootwatch.adapters.admin import WindowConflictError  # noqa: PLC0415
    from rootwatch.adapters.queries import window_from_item  # noqa: PLC0415
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    window_id = args.window_id.strip()
    if not window_id or not window_id.isalnum():
        raise UsageError(f"{args.window_id!r} is not a plan id (as `expect list` shows)")
    now = datetime.now(UTC).replace(microsecond=0)
    hub = connect(args)
    item = hub.reader().window(window_id)
    if item is None:
        raise CommandFailure(f"no planned window {window_id}")
    window = window_from_item(item)
    if window.ends_at <= now:
        raise CommandFailure(
            f"nothing to cancel: window {window_id} ended at {describe_moment(window.ends_at)}"
        )
    # A plan that has not started ends before it starts, so it covers nothing.
    ends_at = max(now, window.starts_at)
    try:
        hub.admin().end_window(
            window,
            ends_at=ends_at,
            cancelled_by=hub.caller_arn(),
            now=now,
            expires_at=ends_at + hub.retention,
        )
    except WindowConflictError as error:
        raise CommandFailure(str(error)) from None
    print(
        f"cancelled window {window_id} of account {window.account_id}: events from "
        f"{describe_moment(ends_at)} on are rated as unplanned",
        file=sys.stderr,
    )
    return 0


def window_row(item: Mapping[str, Any], *, now: datetime, output: str) -> dict[str, Any]:
    row = {key: item.get(key) for key in KEYS}
    row["state"] = window_state(item, now)
    if output == "table":
        for key in ("starts_at", "ends_at", "created_at", "cancelled_at"):
            row[key] = stored_time(row[key])
    return row


def window_state(item: Mapping[str, Any], now: datetime) -> str:
    try:
        starts_at = parse_iso(str(item.get("starts_at")))
        ends_at = parse_iso(str(item.get("ends_at")))
    except ValueError:
        return "unreadable"
    if item.get("cancelled_at") and ends_at <= now:
        return "cancelled"
    if ends_at <= now:
        return "ended"
    return "active" if starts_at <= now else "upcoming"


def _window_item(window: PlannedWindow, *, created_at: datetime) -> dict[str, Any]:
    return {
        "window_id": window.window_id,
        "account_id": window.account_id,
        "starts_at": iso(window.starts_at),
        "ends_at": iso(window.ends_at),
        "created_by": window.created_by,
        "created_at": iso(created_at),
        "reason": window.reason,
    }
