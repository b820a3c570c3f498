"""Writes of the audit table for the command line: account entries and planned windows.

Item layouts (keys from `rootwatch.keys`, times `keys.iso` strings), as the processor reads
them (`adapters.audit`):

- account entry, `account_key` + `account_index_keys`: `account_id`, `name`, `partner`,
  `slack_secrets` and `emails` (lists of strings), `min_severity` (a severity label),
  `updated_at`, `updated_by` (the caller's ARN).
- planned window, `window_key` + `window_index_keys`: `window_id`, `account_id`,
  `starts_at`, `ends_at`, `created_by`, `created_at`, `reason`, and, once cancelled,
  `cancelled_at` and `cancelled_by`; `expires_at` (epoch seconds, the table's TTL) is a
  retention after the window ends, so the plan stays next to the events it explained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from rootwatch import keys
from rootwatch.adapters.errors import condition_failed
from rootwatch.model import PlannedWindow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

EntryValue = str | tuple[str, ...] | None


class WindowConflictError(Exception):
    """The window was created or changed by someone else meanwhile."""


@dataclass(frozen=True, slots=True)
class EntryUpdate:
    """New values of some fields of an account entry; None (or empty) removes a field.

    The fields are checked by the caller (`rootwatch.cli.entries`).
    """

    account_id: str
    fields: Mapping[str, EntryValue]


class AuditAdmin:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._serializer = TypeSerializer()

    def update_account(self, update: EntryUpdate, *, updated_by: str, now: datetime) -> bool:
        """Set and remove fields of an entry, creating it if needed; True when created."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        assignments: list[str] = []
        removals: list[str] = []
        always: dict[str, str] = {
            "account_id": update.account_id,
            **keys.account_index_keys(update.account_id),
            "updated_at": keys.iso(now),
            "updated_by": updated_by,
        }
        changes: dict[str, EntryValue] = {**always, **update.fields}
        for index, (attribute, value) in enumerate(changes.items()):
            names[f"#a{index}"] = attribute
            if not value:
                removals.append(f"#a{index}")
                continue
            values[f":v{index}"] = self._serializer.serialize(
                list(value) if isinstance(value, tuple) else value
            )
            assignments.append(f"#a{index} = :v{index}")
        expression = "SET " + ", ".join(assignments)
        if removals:
            expression += " REMOVE " + ", ".join(removals)
        response = self._client.update_item(
            TableName=self._table,
            Key=_key(keys.account_key(update.account_id)),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
        )
        return not response.get("Attributes")

    def remove_account(self, account_id: str) -> bool:
        """Delete an entry (its planned windows stay); True when there was one."""
        response = self._client.delete_item(
            TableName=self._table, Key=_key(keys.account_key(account_id)), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    def create_window(
        self, window: PlannedWindow, *, created_at: datetime, expires_at: datetime
    ) -> None:
        attributes: dict[str, Any] = {
            **keys.window_key(window.account_id, window.window_id),
            **keys.window_index_keys(window_id=window.window_id, ends_at=window.ends_at),
            "window_id": window.window_id,
            "account_id": window.account_id,
            "starts_at": keys.iso(window.starts_at),
            "ends_at": keys.iso(window.ends_at),
            "created_by": window.created_by,
            "created_at": keys.iso(created_at),
            "reason": window.reason,
            keys.TTL_ATTRIBUTE: int(expires_at.timestamp()),
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    name: self._serializer.serialize(value) for name, value in attributes.items()
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": keys.PK},
            )
        except ClientError as error:
            if condition_failed(error):
                raise WindowConflictError(f"window {window.window_id} already exists") from error
            raise

    def end_window(
        self,
        window: PlannedWindow,
        *,
        ends_at: datetime,
        cancelled_by: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        """Move a window's end to `ends_at`, provided nobody changed its end meanwhile."""
        index_keys = keys.window_index_keys(window_id=window.window_id, ends_at=ends_at)
        updates: Sequence[tuple[str, Any]] = (
            ("ends_at", keys.iso(ends_at)),
            ("gsi2sk", index_keys["gsi2sk"]),
            ("cancelled_at", keys.iso(now)),
            ("cancelled_by", cancelled_by),
            (keys.TTL_ATTRIBUTE, int(expires_at.timestamp())),
        )
        names = {f"#a{index}": name for index, (name, _value) in enumerate(updates)}
        values = {
            f":v{index}": self._serializer.serialize(value)
            for index, (_name, value) in enumerate(updates)
        }
        names["#pk"] = keys.PK
        values[":previous_end"] = {"S": keys.iso(window.ends_at)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(keys.window_key(window.account_id, window.window_id)),
                UpdateExpression="SET "
                + ", ".join(f"#a{index} = :v{index}" for index in range(len(updates))),
                ConditionExpression="attribute_exists(#pk) AND #a0 = :previous_end",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if condition_failed(error):
                raise WindowConflictError(
                    f"window {window.window_id} changed meanwhile; list it again"
                ) from error
            raise


def _key(key: Mapping[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}
