"""`rootwatch spokes`: which accounts and regions report to the hub, and which went quiet.

`rootwatch spokes` lists every spoke with its last heartbeat and status: `ok`, `silent` (no
heartbeat for longer than the hub allows: HeartbeatIntervalMinutes x SilentAfterIntervals)
or `never` (expected, never reported). `spokes expect` registers the spokes an account
should have, so that one that never reports is reported too; `spokes forget` stops watching
spokes whose stacks were removed. Every listing is a Query (`adapters.spokes`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from rootwatch.cli.main import UsageError
from rootwatch.cli.output import Column
from rootwatch.cli.target import (
    CommandFailure,
    account_id,
    add_target_options,
    comma_list,
    hub_command,
    option,
    print_rows,
)
from rootwatch.render.text import describe_duration, is_region, plural
from rootwatch.spokes import STATUSES, SilencePolicy, SpokeState, SpokeStatus

if TYPE_CHECKING:
    from rootwatch.adapters.spokes import DynamoSpokes

ALL_REGIONS: Final = "all"
KEYS: Final = (
    "account_id",
    "name",
    "partner",
    "region",
    "status",
    "last_heartbeat",
    "age_seconds",
    "expected",
    "registered_at",
    "silent_alerted_at",
)
TABLE_COLUMNS: Final = (
    Column("account_id", "ACCOUNT"),
    Column("name", "NAME", max_width=40),
    Column("region", "REGION"),
    Column("last_heartbeat", "LAST HEARTBEAT (UTC)"),
    Column("age", "AGE"),
    Column("status", "STATUS"),
)
TABLE_SHRINK: Final = (("name", 12),)
_STATUS_WORDS: Final[Mapping[SpokeStatus, str]] = {
    "ok": "ok",
    "silent": "silent",
    "never": "never reported",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "spokes",
        help="list the spokes (account x region), their last heartbeat and status",
        description=(
            "List every spoke that has reported or is expected: its account, name, region, "
            "last heartbeat, how long ago, and status: ok, silent (no heartbeat for longer "
            "than the hub allows, HeartbeatIntervalMinutes x SilentAfterIntervals) or never "
            "reported (expected, no heartbeat yet). The hub alerts once per silence. "
            "`spokes expect` and `spokes forget` change which spokes are expected."
        ),
    )
    parser.add_argument("--account", metavar="ACCOUNT", help="only this account's spokes")
    parser.add_argument(
        "--status", choices=STATUSES, help="only spokes in this status (never: never reported)"
    )
    add_target_options(parser, inherit=False)
    parser.set_defaults(handler=run_list)
    actions = parser.add_subparsers(dest="spokes_action", metavar="ACTION")

    expecting = actions.add_parser(
        "expect",
        help="register spokes an account should have, so silence from the start is reported",
        description=(
            "Register spokes (an account in some regions) as expected: the hub reports one "
            "that has not sent a heartbeat within a silence's length of its registration, "
            "as it reports a spoke that stops sending them."
        ),
    )
    expecting.add_argument("--account", required=True, metavar="ACCOUNT", help="12-digit id")
    expecting.add_argument(
        "--regions", required=True, metavar="REGION,...", help="regions, such as us-east-1"
    )
    add_target_options(expecting, inherit=True)
    expecting.set_defaults(handler=run_expect)

    forgetting = actions.add_parser(
        "forget",
        help="stop watching spokes whose stacks were removed",
        description=(
            "Forget spokes: they are no longer listed or reported. Delete the spoke stacks "
            "first: a spoke that still sends heartbeats is recorded again by its next one."
        ),
    )
    forgetting.add_argument("--account", required=True, metavar="ACCOUNT", help="12-digit id")
    forgetting.add_argument(
        "--regions",
        required=True,
        metavar="REGION,...",
        help=f"regions, or {ALL_REGIONS} for every spoke of the account",
    )
    add_target_options(forgetting, inherit=True)
    forgetting.set_defaults(handler=run_forget)


@hub_command
def run_list(args: argparse.Namespace) -> int:
    from rootwatch.adapters.spokes import DynamoSpokes  # noqa: PLC0415 (boto3)
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    account = account_id(args.account) if args.account else None
    hub = connect(args)
    now = datetime.now(UTC)
    policy = hub.silence_policy()
    spokes = DynamoSpokes(hub.dynamodb(), hub.table_name)
    reader = hub.reader()
    status: SpokeStatus | None = args.status
    if account:
        found = [
            spoke
            for spoke in spokes.of_account(account)
            if status is None or policy.status(spoke, now) == status
        ]
        entry = reader.account(account)
        entries = {account: entry} if entry else {}
    else:
        found = list(_by_status(spokes, status, policy.cutoff(now)))
        entries = {str(item.get("account_id")): item for item in reader.accounts()} if found else {}
    found.sort(key=lambda spoke: _order(spoke, policy, now))
    output = option(args, "output")
    print_rows(
        [_row(spoke, entries.get(spoke.account_id), policy, now, output) for spoke in found],
        output=output,
        columns=TABLE_COLUMNS,
        keys=KEYS,
        shrink=TABLE_SHRINK,
        empty=_nothing_found(account, status),
    )
    if found and output == "table":
        print(_summary(found, policy, now), file=sys.stderr)
    return 0


def _by_status(
    spokes: DynamoSpokes, status: SpokeStatus | None, cutoff: datetime
) -> Iterable[SpokeState]:
    """Every spoke, or those of one status, each status read from its own key range."""
    if status == "never":
        return spokes.never_reported()
    if status == "silent":
        return spokes.silent_since(cutoff)
    if status == "ok":
        return spokes.reporting_since(cutoff)
    return spokes.every()


def _order(spoke: SpokeState, policy: SilencePolicy, now: datetime) -> tuple[Any, ...]:
    """Never reported first, then silent, then reporting; the stalest first in each."""
    return (
        STATUSES.index(policy.status(spoke, now)),
        spoke.last_heartbeat or datetime.min.replace(tzinfo=UTC),
        spoke.account_id,
        spoke.region,
    )


def _row(
    spoke: SpokeState,
    entry: Mapping[str, Any] | None,
    policy: SilencePolicy,
    now: datetime,
    output: str,
) -> dict[str, Any]:
    status = policy.status(spoke, now)
    age = int((now - spoke.last_heartbeat).total_seconds()) if spoke.last_heartbeat else None
    entry = entry or {}
    return {
        "account_id": spoke.account_id,
        "name": entry.get("name"),
        "partner": entry.get("partner"),
        "region": spoke.region,
        "status": _STATUS_WORDS[status] if output == "table" else status,
        "last_heartbeat": spoke.last_heartbeat,
        "age_seconds": age,
        "age": describe_duration(age) if age is not None else None,
        "expected": spoke.expected,
        "registered_at": spoke.registered_at,
        "silent_alerted_at": spoke.silent_alerted_at,
    }


def _summary(spokes: list[SpokeState], policy: SilencePolicy, now: datetime) -> str:
    counts = {status: 0 for status in STATUSES}
    for spoke in spokes:
        counts[policy.status(spoke, now)] += 1
    accounts = len({spoke.account_id for spoke in spokes})
    parts = [f"{counts[status]} {_STATUS_WORDS[status]}" for status in ("ok", "silent", "never")]
    minutes = policy.silent_after_minutes
    return (
        f"{plural(len(spokes), 'spoke')} in {plural(accounts, 'account')}: {', '.join(parts)} "
        f"(silent after {minutes} min without a heartbeat)"
    )


def _nothing_found(account: str | None, status: SpokeStatus | None) -> str:
    which = f"{_STATUS_WORDS[status]} spokes" if status else "spokes"
    if account:
        return f"no {which} for account {account}"
    if status:
        return f"no {which}"
    return (
        "no spoke has reported and none is expected: deploy spokes (rootwatch deploy spokes) "
        "or register the expected ones (rootwatch spokes expect)"
    )


def _regions(text: str, *, allow_all: bool = False) -> tuple[str, ...]:
    regions = tuple(dict.fromkeys(region.lower() for region in comma_list(text)))
    if allow_all and regions == (ALL_REGIONS,):
        return regions
    if not regions:
        raise UsageError("--regions needs at least one region, such as us-east-1")
    wrong = [region for region in regions if not is_region(region)]
    if wrong:
        raise UsageError(f"--regions: {', '.join(map(repr, wrong))} is not a region name")
    return regions


@hub_command
def run_expect(args: argparse.Namespace) -> int:
    from rootwatch.adapters.spoke_registry import SpokeRegistry  # noqa: PLC0415 (boto3)
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    account = account_id(args.account)
    regions = _regions(args.regions)
    hub = connect(args)
    policy = hub.silence_policy()
    registry = SpokeRegistry(hub.dynamodb(), hub.table_name)
    caller = hub.caller_arn()
    now = datetime.now(UTC)
    minutes = policy.silent_after_minutes
    for region in regions:
        outcome = registry.expect(account, region, registered_by=caller, now=now)
        spoke = f"spoke {account} {region}"
        if outcome == "registered":
            message = f"registered {spoke}: reported if it sends no heartbeat within {minutes} min"
        elif outcome == "expected now":
            message = f"registered {spoke}, which has reported already"
        else:
            message = f"{spoke} was registered already"
        print(message, file=sys.stderr)
    return 0


@hub_command
def run_forget(args: argparse.Namespace) -> int:
    from rootwatch.adapters.spoke_registry import SpokeRegistry  # noqa: PLC0415 (boto3)
    from rootwatch.adapters.spokes import DynamoSpokes  # noqa: PLC0415 (boto3)
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    account = account_id(args.account)
    regions = _regions(args.regions, allow_all=True)
    hub = connect(args)
    if regions == (ALL_REGIONS,):
        known = DynamoSpokes(hub.dynamodb(), hub.table_name).of_account(account)
        regions = tuple(spoke.region for spoke in known)
        if not regions:
            raise CommandFailure(f"account {account} has no spokes")
    registry = SpokeRegistry(hub.dynamodb(), hub.table_name)
    missing = []
    for region in regions:
        if registry.forget(account, region):
            print(f"forgot spoke {account} {region}", file=sys.stderr)
        else:
            missing.append(region)
    if missing:
        raise CommandFailure(f"account {account} has no spoke in {', '.join(missing)}")
    return 0
