"""Heartbeats and the watchdog, written against small interfaces the adapters implement.

`HeartbeatRecorder` reads the heartbeat an event carries and makes it the spoke's last
(the store never moves it backwards). When the spoke owes a spoke-recovered message (this
heartbeat ended an alerted silence, or an earlier one did and its message was not queued),
it queues the message, enriched with the account's entry, and only then clears the debt:
a failure in between sends the same alert id again, which the delivery records absorb.
`Watchdog` finds the spokes whose silence has not been alerted yet (`rootwatch.spokes`),
queues one critical `silent-spoke` alert for each, enriched with the account's entry, and
then marks the silence as alerted. An alert is queued before its mark: a run that dies in
between sends the same alert id again, which the notifier's delivery records absorb,
whereas the other order could lose the alert.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from msgspec import Struct, field

from rootwatch.alerts import AccountInfo, Alert
from rootwatch.spokes import (
    DEFAULT_INTERVAL_MINUTES,
    DEFAULT_SILENT_AFTER_INTERVALS,
    Heartbeat,
    HeartbeatError,
    HeartbeatResult,
    SilencePolicy,
    SpokeState,
    parse_heartbeat,
    silences_to_report,
    silent_spoke_alert,
    spoke_recovered_alert,
)

DEFAULT_RETENTION_DAYS = 400


class HeartbeatStore(Protocol):
    def record(self, heartbeat: Heartbeat) -> HeartbeatResult: ...

    def account(self, account_id: str) -> AccountInfo: ...

    def clear_recovery(self, account_id: str, region: str, silence_alert_id: str) -> None: ...


class SpokeStore(Protocol):
    def stale(self, *, heard_before: datetime) -> Iterator[SpokeState]:
        """Expected spokes that never reported, and spokes last heard before a moment."""
        ...

    def account(self, account_id: str) -> AccountInfo: ...

    def mark_alerted(self, spoke: SpokeState, alert_id: str, *, at: datetime) -> bool: ...


class AlertQueue(Protocol):
    def send_alerts(self, alerts: Sequence[Alert]) -> set[str]:
        """Enqueue alerts; returns the ids of those not accepted."""
        ...


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    value = int(text)
    if value < 1:
        raise ValueError(f"{name} must be a positive whole number, not {text!r}")
    return value


class HeartbeatSettings(Struct, frozen=True):
    retention: timedelta

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> HeartbeatSettings:
        return cls(
            retention=timedelta(days=_positive(environ, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
        )


def silence_policy_from_environment(environ: Mapping[str, str]) -> SilencePolicy:
    """`HEARTBEAT_INTERVAL_MINUTES` and `SILENT_AFTER_INTERVALS`, as the template sets them."""
    return SilencePolicy(
        interval=timedelta(
            minutes=_positive(environ, "HEARTBEAT_INTERVAL_MINUTES", DEFAULT_INTERVAL_MINUTES)
        ),
        intervals_allowed=_positive(
            environ, "SILENT_AFTER_INTERVALS", DEFAULT_SILENT_AFTER_INTERVALS
        ),
    )


class HeartbeatOutcome(Struct, frozen=True):
    """A heartbeat and what recording it did, or why the event was not one."""

    heartbeat: Heartbeat | None = None
    result: HeartbeatResult | None = None
    rejected: str | None = None
    # The spoke-recovered messages queued, if any were owed.
    recovery_alert_ids: tuple[str, ...] = ()


class RecoveryNotQueued(Exception):
    """The spoke-recovered message was not queued; the spoke still owes it."""


class HeartbeatRecorder:
    def __init__(self, store: HeartbeatStore, alerts: AlertQueue) -> None:
        self._store = store
        self._alerts = alerts

    def handle(self, event: Mapping[str, Any], *, now: datetime) -> HeartbeatOutcome:
        """Record the heartbeat an event carries; an event that is not one is rejected
        (retrying it could not make it one). Raises `RecoveryNotQueued` when the message
        a recovery owes could not be queued, so that the heartbeat is delivered again."""
        try:
            heartbeat = parse_heartbeat(event, now=now)
        except HeartbeatError as error:
            return HeartbeatOutcome(rejected=str(error))
        result = self._store.record(heartbeat)
        if not result.recovery_pending:
            return HeartbeatOutcome(heartbeat=heartbeat, result=result)
        account = self._store.account(heartbeat.account_id)
        alerts = {
            silence: spoke_recovered_alert(
                account=account,
                region=heartbeat.region,
                silence_alert_id=silence,
                reported_at=result.last_heartbeat,
                now=now,
            )
            for silence in result.recovery_pending
        }
        refused = self._alerts.send_alerts(list(alerts.values()))
        for silence, alert in alerts.items():
            if alert.alert_id not in refused:
                self._store.clear_recovery(heartbeat.account_id, heartbeat.region, silence)
        if refused:
            raise RecoveryNotQueued(
                f"{len(refused)} spoke-recovered messages of "
                f"{heartbeat.account_id}/{heartbeat.region} were not queued"
            )
        return HeartbeatOutcome(
            heartbeat=heartbeat,
            result=result,
            recovery_alert_ids=tuple(alert.alert_id for alert in alerts.values()),
        )


class SilentSpoke(Struct, frozen=True):
    """A spoke the watchdog reported this run, and whether its silence is marked."""

    spoke: SpokeState
    alert_id: str
    marked: bool


class WatchdogReport(Struct):
    """One run: spokes read, overdue (alerted before or now), alerted, not queued."""

    stale: int = 0
    overdue: int = 0
    alerted: list[SilentSpoke] = field(default_factory=list)
    unsent: list[SpokeState] = field(default_factory=list)


class Watchdog:
    def __init__(self, spokes: SpokeStore, alerts: AlertQueue, policy: SilencePolicy) -> None:
        self._spokes = spokes
        self._alerts = alerts
        self._policy = policy

    @property
    def policy(self) -> SilencePolicy:
        return self._policy

    def run(self, now: datetime) -> WatchdogReport:
        policy = self._policy
        stale = list(self._spokes.stale(heard_before=policy.cutoff(now)))
        report = WatchdogReport(
            stale=len(stale), overdue=sum(1 for spoke in stale if policy.is_overdue(spoke, now))
        )
        due = silences_to_report(stale, now=now, policy=policy)
        if not due:
            return report
        accounts = {
            account_id: self._spokes.account(account_id)
            for account_id in sorted({spoke.account_id for spoke in due})
        }
        alerts = [
            silent_spoke_alert(spoke, accounts[spoke.account_id], now=now, policy=policy)
            for spoke in due
        ]
        refused = self._alerts.send_alerts(alerts)
        for spoke, alert in zip(due, alerts, strict=True):
            if alert.alert_id in refused:
                report.unsent.append(spoke)
                continue
            marked = self._spokes.mark_alerted(spoke, alert.alert_id, at=now)
            report.alerted.append(SilentSpoke(spoke=spoke, alert_id=alert.alert_id, marked=marked))
        return report
