"""Spoke items of the audit table as the watchdog and `rootwatch spokes` read them.

Every read is a Query on an index (`keys` describes the layout): gsi2 `SPOKES` holds every
spoke sorted by last heartbeat, expected spokes that never reported first (their sort key
starts with `keys.NEVER_REPORTED`), then the stalest; gsi1 `SPOKES#ACCOUNT#<acct>` holds
one account's spokes by region. The watchdog marks the silence it alerted on the item
(`silent_alert_id`, `silent_alerted_at`) and reads the account entry it enriches alerts
with. Item attributes: see `adapters.heartbeats`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from rootwatch import keys
from rootwatch.adapters.accounts import read_account
from rootwatch.adapters.errors import condition_failed
from rootwatch.alerts import AccountInfo
from rootwatch.spokes import SpokeState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SPOKES_PARTITION: Final = keys.spoke_index_keys(account_id="", region="", last_heartbeat=None)[
    "gsi2pk"
]
# Below every real heartbeat stamp (they start with a year from 0001), above NEVER_REPORTED.
_FIRST_HEARTBEAT_STAMP: Final = "0001"


class DynamoSpokes:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._deserializer = TypeDeserializer()

    # --- listings -----------------------------------------------------------------------

    def stale(self, *, heard_before: datetime) -> Iterator[SpokeState]:
        """Spokes that never reported, then those whose last heartbeat is before a moment."""
        return self._query(
            "gsi2",
            SPOKES_PARTITION,
            "#sk < :before",
            {":before": {"S": keys.iso(heard_before)}},
        )

    def reporting_since(self, moment: datetime) -> Iterator[SpokeState]:
        """Spokes whose last heartbeat is at or after a moment, stalest first."""
        return self._query(
            "gsi2", SPOKES_PARTITION, "#sk >= :since", {":since": {"S": keys.iso(moment)}}
        )

    def silent_since(self, moment: datetime) -> Iterator[SpokeState]:
        """Spokes that reported, but last before a moment, stalest first."""
        return self._query(
            "gsi2",
            SPOKES_PARTITION,
            "#sk BETWEEN :first AND :before",
            {":first": {"S": _FIRST_HEARTBEAT_STAMP}, ":before": {"S": keys.iso(moment)}},
        )

    def never_reported(self) -> Iterator[SpokeState]:
        return self._query(
            "gsi2",
            SPOKES_PARTITION,
            "begins_with(#sk, :never)",
            {":never": {"S": keys.NEVER_REPORTED}},
        )

    def every(self) -> Iterator[SpokeState]:
        return self._query("gsi2", SPOKES_PARTITION, None, {})

    def of_account(self, account_id: str) -> Iterator[SpokeState]:
        """One account's spokes, by region."""
        partition = keys.spoke_index_keys(account_id=account_id, region="", last_heartbeat=None)[
            "gsi1pk"
        ]
        return self._query("gsi1", partition, None, {})

    def _query(
        self,
        index: str,
        partition: str,
        sort_condition: str | None,
        values: Mapping[str, Any],
    ) -> Iterator[SpokeState]:
        partition_name, sort_name = keys.INDEXES[index]
        condition = "#pk = :pk" + (f" AND {sort_condition}" if sort_condition else "")
        names = {"#pk": partition_name}
        if sort_condition:
            names["#sk"] = sort_name
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":pk": {"S": partition}, **values},
        }
        while True:
            page = self._client.query(**request)
            for item in page.get("Items", []):
                spoke = spoke_from_item(self._plain(item))
                if spoke is not None:
                    yield spoke
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- the watchdog's marks and enrichment ----------------------------------------------

    def mark_alerted(self, spoke: SpokeState, alert_id: str, *, at: datetime) -> bool:
        """Record that the spoke's silence was alerted; True when marked.

        A heartbeat that came after the watchdog read the spoke has already ended the
        silence it alerted: the silence is then added to the spoke's owed spoke-recovered
        messages (`recovery_pending`), which its next heartbeat sends. A spoke forgotten
        meanwhile is left alone.
        """
        seen = keys.spoke_index_keys(
            account_id=spoke.account_id, region=spoke.region, last_heartbeat=spoke.last_heartbeat
        )["gsi2sk"]
        names = {"#sk": keys.INDEXES["gsi2"][1]}
        key = _key(keys.spoke_key(spoke.account_id, spoke.region))
        if self._update_if(
            TableName=self._table,
            Key=key,
            UpdateExpression="SET silent_alert_id = :alert, silent_alerted_at = :at",
            ConditionExpression="#sk = :seen",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":alert": {"S": alert_id},
                ":at": {"S": keys.iso(at)},
                ":seen": {"S": seen},
            },
        ):
            return True
        self._update_if(
            TableName=self._table,
            Key=key,
            UpdateExpression="ADD recovery_pending :owed",
            ConditionExpression="attribute_exists(last_heartbeat) AND #sk <> :seen",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":owed": {"SS": [alert_id]}, ":seen": {"S": seen}},
        )
        return False

    def _update_if(self, **request: Any) -> bool:
        """A conditional UpdateItem; False when its condition did not hold."""
        try:
            self._client.update_item(**request)
        except ClientError as error:
            if not condition_failed(error):
                raise
            return False
        return True

    def account(self, account_id: str) -> AccountInfo:
        return read_account(self._client, self._table, account_id)

    def _plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self._deserializer.deserialize(value) for name, value in item.items()}


def spoke_from_item(item: Mapping[str, Any]) -> SpokeState | None:
    """A spoke item as read; None for one without an account and region."""
    account_id, region = item.get("account_id"), item.get("region")
    if not isinstance(account_id, str) or not isinstance(region, str):
        return None
    alert_id = item.get("silent_alert_id")
    registered_by = item.get("registered_by")
    return SpokeState(
        account_id=account_id,
        region=region,
        last_heartbeat=_time(item.get("last_heartbeat")),
        expected=item.get("expected") is True,
        registered_at=_time(item.get("registered_at")),
        registered_by=registered_by if isinstance(registered_by, str) else None,
        silent_alert_id=alert_id if isinstance(alert_id, str) else None,
        silent_alerted_at=_time(item.get("silent_alerted_at")),
    )


def _key(key: Mapping[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
