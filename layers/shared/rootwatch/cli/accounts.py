"""`rootwatch accounts list|set|remove|import`: the entries the notifier routes alerts by."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

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

if TYPE_CHECKING:
    from rootwatch.adapters.admin import AuditAdmin
    from rootwatch.cli.entries import ImportedEntry, PlannedChange
    from rootwatch.cli.hub import Hub

KEYS: Final = (
    "account_id",
    "name",
    "partner",
    "slack_secrets",
    "emails",
    "min_severity",
    "updated_at",
    "updated_by",
)
TABLE_COLUMNS: Final = (
    Column("account_id", "ACCOUNT"),
    Column("name", "NAME", max_width=40),
    Column("partner", "PARTNER", max_width=30),
    Column("min_severity", "MIN SEVERITY"),
    Column("slack_secrets", "SLACK SECRETS"),
    Column("emails", "EMAILS"),
)
TABLE_SHRINK: Final = (("emails", 16), ("slack_secrets", 16), ("name", 16), ("partner", 12))
IMPORT_KEYS: Final = ("account_id", "action", "changed", "name", "partner")
IMPORT_COLUMNS: Final = (
    Column("account_id", "ACCOUNT"),
    Column("action", "ACTION"),
    Column("changed", "FIELDS"),
    Column("name", "NAME", max_width=40),
    Column("partner", "PARTNER", max_width=30),
)
IMPORT_SHRINK: Final = (("name", 16), ("changed", 12))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "accounts",
        help="list and edit the account entries alerts are routed by",
        description=(
            "Account entries name an account and its partner and add destinations for its "
            "alerts (Slack secrets, email addresses), optionally only from a minimum severity. "
            "Alerts always go to the hub's default destinations as well."
        ),
    )
    actions = parser.add_subparsers(dest="accounts_action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list the account entries")
    listing.add_argument("--partner", metavar="NAME", help="only this partner's accounts")
    add_target_options(listing, inherit=False)
    listing.set_defaults(handler=run_list)

    setting = actions.add_parser(
        "set",
        help="create or change an account entry",
        description=(
            "Set fields of an account's entry, creating it if needed. Fields not given are "
            "left as they are; an empty value (--partner '') removes a field."
        ),
    )
    setting.add_argument("account", metavar="ACCOUNT", help="12-digit account id")
    setting.add_argument("--name", help="account name shown in alerts")
    setting.add_argument("--partner", help="partner (customer) the account belongs to")
    setting.add_argument(
        "--slack-secrets",
        metavar="NAME,...",
        help="Slack webhook secrets (under the hub's Slack prefix) for this account's alerts",
    )
    setting.add_argument("--emails", metavar="ADDRESS,...", help="email addresses to alert")
    setting.add_argument(
        "--min-severity",
        metavar="S",
        help="the entry's destinations get alerts from this severity up (none: every alert)",
    )
    add_target_options(setting, inherit=False)
    setting.set_defaults(handler=run_set)

    removing = actions.add_parser(
        "remove", help="delete an account entry (its alerts then go to the defaults only)"
    )
    removing.add_argument("account", metavar="ACCOUNT", help="12-digit account id")
    add_target_options(removing, inherit=False)
    removing.set_defaults(handler=run_remove)

    importing = actions.add_parser(
        "import",
        help="create or update entries from AWS Organizations or a CSV/YAML file",
        description=(
            "Create or update entries from the accounts of an organisation (names; run with "
            "the management account or a delegated administrator) or from a file: CSV with "
            "a header row, or a YAML list of mappings, with account_id and any of name, "
            "partner, slack_secrets, emails, min_severity (lists separated by , or ;). A field "
            "the source gives replaces the stored one (empty removes it); other fields stay."
        ),
    )
    source = importing.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-organizations",
        action="store_true",
        help="the accounts of the organisation of the credentials",
    )
    source.add_argument("--file", type=Path, metavar="PATH", help="a .csv, .yaml or .yml file")
    importing.add_argument(
        "--partner", metavar="NAME", help="partner of imported accounts that name none"
    )
    importing.add_argument(
        "--dry-run", action="store_true", help="show what would change, and change nothing"
    )
    add_target_options(importing, inherit=False)
    importing.set_defaults(handler=run_import)


@hub_command
def run_list(args: argparse.Namespace) -> int:
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    hub = connect(args)
    entries = hub.reader().accounts()
    if args.partner:
        entries = [entry for entry in entries if entry.get("partner") == args.partner]
    output = option(args, "output")
    print_rows(
        [_entry_row(entry, output) for entry in entries],
        output=output,
        columns=TABLE_COLUMNS,
        shrink=TABLE_SHRINK,
        keys=KEYS,
        empty="no account entries",
    )
    return 0


@hub_command
def run_set(args: argparse.Namespace) -> int:
    from rootwatch.adapters.admin import EntryUpdate  # noqa: PLC0415 (boto3)
    from rootwatch.cli.entries import EntryError, check_field  # noqa: PLC0415
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    account = account_id(args.account, option_name="ACCOUNT")
    given = {
        "name": args.name,
        "partner": args.partner,
        "slack_secrets": args.slack_secrets,
        "emails": args.emails,
        "min_severity": args.min_severity,
    }
    try:
        fields = {
            name: check_field(name, value) for name, value in given.items() if value is not None
        }
    except EntryError as error:
        raise UsageError(str(error)) from None
    if not fields:
        raise UsageError(
            "nothing to set: give --name, --partner, --slack-secrets, --emails or --min-severity"
        )
    hub = connect(args)
    created = hub.admin().update_account(
        EntryUpdate(account_id=account, fields=fields),
        updated_by=hub.caller_arn(),
        now=datetime.now(UTC),
    )
    print(f"{'created' if created else 'updated'} the entry of account {account}", file=sys.stderr)
    return 0


@hub_command
def run_remove(args: argparse.Namespace) -> int:
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    account = account_id(args.account, option_name="ACCOUNT")
    hub = connect(args)
    if not hub.admin().remove_account(account):
        raise CommandFailure(f"no entry for account {account}")
    print(
        f"removed the entry of account {account}: its alerts go to the default destinations only",
        file=sys.stderr,
    )
    return 0


@hub_command
def run_import(args: argparse.Namespace) -> int:
    from rootwatch.cli.entries import (  # noqa: PLC0415
        EntryError,
        ImportedEntry,
        check_field,
        read_entries_file,
    )
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)

    try:
        partner = check_field("partner", args.partner) if args.partner else None
        imported = read_entries_file(args.file) if args.file is not None else None
    except EntryError as error:
        raise UsageError(str(error)) from None
    hub = connect(args)
    if imported is None:
        imported = _organization_entries(hub)
    if partner:
        imported = [
            ImportedEntry(
                entry.account_id,
                {**entry.fields, "partner": entry.fields.get("partner") or partner},
            )
            for entry in imported
        ]
    plan = import_entries(
        hub.admin(),
        imported,
        hub.reader().accounts(),
        updated_by=hub.caller_arn,
        now=datetime.now(UTC),
        dry_run=args.dry_run,
    )
    _print_plan(plan, output=option(args, "output"), dry_run=args.dry_run)
    return 0


def import_entries(
    admin: AuditAdmin,
    imported: Sequence[ImportedEntry],
    existing: Iterable[Mapping[str, Any]],
    *,
    updated_by: Callable[[], str],
    now: datetime,
    dry_run: bool = False,
) -> list[PlannedChange]:
    """Plan an import against the stored entries and, unless a dry run, write the changes.

    `updated_by` names who imports; it is asked only when something changes.
    """
    from rootwatch.adapters.admin import EntryUpdate  # noqa: PLC0415 (boto3)
    from rootwatch.cli.entries import plan_import  # noqa: PLC0415

    plan = plan_import(imported, existing)
    changing = [change for change in plan if change.action != "unchanged"]
    if dry_run or not changing:
        return plan
    caller = updated_by()
    for change in changing:
        admin.update_account(
            EntryUpdate(account_id=change.account_id, fields=change.changes),
            updated_by=caller,
            now=now,
        )
    return plan


def _organization_entries(hub: Hub) -> list[ImportedEntry]:
    from botocore.exceptions import ClientError  # noqa: PLC0415 (boto3)

    from rootwatch.adapters.organizations import organization_accounts  # noqa: PLC0415
    from rootwatch.cli.entries import ImportedEntry, check_field  # noqa: PLC0415

    try:
        accounts = organization_accounts(hub.client("organizations"))
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == "AWSOrganizationsNotInUseException":
            raise CommandFailure(
                "the account of these credentials is in no organisation: import from a file "
                "(--file)"
            ) from None
        if code.startswith("AccessDenied"):
            raise CommandFailure(
                "Organizations ListAccounts was refused: run it with the management account "
                "or a delegated administrator (--profile), or import from a file"
            ) from None
        raise
    if not accounts:
        raise CommandFailure(
            "Organizations lists no accounts for these credentials: use the management "
            "account or a delegated administrator (--profile), or import from a file (--file)"
        )
    return [
        ImportedEntry(
            account_id=account.account_id, fields={"name": check_field("name", account.name)}
        )
        for account in accounts
    ]


def _print_plan(plan: Sequence[PlannedChange], *, output: str, dry_run: bool) -> None:
    rows = [
        {
            "account_id": change.account_id,
            "action": f"would {change.action}"
            if dry_run and change.action != "unchanged"
            else change.action,
            "changed": sorted(change.changes),
            "name": change.entry.get("name"),
            "partner": change.entry.get("partner"),
        }
        for change in plan
    ]
    print_rows(rows, output=output, columns=IMPORT_COLUMNS, shrink=IMPORT_SHRINK, keys=IMPORT_KEYS)
    counts = Counter(change.action for change in plan)
    created, updated = ("would create", "would update") if dry_run else ("created", "updated")
    print(
        f"{created} {counts['create']}, {updated} {counts['update']}, "
        f"unchanged {counts['unchanged']}",
        file=sys.stderr,
    )


def _entry_row(entry: Mapping[str, Any], output: str) -> dict[str, Any]:
    row = {key: entry.get(key) for key in KEYS}
    for key in ("slack_secrets", "emails"):
        if isinstance(row[key], str):
            row[key] = [row[key]]
    if output == "table":
        row["updated_at"] = stored_time(row["updated_at"])
    return row
