"""Account entries (`adapters.admin` writes them) as alerts carry them.

The processor reads an account's entry with the rest of its partition, the watchdog and
the heartbeat function with one GetItem (`read_account`); all make it an `AccountInfo` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from rootwatch import keys
from rootwatch.alerts import AccountInfo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def read_account(client: DynamoDBClient, table_name: str, account_id: str) -> AccountInfo:
    """The account's entry (name, partner, destinations), or the bare account id."""
    key = {name: {"S": value} for name, value in keys.account_key(account_id).items()}
    item = client.get_item(TableName=table_name, Key=key).get("Item")
    if item is None:
        return account_info(account_id, None)
    deserializer = TypeDeserializer()
    return account_info(
        account_id, {name: deserializer.deserialize(value) for name, value in item.items()}
    )


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
