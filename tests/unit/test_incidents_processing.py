"""The processor service on small in-memory fakes of its store and queues.

Classification, planned windows, AssumeRoot attribution and the alert contents, without
AWS; the DynamoDB and SQS adapters are covered against moto in tests/integration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec.structs
import pytest
from rootwatch.adapters.audit import (
    AccountContext,
    ClaimResult,
    ConcurrentUpdateError,
    EventClaim,
    EventOutcome,
    IncidentStepWrite,
    OpenIncident,
    StoredEvent,
)
from rootwatch.adapters.queues import DeadLetter
from rootwatch.alerts import AccountInfo, Alert
from rootwatch.incidents import AssumeRootGrant, Incident, IncidentPolicy, SourceIpSighting
from rootwatch.model import PlannedWindow
from rootwatch.services.processing import (
    InboundMessage,
    Processor,
    ProcessorSettings,
)

from tests.support.events import sample_event, variant

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
CALLER = (
    "arn:aws:sts::777788889999:assumed-role/"
    "AWSReservedSSO_RootAccessAdmin_9f8e7d6c5b4a3921/mlopez@example.com"
)


class MemoryAuditStore:
    """The audit store's contract, kept in dictionaries."""

    def __init__(self) -> None:
        self.events: dict[str, StoredEvent] = {}
        self.outcomes: dict[str, EventOutcome] = {}
        self.pointers: dict[tuple[str, str], tuple[Incident, int]] = {}
        self.incidents: dict[str, Incident] = {}
        self.accounts: dict[str, AccountContext] = {}
        self.grants: list[AssumeRootGrant] = []
        self.source_ips: dict[tuple[str, str], SourceIpSighting] = {}
        self.conflicts_to_raise = 0
        self.account_reads = 0

    def claim_event(self, claim: EventClaim) -> ClaimResult:
        existing = self.events.get(claim.event_id)
        if existing is not None:
            return ClaimResult(stored=existing, fresh=False)
        stored = StoredEvent(
            event_id=claim.event_id,
            state="claimed",
            lease_until=claim.lease_until,
            claimed_by=claim.claimed_by,
            alert=None,
            item={},
        )
        self.events[claim.event_id] = stored
        return ClaimResult(stored=stored, fresh=True)

    def take_over(
        self, stored: StoredEvent, *, claimed_by: str, lease_until: datetime
    ) -> StoredEvent | None:
        current = self.events[stored.event_id]
        if current.claimed_by != stored.claimed_by:
            return None
        taken = msgspec.structs.replace(current, claimed_by=claimed_by, lease_until=lease_until)
        self.events[stored.event_id] = taken
        return taken

    def load_account(self, account_id: str, *, now: datetime) -> AccountContext:
        self.account_reads += 1
        context = self.accounts.get(account_id, AccountContext(AccountInfo(account_id)))
        grants = tuple(g for g in self.grants if g.target_account_id == account_id)
        source_ips = tuple(
            sighting for (account, _), sighting in self.source_ips.items() if account == account_id
        )
        return msgspec.structs.replace(
            context, grants=context.grants + grants, source_ips=context.source_ips + source_ips
        )

    def load_open_incident(self, account_id: str, actor: str) -> OpenIncident:
        incident, version = self.pointers.get((account_id, actor), (None, 0))
        return OpenIncident(incident=incident, version=version)

    def apply_step(self, step: IncidentStepWrite) -> dict[str, StoredEvent]:
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            raise ConcurrentUpdateError("the pointer moved")
        _incident, version = self.pointers.get((step.account_id, step.actor), (None, 0))
        if version != step.expected_version:
            raise ConcurrentUpdateError("the pointer moved")
        self.pointers[(step.account_id, step.actor)] = (step.current, version + 1)
        for incident in step.changed:
            self.incidents[incident.incident_id] = incident
        stored = {}
        for outcome in step.events:
            event = msgspec.structs.replace(
                self.events[outcome.claim.event_id],
                state="alerting" if outcome.alert else "done",
                alert=outcome.alert,
            )
            self.events[event.event_id] = stored[event.event_id] = event
            self.outcomes[event.event_id] = outcome
        self.grants.extend(step.grants)
        for sighting in step.source_ips:
            self.source_ips[(step.account_id, sighting.source_ip)] = sighting
        return stored

    def finish_events(self, events: Sequence[StoredEvent], *, now: datetime) -> None:
        for event in events:
            self.events[event.event_id] = msgspec.structs.replace(event, state="done", alert=None)

    def release_events(self, events: Sequence[StoredEvent]) -> None:
        for event in events:
            self.events[event.event_id] = msgspec.structs.replace(
                event, lease_until=datetime.fromtimestamp(0, UTC)
            )


class MemoryQueues:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.dead_letters: list[DeadLetter] = []
        self.failures_to_raise = 0

    def send_alerts(self, alerts: Sequence[Alert]) -> set[str]:
        if self.failures_to_raise:
            self.failures_to_raise -= 1
            raise ConnectionError("queue unreachable")
        self.alerts.extend(alerts)
        return set()

    def send_dead_letters(self, letters: Sequence[DeadLetter]) -> set[str]:
        self.dead_letters.extend(letters)
        return set()


@pytest.fixture
def store() -> MemoryAuditStore:
    return MemoryAuditStore()


@pytest.fixture
def queues() -> MemoryQueues:
    return MemoryQueues()


def processor(
    store: MemoryAuditStore, queues: MemoryQueues, *, allowed: frozenset[str] = frozenset()
) -> Processor:
    settings = ProcessorSettings(
        policy=IncidentPolicy(window=timedelta(minutes=60), update_interval=timedelta(minutes=5)),
        retention=timedelta(days=400),
        allowed_accounts=allowed,
    )
    return Processor(store, queues, queues, settings, clock=lambda: NOW)


def messages(*events: dict[str, Any]) -> list[InboundMessage]:
    return [
        InboundMessage(message_id=f"m{index}", body=json.dumps(event))
        for index, event in enumerate(events)
    ]


def test_a_planned_window_lowers_high_to_low_but_never_lowers_critical(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    account = "111122223333"
    store.accounts[account] = AccountContext(
        account=AccountInfo(account, name="Acme payer", partner="Acme"),
        windows=(
            PlannedWindow(
                window_id="w1",
                account_id=account,
                starts_at=datetime(2026, 11, 28, 14, 0, tzinfo=UTC),
                ends_at=datetime(2026, 11, 28, 16, 0, tzinfo=UTC),
                created_by="alice@example.com",
                reason="close the payer's old support case",
            ),
        ),
    )
    high = variant(
        sample_event("root-console-create-user"), account=account, source_ip="198.51.100.9"
    )
    high["detail"]["eventTime"] = "2026-11-28T14:30:00Z"
    critical = variant(sample_event("root-create-access-key-console"), source_ip="198.51.100.9")
    critical["detail"]["eventTime"] = "2026-11-28T14:31:00Z"

    processor(store, queues).process(messages(high))

    lowered = store.outcomes[high["detail"]["eventID"]]
    assert lowered.severity.label == "low"
    assert "planned" in lowered.rules
    assert (lowered.planned_by, lowered.account_name) == ("alice@example.com", "Acme payer")
    assert queues.alerts == []

    processor(store, queues).process(messages(critical))

    kept = store.outcomes[critical["detail"]["eventID"]]
    assert kept.severity.label == "critical"
    assert kept.incident_id == lowered.incident_id
    (alert,) = queues.alerts
    assert (alert.kind, alert.severity) == ("first", "critical")
    assert alert.event is not None
    assert alert.event.planned_by == "alice@example.com"
    assert alert.event.planned_reason == "close the payer's old support case"
    assert alert.account.partner == "Acme"
    assert alert.incident is not None
    assert alert.incident.event_count == 2


def test_an_assume_root_session_is_one_incident_of_its_caller_across_batches(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    call = sample_event("assume-root-call")
    session_read = sample_event("assumed-root-delete-bucket-policy")
    session_high = variant(
        sample_event("assumed-root-create-login-profile"),
        at=datetime(2026, 11, 25, 11, 24, tzinfo=UTC),
        userIdentity=session_read["detail"]["userIdentity"],
    )

    processor(store, queues).process(messages(call))
    processor(store, queues).process(messages(session_read, session_high))

    read_outcome = store.outcomes[session_read["detail"]["eventID"]]
    high_outcome = store.outcomes[session_high["detail"]["eventID"]]
    assert read_outcome.actor == high_outcome.actor == CALLER
    assert read_outcome.assumed_root_caller == CALLER
    assert read_outcome.incident_id == high_outcome.incident_id
    (alert,) = queues.alerts
    assert alert.kind == "first"
    assert alert.event is not None
    assert alert.event.assumed_root_caller == CALLER
    assert alert.event.event_name == "CreateLoginProfile"
    assert alert.incident is not None
    assert alert.incident.actor == CALLER
    assert alert.account.account_id == "444455556666"


def test_an_assume_root_call_attributes_its_session_in_the_same_batch(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    session = sample_event("assumed-root-delete-bucket-policy")

    processor(store, queues).process(messages(session, sample_event("assume-root-call")))

    assert store.outcomes[session["detail"]["eventID"]].actor == CALLER


def test_a_session_seen_before_its_assume_root_call_belongs_to_its_source_ip(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    session = sample_event("assumed-root-delete-bucket-policy")

    processor(store, queues).process(messages(session))

    outcome = store.outcomes[session["detail"]["eventID"]]
    assert (outcome.actor, outcome.assumed_root_caller) == ("assumed-root:192.0.2.15", None)


def test_one_account_read_serves_every_event_of_the_batch(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    base = sample_event("root-api-key-list-buckets")
    burst = [variant(base, event_id=f"burst-{n}") for n in range(10)]

    report = processor(store, queues).process(messages(*burst))

    assert store.account_reads == 1
    assert report.stored == 10
    assert report.incidents_opened == 1
    assert len(store.incidents) == 1


def test_a_step_that_lost_a_race_is_redone_on_the_fresh_pointer(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    store.conflicts_to_raise = 2

    report = processor(store, queues).process(messages(sample_event("console-login-no-mfa")))

    assert report.failures == {}
    assert [alert.kind for alert in queues.alerts] == ["first"]


def test_an_event_another_invocation_holds_is_retried_later_not_processed_twice(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    event = sample_event("console-login-no-mfa")
    event_id = event["detail"]["eventID"]
    store.events[event_id] = StoredEvent(
        event_id=event_id,
        state="claimed",
        lease_until=NOW + timedelta(seconds=20),
        claimed_by="another-invocation",
        alert=None,
        item={},
    )

    report = processor(store, queues).process(messages(event))

    assert report.failures == {"m0": "another invocation is processing this event"}
    assert queues.alerts == []


def test_an_event_whose_claimer_died_before_its_incident_step_is_processed(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    event = sample_event("console-login-no-mfa")
    event_id = event["detail"]["eventID"]
    store.events[event_id] = StoredEvent(
        event_id=event_id,
        state="claimed",
        lease_until=NOW - timedelta(seconds=1),
        claimed_by="a-dead-invocation",
        alert=None,
        item={},
    )

    report = processor(store, queues).process(messages(event))

    assert report.failures == {}
    assert [alert.kind for alert in queues.alerts] == ["first"]
    assert store.events[event_id].state == "done"


def test_untrusted_events_never_reach_the_store(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    forged = variant(sample_event("console-login-no-mfa"), event_id="forged", source="custom.app")
    stranger = variant(sample_event("console-login-no-mfa"), event_id="x", account="999999999999")
    not_root = sample_event("heartbeat-scheduled-event")

    report = processor(store, queues, allowed=frozenset({"111122223333"})).process(
        messages(forged, stranger, not_root)
    )

    assert report.rejected == 3
    assert report.failures == {}
    assert store.events == {}
    assert queues.dead_letters == []


def test_copies_of_an_event_in_the_batch_and_in_the_store_are_each_one_duplicate(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    event = sample_event("console-login-no-mfa")
    processor(store, queues).process(messages(event))

    report = processor(store, queues).process(messages(event, event, event))

    assert (report.received, report.duplicates, report.stored) == (3, 3, 0)
    assert len(queues.alerts) == 1


def test_a_large_batch_of_one_actor_is_written_in_steps_that_add_up_to_one_incident(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    base = sample_event("root-console-describe-instances")
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    burst = [variant(base, event_id=f"e{n:03}", at=start + timedelta(seconds=n)) for n in range(75)]
    burst[40] = variant(
        sample_event("root-console-create-user"), event_id="e040", at=start + timedelta(seconds=40)
    )

    report = processor(store, queues).process(messages(*burst))

    assert report.failures == {}
    ((incident, version),) = store.pointers.values()
    assert version == 4
    assert incident.event_count == 75
    assert [alert.kind for alert in queues.alerts] == ["first"]
    assert queues.alerts[0].event is not None
    assert queues.alerts[0].event.event_id == "e040"


def test_when_a_later_step_fails_the_written_steps_stand_and_their_alerts_go_out(
    store: MemoryAuditStore, queues: MemoryQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = sample_event("root-console-describe-instances")
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    burst = [variant(base, event_id=f"e{n:03}", at=start + timedelta(seconds=n)) for n in range(40)]
    burst[0] = variant(sample_event("console-login-with-mfa"), event_id="e000", at=start)
    real_apply = store.apply_step
    steps = 0

    def second_step_fails(step: IncidentStepWrite) -> dict[str, StoredEvent]:
        nonlocal steps
        steps += 1
        if steps == 2:
            raise ConnectionError("DynamoDB is unreachable")
        return real_apply(step)

    monkeypatch.setattr(store, "apply_step", second_step_fails)

    report = processor(store, queues).process(messages(*burst))

    assert sorted(report.failures) == [f"m{n}" for n in range(24, 40)]
    assert [alert.kind for alert in queues.alerts] == ["first"]
    assert store.events["e000"].state == "done"
    assert store.events["e035"].state == "claimed"
    assert store.events["e035"].lease_until == datetime.fromtimestamp(0, UTC)


def test_an_ip_new_to_the_account_is_first_seen_until_its_incident_ends(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    account = "111122223333"
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    login = variant(
        sample_event("console-login-with-mfa"),
        event_id="login",
        at=start,
        account=account,
        source_ip="203.0.113.7",
    )
    key = variant(
        sample_event("root-create-access-key-console"),
        event_id="key",
        at=start + timedelta(minutes=10),
        account=account,
        source_ip="203.0.113.7",
    )
    next_week = variant(login, event_id="login-next-week", at=start + timedelta(days=7))

    processor(store, queues).process(messages(login))
    processor(store, queues).process(messages(key))
    processor(store, queues).process(messages(next_week))

    first, escalation, later = queues.alerts
    assert (first.kind, escalation.kind, later.kind) == ("first", "escalation", "first")
    assert first.incident is not None and later.incident is not None
    assert first.incident.incident_id != later.incident.incident_id
    assert [alert.event.first_seen_ip for alert in queues.alerts if alert.event] == [
        True,
        True,
        False,
    ]
    assert store.source_ips[(account, "203.0.113.7")] == SourceIpSighting("203.0.113.7", start)


def test_an_ip_seen_in_an_assume_root_session_is_not_new_to_its_account(
    store: MemoryAuditStore, queues: MemoryQueues
) -> None:
    session = sample_event("assumed-root-delete-bucket-policy")
    session_ip = session["detail"]["sourceIPAddress"]
    later_login = variant(
        sample_event("console-login-no-mfa"),
        account="444455556666",
        source_ip=session_ip,
        at=datetime.fromisoformat(session["detail"]["eventTime"]) + timedelta(hours=3),
    )

    processor(store, queues).process(messages(session, later_login))

    (alert,) = queues.alerts
    assert alert.event is not None
    assert (alert.event.event_name, alert.event.first_seen_ip) == ("ConsoleLogin", False)


def test_each_step_records_the_source_ips_of_its_events(
    store: MemoryAuditStore, queues: MemoryQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = sample_event("root-console-describe-instances")
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    burst = [
        variant(base, event_id=f"e{n:02}", at=start + timedelta(seconds=n), source_ip="192.0.2.1")
        for n in range(30)
    ]
    written: list[IncidentStepWrite] = []
    real_apply = store.apply_step

    def recording(step: IncidentStepWrite) -> dict[str, StoredEvent]:
        written.append(step)
        return real_apply(step)

    monkeypatch.setattr(store, "apply_step", recording)

    processor(store, queues).process(messages(*burst))

    assert [step.source_ips for step in written] == [
        (SourceIpSighting("192.0.2.1", start),),
        (SourceIpSighting("192.0.2.1", start),),
    ]


def test_a_stored_events_repr_leaves_the_stored_item_out() -> None:
    stored = StoredEvent(
        event_id="e-1",
        state="done",
        lease_until=NOW,
        claimed_by=None,
        alert=None,
        item={"raw": '{"requestParameters": {"password": "hunter2"}}'},
    )
    assert "hunter2" not in repr(stored)
    assert repr(stored).startswith("StoredEvent(event_id='e-1', state='done', ")
