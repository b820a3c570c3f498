"""Grouping root events into incidents and deciding what alerts (design §4).

An incident is root activity in one account by one actor, with no gap between its events
longer than the incident window. The actor is the source IP of the activity, or, for
AssumeRoot, the principal that called AssumeRoot (its session's actions in the target
account are attributed to that caller when the AssumeRoot event has been seen).

What alerts, for the events of one actor handled together (one "step"):
- an incident alerts at once ("first") when its severity first reaches medium; events below
  that are counted and appear in the first alert when something medium or above joins;
- once alerted, it alerts at once again ("escalation") only when its severity rises;
- other events are counted as pending, and an "update" goes out when a later step finds the
  update interval elapsed since the incident's last message (no timers: the watchdog may
  flush a stale pending update with `flush_pending`).

Each incident gets at most one message per step, so a batch that opens an incident with a
medium event and a critical one yields one "first" alert at critical, not two messages.
Alert ids are `<incident>:<kind>:<n>` (n counts the incident's messages), so the same step,
replayed after a crash, maps to the same delivery records.

A source IP is "first seen" in an incident when the account has no root activity from it
before the incident opened (as far back as the audit log keeps): every message of that
incident says so, and a later incident from the same IP says it was seen before. Each
account keeps, per source IP, when it was first seen (`SourceIpSighting`). Only IP
addresses count: where CloudTrail names an AWS service acting for root instead (or
`AWS Internal`), nothing is said.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeGuard

from msgspec import Struct, field

from rootwatch.alerts import TimelineEntry
from rootwatch.keys import iso
from rootwatch.model import CloudTrailRecord, Severity

IncidentAlertKind = Literal["first", "escalation", "update"]

ALERT_THRESHOLD = Severity.MEDIUM
# An AssumeRoot session lasts at most 900 seconds (its DurationSeconds limit).
ASSUME_ROOT_SESSION_LIMIT = timedelta(seconds=900)
# The timeline an incident keeps for its messages: how it started and how it goes on.
TIMELINE_HEAD = 10
TIMELINE_TAIL = 15
INCIDENT_ID_LENGTH = 12
# The longest IP address text kept (IPv6 with a zone index); it is part of a key.
SOURCE_IP_LIMIT = 64
UNKNOWN_ACTOR = "unknown"
UNATTRIBUTED_SESSION_PREFIX = "assumed-root:"

_ACCOUNT_ID = re.compile(r"\d{12}")


class IncidentPolicy(Struct, frozen=True):
    window: timedelta = timedelta(minutes=60)
    update_interval: timedelta = timedelta(minutes=5)


class AssumeRootGrant(Struct, frozen=True):
    """A successful AssumeRoot call: who obtained root credentials on which account."""

    target_account_id: str
    session_id: str
    caller: str
    issued_at: datetime
    session_ends_at: datetime
    event_id: str
    access_key_id: str | None = None
    caller_account_id: str | None = None

    def covers(self, moment: datetime) -> bool:
        return self.issued_at <= moment <= self.session_ends_at


class Actor(Struct, frozen=True):
    """Whom an event's incident belongs to within its account."""

    key: str
    assumed_root_caller: str | None = None


class IncidentEvent(Struct, frozen=True):
    """One event as the incident logic sees it."""

    event_id: str
    event_time: datetime
    event_name: str
    region: str
    severity: Severity
    source_ip: str | None = None
    outcome: str | None = None


class Incident(Struct, frozen=True):
    """An incident's state, as stored between steps."""

    incident_id: str
    account_id: str
    actor: str
    opened_at: datetime
    last_seen: datetime
    severity: Severity
    event_count: int
    event_names: Mapping[str, int]
    regions: tuple[str, ...]
    timeline: tuple[TimelineEntry, ...] = ()
    assumed_root_caller: str | None = None
    # Severity of the last "first" or "escalation" message; None until the incident alerts.
    alerted_severity: Severity | None = None
    messages_sent: int = 0
    last_message_at: datetime | None = None
    # Events counted since the last message and not reported yet.
    pending_events: int = 0
    pending_names: Mapping[str, int] = field(default_factory=dict)
    pending_since: datetime | None = None

    def accepts(self, moment: datetime, window: timedelta) -> bool:
        return self.opened_at - window <= moment <= self.last_seen + window

    def closes_at(self, window: timedelta) -> datetime:
        return self.last_seen + window


class SourceIpSighting(Struct, frozen=True):
    """When root activity from a source IP was first seen in an account."""

    source_ip: str
    first_seen: datetime


class AlertDecision(Struct, frozen=True):
    """An incident message to send now."""

    kind: IncidentAlertKind
    alert_id: str
    incident: Incident
    trigger_event_id: str
    previous_severity: Severity | None = None
    new_events: int = 0
    new_event_names: Mapping[str, int] = field(default_factory=dict)


class IncidentStep(Struct, frozen=True):
    """The outcome of adding one actor's events to its incidents."""

    current: Incident
    changed: tuple[Incident, ...]
    incident_of: Mapping[str, str]
    opened: tuple[str, ...]
    decisions: tuple[AlertDecision, ...]


def alert_id(incident_id: str, kind: str, sequence: int) -> str:
    return f"{incident_id}:{kind}:{sequence}"


def new_incident_id(account_id: str, actor: str, first_event_id: str) -> str:
    digest = hashlib.sha256(f"{account_id}\n{actor}\n{first_event_id}".encode()).hexdigest()
    return digest[:INCIDENT_ID_LENGTH]


def grant_from(record: CloudTrailRecord) -> AssumeRootGrant | None:
    """The AssumeRoot grant a record shows, when it is a successful AssumeRoot call."""
    if record.event_name != "AssumeRoot" or record.error_code:
        return None
    target = _account_of_principal(record.request_parameters.get("targetPrincipal"))
    if target is None:
        return None
    credentials = record.response_elements.get("credentials")
    access_key_id = credentials.get("accessKeyId") if isinstance(credentials, Mapping) else None
    access_key_id = access_key_id if isinstance(access_key_id, str) and access_key_id else None
    duration = record.request_parameters.get("durationSeconds")
    session_length = ASSUME_ROOT_SESSION_LIMIT
    if isinstance(duration, int) and 0 < duration < ASSUME_ROOT_SESSION_LIMIT.total_seconds():
        session_length = timedelta(seconds=duration)
    return AssumeRootGrant(
        target_account_id=target,
        session_id=access_key_id or record.event_id,
        caller=_caller_of(record),
        issued_at=record.event_time,
        session_ends_at=record.event_time + session_length,
        event_id=record.event_id,
        access_key_id=access_key_id,
        caller_account_id=record.principal_account_id or record.account_id,
    )


def actor_of(record: CloudTrailRecord, grants: Iterable[AssumeRootGrant]) -> Actor:
    """The actor whose incident a record joins.

    The AssumeRoot call belongs to its caller; an action inside an AssumeRoot session
    belongs to the caller of the AssumeRoot that opened it, or, when that call has not
    been seen, to `assumed-root:<source IP>`; anything else to its source IP.
    """
    if record.event_name == "AssumeRoot":
        caller = _caller_of(record)
        return Actor(key=caller, assumed_root_caller=caller)
    if record.assumed_root:
        grant = find_grant(record, grants)
        if grant is not None:
            return Actor(key=grant.caller, assumed_root_caller=grant.caller)
        return Actor(key=f"{UNATTRIBUTED_SESSION_PREFIX}{record.source_ip or UNKNOWN_ACTOR}")
    return Actor(key=record.source_ip or record.principal_arn or UNKNOWN_ACTOR)


def find_grant(
    record: CloudTrailRecord, grants: Iterable[AssumeRootGrant]
) -> AssumeRootGrant | None:
    """The AssumeRoot grant whose session made `record`.

    Matched on the session's temporary access key; a record that carries no access key
    matches the one grant on its account whose session covers its time, if only one does.
    """
    candidates = [grant for grant in grants if grant.target_account_id == record.account_id]
    access_key_id = session_access_key_id(record)
    if access_key_id is not None:
        return next((g for g in candidates if g.access_key_id == access_key_id), None)
    covering = [grant for grant in candidates if grant.covers(record.event_time)]
    return covering[0] if len(covering) == 1 else None


def session_access_key_id(record: CloudTrailRecord) -> str | None:
    identity = _record_body(record.raw).get("userIdentity")
    if not isinstance(identity, Mapping):
        return None
    value = identity.get("accessKeyId")
    return value if isinstance(value, str) and value else None


def advance(
    current: Incident | None,
    events: Sequence[IncidentEvent],
    *,
    account_id: str,
    actor: Actor,
    now: datetime,
    policy: IncidentPolicy,
) -> IncidentStep:
    """Add one actor's events to its incidents and decide which messages go out now.

    `current` is the actor's open incident as stored (None when it has none). An event
    joins an incident whose window covers its time; an event after the window opens a new
    incident, which becomes the actor's current one; an event arriving long after its
    time (before the window of the current incident) gets an incident of its own.
    """
    if not events:
        raise ValueError("a step needs at least one event")
    drafts: list[_Draft] = []
    current_draft = _Draft.resume(current) if current is not None else None
    if current_draft is not None:
        drafts.append(current_draft)
    incident_of: dict[str, str] = {}
    opened: list[str] = []
    for event in sorted(events, key=lambda item: (item.event_time, item.event_id)):
        target = next((d for d in reversed(drafts) if d.accepts(event, policy.window)), None)
        if target is None:
            target = _Draft.open(account_id, actor, event)
            drafts.append(target)
            opened.append(target.incident_id)
            if current_draft is None or event.event_time > current_draft.last_seen:
                current_draft = target
        target.add(event)
        incident_of[event.event_id] = target.incident_id
    decisions: list[AlertDecision] = []
    changed: list[Incident] = []
    for draft in drafts:
        if not draft.step_events:
            continue
        decision = draft.decide(now, policy)
        incident = draft.freeze()
        changed.append(incident)
        if decision is not None:
            decisions.append(decision.with_incident(incident))
    assert current_draft is not None
    return IncidentStep(
        current=current_draft.freeze(),
        changed=tuple(changed),
        incident_of=incident_of,
        opened=tuple(opened),
        decisions=tuple(decisions),
    )


def sightings_of(
    events: Iterable[IncidentEvent], known: Mapping[str, datetime]
) -> tuple[SourceIpSighting, ...]:
    """The source IPs of `events`, each first seen at the earlier of its known first sighting
    (`known`: source IP to first seen, for the account) and its earliest event here."""
    first_seen: dict[str, datetime] = {}
    for event in events:
        source_ip = event.source_ip
        if not remembered_source(source_ip):
            continue
        earlier = first_seen.get(source_ip, known.get(source_ip))
        first_seen[source_ip] = (
            event.event_time if earlier is None else min(earlier, event.event_time)
        )
    return tuple(
        SourceIpSighting(source_ip, moment) for source_ip, moment in sorted(first_seen.items())
    )


def is_first_sighting(
    source_ip: str | None, incident: Incident, known: Mapping[str, datetime]
) -> bool | None:
    """Whether `source_ip` was first seen for the account in `incident` (None: not known).

    `known` maps the account's source IPs to their first sighting, the incident's own
    events included (`sightings_of`).
    """
    if not remembered_source(source_ip):
        return None
    first_seen = known.get(source_ip)
    return first_seen is None or first_seen >= incident.opened_at


def remembered_source(source_ip: str | None) -> TypeGuard[str]:
    """Whether an account keeps track of this source: an IP address, not a service's name."""
    if not source_ip or len(source_ip) > SOURCE_IP_LIMIT:
        return False
    try:
        ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return True


def flush_pending(
    incident: Incident, *, now: datetime, policy: IncidentPolicy
) -> AlertDecision | None:
    """The update due for an alerted incident whose pending events have waited long enough.

    For a scheduled sweep: the events counted since the last message are reported once
    the update interval has elapsed, even when no later event arrives to carry them.
    """
    if incident.alerted_severity is None or incident.pending_events == 0:
        return None
    if (
        incident.last_message_at is not None
        and now - incident.last_message_at < policy.update_interval
    ):
        return None
    draft = _Draft.resume(incident)
    latest = incident.timeline[-1].event_id if incident.timeline else None
    decision = draft.message("update", latest or incident.incident_id, now)
    return decision.with_incident(draft.freeze())


class _PendingDecision(Struct):
    kind: IncidentAlertKind
    sequence: int
    trigger_event_id: str
    previous_severity: Severity | None
    new_events: int
    new_event_names: dict[str, int]

    def with_incident(self, incident: Incident) -> AlertDecision:
        return AlertDecision(
            kind=self.kind,
            alert_id=alert_id(incident.incident_id, self.kind, self.sequence),
            incident=incident,
            trigger_event_id=self.trigger_event_id,
            previous_severity=self.previous_severity,
            new_events=self.new_events,
            new_event_names=self.new_event_names,
        )


class _Draft(Struct):
    """An incident being changed by one step."""

    incident_id: str
    account_id: str
    actor: str
    assumed_root_caller: str | None
    opened_at: datetime
    last_seen: datetime
    severity: Severity
    event_count: int
    event_names: Counter[str]
    regions: set[str]
    timeline: list[TimelineEntry]
    alerted_severity: Severity | None
    messages_sent: int
    last_message_at: datetime | None
    pending_events: int
    pending_names: Counter[str]
    pending_since: datetime | None
    step_events: list[IncidentEvent] = field(default_factory=list)

    @classmethod
    def resume(cls, incident: Incident) -> _Draft:
        return cls(
            incident_id=incident.incident_id,
            account_id=incident.account_id,
            actor=incident.actor,
            assumed_root_caller=incident.assumed_root_caller,
            opened_at=incident.opened_at,
            last_seen=incident.last_seen,
            severity=incident.severity,
            event_count=incident.event_count,
            event_names=Counter(incident.event_names),
            regions=set(incident.regions),
            timeline=list(incident.timeline),
            alerted_severity=incident.alerted_severity,
            messages_sent=incident.messages_sent,
            last_message_at=incident.last_message_at,
            pending_events=incident.pending_events,
            pending_names=Counter(incident.pending_names),
            pending_since=incident.pending_since,
        )

    @classmethod
    def open(cls, account_id: str, actor: Actor, first: IncidentEvent) -> _Draft:
        return cls(
            incident_id=new_incident_id(account_id, actor.key, first.event_id),
            account_id=account_id,
            actor=actor.key,
            assumed_root_caller=actor.assumed_root_caller,
            opened_at=first.event_time,
            last_seen=first.event_time,
            severity=first.severity,
            event_count=0,
            event_names=Counter(),
            regions=set(),
            timeline=[],
            alerted_severity=None,
            messages_sent=0,
            last_message_at=None,
            pending_events=0,
            pending_names=Counter(),
            pending_since=None,
        )

    def accepts(self, event: IncidentEvent, window: timedelta) -> bool:
        return self.opened_at - window <= event.event_time <= self.last_seen + window

    def add(self, event: IncidentEvent) -> None:
        self.step_events.append(event)
        self.opened_at = min(self.opened_at, event.event_time)
        self.last_seen = max(self.last_seen, event.event_time)
        self.severity = max(self.severity, event.severity)
        self.event_count += 1
        self.event_names[event.event_name] += 1
        self.regions.add(event.region)
        self._record(event)

    def _record(self, event: IncidentEvent) -> None:
        entry = TimelineEntry(
            event_time=iso(event.event_time),
            event_name=event.event_name,
            severity=event.severity.label,
            region=event.region,
            source_ip=event.source_ip,
            outcome=event.outcome,
            event_id=event.event_id,
        )
        self.timeline.append(entry)
        self.timeline.sort(key=lambda item: (item.event_time, item.event_id or ""))
        while len(self.timeline) > TIMELINE_HEAD + TIMELINE_TAIL:
            del self.timeline[TIMELINE_HEAD]

    def decide(self, now: datetime, policy: IncidentPolicy) -> _PendingDecision | None:
        self._hold(now)
        if self.alerted_severity is None:
            if self.severity < ALERT_THRESHOLD:
                return None
            return self.message("first", self._raiser().event_id, now)
        if self.severity > self.alerted_severity:
            return self.message("escalation", self._raiser().event_id, now)
        if self.last_message_at is not None and now - self.last_message_at < policy.update_interval:
            return None
        latest = max(self.step_events, key=lambda item: (item.event_time, item.event_id))
        return self.message("update", latest.event_id, now)

    def message(
        self, kind: IncidentAlertKind, trigger_event_id: str, now: datetime
    ) -> _PendingDecision:
        decision = _PendingDecision(
            kind=kind,
            sequence=self.messages_sent + 1,
            trigger_event_id=trigger_event_id,
            previous_severity=self.alerted_severity if kind == "escalation" else None,
            new_events=self.pending_events if kind != "first" else 0,
            new_event_names=dict(self.pending_names) if kind != "first" else {},
        )
        self.messages_sent += 1
        self.last_message_at = now
        if kind != "update":
            self.alerted_severity = self.severity
        self.pending_events = 0
        self.pending_names = Counter()
        self.pending_since = None
        return decision

    def _hold(self, now: datetime) -> None:
        self.pending_events += len(self.step_events)
        self.pending_names.update(event.event_name for event in self.step_events)
        if self.pending_since is None:
            self.pending_since = now

    def _raiser(self) -> IncidentEvent:
        """The step's first event at the incident's severity: the one that raised it."""
        ordered = sorted(self.step_events, key=lambda item: (item.event_time, item.event_id))
        return next((e for e in ordered if e.severity == self.severity), ordered[-1])

    def freeze(self) -> Incident:
        return Incident(
            incident_id=self.incident_id,
            account_id=self.account_id,
            actor=self.actor,
            opened_at=self.opened_at,
            last_seen=self.last_seen,
            severity=self.severity,
            event_count=self.event_count,
            event_names=dict(self.event_names),
            regions=tuple(sorted(self.regions)),
            timeline=tuple(self.timeline),
            assumed_root_caller=self.assumed_root_caller,
            alerted_severity=self.alerted_severity,
            messages_sent=self.messages_sent,
            last_message_at=self.last_message_at,
            pending_events=self.pending_events,
            pending_names=dict(self.pending_names),
            pending_since=self.pending_since,
        )


def _caller_of(record: CloudTrailRecord) -> str:
    if record.principal_arn:
        return record.principal_arn
    return f"{record.principal_account_id or record.account_id}:{record.source_ip or UNKNOWN_ACTOR}"


def _account_of_principal(value: Any) -> str | None:
    """The account id in AssumeRoot's `targetPrincipal` (an account id or an ARN)."""
    if not isinstance(value, str):
        return None
    if _ACCOUNT_ID.fullmatch(value):
        return value
    parts = value.split(":")
    if len(parts) >= 5 and parts[0] == "arn" and _ACCOUNT_ID.fullmatch(parts[4]):
        return parts[4]
    return None


def _record_body(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CloudTrail record in `raw`, whether it holds the record or its EventBridge event."""
    detail = raw.get("detail")
    if "userIdentity" not in raw and isinstance(detail, Mapping):
        return detail
    return raw
