"""Registering the spokes the hub expects, and forgetting spokes, for the command line.

An expected spoke is watched before it ever reports: the watchdog reports it when it has
not reported `silent_after` after its registration. Registering sets `expected`,
`registered_at` and `registered_by` on the spoke item (`adapters.heartbeats` lists the
other attributes), creating it with the never-reported sort key when the spoke has not
reported yet. Forgetting deletes the item: a spoke whose stack is gone stops being watched,
and one that still sends heartbeats is recorded again by its next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from rootwatch import keys

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Registration = Literal["registered", "expected now", "already expected"]


class SpokeRegistry:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def expect(
        self, account_id: str, region: str, *, registered_by: str, now: datetime
    ) -> Registration:
        """Mark the spoke as expected: "registered" when it was unknown, "expected now"
        when it had reported without being expected."""
        index_keys = keys.spoke_index_keys(
            account_id=account_id, region=region, last_heartbeat=None
        )
        response = self._client.update_item(
            TableName=self._table,
            Key=_key(keys.spoke_key(account_id, region)),
            UpdateExpression=(
                "SET account_id = :account, #region = :region, expected = :true, "
                "registered_at = if_not_exists(registered_at, :now), "
                "registered_by = if_not_exists(registered_by, :by), "
                "gsi1pk = :gsi1pk, gsi1sk = :gsi1sk, gsi2pk = :gsi2pk, "
                # A spoke that has reported keeps its place among the heartbeats.
                "gsi2sk = if_not_exists(gsi2sk, :gsi2sk)"
            ),
            ExpressionAttributeNames={"#region": "region"},
            ExpressionAttributeValues={
                ":account": {"S": account_id},
                ":region": {"S": region},
                ":true": {"BOOL": True},
                ":now": {"S": keys.iso(now)},
                ":by": {"S": registered_by},
                **{f":{name}": {"S": value} for name, value in index_keys.items()},
            },
            ReturnValues="ALL_OLD",
        )
        old = response.get("Attributes")
        if not old:
            return "registered"
        if old.get("expected", {}).get("BOOL") is True:
            return "already expected"
        return "expected now"

    def forget(self, account_id: str, region: str) -> bool:
        """Delete the spoke's item; True when there was one."""
        response = self._client.delete_item(
            TableName=self._table,
            Key=_key(keys.spoke_key(account_id, region)),
            ReturnValues="ALL_OLD",
        )
        return bool(response.get("Attributes"))


def _key(key: Mapping[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}
