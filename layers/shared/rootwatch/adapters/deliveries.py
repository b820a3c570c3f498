"""Delivery records in the audit table.

One item per alert and destination (`keys.delivery_key`): `alert_id`, `destination`,
`channel`, `status` (`delivered` or `failed`), `at`, `attempts` or `reason`, `kind`,
`severity`, `account_id`, `incident_id`, and `expires_at` (the table's TTL attribute).
All of an alert's records share a partition, so one Query reads them. Writes are
conditional: a failure never overwrites a delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from rootwatch import keys
from rootwatch.adapters.errors import condition_failed
from rootwatch.alerts import Alert
from rootwatch.routing import Destination

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DeliveryStatus = Literal["delivered", "failed"]
DELIVERED: DeliveryStatus = "delivered"
FAILED: DeliveryStatus = "failed"
DEFAULT_RETENTION_DAYS = 400


class DeliveryRecords:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        retention_days: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._table = table_name
        self._retention = timedelta(days=retention_days or DEFAULT_RETENTION_DAYS)
        self._clock = clock

    def delivered(self, alert_id: str) -> frozenset[str]:
        partition = keys.delivery_key(alert_id, "")[keys.PK]
        found: set[str] = set()
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ProjectionExpression": "#sk, #status",
            "ExpressionAttributeNames": {"#pk": keys.PK, "#sk": keys.SK, "#status": "status"},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**request)
            found.update(
                item[keys.SK]["S"]
                for item in page.get("Items", [])
                if item.get("status", {}).get("S") == DELIVERED
            )
            if "LastEvaluatedKey" not in page:
                return frozenset(found)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record_delivered(self, alert: Alert, destination: Destination, attempts: int) -> None:
        self._put(alert, destination, DELIVERED, {"attempts": {"N": str(attempts)}})

    def record_failed(self, alert: Alert, destination: Destination, reason: str) -> None:
        self._put(alert, destination, FAILED, {"reason": {"S": reason or "unknown"}})

    def _put(
        self,
        alert: Alert,
        destination: Destination,
        status: DeliveryStatus,
        extra: dict[str, Any],
    ) -> None:
        now = self._clock()
        key = keys.delivery_key(alert.alert_id, destination.destination_id)
        item: dict[str, Any] = {name: {"S": value} for name, value in key.items()}
        item |= {
            "alert_id": {"S": alert.alert_id},
            "destination": {"S": destination.destination_id},
            "channel": {"S": destination.channel},
            "status": {"S": status},
            "at": {"S": keys.iso(now)},
            "kind": {"S": alert.kind},
            "severity": {"S": alert.severity},
            "account_id": {"S": alert.account.account_id},
            keys.TTL_ATTRIBUTE: {"N": str(int((now + self._retention).timestamp()))},
            **extra,
        }
        if alert.incident:
            item["incident_id"] = {"S": alert.incident.incident_id}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk) OR #status <> :delivered",
                ExpressionAttributeNames={"#pk": keys.PK, "#status": "status"},
                ExpressionAttributeValues={":delivered": {"S": DELIVERED}},
            )
        except ClientError as error:
            # Already delivered there (by an earlier or a concurrent receive): keep that.
            if not condition_failed(error):
                raise
