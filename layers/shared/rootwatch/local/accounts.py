"""Account entries for `rootwatch local`: the names, partners and destinations of the accounts.

An entries file beside the input events (`accounts.yaml`, `accounts.yml` or `accounts.csv`
in an input directory, or in the directory of an input file), or the files given, is read
and imported as `rootwatch accounts import --file` reads and imports it, before any event
is put: alerts then carry the accounts' names and partners, and reach the entries' own
destinations. Each Slack secret an entry names is created in the local Secrets Manager,
pointing at the local Slack receiver, so its channel receives the account's alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from rootwatch.adapters.accounts import account_info
from rootwatch.adapters.admin import AuditAdmin
from rootwatch.adapters.queries import AuditReader
from rootwatch.cli.accounts import KEYS, import_entries
from rootwatch.cli.entries import ImportedEntry, read_entries_file
from rootwatch.local.hub import LocalHub
from rootwatch.routing import RoutingPolicy

ENTRIES_FILE_NAMES: Final = ("accounts.yaml", "accounts.yml", "accounts.csv")


@dataclass(frozen=True, slots=True)
class EntriesFile:
    """An entries file, read and checked."""

    path: Path
    entries: tuple[ImportedEntry, ...]


def entries_files_beside(inputs: Iterable[Path]) -> list[Path]:
    """The entries file of each input's directory (the first of `ENTRIES_FILE_NAMES` there)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for given in inputs:
        directory = given if given.is_dir() else given.parent
        for name in ENTRIES_FILE_NAMES:
            candidate = directory / name
            if candidate.is_file():
                if candidate.resolve() not in seen:
                    seen.add(candidate.resolve())
                    found.append(candidate)
                break
    return found


def read_entries_files(paths: Iterable[Path]) -> list[EntriesFile]:
    """Each file's entries; raises `EntryError` naming the file, row and field at fault."""
    return [EntriesFile(path, tuple(read_entries_file(path))) for path in paths]


def import_entries_files(hub: LocalHub, files: Sequence[EntriesFile]) -> list[dict[str, Any]]:
    """Import the files in order (a later file's fields replace an earlier one's) and create
    the Slack secrets the stored entries name; returns the stored entries as
    `rootwatch accounts list` shows them."""
    dynamodb = hub.endpoint.dynamodb()
    admin = AuditAdmin(dynamodb, hub.table_name)
    reader = AuditReader(dynamodb, hub.table_name)
    now = datetime.now(UTC)
    for entries_file in files:
        import_entries(
            admin,
            entries_file.entries,
            reader.accounts(),
            updated_by=lambda: _caller_arn(hub),
            now=now,
        )
    stored = reader.accounts() if files else []
    create_slack_secrets(hub, stored)
    return [{key: entry.get(key) for key in KEYS} for entry in stored]


def create_slack_secrets(hub: LocalHub, entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """A local webhook secret for each Slack secret the entries name that does not exist yet
    (named as the notifier resolves it, under its prefix); returns the secrets created."""
    prefix = _slack_secret_prefix(hub)
    if prefix is None:
        return []
    policy = RoutingPolicy(slack_secret_prefix=prefix)
    secrets = hub.endpoint.secretsmanager()
    existing = {
        str(secret["Name"])
        for page in secrets.get_paginator("list_secrets").paginate()
        for secret in page["SecretList"]
    }
    created: list[str] = []
    for entry in entries:
        for name in account_info(str(entry.get("account_id")), entry).slack_secrets:
            secret_name = policy.slack_secret_name(name)
            if secret_name not in existing:
                hub.add_slack_channel(secret_name)
                existing.add(secret_name)
                created.append(secret_name)
    return created


def _slack_secret_prefix(hub: LocalHub) -> str | None:
    """The notifier's Slack secret prefix, as the template sets it."""
    for function in hub.stack.functions.values():
        prefix = function.environment.get("SLACK_SECRET_PREFIX", "").strip()
        if prefix:
            return prefix
    return None


def _caller_arn(hub: LocalHub) -> str:
    return str(hub.endpoint.client("sts").get_caller_identity()["Arn"])
