"""Heartbeats into the audit table: one UpdateItem per heartbeat on the spoke's item.

The spoke item (`keys.spoke_key` + `keys.spoke_index_keys`) holds `account_id`, `region`,
`last_heartbeat` and `first_heartbeat` (`keys.iso` strings) and `expires_at`, the table's
TTL: a spoke is forgotten `retention` after its last heartbeat. `rootwatch spokes expect`
adds `expected`, `registered_at` and `registered_by` (`adapters.spoke_registry`); the
watchdog adds `silent_alert_id` and `silent_alerted_at` (`adapters.spokes`), which a
heartbeat removes, adding the silence's id to the string set `recovery_pending` until the
spoke-recovered message is queued (`clear_recovery`).

A heartbeat of a spoke that is not under an alerted silence, nearly all of them, costs one
UpdateItem. One that ends a silence costs a second, which moves the silence's id to
`recovery_pending` in the same write that records the heartbeat.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from msgspec import Struct

from rootwatch import keys
from rootwatch.adapters.accounts import read_account
from rootwatch.adapters.errors import condition_failed
from rootwatch.alerts import AccountInfo
from rootwatch.spokes import Heartbeat, HeartbeatResult

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Conditional writes tried before giving up on an item that keeps changing under them.
_ATTEMPTS = 3


class HeartbeatNotRecorded(Exception):
    """The spoke item changed under every attempt; Lambda should deliver the heartbeat again."""


class DynamoHeartbeats:
    def __init__(self, client: DynamoDBClient, table_name: str, retention: timedelta) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention

    def record(self, heartbeat: Heartbeat) -> HeartbeatResult:
        """Make this heartbeat the spoke's last, unless it already has this one or a later one."""
        newer = "(attribute_not_exists(last_heartbeat) OR last_heartbeat < :at)"
        for _ in range(_ATTEMPTS):
            plain = self._update(heartbeat, f"{newer} AND attribute_not_exists(silent_alert_id)")
            if plain.written:
                return _recorded(plain.item, heartbeat)
            last = _text(plain.item, "last_heartbeat")
            if last is not None and last >= keys.iso(heartbeat.at):
                # This heartbeat or a later one is there already: a retry or a late delivery.
                return _not_recorded(plain.item)
            silence = _text(plain.item, "silent_alert_id")
            if silence is None:
                continue
            ending = self._update(
                heartbeat, f"{newer} AND silent_alert_id = :silence", silence=silence
            )
            if ending.written:
                return _recorded(ending.item, heartbeat)
            # Another heartbeat or the watchdog changed the item in between: look again.
        raise HeartbeatNotRecorded(
            f"the spoke item of {heartbeat.account_id}/{heartbeat.region} kept changing"
        )

    def account(self, account_id: str) -> AccountInfo:
        return read_account(self._client, self._table, account_id)

    def clear_recovery(self, account_id: str, region: str, silence_alert_id: str) -> None:
        """The spoke-recovered message of `silence_alert_id` is queued: it is owed no more."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(account_id, region),
                UpdateExpression="DELETE recovery_pending :silence",
                # A spoke forgotten meanwhile is not made again.
                ConditionExpression="attribute_exists(account_id)",
                ExpressionAttributeValues={":silence": {"SS": [silence_alert_id]}},
            )
        except ClientError as error:
            if not condition_failed(error):
                raise

    def _update(
        self, heartbeat: Heartbeat, condition: str, *, silence: str | None = None
    ) -> _Update:
        stamp = keys.iso(heartbeat.at)
        values: dict[str, Any] = {
            ":account": {"S": heartbeat.account_id},
            ":region": {"S": heartbeat.region},
            ":at": {"S": stamp},
            ":expires": {"N": str(int((heartbeat.at + self._retention).timestamp()))},
        }
        assignments = [
            "account_id = :account",
            "#region = :region",
            "last_heartbeat = :at",
            "first_heartbeat = if_not_exists(first_heartbeat, :at)",
            f"{keys.TTL_ATTRIBUTE} = :expires",
        ]
        ending = ""
        if silence is not None:
            ending = " ADD recovery_pending :owed"
            values[":silence"] = {"S": silence}
            values[":owed"] = {"SS": [silence]}
        index_keys = keys.spoke_index_keys(
            account_id=heartbeat.account_id, region=heartbeat.region, last_heartbeat=heartbeat.at
        )
        for position, (name, value) in enumerate(index_keys.items()):
            assignments.append(f"{name} = :index{position}")
            values[f":index{position}"] = {"S": value}
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_key(heartbeat.account_id, heartbeat.region),
                UpdateExpression="SET "
                + ", ".join(assignments)
                + " REMOVE silent_alert_id, silent_alerted_at"
                + ending,
                # String order is time order for `keys.iso` stamps.
                ConditionExpression=condition,
                ExpressionAttributeNames={"#region": "region"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            standing: Any = error.response.get("Item") or {}
            return _Update(written=False, item=dict(standing))
        return _Update(written=True, item=dict(response.get("Attributes") or {}))


class _Update(Struct, frozen=True):
    """A conditional write: whether it was made, and the item before it (or as it stands)."""

    written: bool
    item: dict[str, Any]


def _recorded(before: dict[str, Any], heartbeat: Heartbeat) -> HeartbeatResult:
    previous = _text(before, "last_heartbeat")
    silence = _text(before, "silent_alert_id")
    owed = set(_texts(before, "recovery_pending"))
    if silence is not None:
        owed.add(silence)
    return HeartbeatResult(
        recorded=True,
        previous=_parse(previous) if previous else None,
        recovered_from=silence,
        recovery_pending=tuple(sorted(owed)),
        last_heartbeat=heartbeat.at,
    )


def _not_recorded(standing: dict[str, Any]) -> HeartbeatResult:
    last = _text(standing, "last_heartbeat")
    return HeartbeatResult(
        recorded=False,
        recovery_pending=_texts(standing, "recovery_pending"),
        last_heartbeat=_parse(last) if last else None,
    )


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else None


def _texts(item: dict[str, Any], name: str) -> tuple[str, ...]:
    values = item.get(name, {}).get("SS")
    return tuple(sorted(str(value) for value in values)) if isinstance(values, list) else ()


def _key(account_id: str, region: str) -> dict[str, Any]:
    return {name: {"S": value} for name, value in keys.spoke_key(account_id, region).items()}


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
