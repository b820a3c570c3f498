"""Account entries (`adapters.admin` writes them) as alerts carry them.

The processor reads an account's entry with the rest of its partition, the watchdog with
one GetItem; both make it an `AccountInfo` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rootwatch.alerts import AccountInfo


def account_info(account_id: str, entry: Mapping[str, Any] | None) -> AccountInfo:
    """An account entry (plain values), or the bare account id when it has none."""
    if entry is None:
        return AccountInfo(account_id=account_id)
    return AccountInfo(
        account_id=account_id,
        name=_text(entry.get("name")),
        partner=_text(entry.get("partner")),
        slack_secrets=_texts(entry.get("slack_secrets")),
        emails=_texts(entry.get("emails")),
        min_severity=_text(entry.get("min_severity")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: Any) -> tuple[str, ...]:
    """A list field: one name, or a list or set of them, sorted."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (list, set, frozenset, tuple)):
        return tuple(sorted(str(item) for item in value if item))
    return ()
