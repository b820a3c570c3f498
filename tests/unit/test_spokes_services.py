"""The heartbeat recorder and the watchdog (rootwatch.services.heartbeats) with small fakes
of their stores and of the alert queue."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace
from rootwatch.alerts import AccountInfo, Alert
from rootwatch.services.heartbeats import (
    HeartbeatRecorder,
    HeartbeatSettings,
    RecoveryNotQueued,
    Watchdog,
    silence_policy_from_environment,
)
from rootwatch.spokes import Heartbeat, HeartbeatResult, SilencePolicy, SpokeState

ACME = "111122223333"
GLOBEX = "444455556666"
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
POLICY = SilencePolicy(interval=timedelta(minutes=15), intervals_allowed=3)


@dataclass
class FakeSpokes:
    """Spoke items by (account, region), with the watchdog's marks applied."""

    spokes: dict[tuple[str, str], SpokeState] = field(default_factory=dict)
    accounts: dict[str, AccountInfo] = field(default_factory=dict)
    account_reads: list[str] = field(default_factory=list)
    # A heartbeat that lands between the watchdog's read and its mark.
    heartbeat_during_run: tuple[str, str] | None = None

    def add(self, spoke: SpokeState) -> None:
        self.spokes[(spoke.account_id, spoke.region)] = spoke

    def stale(self, *, heard_before: datetime) -> Iterator[SpokeState]:
        listed = sorted(
            self.spokes.values(),
            key=lambda spoke: (spoke.last_heartbeat is not None, spoke.last_heartbeat or NOW),
        )
        for spoke in listed:
            if spoke.last_heartbeat is None or spoke.last_heartbeat < heard_before:
                yield spoke
        if self.heartbeat_during_run:
            current = self.spokes[self.heartbeat_during_run]
            self.spokes[self.heartbeat_during_run] = replace(current, last_heartbeat=NOW)

    def account(self, account_id: str) -> AccountInfo:
        self.account_reads.append(account_id)
        return self.accounts.get(account_id, AccountInfo(account_id=account_id))

    def mark_alerted(self, spoke: SpokeState, alert_id: str, *, at: datetime) -> bool:
        current = self.spokes.get((spoke.account_id, spoke.region))
        if current is None or current.last_heartbeat != spoke.last_heartbeat:
            return False
        self.spokes[(spoke.account_id, spoke.region)] = replace(
            current, silent_alert_id=alert_id, silent_alerted_at=at
        )
        return True


@dataclass
class FakeQueue:
    sent: list[Alert] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    def send_alerts(self, alerts: Sequence[Alert]) -> set[str]:
        refused = {alert.alert_id for alert in alerts if alert.alert_id in self.refuse}
        self.sent.extend(alert for alert in alerts if alert.alert_id not in refused)
        return refused


@pytest.fixture
def spokes() -> FakeSpokes:
    fake = FakeSpokes()
    fake.accounts[ACME] = AccountInfo(account_id=ACME, name="Acme payer", partner="Acme")
    fake.add(SpokeState(ACME, "us-east-1", NOW - timedelta(minutes=5)))
    fake.add(SpokeState(ACME, "eu-west-1", NOW - timedelta(hours=2)))
    fake.add(SpokeState(GLOBEX, "us-east-1", None, expected=True, registered_at=NOW))
    fake.add(
        SpokeState(
            GLOBEX, "ap-southeast-2", None, expected=True, registered_at=NOW - timedelta(days=2)
        )
    )
    return fake


def test_each_overdue_spoke_alerts_once_with_its_account_entry(spokes: FakeSpokes) -> None:
    queue = FakeQueue()
    watchdog = Watchdog(spokes, queue, POLICY)
    report = watchdog.run(NOW)
    assert [alert.alert_id for alert in queue.sent] == [
        f"silent:{GLOBEX}:ap-southeast-2:never",
        f"silent:{ACME}:eu-west-1:{(NOW - timedelta(hours=2)):%Y-%m-%dT%H:%M:%SZ}",
    ]
    assert {alert.kind for alert in queue.sent} == {"silent-spoke"}
    assert queue.sent[1].account.name == "Acme payer"
    assert (report.stale, report.overdue, len(report.alerted)) == (3, 2, 2)
    assert all(silent.marked for silent in report.alerted)
    assert sorted(spokes.account_reads) == [ACME, GLOBEX]

    # The next runs find the same silences already alerted.
    again = watchdog.run(NOW + timedelta(minutes=15))
    assert len(queue.sent) == 2
    assert (again.overdue, again.alerted) == (2, [])


def test_a_spoke_that_reports_again_and_stops_again_alerts_again(spokes: FakeSpokes) -> None:
    queue = FakeQueue()
    watchdog = Watchdog(spokes, queue, POLICY)
    watchdog.run(NOW)
    # It reports again (a heartbeat ends the silence and clears the mark), then stops.
    spokes.add(SpokeState(ACME, "eu-west-1", NOW + timedelta(minutes=10)))
    assert watchdog.run(NOW + timedelta(minutes=20)).alerted == []
    later = watchdog.run(NOW + timedelta(hours=1))
    # By then the other two spokes are overdue as well, for the first time.
    assert {(silent.spoke.account_id, silent.spoke.region) for silent in later.alerted} == {
        (ACME, "eu-west-1"),
        (ACME, "us-east-1"),
        (GLOBEX, "us-east-1"),
    }
    assert len(queue.sent) == 5
    assert len({alert.alert_id for alert in queue.sent}) == 5


def test_nothing_overdue_reads_no_account_and_sends_nothing() -> None:
    spokes = FakeSpokes()
    spokes.add(SpokeState(ACME, "us-east-1", NOW - timedelta(minutes=44)))
    queue = FakeQueue()
    report = Watchdog(spokes, queue, POLICY).run(NOW)
    assert (report.stale, report.overdue, report.alerted, queue.sent) == (0, 0, [], [])
    assert spokes.account_reads == []


def test_an_alert_the_queue_refused_is_not_marked_and_is_sent_next_run(
    spokes: FakeSpokes,
) -> None:
    refused = f"silent:{GLOBEX}:ap-southeast-2:never"
    queue = FakeQueue(refuse={refused})
    watchdog = Watchdog(spokes, queue, POLICY)
    report = watchdog.run(NOW)
    assert [(spoke.account_id, spoke.region) for spoke in report.unsent] == [
        (GLOBEX, "ap-southeast-2")
    ]
    assert spokes.spokes[(GLOBEX, "ap-southeast-2")].silent_alert_id is None
    queue.refuse.clear()
    retried = watchdog.run(NOW + timedelta(minutes=1))
    assert [silent.alert_id for silent in retried.alerted] == [refused]


def test_a_heartbeat_during_the_run_leaves_the_silence_unmarked(spokes: FakeSpokes) -> None:
    spokes.heartbeat_during_run = (ACME, "eu-west-1")
    report = Watchdog(spokes, FakeQueue(), POLICY).run(NOW)
    marks = {silent.spoke.region: silent.marked for silent in report.alerted}
    assert marks == {"ap-southeast-2": True, "eu-west-1": False}


class FakeHeartbeats:
    """Spoke items as the DynamoDB store keeps them: the last heartbeat never moves back, a
    heartbeat ends the alerted silence and keeps its id as owed until it is cleared."""

    def __init__(self) -> None:
        self.recorded: list[Heartbeat] = []
        self.last: dict[tuple[str, str], datetime] = {}
        self.silences: dict[tuple[str, str], str] = {}
        self.owed: dict[tuple[str, str], set[str]] = {}
        self.accounts = {ACME: AccountInfo(account_id=ACME, name="Acme payer")}

    def record(self, heartbeat: Heartbeat) -> HeartbeatResult:
        spoke = (heartbeat.account_id, heartbeat.region)
        last = self.last.get(spoke)
        if last is not None and last >= heartbeat.at:
            return HeartbeatResult(
                recorded=False, recovery_pending=self._owed(spoke), last_heartbeat=last
            )
        self.recorded.append(heartbeat)
        self.last[spoke] = heartbeat.at
        silence = self.silences.pop(spoke, None)
        if silence is not None:
            self.owed.setdefault(spoke, set()).add(silence)
        return HeartbeatResult(
            recorded=True,
            previous=last,
            recovered_from=silence,
            recovery_pending=self._owed(spoke),
            last_heartbeat=heartbeat.at,
        )

    def _owed(self, spoke: tuple[str, str]) -> tuple[str, ...]:
        return tuple(sorted(self.owed.get(spoke, ())))

    def account(self, account_id: str) -> AccountInfo:
        return self.accounts.get(account_id, AccountInfo(account_id=account_id))

    def clear_recovery(self, account_id: str, region: str, silence_alert_id: str) -> None:
        owed = self.owed.get((account_id, region), set())
        owed.discard(silence_alert_id)
        if not owed:
            self.owed.pop((account_id, region), None)


def heartbeat_event(at: str, region: str = "eu-west-1") -> dict[str, object]:
    return {
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "time": at,
        "resources": [f"arn:aws:events:{region}:{ACME}:rule/rootwatch-heartbeat"],
        "detail": {},
    }


def test_the_recorder_records_heartbeats_and_rejects_other_events() -> None:
    store, queue = FakeHeartbeats(), FakeQueue()
    recorder = HeartbeatRecorder(store, queue)
    event = heartbeat_event("2026-11-28T14:45:00Z")
    outcome = recorder.handle(event, now=NOW)
    assert outcome.rejected is None
    assert outcome.result is not None and outcome.result.recorded
    assert outcome.recovery_alert_ids == ()
    assert [(h.account_id, h.region) for h in store.recorded] == [(ACME, "eu-west-1")]
    rejected = recorder.handle({**event, "source": "aws.s3"}, now=NOW)
    assert rejected.heartbeat is None and rejected.result is None
    assert rejected.rejected is not None and "not a scheduled event" in rejected.rejected
    assert len(store.recorded) == 1
    assert queue.sent == []


SILENCE = f"silent:{ACME}:eu-west-1:2026-11-28T12:00:00Z"


def test_the_heartbeat_that_ends_an_alerted_silence_sends_one_recovery() -> None:
    store, queue = FakeHeartbeats(), FakeQueue()
    store.last[(ACME, "eu-west-1")] = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    store.silences[(ACME, "eu-west-1")] = SILENCE
    recorder = HeartbeatRecorder(store, queue)

    outcome = recorder.handle(heartbeat_event("2026-11-28T14:45:00Z"), now=NOW)
    (alert,) = queue.sent
    assert outcome.recovery_alert_ids == (alert.alert_id,)
    assert alert.alert_id == f"recovered:{SILENCE}"
    assert (alert.kind, alert.severity) == ("spoke-recovered", "critical")
    assert alert.account.name == "Acme payer"
    assert alert.spoke is not None
    assert (alert.spoke.region, alert.spoke.last_heartbeat, alert.spoke.reported_at) == (
        "eu-west-1",
        "2026-11-28T12:00:00Z",
        "2026-11-28T14:45:00Z",
    )
    assert store.owed == {}

    # The next heartbeats owe nothing.
    recorder.handle(heartbeat_event("2026-11-28T15:00:00Z"), now=NOW)
    assert len(queue.sent) == 1


def test_a_recovery_not_queued_is_sent_when_the_heartbeat_comes_again() -> None:
    store, queue = FakeHeartbeats(), FakeQueue(refuse={f"recovered:{SILENCE}"})
    store.silences[(ACME, "eu-west-1")] = SILENCE
    recorder = HeartbeatRecorder(store, queue)
    event = heartbeat_event("2026-11-28T14:45:00Z")

    with pytest.raises(RecoveryNotQueued):
        recorder.handle(event, now=NOW)
    assert queue.sent == [] and store.owed == {(ACME, "eu-west-1"): {SILENCE}}

    # Lambda delivers the same heartbeat again: recorded already, but the message is owed.
    queue.refuse.clear()
    again = recorder.handle(event, now=NOW)
    assert again.result is not None and not again.result.recorded
    assert again.recovery_alert_ids == (f"recovered:{SILENCE}",)
    assert [alert.alert_id for alert in queue.sent] == [f"recovered:{SILENCE}"]
    assert queue.sent[0].spoke is not None
    assert queue.sent[0].spoke.reported_at == "2026-11-28T14:45:00Z"
    assert store.owed == {}


def test_every_silence_still_owed_is_answered_and_only_the_queued_ones_cleared() -> None:
    earlier = f"silent:{ACME}:eu-west-1:2026-11-27T08:00:00Z"
    store = FakeHeartbeats()
    store.owed[(ACME, "eu-west-1")] = {earlier}
    store.silences[(ACME, "eu-west-1")] = SILENCE
    queue = FakeQueue(refuse={f"recovered:{earlier}"})
    recorder = HeartbeatRecorder(store, queue)

    with pytest.raises(RecoveryNotQueued, match="1 spoke-recovered messages"):
        recorder.handle(heartbeat_event("2026-11-28T14:45:00Z"), now=NOW)
    assert [alert.alert_id for alert in queue.sent] == [f"recovered:{SILENCE}"]
    assert store.owed == {(ACME, "eu-west-1"): {earlier}}


def test_settings_come_from_the_template_environment() -> None:
    policy = silence_policy_from_environment(
        {"HEARTBEAT_INTERVAL_MINUTES": "5", "SILENT_AFTER_INTERVALS": "4"}
    )
    assert policy.silent_after == timedelta(minutes=20)
    assert silence_policy_from_environment({}).silent_after == timedelta(minutes=45)
    assert HeartbeatSettings.from_environment({"RETENTION_DAYS": "30"}).retention == timedelta(
        days=30
    )
    with pytest.raises(ValueError, match="SILENT_AFTER_INTERVALS"):
        silence_policy_from_environment({"SILENT_AFTER_INTERVALS": "0"})
