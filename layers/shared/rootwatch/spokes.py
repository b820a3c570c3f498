"""Spokes and their heartbeats: what a heartbeat is, when a spoke is silent, what alerts.

A spoke is the spoke stack in one account and region. Its `rootwatch-heartbeat` rule sends
a scheduled event to the hub bus every interval; the hub keeps each spoke's last heartbeat
(`keys.spoke_key`). A spoke is registered as *expected* (`rootwatch spokes expect`) to be
watched before its first heartbeat; any spoke that has reported is watched from then on.

A watched spoke is *silent* when its last heartbeat is older than `SilencePolicy.silent_after`
(the heartbeat interval times the intervals allowed to be missed), and an expected spoke
that never reported is reported once it has been registered that long. Each silence alerts
once: its alert id names the last heartbeat it follows (`silence_alert_id`), the item keeps
the id of the silence it alerted, and a new heartbeat starts afresh. The heartbeat that
ends an alerted silence owes a `spoke-recovered` message (`spoke_recovered_alert`), sent to
where the silence went: the spoke item keeps the silence's id as `recovery_pending` until
the message is queued, so a hub that fails in between still sends it on the next heartbeat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from msgspec import Struct

from rootwatch.alerts import AccountInfo, Alert, SpokeFacts
from rootwatch.keys import iso
from rootwatch.naming import HEARTBEAT_DETAIL_TYPE, HEARTBEAT_RULE, HEARTBEAT_SOURCE

SpokeStatus = Literal["ok", "silent", "never"]
STATUSES: Final[tuple[SpokeStatus, ...]] = ("never", "silent", "ok")
SILENT_SPOKE_SEVERITY: Final = "critical"
# The hub template's defaults (HeartbeatIntervalMinutes, SilentAfterIntervals).
DEFAULT_INTERVAL_MINUTES: Final = 15
DEFAULT_SILENT_AFTER_INTERVALS: Final = 3
# EventBridge stamps scheduled events with its own clock; a heartbeat further ahead of ours
# than this is not believed, since recording it would hide the spoke's silence until then.
MAX_CLOCK_AHEAD: Final = timedelta(minutes=5)
_HEARTBEAT_RULE_ARN: Final = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):events:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2}):"
    r"(?P<account>\d{12}):rule/" + re.escape(HEARTBEAT_RULE)
)
_ISO_SECONDS: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]00:00)")
_QUOTED_LIMIT: Final = 80


class HeartbeatError(ValueError):
    """An event that is not a spoke's heartbeat; the message says why."""


class Heartbeat(Struct, frozen=True):
    """One spoke's scheduled heartbeat: which spoke, and when its rule fired."""

    account_id: str
    region: str
    at: datetime
    rule_arn: str


def parse_heartbeat(event: Mapping[str, Any], *, now: datetime) -> Heartbeat:
    """The heartbeat of a scheduled event of a spoke's heartbeat rule, as the hub rule
    delivers it; raises `HeartbeatError` for anything else.

    The spoke is read from the rule's ARN in `resources`: EventBridge writes it, and it
    names the rule's own account and region (the envelope's `account`, when present, must
    agree; moto leaves it out of what it delivers and stamps the hub bus's region).
    """
    if not isinstance(event, Mapping):
        raise HeartbeatError(f"expected an EventBridge event, got {type(event).__name__}")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source != HEARTBEAT_SOURCE or detail_type != HEARTBEAT_DETAIL_TYPE:
        raise HeartbeatError(
            f"not a scheduled event: source {_quoted(source)}, detail-type {_quoted(detail_type)}"
        )
    resources = event.get("resources")
    if not isinstance(resources, list) or len(resources) != 1:
        raise HeartbeatError("a heartbeat names exactly one rule in resources")
    rule_arn = resources[0]
    spoke = spoke_of_heartbeat_rule(rule_arn) if isinstance(rule_arn, str) else None
    if spoke is None:
        raise HeartbeatError(f"{_quoted(rule_arn)} is not the ARN of a {HEARTBEAT_RULE} rule")
    account_id, region = spoke
    envelope_account = event.get("account")
    if envelope_account not in (None, "", account_id):
        raise HeartbeatError(
            f"the event's account {_quoted(envelope_account)} is not the rule's ({account_id})"
        )
    at = _event_time(event.get("time"))
    if at > now + MAX_CLOCK_AHEAD:
        raise HeartbeatError(f"heartbeat time {iso(at)} is ahead of the hub's clock ({iso(now)})")
    return Heartbeat(account_id=account_id, region=region, at=at, rule_arn=rule_arn)


def spoke_of_heartbeat_rule(arn: str) -> tuple[str, str] | None:
    """(account, region) of a spoke's heartbeat rule, from its ARN; None for other ARNs."""
    match = _HEARTBEAT_RULE_ARN.fullmatch(arn)
    return (match.group("account"), match.group("region")) if match else None


def _event_time(value: Any) -> datetime:
    if not isinstance(value, str) or not _ISO_SECONDS.fullmatch(value):
        raise HeartbeatError(f"time {_quoted(value)} is not an ISO 8601 UTC time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise HeartbeatError(f"time {_quoted(value)} is not a date and time") from None
    # Keys hold whole seconds; a fraction would make equal heartbeats look different.
    return moment.replace(microsecond=0)


def _quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTED_LIMIT else text[: _QUOTED_LIMIT - 1] + "…"


class HeartbeatResult(Struct, frozen=True):
    """What recording a heartbeat did.

    `recorded` is False when the spoke already had this heartbeat or a later one (a retry,
    or a delivery out of order): the last heartbeat never moves backwards. `recovered_from`
    is the silence that had been alerted and that this heartbeat ends.
    """

    recorded: bool
    previous: datetime | None = None
    recovered_from: str | None = None
    # The silences whose spoke-recovered messages are still owed (the one this heartbeat
    # ended, or earlier ones whose messages were not queued), and the spoke's last
    # heartbeat as it now stands.
    recovery_pending: tuple[str, ...] = ()
    last_heartbeat: datetime | None = None


class SpokeState(Struct, frozen=True):
    """A spoke item as the hub keeps it."""

    account_id: str
    region: str
    last_heartbeat: datetime | None
    expected: bool = False
    registered_at: datetime | None = None
    registered_by: str | None = None
    # The silence the watchdog alerted (its alert id), until a heartbeat ends it.
    silent_alert_id: str | None = None
    silent_alerted_at: datetime | None = None


class SilencePolicy(Struct, frozen=True):
    """When a spoke counts as silent: more than `intervals_allowed` heartbeats missed."""

    interval: timedelta
    intervals_allowed: int

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0) or self.intervals_allowed < 1:
            raise ValueError("the heartbeat interval and the intervals allowed must be positive")

    @property
    def silent_after(self) -> timedelta:
        return self.interval * self.intervals_allowed

    @property
    def interval_minutes(self) -> int:
        return int(self.interval.total_seconds() // 60)

    @property
    def silent_after_minutes(self) -> int:
        return int(self.silent_after.total_seconds() // 60)

    def cutoff(self, now: datetime) -> datetime:
        """A spoke whose last heartbeat is older than this is silent."""
        return now - self.silent_after

    def status(self, spoke: SpokeState, now: datetime) -> SpokeStatus:
        if spoke.last_heartbeat is None:
            return "never"
        return "silent" if spoke.last_heartbeat < self.cutoff(now) else "ok"

    def is_overdue(self, spoke: SpokeState, now: datetime) -> bool:
        """Whether the spoke should be reported now: silent, or expected and never heard
        from although registered longer than a silence lasts."""
        if spoke.last_heartbeat is not None:
            return spoke.last_heartbeat < self.cutoff(now)
        if not spoke.expected:
            return False
        return spoke.registered_at is None or spoke.registered_at < self.cutoff(now)


def silence_alert_id(spoke: SpokeState) -> str:
    """The alert id of the spoke's current silence: the same for every run that sees it."""
    since = iso(spoke.last_heartbeat) if spoke.last_heartbeat else "never"
    return f"silent:{spoke.account_id}:{spoke.region}:{since}"


def silences_to_report(
    spokes: Iterable[SpokeState], *, now: datetime, policy: SilencePolicy
) -> list[SpokeState]:
    """The overdue spokes whose silence has not been alerted yet, in the order given."""
    return [
        spoke
        for spoke in spokes
        if policy.is_overdue(spoke, now) and spoke.silent_alert_id != silence_alert_id(spoke)
    ]


def silent_spoke_alert(
    spoke: SpokeState, account: AccountInfo, *, now: datetime, policy: SilencePolicy
) -> Alert:
    """The critical alert for a spoke's silence, enriched with its account's entry."""
    detail = None
    if spoke.last_heartbeat is None:
        registered = f"registered {iso(spoke.registered_at)}" if spoke.registered_at else "expected"
        by = f" by {spoke.registered_by}" if spoke.registered_by else ""
        detail = f"{registered}{by}; no heartbeat has ever arrived from this spoke"
    return Alert(
        alert_id=silence_alert_id(spoke),
        kind="silent-spoke",
        severity=SILENT_SPOKE_SEVERITY,
        account=account,
        spoke=SpokeFacts(
            region=spoke.region,
            last_heartbeat=iso(spoke.last_heartbeat) if spoke.last_heartbeat else None,
            interval_minutes=policy.interval_minutes,
        ),
        detail=detail,
        raised_at=iso(now),
    )


def recovery_alert_id(silence_alert_id: str) -> str:
    """The id of the message that the silence `silence_alert_id` has ended."""
    return f"recovered:{silence_alert_id}"


def heard_before_silence(silence_alert_id: str) -> datetime | None:
    """The last heartbeat a silence followed, from its alert id (None: never reported)."""
    parts = silence_alert_id.split(":", 3)  # silent:ACCOUNT:REGION:(stamp|never)
    try:
        return _event_time(parts[3]) if len(parts) == 4 else None
    except HeartbeatError:
        return None


def spoke_recovered_alert(
    *,
    account: AccountInfo,
    region: str,
    silence_alert_id: str,
    reported_at: datetime | None,
    now: datetime,
) -> Alert:
    """The message that a spoke whose silence was alerted reports again.

    It carries the silence's severity so that it reaches every destination the silence
    alert reached (an account's minimum severity lets both through or neither).
    """
    before = heard_before_silence(silence_alert_id)
    return Alert(
        alert_id=recovery_alert_id(silence_alert_id),
        kind="spoke-recovered",
        severity=SILENT_SPOKE_SEVERITY,
        account=account,
        spoke=SpokeFacts(
            region=region,
            last_heartbeat=iso(before) if before else None,
            reported_at=iso(reported_at) if reported_at else None,
        ),
        raised_at=iso(now),
    )
