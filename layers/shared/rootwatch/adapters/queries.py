"""Reads of the audit table for the command line: every listing is a Query, never a Scan.

Events and incidents are listed newest first from the narrowest partition the filters
allow (`keys` describes the layout):

- an incident's events: gsi4 `INCIDENT#<id>`;
- one account: gsi1 `EVENTS#ACCOUNT#<acct>` (`INCIDENTS#ACCOUNT#<acct>`);
- a severity floor above info, across accounts: gsi3, one Query per severity at or above
  the floor, merged newest first;
- otherwise the month partitions of gsi2, from the newest month down to the oldest the time
  range (or the retention) allows, each read only when the newer ones did not fill the page.

The remaining filters (event name, source IP, partner, severity on a narrower partition)
are filter expressions on that Query. Every partition of these indexes sorts by the same
stamp, `<ISO time>#<id>`, so a page ends at a stamp and the next page is everything older:
that stamp is all a continuation needs, whichever partitions are read.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

from boto3.dynamodb.types import TypeDeserializer

from rootwatch import keys
from rootwatch.model import PlannedWindow, Severity

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Events may carry a clock a little ahead of ours; the newest month partition read is the
# one this far ahead of now.
CLOCK_SKEW: Final = timedelta(minutes=5)
_BATCH_GET_LIMIT: Final = 100
_BATCH_GET_ATTEMPTS: Final = 8

IncidentState = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class EventFilter:
    account_id: str | None = None
    partner: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_severity: Severity = Severity.INFO
    event_name: str | None = None
    source_ip: str | None = None
    incident_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """Incidents by the time they opened; `state` compares their closing time with now."""

    account_id: str | None = None
    partner: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_severity: Severity = Severity.INFO
    state: IncidentState | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """Up to a page of items, newest first; `resume_before` is set when more may follow."""

    items: list[dict[str, Any]]
    resume_before: str | None


@dataclass(frozen=True, slots=True)
class _Partition:
    index: str
    value: str

    @property
    def key_attributes(self) -> tuple[str, str]:
        return keys.INDEXES[self.index]


@dataclass
class _Expression:
    """Filter and projection of one listing, with the placeholders they use."""

    names: dict[str, str]
    values: dict[str, Any]
    filters: list[str]

    @classmethod
    def empty(cls) -> _Expression:
        return cls({}, {}, [])

    def name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        for existing, value in self.names.items():
            if value == attribute:
                return existing
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: str) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = {"S": value}
        return placeholder

    def equals(self, attribute: str, value: str) -> None:
        self.filters.append(f"{self.name(attribute)} = {self.value(value)}")

    def one_of(self, attribute: str, values: Sequence[str]) -> None:
        placeholders = ", ".join(self.value(value) for value in values)
        self.filters.append(f"{self.name(attribute)} IN ({placeholders})")

    def compare(self, attribute: str, operator: str, value: str) -> None:
        self.filters.append(f"{self.name(attribute)} {operator} {self.value(value)}")


class AuditReader:
    """The audit table as the command line reads it."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._deserializer = TypeDeserializer()

    # events and incidents ---------------------------------------------------------

    def events(
        self,
        selection: EventFilter,
        *,
        limit: int,
        now: datetime,
        oldest: datetime,
        before: str | None = None,
    ) -> Page:
        """Events matching `selection`, newest first, older than the stamp `before`.

        `oldest` bounds the month partitions read when no `since` is given (the retention).
        """
        expression = _Expression.empty()
        above_floor = _labels_at_or_above(selection.min_severity)
        by_severity = len(above_floor) < len(Severity)
        partitions: list[_Partition]
        merge = False
        if selection.incident_id:
            timeline = keys.incident_timeline_partition(selection.incident_id)
            partitions = [_Partition("gsi4", timeline)]
        elif selection.account_id:
            partitions = [_Partition("gsi1", keys.account_events_partition(selection.account_id))]
        elif by_severity:
            partitions = [
                _Partition("gsi3", keys.severity_events_partition(label)) for label in above_floor
            ]
            merge = True
        else:
            partitions = _month_partitions(
                keys.month_events_partition,
                selection.since,
                selection.until,
                before,
                now=now,
                oldest=oldest,
            )
        if selection.account_id and selection.incident_id:
            expression.equals("account_id", selection.account_id)
        if by_severity and not merge:
            expression.one_of("severity", above_floor)
        for attribute, wanted in (
            ("partner", selection.partner),
            ("event_name", selection.event_name),
            ("source_ip", selection.source_ip),
        ):
            if wanted:
                expression.equals(attribute, wanted)
        return self._page(
            partitions,
            merge=merge,
            expression=expression,
            attributes=keys.EVENT_ATTRIBUTES,
            since=selection.since,
            until=selection.until,
            before=before,
            limit=limit,
        )

    def incidents(
        self,
        selection: IncidentFilter,
        *,
        limit: int,
        now: datetime,
        oldest: datetime,
        before: str | None = None,
    ) -> Page:
        """Incidents that opened in the range, newest first, older than the stamp `before`."""
        expression = _Expression.empty()
        if selection.account_id:
            of_account = keys.account_incidents_partition(selection.account_id)
            partitions = [_Partition("gsi1", of_account)]
        else:
            partitions = _month_partitions(
                keys.month_incidents_partition,
                selection.since,
                selection.until,
                before,
                now=now,
                oldest=oldest,
            )
        above_floor = _labels_at_or_above(selection.min_severity)
        if len(above_floor) < len(Severity):
            expression.one_of("severity", above_floor)
        if selection.partner:
            expression.equals("partner", selection.partner)
        if selection.state == "open":
            expression.compare("closes_at", ">", keys.iso(now))
        elif selection.state == "closed":
            expression.compare("closes_at", "<=", keys.iso(now))
        return self._page(
            partitions,
            merge=False,
            expression=expression,
            attributes=keys.INCIDENT_ATTRIBUTES,
            since=selection.since,
            until=selection.until,
            before=before,
            limit=limit,
        )

    def event_or_incident(
        self, identifier: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The event and the incident with this id (one BatchGetItem); either may be None."""
        found = self._get_many([keys.event_key(identifier), keys.incident_key(identifier)])
        return found[0], found[1]

    def incident_events(self, incident_id: str, *, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """An incident's events, oldest first, up to `limit`; and whether more exist."""
        expression = _Expression.empty()
        partition = _Partition("gsi4", keys.incident_timeline_partition(incident_id))
        items = list(
            itertools.islice(
                self._stream(
                    partition,
                    expression=expression,
                    attributes=keys.EVENT_ATTRIBUTES,
                    lower=None,
                    upper=None,
                    page_limit=limit + 1,
                    newest_first=False,
                ),
                limit + 1,
            )
        )
        return items[:limit], len(items) > limit

    # account entries, planned windows, deliveries -----------------------------

    def accounts(self) -> list[dict[str, Any]]:
        """Every account entry, by account id."""
        # The listing partition is shared by every entry; the account only shapes the sort key.
        return self._all(_Partition("gsi2", keys.account_index_keys("")["gsi2pk"]))

    def account(self, account_id: str) -> dict[str, Any] | None:
        return self._get(keys.account_key(account_id))

    def windows(
        self, *, ending_after: datetime | None, account_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Planned windows by end time, oldest end first; only those ending after a moment."""
        expression = _Expression.empty()
        if account_id:
            expression.equals("account_id", account_id)
        return self._all(
            _Partition("gsi2", keys.WINDOWS_PARTITION),
            expression=expression,
            lower=keys.iso(ending_after) if ending_after else None,
        )

    def window(self, window_id: str) -> dict[str, Any] | None:
        # The lookup partition depends on the id alone; the end time only shapes gsi2.
        lookup = keys.window_index_keys(window_id=window_id, ends_at=_EPOCH)
        found = self._all(_Partition("gsi3", lookup["gsi3pk"]))
        return found[0] if found else None

    def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        """An alert's delivery records, one per destination (strongly consistent)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": keys.PK},
            "ExpressionAttributeValues": {":pk": {"S": keys.delivery_key(alert_id, "")[keys.PK]}},
            "ConsistentRead": True,
        }
        records: list[dict[str, Any]] = []
        while True:
            page = self._client.query(**request)
            records.extend(self.plain(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return records
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # plumbing ---------------------------------------------------------------------

    def _all(
        self,
        partition: _Partition,
        *,
        expression: _Expression | None = None,
        lower: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of one index partition (from `lower` on, if given), oldest first."""
        return list(
            self._stream(
                partition,
                expression=expression or _Expression.empty(),
                attributes=None,
                lower=lower,
                upper=None,
                page_limit=None,
                newest_first=False,
            )
        )

    def _page(
        self,
        partitions: Sequence[_Partition],
        *,
        merge: bool,
        expression: _Expression,
        attributes: Sequence[str],
        since: datetime | None,
        until: datetime | None,
        before: str | None,
        limit: int,
    ) -> Page:
        lower = keys.iso(since) if since else None
        bounds = [bound for bound in (keys.iso(until) if until else None, before) if bound]
        upper = min(bounds) if bounds else None
        # Unfiltered, a Query of limit + 1 items fills the page and tells whether more
        # follow; a filter applies after the limit, so filtered Queries read whole pages.
        page_limit = None if expression.filters else limit + 1
        streams = [
            self._stream(
                partition,
                expression=expression,
                attributes=attributes,
                lower=lower,
                upper=upper,
                page_limit=page_limit,
                newest_first=True,
            )
            for partition in partitions
        ]
        ordered: Iterator[dict[str, Any]] = (
            heapq.merge(*streams, key=_stamp, reverse=True) if merge else itertools.chain(*streams)
        )
        items = list(itertools.islice(ordered, limit + 1))
        if len(items) > limit:
            return Page(items=items[:limit], resume_before=_stamp(items[limit - 1]))
        return Page(items=items, resume_before=None)

    def _stream(
        self,
        partition: _Partition,
        *,
        expression: _Expression,
        attributes: Sequence[str] | None,
        lower: str | None,
        upper: str | None,
        page_limit: int | None,
        newest_first: bool,
    ) -> Iterator[dict[str, Any]]:
        """Items of one index partition within (lower, upper), page by page as consumed.

        `lower` is inclusive, `upper` exclusive. Each item carries its sort key as `_stamp`.
        """
        pk_name, sk_name = partition.key_attributes
        names = dict(expression.names)
        values = dict(expression.values)
        names["#pk"] = pk_name
        values[":pk"] = {"S": partition.value}
        if lower is not None or upper is not None or attributes is not None:
            names["#sk"] = sk_name
        condition = "#pk = :pk"
        if lower is not None and upper is not None:
            # BETWEEN includes `upper`: the one item that may equal it is dropped below.
            condition += " AND #sk BETWEEN :lower AND :upper"
            values[":lower"], values[":upper"] = {"S": lower}, {"S": upper}
        elif lower is not None:
            condition += " AND #sk >= :lower"
            values[":lower"] = {"S": lower}
        elif upper is not None:
            condition += " AND #sk < :upper"
            values[":upper"] = {"S": upper}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": partition.index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if expression.filters:
            request["FilterExpression"] = " AND ".join(expression.filters)
        if attributes is not None:
            request["ProjectionExpression"] = ", ".join(
                [*(_placeholder(names, attribute) for attribute in attributes), "#sk"]
            )
        if page_limit is not None:
            # With BETWEEN, the item at `upper` itself may come back and be dropped.
            inclusive_upper = lower is not None and upper is not None
            request["Limit"] = page_limit + 1 if inclusive_upper else page_limit
        while True:
            page = self._client.query(**request)
            for item in page.get("Items", []):
                plain = self.plain(item)
                stamp = str(plain.get(sk_name, ""))
                if upper is not None and stamp >= upper:
                    continue
                plain["_stamp"] = stamp
                yield plain
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key={name: {"S": value} for name, value in key.items()}
        )
        item = response.get("Item")
        return self.plain(item) if item else None

    def _get_many(self, wanted: Sequence[Mapping[str, str]]) -> list[dict[str, Any] | None]:
        """Items by key in one BatchGetItem (retrying what DynamoDB leaves unprocessed)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            request: Any = {
                self._table: {
                    "Keys": [
                        {name: {"S": value} for name, value in key.items()}
                        for key in wanted[start : start + _BATCH_GET_LIMIT]
                    ]
                }
            }
            for _attempt in range(_BATCH_GET_ATTEMPTS):
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    plain = self.plain(item)
                    found[(str(plain[keys.PK]), str(plain[keys.SK]))] = plain
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise RuntimeError("DynamoDB kept leaving keys unprocessed; try again")
        return [found.get((key[keys.PK], key[keys.SK])) for key in wanted]

    def plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """An item as plain values: numbers as int (or float), sets as sorted lists."""
        return {
            name: _plain_value(self._deserializer.deserialize(value))
            for name, value in item.items()
        }


def months_newest_first(newest: datetime, oldest: datetime) -> list[str]:
    """`yyyy-mm` of every month from `newest`'s down to `oldest`'s."""
    if oldest > newest:
        return []
    year, month = newest.year, newest.month
    months: list[str] = []
    while (year, month) >= (oldest.year, oldest.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def window_from_item(item: Mapping[str, Any]) -> PlannedWindow:
    """A planned window item (plain values) as the processor reads it."""
    return PlannedWindow(
        window_id=str(item["window_id"]),
        account_id=str(item["account_id"]),
        starts_at=parse_stored_time(item["starts_at"]),
        ends_at=parse_stored_time(item["ends_at"]),
        created_by=str(item.get("created_by") or "unknown"),
        reason=str(item.get("reason") or ""),
    )


def parse_stored_time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _labels_at_or_above(floor: Severity) -> list[str]:
    return [severity.label for severity in Severity if severity >= floor]


def _month_partitions(
    partition_of_month: Callable[[str], str],
    since: datetime | None,
    until: datetime | None,
    before: str | None,
    *,
    now: datetime,
    oldest: datetime,
) -> list[_Partition]:
    """The gsi2 month partitions a listing's time range can reach, newest first."""
    months = months_newest_first(_newest(until, before, now), since or oldest)
    return [_Partition("gsi2", partition_of_month(month)) for month in months]


def _newest(until: datetime | None, before: str | None, now: datetime) -> datetime:
    """The newest moment a listing can reach: the earliest of its upper bounds."""
    candidates = [until or now + CLOCK_SKEW]
    if before:
        candidates.append(parse_stored_time(before.split("#", 1)[0]))
    return min(candidates)


def _stamp(item: Mapping[str, Any]) -> str:
    return str(item["_stamp"])


def _placeholder(names: dict[str, str], attribute: str) -> str:
    for placeholder, value in names.items():
        if value == attribute:
            return placeholder
    placeholder = f"#p{len(names)}"
    names[placeholder] = attribute
    return placeholder


def _plain_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_plain_value(member) for member in value)
    if isinstance(value, list):
        return [_plain_value(member) for member in value]
    if isinstance(value, dict):
        return {str(key): _plain_value(member) for key, member in value.items()}
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return value
