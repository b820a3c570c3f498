"""The audit table as the processor uses it: events, incidents, actor pointers, account entries.

Item layouts (keys from `rootwatch.keys`; times are `keys.iso` strings unless noted):

- root event, `event_key`: the claim (`event_id`, `account_id`, `region`, `event_time`,
  `event_source`, `event_name`, `record` (the CloudTrail record as JSON text,
  `record_truncated` when its request and response had to be left out to fit),
  `received_at`, `state`, `lease_until` and `claimed_by`), then, once classified and added
  to its incident: `severity`, `rules`, `summary`, `outcome`, `mfa`, `assumed_root`,
  `tamper`, `invoked_by`, `source_ip`, `user_agent`, `error_code`, `actor`,
  `assumed_root_caller`, `account_name`, `partner`, `planned_by`, `planned_reason`,
  `incident_id`, `alert_ids`, `processed_at` and the `event_index_keys`.
  `state` is `claimed` (being processed), `alerting` (in its incident; `alert` holds the
  alert message it still has to enqueue) or `done`. `lease_until` (epoch seconds) is when
  the claimer's invocation ends at the latest: a claim past it belongs to a dead invocation.
- incident, `incident_key` + `incident_index_keys`, and the actor pointer, `actor_key`,
  both hold the incident's state (`incident_id`, `account_id`, `actor`, `opened_at`,
  `last_seen`, `closes_at`, `severity`, `event_count`, `event_names`, `regions`,
  `timeline`, `assumed_root_caller`, `alerted_severity`, `messages_sent`,
  `last_message_at`, `pending_events`, `pending_names`, `pending_since`, `account_name`,
  `partner`, `version`). The pointer is the actor's open incident and the only item
  written conditionally (on `version`); incidents are written with it in one transaction.
- account entry, `account_key` (read): `name`, `partner`, `slack_secrets`, `emails`
  (lists or string sets), `min_severity`.
- planned window, `window_key` (read): `window_id`, `starts_at`, `ends_at`,
  `created_by`, `reason`.
- AssumeRoot session, `assumed_root_key`: `caller`, `caller_account_id`,
  `target_account_id`, `session_id`, `access_key_id`, `issued_at`, `session_ends_at`,
  `event_id`.
- source IP of an account, `source_ip_key`: `account_id`, `source_ip`, `first_seen` (the
  earliest root activity from it that is still kept), written with each step that has
  events from it, so it expires when the last of those events does.

Every item written here carries `expires_at` (epoch seconds), the table's TTL attribute.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from msgspec import Struct

from rootwatch import keys
from rootwatch.adapters.accounts import account_info
from rootwatch.adapters.errors import condition_failed, error_code
from rootwatch.alerts import AccountInfo, Alert, TimelineEntry
from rootwatch.incidents import AssumeRootGrant, Incident, SourceIpSighting
from rootwatch.model import PlannedWindow, Severity, repr_without

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

EventState = Literal["claimed", "alerting", "done"]

# DynamoDB refuses items over 400 KB; a record larger than this is stored without the
# request and response, which are what make CloudTrail records large.
RECORD_SIZE_LIMIT = 300_000
# How long an AssumeRoot session's attribution is kept: sessions last 15 minutes, but
# their events may reach the hub later than the AssumeRoot call does.
GRANT_RETENTION = timedelta(days=1)
# How long an actor's pointer outlives the incident window, so a pending update can still
# be found and sent after the incident has closed.
POINTER_GRACE = timedelta(days=1)
TRANSACTION_LIMIT = 100
BATCH_WRITE_LIMIT = 25
_BATCH_WRITE_ATTEMPTS = 8


class ConcurrentUpdateError(Exception):
    """The actor's pointer changed since it was read: read it again and redo the step."""


class EventClaim(Struct, frozen=True):
    """What is known of an event before it is classified: enough to claim its id."""

    event_id: str
    account_id: str
    region: str
    event_time: datetime
    event_source: str
    event_name: str
    record: Mapping[str, Any]
    received_at: datetime
    lease_until: datetime
    claimed_by: str
    expires_at: datetime


class StoredEvent(Struct, frozen=True):
    """An event item as stored: its state, its claim and the alert it still owes."""

    event_id: str
    state: EventState
    lease_until: datetime
    claimed_by: str | None
    alert: Alert | None
    item: Mapping[str, Any]

    def __repr__(self) -> str:
        return repr_without(self, "item")

    def held_by_other(self, claimed_by: str, now: datetime) -> bool:
        return self.claimed_by != claimed_by and self.lease_until > now


class ClaimResult(Struct, frozen=True):
    """`fresh` when this call created the item; otherwise the item that was already there."""

    stored: StoredEvent
    fresh: bool


class AccountContext(Struct, frozen=True):
    """An account's entry, planned windows, AssumeRoot sessions granted on it and the source
    IPs its root activity came from."""

    account: AccountInfo
    windows: tuple[PlannedWindow, ...] = ()
    grants: tuple[AssumeRootGrant, ...] = ()
    source_ips: tuple[SourceIpSighting, ...] = ()

    def window_at(self, moment: datetime) -> PlannedWindow | None:
        covering = [window for window in self.windows if window.covers(moment)]
        return min(covering, key=lambda w: (w.starts_at, w.window_id)) if covering else None


class OpenIncident(Struct, frozen=True):
    """The actor pointer as read: the open incident (if any) and the version to write on."""

    incident: Incident | None
    version: int


class EventOutcome(Struct, frozen=True):
    """What processing concluded about one claimed event."""

    claim: StoredEvent
    account_id: str
    event_time: datetime
    severity: Severity
    rules: tuple[str, ...]
    summary: str
    outcome: str
    mfa: bool | None
    assumed_root: bool
    tamper: bool
    invoked_by: str | None
    source_ip: str | None
    user_agent: str | None
    error_code: str | None
    actor: str
    assumed_root_caller: str | None
    account_name: str | None
    partner: str | None
    planned_by: str | None
    planned_reason: str | None
    incident_id: str
    alert: Alert | None = None


class IncidentStepWrite(Struct, frozen=True):
    """One actor's step: its pointer, the incidents it changed, its events, its grants and
    the source IPs of its events."""

    account_id: str
    actor: str
    expected_version: int
    current: Incident
    changed: tuple[Incident, ...]
    events: tuple[EventOutcome, ...]
    grants: tuple[AssumeRootGrant, ...]
    account: AccountInfo
    window: timedelta
    now: datetime
    retention: timedelta
    claimed_by: str
    source_ips: tuple[SourceIpSighting, ...] = ()


class AuditStore(Protocol):
    def claim_event(self, claim: EventClaim) -> ClaimResult:
        """Create the event's item unless it exists (one call either way)."""
        ...

    def take_over(
        self, stored: StoredEvent, *, claimed_by: str, lease_until: datetime
    ) -> StoredEvent | None:
        """Claim an event whose claimer died; None when another invocation got it first."""
        ...

    def load_account(self, account_id: str, *, now: datetime) -> AccountContext: ...

    def load_open_incident(self, account_id: str, actor: str) -> OpenIncident: ...

    def apply_step(self, step: IncidentStepWrite) -> dict[str, StoredEvent]:
        """Write a step atomically; returns the events as stored, by event id.

        Raises ConcurrentUpdateError when the pointer moved since it was read.
        """
        ...

    def finish_events(self, events: Sequence[StoredEvent], *, now: datetime) -> None:
        """Mark events whose alerts are enqueued as done."""
        ...

    def release_events(self, events: Sequence[StoredEvent]) -> None:
        """End this invocation's claim on events, so a retry may resume them at once."""
        ...


class DynamoAuditStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    def claim_event(self, claim: EventClaim) -> ClaimResult:
        item = self._claim_item(claim)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": keys.PK},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            existing: Any = error.response.get("Item")
            if not isinstance(existing, Mapping) or not existing:
                raise
            return ClaimResult(stored=self._stored(existing), fresh=False)
        return ClaimResult(stored=self._stored(item), fresh=True)

    def take_over(
        self, stored: StoredEvent, *, claimed_by: str, lease_until: datetime
    ) -> StoredEvent | None:
        condition = (
            "#claimed_by = :previous" if stored.claimed_by else "attribute_not_exists(#claimed_by)"
        )
        values: dict[str, Any] = {":claimer": {"S": claimed_by}, ":lease": _epoch(lease_until)}
        if stored.claimed_by:
            values[":previous"] = {"S": stored.claimed_by}
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(keys.event_key(stored.event_id)),
                UpdateExpression="SET #claimed_by = :claimer, lease_until = :lease",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#claimed_by": "claimed_by"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if condition_failed(error):
                return None
            raise
        return self._stored(response["Attributes"])

    def load_account(self, account_id: str, *, now: datetime) -> AccountContext:
        items: list[dict[str, Any]] = []
        start_key: Mapping[str, Any] | None = None
        partition = keys.account_key(account_id)[keys.PK]
        while True:
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "#pk = :pk",
                "ExpressionAttributeNames": {"#pk": keys.PK},
                "ExpressionAttributeValues": {":pk": {"S": partition}},
            }
            if start_key:
                request["ExclusiveStartKey"] = start_key
            page = self._client.query(**request)
            items.extend(self._plain(item) for item in page.get("Items", []))
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                break
        entry: Mapping[str, Any] | None = None
        windows: list[PlannedWindow] = []
        grants: list[AssumeRootGrant] = []
        source_ips: list[SourceIpSighting] = []
        for item in items:
            sort_key = str(item.get(keys.SK, ""))
            # TTL deletes an expired item only some time later: read it as gone.
            live = _int(item.get(keys.TTL_ATTRIBUTE), 0) > now.timestamp()
            if sort_key == keys.account_key(account_id)[keys.SK]:
                entry = item
            elif sort_key.startswith("EXPECT#"):
                window = _window(account_id, item)
                if window is not None:
                    windows.append(window)
            elif sort_key.startswith("ASSUMEROOT#") and live:
                grant = _grant(item)
                if grant is not None:
                    grants.append(grant)
            elif sort_key.startswith("SOURCEIP#") and live:
                sighting = _sighting(item)
                if sighting is not None:
                    source_ips.append(sighting)
        return AccountContext(
            account=account_info(account_id, entry),
            windows=tuple(windows),
            grants=tuple(grants),
            source_ips=tuple(source_ips),
        )

    def load_open_incident(self, account_id: str, actor: str) -> OpenIncident:
        response = self._client.get_item(
            TableName=self._table,
            Key=self._key(keys.actor_key(account_id, actor)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return OpenIncident(incident=None, version=0)
        plain = self._plain(item)
        return OpenIncident(
            incident=incident_from_item(plain), version=_int(plain.get("version"), 0)
        )

    def apply_step(self, step: IncidentStepWrite) -> dict[str, StoredEvent]:
        version = step.expected_version + 1
        pointer = {
            **keys.actor_key(step.account_id, step.actor),
            **incident_attributes(step.current, step.account, step.window),
            "version": version,
            keys.TTL_ATTRIBUTE: _epoch_value(
                max(step.current.closes_at(step.window), step.now) + POINTER_GRACE
            ),
        }
        pointer_condition: dict[str, Any] = (
            {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(step.expected_version)}},
            }
            if step.expected_version
            else {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": keys.PK},
            }
        )
        actions: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": self._item(pointer), **pointer_condition}}
        ]
        expires_at = _epoch_value(step.now + step.retention)
        for incident in step.changed:
            incident_item = {
                **keys.incident_key(incident.incident_id),
                **keys.incident_index_keys(
                    incident_id=incident.incident_id,
                    account_id=incident.account_id,
                    opened_at=incident.opened_at,
                ),
                **incident_attributes(incident, step.account, step.window),
                "version": version,
                keys.TTL_ATTRIBUTE: expires_at,
            }
            actions.append({"Put": {"TableName": self._table, "Item": self._item(incident_item)}})
        stored: dict[str, StoredEvent] = {}
        for outcome in step.events:
            attributes = _outcome_attributes(outcome, step.now)
            names = {f"#a{index}": name for index, name in enumerate(attributes)}
            values = {
                f":v{index}": self._value(value) for index, value in enumerate(attributes.values())
            }
            assignments = ", ".join(f"#a{index} = :v{index}" for index in range(len(attributes)))
            removals = "" if outcome.alert else " REMOVE #alert"
            if not outcome.alert:
                names["#alert"] = "alert"
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(keys.event_key(outcome.claim.event_id)),
                        "UpdateExpression": f"SET {assignments}{removals}",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
            merged = {
                **outcome.claim.item,
                **{name: self._value(value) for name, value in attributes.items()},
            }
            if not outcome.alert:
                merged.pop("alert", None)
            stored[outcome.claim.event_id] = self._stored(merged)
        for grant in step.grants:
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._item(_grant_item(grant, step.now)),
                    }
                }
            )
        for sighting in step.source_ips:
            source_ip_item = {
                **keys.source_ip_key(step.account_id, sighting.source_ip),
                "account_id": step.account_id,
                "source_ip": sighting.source_ip,
                "first_seen": keys.iso(sighting.first_seen),
                keys.TTL_ATTRIBUTE: expires_at,
            }
            actions.append({"Put": {"TableName": self._table, "Item": self._item(source_ip_item)}})
        if len(actions) > TRANSACTION_LIMIT:
            raise ValueError(f"a step of {len(actions)} writes exceeds one transaction")
        try:
            self._client.transact_write_items(
                TransactItems=actions,  # type: ignore[arg-type]
                ClientRequestToken=_request_token(step),
            )
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            cancellations: Any = error.response.get("CancellationReasons") or []
            reasons = [str(reason.get("Code")) for reason in cancellations]
            if (
                reasons and reasons[0] == "ConditionalCheckFailed"
            ) or "TransactionConflict" in reasons:
                raise ConcurrentUpdateError(
                    f"actor {step.actor} of {step.account_id} changed"
                ) from error
            raise
        return stored

    def finish_events(self, events: Sequence[StoredEvent], *, now: datetime) -> None:
        items = []
        for event in events:
            item = dict(event.item)
            item.pop("alert", None)
            item["state"] = {"S": "done"}
            item["processed_at"] = {"S": keys.iso(now)}
            items.append(item)
        self._put_all(items)

    def release_events(self, events: Sequence[StoredEvent]) -> None:
        # Only the lease changes: whatever state the event reached stays, so a retry resumes
        # it from there (even when a write this invocation saw fail had in fact succeeded).
        for event in events:
            if not event.claimed_by:
                continue
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(keys.event_key(event.event_id)),
                    UpdateExpression="SET lease_until = :released",
                    ConditionExpression="#claimed_by = :claimer",
                    ExpressionAttributeNames={"#claimed_by": "claimed_by"},
                    ExpressionAttributeValues={
                        ":released": {"N": "0"},
                        ":claimer": {"S": event.claimed_by},
                    },
                )
            except ClientError as error:
                if not condition_failed(error):
                    raise

    def _put_all(self, items: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(items), BATCH_WRITE_LIMIT):
            requests: list[Any] = [
                {"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE_LIMIT]
            ]
            for _attempt in range(_BATCH_WRITE_ATTEMPTS):
                response = self._client.batch_write_item(RequestItems={self._table: requests})
                requests = list(response.get("UnprocessedItems", {}).get(self._table, []))
                if not requests:
                    break
            else:
                raise RuntimeError(f"{len(requests)} event items stayed unprocessed")

    def _claim_item(self, claim: EventClaim) -> dict[str, Any]:
        record_text, truncated = _record_text(claim.record)
        attributes: dict[str, Any] = {
            **keys.event_key(claim.event_id),
            "event_id": claim.event_id,
            "account_id": claim.account_id,
            "region": claim.region,
            "event_time": keys.iso(claim.event_time),
            "event_source": claim.event_source,
            "event_name": claim.event_name,
            "record": record_text,
            "received_at": keys.iso(claim.received_at),
            "state": "claimed",
            "lease_until": _epoch_value(claim.lease_until),
            "claimed_by": claim.claimed_by,
            keys.TTL_ATTRIBUTE: _epoch_value(claim.expires_at),
        }
        if truncated:
            attributes["record_truncated"] = True
        return self._item(attributes)

    def _stored(self, item: Mapping[str, Any]) -> StoredEvent:
        plain = self._plain(item)
        alert_text = plain.get("alert")
        return StoredEvent(
            event_id=str(plain["event_id"]),
            state=_state(plain.get("state")),
            lease_until=datetime.fromtimestamp(_int(plain.get("lease_until"), 0), UTC),
            claimed_by=_text(plain.get("claimed_by")),
            alert=Alert.from_json(alert_text) if isinstance(alert_text, str) else None,
            item=dict(item),
        )

    def _item(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self._value(value) for name, value in attributes.items() if value is not None}

    def _key(self, key: Mapping[str, str]) -> dict[str, Any]:
        return {name: {"S": value} for name, value in key.items()}

    def _value(self, value: Any) -> Any:
        return self._serializer.serialize(value)

    def _plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self._deserializer.deserialize(value) for name, value in item.items()}


def incident_attributes(
    incident: Incident, account: AccountInfo, window: timedelta
) -> dict[str, Any]:
    """An incident's state as item attributes (absent values left out)."""
    attributes: dict[str, Any] = {
        "incident_id": incident.incident_id,
        "account_id": incident.account_id,
        "actor": incident.actor,
        "opened_at": keys.iso(incident.opened_at),
        "last_seen": keys.iso(incident.last_seen),
        "closes_at": keys.iso(incident.closes_at(window)),
        "severity": incident.severity.label,
        "event_count": incident.event_count,
        "event_names": dict(incident.event_names),
        "regions": list(incident.regions),
        "timeline": [
            {name: value for name, value in _timeline_entry(entry).items() if value is not None}
            for entry in incident.timeline
        ],
        "assumed_root_caller": incident.assumed_root_caller,
        "alerted_severity": incident.alerted_severity.label
        if incident.alerted_severity is not None
        else None,
        "messages_sent": incident.messages_sent,
        "last_message_at": _iso_or_none(incident.last_message_at),
        "pending_events": incident.pending_events,
        "pending_names": dict(incident.pending_names),
        "pending_since": _iso_or_none(incident.pending_since),
        "account_name": account.name,
        "partner": account.partner,
    }
    return {name: value for name, value in attributes.items() if value is not None}


def incident_from_item(item: Mapping[str, Any]) -> Incident:
    """The incident state held by a pointer or incident item (plain values)."""
    alerted = item.get("alerted_severity")
    return Incident(
        incident_id=str(item["incident_id"]),
        account_id=str(item["account_id"]),
        actor=str(item["actor"]),
        opened_at=_parse_time(item["opened_at"]),
        last_seen=_parse_time(item["last_seen"]),
        severity=Severity.parse(str(item["severity"])),
        event_count=_int(item.get("event_count"), 0),
        event_names=_counts(item.get("event_names")),
        regions=tuple(str(region) for region in item.get("regions") or ()),
        timeline=tuple(
            TimelineEntry(
                event_time=str(entry["event_time"]),
                event_name=str(entry["event_name"]),
                severity=str(entry["severity"]),
                region=_text(entry.get("region")),
                source_ip=_text(entry.get("source_ip")),
                outcome=_text(entry.get("outcome")),
                event_id=_text(entry.get("event_id")),
            )
            for entry in item.get("timeline") or ()
        ),
        assumed_root_caller=_text(item.get("assumed_root_caller")),
        alerted_severity=Severity.parse(str(alerted)) if alerted else None,
        messages_sent=_int(item.get("messages_sent"), 0),
        last_message_at=_optional_time(item.get("last_message_at")),
        pending_events=_int(item.get("pending_events"), 0),
        pending_names=_counts(item.get("pending_names")),
        pending_since=_optional_time(item.get("pending_since")),
    )


def _outcome_attributes(outcome: EventOutcome, now: datetime) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        **keys.event_index_keys(
            event_id=outcome.claim.event_id,
            account_id=outcome.account_id,
            event_time=outcome.event_time,
            severity=outcome.severity.label,
            incident_id=outcome.incident_id,
        ),
        "severity": outcome.severity.label,
        "rules": list(outcome.rules),
        "summary": outcome.summary,
        "outcome": outcome.outcome,
        "mfa": outcome.mfa,
        "assumed_root": outcome.assumed_root,
        "tamper": outcome.tamper,
        "invoked_by": outcome.invoked_by,
        "source_ip": outcome.source_ip,
        "user_agent": outcome.user_agent,
        "error_code": outcome.error_code,
        "actor": outcome.actor,
        "assumed_root_caller": outcome.assumed_root_caller,
        "account_name": outcome.account_name,
        "partner": outcome.partner,
        "planned_by": outcome.planned_by,
        "planned_reason": outcome.planned_reason,
        "incident_id": outcome.incident_id,
        "alert_ids": [outcome.alert.alert_id] if outcome.alert else [],
        "alert": outcome.alert.to_json() if outcome.alert else None,
        "state": "alerting" if outcome.alert else "done",
        "processed_at": keys.iso(now),
    }
    return {name: value for name, value in attributes.items() if value is not None}


def _grant_item(grant: AssumeRootGrant, now: datetime) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        **keys.assumed_root_key(grant.target_account_id, grant.session_id),
        "target_account_id": grant.target_account_id,
        "session_id": grant.session_id,
        "access_key_id": grant.access_key_id,
        "caller": grant.caller,
        "caller_account_id": grant.caller_account_id,
        "issued_at": keys.iso(grant.issued_at),
        "session_ends_at": keys.iso(grant.session_ends_at),
        "event_id": grant.event_id,
        keys.TTL_ATTRIBUTE: _epoch_value(max(grant.issued_at, now) + GRANT_RETENTION),
    }
    return {name: value for name, value in attributes.items() if value is not None}


def _grant(item: Mapping[str, Any]) -> AssumeRootGrant | None:
    try:
        return AssumeRootGrant(
            target_account_id=str(item["target_account_id"]),
            session_id=str(item["session_id"]),
            caller=str(item["caller"]),
            issued_at=_parse_time(item["issued_at"]),
            session_ends_at=_parse_time(item["session_ends_at"]),
            event_id=str(item["event_id"]),
            access_key_id=_text(item.get("access_key_id")),
            caller_account_id=_text(item.get("caller_account_id")),
        )
    except (KeyError, ValueError):
        return None


def _sighting(item: Mapping[str, Any]) -> SourceIpSighting | None:
    try:
        return SourceIpSighting(
            source_ip=str(item["source_ip"]), first_seen=_parse_time(item["first_seen"])
        )
    except (KeyError, ValueError):
        return None


def _window(account_id: str, item: Mapping[str, Any]) -> PlannedWindow | None:
    """A planned window item; one that cannot be read plans nothing (so it lowers nothing)."""
    try:
        return PlannedWindow(
            window_id=str(item.get("window_id") or str(item[keys.SK]).removeprefix("EXPECT#")),
            account_id=account_id,
            starts_at=_parse_time(item["starts_at"]),
            ends_at=_parse_time(item["ends_at"]),
            created_by=str(item.get("created_by") or "unknown"),
            reason=str(item.get("reason") or ""),
        )
    except (KeyError, ValueError):
        return None


def _record_text(record: Mapping[str, Any]) -> tuple[str, bool]:
    text = json.dumps(record, separators=(",", ":"), default=str)
    if len(text.encode()) <= RECORD_SIZE_LIMIT:
        return text, False
    trimmed = {
        name: value
        for name, value in record.items()
        if name not in {"requestParameters", "responseElements", "additionalEventData"}
    }
    text = json.dumps(trimmed, separators=(",", ":"), default=str)
    return text[:RECORD_SIZE_LIMIT], True


def _request_token(step: IncidentStepWrite) -> str:
    """Idempotency token: the SDK's own retries of one write succeed instead of conflicting."""
    material = "\n".join(
        [
            step.account_id,
            step.actor,
            str(step.expected_version),
            step.claimed_by,
            *sorted(outcome.claim.event_id for outcome in step.events),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:36]


def _timeline_entry(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "event_time": entry.event_time,
        "event_name": entry.event_name,
        "severity": entry.severity,
        "region": entry.region,
        "source_ip": entry.source_ip,
        "outcome": entry.outcome,
        "event_id": entry.event_id,
    }


def _state(value: Any) -> EventState:
    if value == "alerting":
        return "alerting"
    if value == "done":
        return "done"
    return "claimed"


def _epoch(moment: datetime) -> dict[str, str]:
    return {"N": str(_epoch_value(moment))}


def _epoch_value(moment: datetime) -> int:
    return int(moment.timestamp())


def _int(value: Any, default: int) -> int:
    if isinstance(value, int | Decimal):
        return int(value)
    return default


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(name): _int(count, 0) for name, count in value.items()}


def _parse_time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _optional_time(value: Any) -> datetime | None:
    return _parse_time(value) if value else None


def _iso_or_none(moment: datetime | None) -> str | None:
    return keys.iso(moment) if moment is not None else None
