"""The processor: from a batch of ingest messages to an exact audit log and incident alerts.

For one batch:

1. Admit each message: a body that is not a CloudTrail event goes to the ingest DLQ with
   the reason; an event rootwatch does not trust (source not `aws.`, account not allowed)
   or does not keep (not root activity nor tamper) is dropped and logged.
2. Claim each event id with a conditional put (one call; a duplicate's call returns the
   stored item). A stored event that is done is a duplicate and changes nothing; one
   whose claimer died (its lease is past) is taken over and finished, so an event that
   crashed between its write and its alert still alerts.
3. Read each account's entry, planned windows, AssumeRoot sessions and known source IPs
   (one Query), classify with the planned window covering each event, and attribute
   AssumeRoot sessions.
4. Per actor (account and source IP, or AssumeRoot caller), add the events to the actor's
   incident and decide what alerts, and whether its source IP is new to the account;
   write pointer, incidents, events and source IPs in one transaction, conditional on the
   pointer's version. An event that owes an alert is stored as `alerting` with the alert,
   the others as `done`.
5. Enqueue the alerts in batches, then mark their events done; an event is never done
   before its alert is on the queue.

A failure affects only the messages it concerns: they are reported failed, so SQS delivers
them again, and their claims are released so the retry resumes them at once.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from msgspec import Struct, field

from rootwatch import detection
from rootwatch.adapters.audit import (
    AccountContext,
    AuditStore,
    ConcurrentUpdateError,
    EventClaim,
    EventOutcome,
    IncidentStepWrite,
    OpenIncident,
    StoredEvent,
)
from rootwatch.adapters.queues import AlertQueue, DeadLetter, DeadLetterQueue
from rootwatch.alerts import AccountInfo, Alert, EventFacts, IncidentFacts, UpdateFacts
from rootwatch.incidents import (
    Actor,
    AlertDecision,
    AssumeRootGrant,
    IncidentEvent,
    IncidentPolicy,
    actor_of,
    advance,
    grant_from,
    is_first_sighting,
    sightings_of,
)
from rootwatch.keys import iso
from rootwatch.model import Classification, CloudTrailRecord
from rootwatch.reader import RecordError, parse_event

logger = Logger(child=True)

TRUSTED_SOURCE_PREFIX = "aws."
# Events per transaction: each brings at most its event, an incident, a grant and its source
# IP; with the pointer, 24 x 4 + 1 writes stay within TransactWriteItems' 100.
STEP_EVENTS = 24
STEP_ATTEMPTS = 5
# Without an invocation deadline (a direct call), a claim is held this long at most.
DEFAULT_LEASE = timedelta(minutes=15)
REQUEST_SUMMARY_LIMIT = 300


class ProcessorSettings(Struct, frozen=True):
    policy: IncidentPolicy
    retention: timedelta
    allowed_accounts: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ProcessorSettings:
        allowed = environ.get("ALLOWED_ACCOUNT_IDS", "")
        return cls(
            policy=IncidentPolicy(
                window=timedelta(minutes=_positive(environ, "INCIDENT_WINDOW_MINUTES", 60)),
                update_interval=timedelta(minutes=_positive(environ, "UPDATE_INTERVAL_MINUTES", 5)),
            ),
            retention=timedelta(days=_positive(environ, "RETENTION_DAYS", 400)),
            allowed_accounts=frozenset(part.strip() for part in allowed.split(",") if part.strip()),
        )


class InboundMessage(Struct, frozen=True):
    """One ingest message: its id and the EventBridge event, as JSON text or decoded."""

    message_id: str
    body: str | Mapping[str, Any]


class BatchReport(Struct):
    """What a batch came to; `failures` maps the message ids to retry to why."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    malformed: int = 0
    incidents_opened: int = 0
    alerts_queued: int = 0
    failures: dict[str, str] = field(default_factory=dict)


class _Candidate(Struct):
    """A trusted event rootwatch keeps, with every message of the batch that carried it."""

    record: CloudTrailRecord
    classification: Classification
    message_ids: list[str]
    stored: StoredEvent | None = None


class _Prepared(Struct, frozen=True):
    candidate: _Candidate
    stored: StoredEvent
    classification: Classification
    actor: Actor
    grant: AssumeRootGrant | None

    @property
    def record(self) -> CloudTrailRecord:
        return self.candidate.record


class _PendingAlert(Struct, frozen=True):
    """An alert to enqueue before its owner event is done (None: nothing left to send)."""

    alert: Alert | None
    owner: StoredEvent
    message_ids: tuple[str, ...]


class Processor:
    def __init__(
        self,
        store: AuditStore,
        alerts: AlertQueue,
        dead_letters: DeadLetterQueue,
        settings: ProcessorSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._alerts = alerts
        self._dead_letters = dead_letters
        self._settings = settings
        self._clock = clock

    def process(
        self, messages: Sequence[InboundMessage], *, deadline: datetime | None = None
    ) -> BatchReport:
        run = _BatchRun(self, deadline)
        return run.process(messages)


class _BatchRun:
    """The state of one batch: what each message came to, and the work left."""

    def __init__(self, processor: Processor, deadline: datetime | None) -> None:
        self._store = processor._store
        self._alert_queue = processor._alerts
        self._dead_letter_queue = processor._dead_letters
        self._settings = processor._settings
        self._now = processor._clock()
        self._lease_until = deadline or self._now + DEFAULT_LEASE
        self._claimer = uuid.uuid4().hex
        self._report = BatchReport()
        self._to_release: list[StoredEvent] = []
        # Per account: each source IP's first sighting, as stored and as this batch shows it.
        self._source_ips: dict[str, dict[str, datetime]] = {}

    def process(self, messages: Sequence[InboundMessage]) -> BatchReport:
        self._report.received = len(messages)
        dead_letters: list[DeadLetter] = []
        candidates: dict[str, _Candidate] = {}
        for message in messages:
            admitted = self._admit(message)
            if isinstance(admitted, DeadLetter):
                dead_letters.append(admitted)
            elif admitted is not None:
                record, classification = admitted
                known = candidates.get(record.event_id)
                if known is None:
                    candidates[record.event_id] = _Candidate(
                        record, classification, [message.message_id]
                    )
                else:
                    known.message_ids.append(message.message_id)
                    self._report.duplicates += 1
        fresh, owed = self._claim_all(list(candidates.values()))
        pending = owed + self._record_incidents(fresh)
        self._enqueue(pending)
        self._park(dead_letters)
        self._release()
        return self._report

    # 1. admission ------------------------------------------------------------------

    def _admit(
        self, message: InboundMessage
    ) -> DeadLetter | tuple[CloudTrailRecord, Classification] | None:
        body_text = message.body if isinstance(message.body, str) else None
        try:
            event = json.loads(message.body) if isinstance(message.body, str) else message.body
        except ValueError as error:
            return self._malformed(message, body_text, f"body is not JSON: {error}")
        if isinstance(event, Mapping):
            detail_type = event.get("detail-type")
            if isinstance(detail_type, str) and "CloudTrail" not in detail_type:
                self._reject(message.message_id, f"not a CloudTrail event ({detail_type[:80]})")
                return None
        try:
            record = parse_event(event)
        except RecordError as error:
            return self._malformed(message, body_text, str(error))
        untrusted = self._untrusted(record)
        if untrusted:
            self._reject(message.message_id, untrusted, record)
            return None
        classification = detection.classify(record)
        if classification is None:
            self._reject(message.message_id, "neither root activity nor tamper", record)
            return None
        return record, classification

    def _untrusted(self, record: CloudTrailRecord) -> str | None:
        source = record.envelope_source
        if not source or not source.startswith(TRUSTED_SOURCE_PREFIX):
            return f"source {str(source)[:80]!r} is not an AWS service"
        allowed = self._settings.allowed_accounts
        if allowed:
            for account in {record.envelope_account, record.account_id} - {None}:
                if account not in allowed:
                    return f"account {account} is not allowed"
        return None

    def _malformed(self, message: InboundMessage, body: str | None, reason: str) -> DeadLetter:
        self._report.malformed += 1
        logger.warning(
            "Malformed ingest message sent to the DLQ",
            extra={"message_id": message.message_id, "reason": reason},
        )
        text = body if body is not None else json.dumps(message.body, default=str)
        return DeadLetter(key=message.message_id, body=text, reason=reason)

    def _reject(self, message_id: str, reason: str, record: CloudTrailRecord | None = None) -> None:
        self._report.rejected += 1
        fields: dict[str, Any] = {"message_id": message_id, "reason": reason}
        if record is None:
            logger.info("Event rejected", extra=fields)
            return
        self._log_event(
            record.event_id,
            "Event rejected",
            **fields,
            account_id=record.account_id,
            event_name=record.event_name,
            event_source=record.event_source,
            source=record.envelope_source,
        )

    # 2. claims -----------------------------------------------------------------------

    def _claim_all(
        self, candidates: Sequence[_Candidate]
    ) -> tuple[list[_Candidate], list[_PendingAlert]]:
        """Claim every event; returns those to process and the alerts stored events owe."""
        fresh: list[_Candidate] = []
        owed: list[_PendingAlert] = []
        for candidate in candidates:
            record = candidate.record
            try:
                result = self._store.claim_event(
                    EventClaim(
                        event_id=record.event_id,
                        account_id=record.account_id,
                        region=record.aws_region,
                        event_time=record.event_time,
                        event_source=record.event_source,
                        event_name=record.event_name,
                        record=record.raw,
                        received_at=self._now,
                        lease_until=self._lease_until,
                        claimed_by=self._claimer,
                        expires_at=self._now + self._settings.retention,
                    )
                )
            except Exception:
                logger.exception("Claiming an event failed", extra={"event_id": record.event_id})
                self._fail(candidate.message_ids, "the audit write failed")
                continue
            stored = result.stored
            mine = result.fresh or stored.claimed_by == self._claimer
            if mine and stored.state == "claimed":
                candidate.stored = stored
                fresh.append(candidate)
                self._report.stored += 1
                continue
            if stored.state == "done":
                # The batch's other copies of the event were counted when they were seen.
                self._report.duplicates += 1
                self._log_event(record.event_id, "Duplicate event ignored")
                continue
            if stored.held_by_other(self._claimer, self._now):
                self._fail(candidate.message_ids, "another invocation is processing this event")
                continue
            taken = self._take_over(candidate, stored)
            if taken is None:
                continue
            self._log_event(record.event_id, "Resuming an event whose processing stopped")
            if taken.state == "alerting":
                owed.append(_PendingAlert(taken.alert, taken, tuple(candidate.message_ids)))
            else:
                candidate.stored = taken
                fresh.append(candidate)
        return fresh, owed

    def _take_over(self, candidate: _Candidate, stored: StoredEvent) -> StoredEvent | None:
        try:
            taken = self._store.take_over(
                stored, claimed_by=self._claimer, lease_until=self._lease_until
            )
        except Exception:
            logger.exception(
                "Taking over an event failed", extra={"event_id": candidate.record.event_id}
            )
            self._fail(candidate.message_ids, "the audit write failed")
            return None
        if taken is None:
            self._fail(candidate.message_ids, "another invocation is processing this event")
        return taken

    # 3-4. accounts, classification, incidents ----------------------------------------

    def _record_incidents(self, fresh: Sequence[_Candidate]) -> list[_PendingAlert]:
        if not fresh:
            return []
        contexts = self._load_accounts(fresh)
        grants = [grant for candidate in fresh if (grant := grant_from(candidate.record))]
        for loaded in contexts.values():
            grants.extend(loaded.grants)
        groups: dict[tuple[str, str], list[_Prepared]] = defaultdict(list)
        for candidate in fresh:
            account_context = contexts.get(candidate.record.account_id)
            if account_context is None:
                continue
            prepared = self._prepare(candidate, account_context, grants)
            groups[(candidate.record.account_id, prepared.actor.key)].append(prepared)
        self._note_source_ips(groups)
        pending: list[_PendingAlert] = []
        for (account_id, _actor), events in sorted(groups.items()):
            pending.extend(self._record_actor(contexts[account_id], events))
        return pending

    def _note_source_ips(self, groups: Mapping[tuple[str, str], Sequence[_Prepared]]) -> None:
        """Add the batch's source IPs to their accounts' known ones, whichever actor's events
        show them, so that what an alert says does not depend on the order actors go in."""
        by_account: dict[str, list[IncidentEvent]] = defaultdict(list)
        for (account_id, _actor), prepared in groups.items():
            by_account[account_id].extend(_incident_event(event) for event in prepared)
        for account_id, incident_events in by_account.items():
            known = self._source_ips.setdefault(account_id, {})
            for sighting in sightings_of(incident_events, known):
                known[sighting.source_ip] = sighting.first_seen

    def _load_accounts(self, fresh: Sequence[_Candidate]) -> dict[str, AccountContext]:
        contexts: dict[str, AccountContext] = {}
        for account_id in sorted({candidate.record.account_id for candidate in fresh}):
            try:
                context = self._store.load_account(account_id, now=self._now)
            except Exception:
                logger.exception(
                    "Reading an account entry failed", extra={"account_id": account_id}
                )
                for candidate in fresh:
                    if candidate.record.account_id == account_id and candidate.stored:
                        self._fail(candidate.message_ids, "reading the account entry failed")
                        self._to_release.append(candidate.stored)
                continue
            contexts[account_id] = context
            self._source_ips[account_id] = {
                sighting.source_ip: sighting.first_seen for sighting in context.source_ips
            }
        return contexts

    def _prepare(
        self, candidate: _Candidate, context: AccountContext, grants: Sequence[AssumeRootGrant]
    ) -> _Prepared:
        record = candidate.record
        classification = candidate.classification
        window = context.window_at(record.event_time)
        if window is not None:
            classification = detection.classify(record, window) or classification
        assert candidate.stored is not None
        return _Prepared(
            candidate=candidate,
            stored=candidate.stored,
            classification=classification,
            actor=actor_of(record, grants),
            grant=grant_from(record),
        )

    def _record_actor(
        self, context: AccountContext, events: Sequence[_Prepared]
    ) -> list[_PendingAlert]:
        """Add one actor's events to its incidents, in as few transactions as fit.

        When a step fails, its events and the actor's later ones are retried; the steps
        already written stand, and their alerts are sent.
        """
        pending: list[_PendingAlert] = []
        pointer: OpenIncident | None = None
        ordered = sorted(events, key=lambda item: (item.record.event_time, item.record.event_id))
        for start in range(0, len(ordered), STEP_EVENTS):
            chunk = ordered[start : start + STEP_EVENTS]
            try:
                pointer, chunk_pending = self._step(context, chunk, pointer)
            except Exception:
                logger.exception(
                    "Recording an incident step failed",
                    extra={"account_id": context.account.account_id, "events": len(ordered)},
                )
                for event in ordered[start:]:
                    self._fail(event.candidate.message_ids, "the incident update failed")
                    self._to_release.append(event.stored)
                break
            pending.extend(chunk_pending)
        return pending

    def _step(
        self, context: AccountContext, events: Sequence[_Prepared], pointer: OpenIncident | None
    ) -> tuple[OpenIncident, list[_PendingAlert]]:
        account = context.account
        actor = events[0].actor
        by_id = {event.record.event_id: event for event in events}
        incident_events = [_incident_event(event) for event in events]
        first_seen = self._source_ips.get(account.account_id, {})
        sightings = sightings_of(incident_events, first_seen)
        for _attempt in range(STEP_ATTEMPTS):
            if pointer is None:
                pointer = self._store.load_open_incident(account.account_id, actor.key)
            step = advance(
                pointer.incident,
                incident_events,
                account_id=account.account_id,
                actor=actor,
                now=self._now,
                policy=self._settings.policy,
            )
            alerts = {
                decision.trigger_event_id: self._alert(
                    decision, by_id[decision.trigger_event_id], account, first_seen
                )
                for decision in step.decisions
            }
            write = IncidentStepWrite(
                account_id=account.account_id,
                actor=actor.key,
                expected_version=pointer.version,
                current=step.current,
                changed=step.changed,
                events=tuple(
                    _outcome(event, account, step.incident_of[event_id], alerts.get(event_id))
                    for event_id, event in by_id.items()
                ),
                grants=tuple(event.grant for event in events if event.grant is not None),
                account=account,
                window=self._settings.policy.window,
                now=self._now,
                retention=self._settings.retention,
                claimed_by=self._claimer,
                source_ips=sightings,
            )
            try:
                stored = self._store.apply_step(write)
            except ConcurrentUpdateError:
                pointer = None
                continue
            self._report.incidents_opened += len(step.opened)
            for incident_id in step.opened:
                logger.info(
                    "Incident opened",
                    extra={"incident_id": incident_id, "account_id": account.account_id},
                )
            pending = [
                _PendingAlert(alert, stored[event_id], tuple(by_id[event_id].candidate.message_ids))
                for event_id, alert in alerts.items()
            ]
            return OpenIncident(incident=step.current, version=pointer.version + 1), pending
        raise ConcurrentUpdateError(f"actor {actor.key} kept changing; giving up for now")

    def _alert(
        self,
        decision: AlertDecision,
        trigger: _Prepared,
        account: AccountInfo,
        first_seen: Mapping[str, datetime],
    ) -> Alert:
        incident = decision.incident
        record = trigger.record
        classification = trigger.classification
        update = (
            UpdateFacts(new_events=decision.new_events, event_names=dict(decision.new_event_names))
            if decision.kind != "first"
            else None
        )
        return Alert(
            alert_id=decision.alert_id,
            kind=decision.kind,
            severity=incident.severity.label,
            account=account,
            incident=IncidentFacts(
                incident_id=incident.incident_id,
                severity=incident.severity.label,
                opened_at=iso(incident.opened_at),
                last_seen=iso(incident.last_seen),
                event_count=incident.event_count,
                event_names=dict(incident.event_names),
                regions=incident.regions,
                actor=incident.actor,
                timeline=incident.timeline,
            ),
            event=EventFacts(
                event_id=record.event_id,
                event_time=iso(record.event_time),
                region=record.aws_region,
                event_source=record.event_source,
                event_name=record.event_name,
                summary=classification.summary,
                severity=classification.severity.label,
                rules=classification.rules,
                outcome=classification.outcome,
                mfa=classification.mfa,
                source_ip=record.source_ip,
                first_seen_ip=is_first_sighting(record.source_ip, incident, first_seen),
                user_agent=record.user_agent,
                assumed_root_caller=trigger.actor.assumed_root_caller,
                invoked_by=classification.invoked_by,
                planned_by=classification.planned_by,
                planned_reason=classification.planned_reason,
                error_code=record.error_code,
                request_summary=_request_summary(record.request_parameters),
            ),
            update=update,
            previous_severity=(
                decision.previous_severity.label if decision.previous_severity is not None else None
            ),
            raised_at=iso(self._now),
        )

    # 5. alerts, dead letters, releases -----------------------------------------------

    def _enqueue(self, pending: Sequence[_PendingAlert]) -> None:
        to_send = [(item, item.alert) for item in pending if item.alert is not None]
        owners_without_alert = [item.owner for item in pending if item.alert is None]
        failed: set[str] = set()
        if to_send:
            try:
                failed = self._alert_queue.send_alerts([alert for _item, alert in to_send])
            except Exception:
                logger.exception("Enqueueing alerts failed", extra={"alerts": len(to_send)})
                failed = {alert.alert_id for _item, alert in to_send}
        sent = [item for item, alert in to_send if alert.alert_id not in failed]
        for item, alert in to_send:
            if alert.alert_id in failed:
                self._fail(item.message_ids, "the alert could not be enqueued")
                self._to_release.append(item.owner)
            else:
                self._log_event(
                    item.owner.event_id,
                    "Alert queued",
                    alert_id=alert.alert_id,
                    kind=alert.kind,
                    severity=alert.severity,
                )
        self._report.alerts_queued += len(sent)
        finished = [item.owner for item in sent] + owners_without_alert
        if not finished:
            return
        try:
            self._store.finish_events(finished, now=self._now)
        except Exception:
            # The alerts are queued; a retry finds the events still alerting and enqueues
            # them again under the same alert ids, which the notifier delivers once.
            logger.exception("Marking alerted events done failed", extra={"events": len(finished)})
            for item in sent:
                self._fail(item.message_ids, "marking the event done failed")
                self._to_release.append(item.owner)

    def _park(self, dead_letters: Sequence[DeadLetter]) -> None:
        if not dead_letters:
            return
        try:
            failed = self._dead_letter_queue.send_dead_letters(dead_letters)
        except Exception:
            logger.exception("Sending to the DLQ failed", extra={"messages": len(dead_letters)})
            failed = {letter.key for letter in dead_letters}
        for letter in dead_letters:
            if letter.key in failed:
                self._fail([letter.key], "the message could not be sent to the DLQ")

    def _release(self) -> None:
        if not self._to_release:
            return
        try:
            self._store.release_events(self._to_release)
        except Exception:
            # Claims then lapse when this invocation's deadline passes.
            logger.exception("Releasing claims failed", extra={"events": len(self._to_release)})

    def _fail(self, message_ids: Iterable[str], reason: str) -> None:
        for message_id in message_ids:
            self._report.failures.setdefault(message_id, reason)

    def _log_event(self, event_id: str, message: str, **fields: Any) -> None:
        """An INFO line about one event, correlated by its eventID."""
        logger.info(message, extra={"correlation_id": event_id, "event_id": event_id, **fields})


def _incident_event(event: _Prepared) -> IncidentEvent:
    return IncidentEvent(
        event_id=event.record.event_id,
        event_time=event.record.event_time,
        event_name=event.record.event_name,
        region=event.record.aws_region,
        severity=event.classification.severity,
        source_ip=event.record.source_ip,
        outcome=event.classification.outcome,
    )


def _outcome(
    event: _Prepared, account: AccountInfo, incident_id: str, alert: Alert | None
) -> EventOutcome:
    record = event.record
    classification = event.classification
    return EventOutcome(
        claim=event.stored,
        account_id=record.account_id,
        event_time=record.event_time,
        severity=classification.severity,
        rules=classification.rules,
        summary=classification.summary,
        outcome=classification.outcome,
        mfa=classification.mfa,
        assumed_root=classification.assumed_root,
        tamper=classification.tamper,
        invoked_by=classification.invoked_by,
        source_ip=record.source_ip,
        user_agent=record.user_agent,
        error_code=record.error_code,
        actor=event.actor.key,
        assumed_root_caller=event.actor.assumed_root_caller,
        account_name=account.name,
        partner=account.partner,
        planned_by=classification.planned_by,
        planned_reason=classification.planned_reason,
        incident_id=incident_id,
        alert=alert,
    )


def _request_summary(parameters: Mapping[str, Any]) -> str | None:
    if not parameters:
        return None
    text = json.dumps(parameters, separators=(",", ":"), sort_keys=True, default=str)
    if len(text) > REQUEST_SUMMARY_LIMIT:
        return text[: REQUEST_SUMMARY_LIMIT - 1] + "…"
    return text


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    value = int(text)
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of units, not {text!r}")
    return value
