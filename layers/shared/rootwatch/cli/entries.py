"""Account entries as people give them: checked fields, CSV and YAML files, import plans.

An entry routes an account's alerts (design §4): `name`, `partner`, `slack_secrets` (secret
names under the hub's Slack prefix), `emails`, `min_severity`. An import names fields per
account; a field it names replaces the stored one (an empty value removes it), a field it
does not name is left alone, so an import never erases routing it knows nothing of.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from rootwatch.model import Severity

EntryValue = str | tuple[str, ...] | None
Action = Literal["create", "update", "unchanged"]

FIELDS: Final = ("name", "partner", "slack_secrets", "emails", "min_severity")
LIST_FIELDS: Final = frozenset({"slack_secrets", "emails"})
NAME_LIMIT: Final = 256
PARTNER_LIMIT: Final = 128
_ACCOUNT_ID: Final = re.compile(r"[0-9]{12}")
# The hub template's constraint on Slack secret names.
_SECRET_NAME: Final = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_EMAIL: Final = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
# Column and key names people use for the fields, normalised (lower case, `_` for ` -`).
_ALIASES: Final = {
    "account_id": "account_id",
    "accountid": "account_id",
    "account": "account_id",
    "id": "account_id",
    "name": "name",
    "account_name": "name",
    "partner": "partner",
    "slack_secrets": "slack_secrets",
    "slack_secret": "slack_secrets",
    "slack": "slack_secrets",
    "emails": "emails",
    "email": "emails",
    "min_severity": "min_severity",
    "minimum_severity": "min_severity",
    "severity": "min_severity",
}


class EntryError(ValueError):
    """Input that cannot become an account entry; says where and why."""


@dataclass(frozen=True, slots=True)
class ImportedEntry:
    """The fields an import gives one account (only those it names)."""

    account_id: str
    fields: Mapping[str, EntryValue]


@dataclass(frozen=True, slots=True)
class PlannedChange:
    account_id: str
    action: Action
    changes: Mapping[str, EntryValue]
    entry: Mapping[str, EntryValue]


def check_account_id(value: Any) -> str:
    text = _account_id_text(value)
    if not _ACCOUNT_ID.fullmatch(text):
        hint = " (quote account ids in YAML: '012345678901')" if isinstance(value, int) else ""
        raise EntryError(f"{value!r} is not a 12-digit AWS account id{hint}")
    return text


def check_field(name: str, value: Any) -> EntryValue:
    """A field's value as stored; None (or an empty value) means "remove the field"."""
    if name in LIST_FIELDS:
        items = _list_items(value)
        for item in items:
            if name == "emails" and not _EMAIL.fullmatch(item):
                raise EntryError(f"{item!r} is not an email address")
            if name == "slack_secrets" and not _SECRET_NAME.fullmatch(item):
                raise EntryError(
                    f"{item!r} is not a Secrets Manager name (letters, digits and /_+=.@-)"
                )
        return tuple(dict.fromkeys(items)) or None
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if name == "min_severity":
        if text.lower() == "none":
            return None
        try:
            return Severity.parse(text).label
        except ValueError as error:
            raise EntryError(str(error)) from None
    limit = NAME_LIMIT if name == "name" else PARTNER_LIMIT
    if len(text) > limit or any(not character.isprintable() for character in text):
        raise EntryError(f"{name} must be at most {limit} printable characters")
    return text


def read_entries_file(path: Path) -> list[ImportedEntry]:
    """Entries from a CSV file (a header row naming the columns) or a YAML list."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise EntryError(f"cannot read {path}: {error}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return entries_from_yaml(text, source=str(path))
    if path.suffix.lower() == ".csv":
        return entries_from_csv(text, source=str(path))
    raise EntryError(f"{path}: give a .csv, .yaml or .yml file")


def entries_from_csv(text: str, *, source: str) -> list[ImportedEntry]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise EntryError(f"{source}: empty file (expected a header row)") from None
    columns = [_field_name(column, source=source, where="column") for column in header]
    if "account_id" not in columns:
        raise EntryError(f"{source}: no account_id column")
    rows: list[tuple[str, dict[str, Any]]] = []
    for line_number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            raise EntryError(f"{source}:{line_number}: more cells than columns")
        rows.append((f"{source}:{line_number}", dict(zip(columns, cells, strict=False))))
    return _entries(rows)


def entries_from_yaml(text: str, *, source: str) -> list[ImportedEntry]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise EntryError(f"{source}: not YAML: {error}") from None
    if isinstance(document, Mapping) and "accounts" in document:
        document = document["accounts"]
    if not isinstance(document, list):
        raise EntryError(f"{source}: expected a list of accounts (or `accounts:` with one)")
    rows: list[tuple[str, dict[str, Any]]] = []
    for position, entry in enumerate(document, start=1):
        where = f"{source}: account {position}"
        if not isinstance(entry, Mapping):
            raise EntryError(f"{where}: expected a mapping of fields")
        fields = {
            _field_name(str(key), source=where, where="key"): value for key, value in entry.items()
        }
        rows.append((where, fields))
    return _entries(rows)


def plan_import(
    imported: Sequence[ImportedEntry], existing: Iterable[Mapping[str, Any]]
) -> list[PlannedChange]:
    """What an import changes: per account, the fields that differ from the stored entry."""
    stored = {str(item.get("account_id")): item for item in existing}
    plan: list[PlannedChange] = []
    for entry in imported:
        current = stored.get(entry.account_id)
        current_fields = stored_fields(current) if current is not None else {}
        changes = {
            name: value
            for name, value in entry.fields.items()
            if current is None or current_fields.get(name) != value
        }
        if current is None:
            action: Action = "create"
            changes = {name: value for name, value in changes.items() if value is not None}
        else:
            action = "update" if changes else "unchanged"
        plan.append(
            PlannedChange(
                account_id=entry.account_id,
                action=action,
                changes=changes,
                entry={**current_fields, **entry.fields},
            )
        )
    return plan


def stored_fields(item: Mapping[str, Any]) -> dict[str, EntryValue]:
    """A stored entry's fields in the form `check_field` gives (lists as tuples)."""
    fields: dict[str, EntryValue] = {}
    for name in FIELDS:
        value = item.get(name)
        if name in LIST_FIELDS:
            items = _list_items(value)
            fields[name] = tuple(items) or None
        else:
            fields[name] = str(value) if value not in (None, "") else None
    return fields


def _entries(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[ImportedEntry]:
    entries: list[ImportedEntry] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for where, row in rows:
        try:
            account_id = check_account_id(row.get("account_id"))
            fields = {
                name: check_field(name, value)
                for name, value in row.items()
                if name != "account_id"
            }
        except EntryError as error:
            problems.append(f"{where}: {error}")
            continue
        if account_id in seen:
            problems.append(f"{where}: account {account_id} again (first at {seen[account_id]})")
            continue
        seen[account_id] = where
        entries.append(ImportedEntry(account_id=account_id, fields=fields))
    if problems:
        raise EntryError("\n".join(problems))
    return entries


def _field_name(text: str, *, source: str, where: str) -> str:
    normal = re.sub(r"[\s-]+", "_", text.strip().lower())
    if normal not in _ALIASES:
        known = ", ".join(("account_id", *FIELDS))
        raise EntryError(f"{source}: unknown {where} {text!r} (known: {known})")
    return _ALIASES[normal]


def _account_id_text(value: Any) -> str:
    # YAML reads an unquoted id as a number: twelve digits without a leading zero survive.
    return "" if value is None else str(value).strip()


def _list_items(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts: Iterable[Any] = re.split(r"[,;]", value)
    elif isinstance(value, Iterable):
        parts = value
    else:
        parts = [value]
    return [str(part).strip() for part in parts if str(part).strip()]
