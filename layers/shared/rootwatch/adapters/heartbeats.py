"""Heartbeats into the audit table: one UpdateItem per heartbeat on the spoke's item.

The spoke item (`keys.spoke_key` + `keys.spoke_index_keys`) holds `account_id`, `region`,
`last_heartbeat` and `first_heartbeat` (`keys.iso` strings) and `expires_at`, the table's
TTL: a spoke is forgotten `retention` after its last heartbeat. `rootwatch spokes expect`
adds `expected`, `registered_at` and `registered_by` (`adapters.spoke_registry`); the
watchdog adds `silent_alert_id` and `silent_alerted_at` (`adapters.spokes`), which a
heartbeat removes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from rootwatch import keys
from rootwatch.spokes import Heartbeat, HeartbeatResult

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoHeartbeats:
    def __init__(self, client: DynamoDBClient, table_name: str, retention: timedelta) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention

    def record(self, heartbeat: Heartbeat) -> HeartbeatResult:
        """Make this heartbeat the spoke's last, unless it already has this one or a later one."""
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
        index_keys = keys.spoke_index_keys(
            account_id=heartbeat.account_id, region=heartbeat.region, last_heartbeat=heartbeat.at
        )
        for position, (name, value) in enumerate(index_keys.items()):
            assignments.append(f"{name} = :index{position}")
            values[f":index{position}"] = {"S": value}
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={
                    name: {"S": value}
                    for name, value in keys.spoke_key(
                        heartbeat.account_id, heartbeat.region
                    ).items()
                },
                UpdateExpression="SET "
                + ", ".join(assignments)
                + " REMOVE silent_alert_id, silent_alerted_at",
                # String order is time order for `keys.iso` stamps.
                ConditionExpression="attribute_not_exists(last_heartbeat) OR last_heartbeat < :at",
                ExpressionAttributeNames={"#region": "region"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return HeartbeatResult(recorded=False)
            raise
        old = response.get("Attributes") or {}
        previous = old.get("last_heartbeat", {}).get("S")
        return HeartbeatResult(
            recorded=True,
            previous=_parse(previous) if previous else None,
            recovered_from=old.get("silent_alert_id", {}).get("S"),
        )


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
