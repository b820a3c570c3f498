"""The alert message the processor (and the watchdog) put on the notify queue.

It carries every fact a responder needs, already enriched, so the notifier only routes,
renders and delivers. `alert_id` is deterministic for a given incident step, so a message
retried by SQS, or enqueued again after a processor crash, maps to the same delivery records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, cast

import msgspec
from msgspec import Struct, field

AlertKind = Literal["first", "escalation", "update", "silent-spoke", "spoke-recovered", "test"]


class AccountInfo(Struct, frozen=True):
    account_id: str
    name: str | None = None
    partner: str | None = None
    slack_secrets: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    min_severity: str | None = None


class EventFacts(Struct, frozen=True):
    """The event that triggered the alert, as words and fields for the message."""

    event_id: str
    event_time: str
    region: str
    event_source: str
    event_name: str
    summary: str
    severity: str
    rules: tuple[str, ...]
    outcome: str
    mfa: bool | None
    source_ip: str | None
    user_agent: str | None
    assumed_root_caller: str | None = None
    invoked_by: str | None = None
    planned_by: str | None = None
    planned_reason: str | None = None
    first_seen_ip: bool | None = None
    error_code: str | None = None
    request_summary: str | None = None


class TimelineEntry(Struct, frozen=True):
    """One event of an incident, as a row of the email's timeline table."""

    event_time: str
    event_name: str
    severity: str
    region: str | None = None
    source_ip: str | None = None
    outcome: str | None = None
    event_id: str | None = None


class IncidentFacts(Struct, frozen=True):
    incident_id: str
    severity: str
    opened_at: str
    last_seen: str
    event_count: int
    event_names: dict[str, int] = field(default_factory=dict)
    regions: tuple[str, ...] = ()
    actor: str | None = None
    # The incident's events so far, oldest first (the producer caps how many it sends).
    timeline: tuple[TimelineEntry, ...] = ()


class UpdateFacts(Struct, frozen=True):
    """What changed since the previous message of the incident."""

    new_events: int
    event_names: dict[str, int] = field(default_factory=dict)


class SpokeFacts(Struct, frozen=True):
    """The spoke a silent-spoke or spoke-recovered alert is about.

    `last_heartbeat` is the last heartbeat before the silence (None: never reported);
    `reported_at`, for a recovery, the heartbeat that ended it.
    """

    region: str
    last_heartbeat: str | None = None
    interval_minutes: int | None = None
    reported_at: str | None = None


class Alert(Struct, frozen=True):
    alert_id: str
    kind: AlertKind
    severity: str
    account: AccountInfo
    incident: IncidentFacts | None = None
    event: EventFacts | None = None
    update: UpdateFacts | None = None
    previous_severity: str | None = None
    detail: str | None = None
    spoke: SpokeFacts | None = None
    raised_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return cast(dict[str, Any], msgspec.to_builtins(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        """The alert `data` describes; msgspec.ValidationError (a ValueError) says what is wrong."""
        return msgspec.convert(data, cls)

    def to_json(self) -> str:
        # ASCII with escapes: an attacker's lone surrogate or U+FFFF in a user agent must not
        # stop the alert (UTF-8 cannot carry the one, SQS refuses the other).
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Alert:
        """The alert in `text`; ValueError (msgspec.ValidationError for a field) says what is
        wrong."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ValueError(f"body is not JSON ({error})") from None
        if not isinstance(data, dict):
            raise ValueError("body is not a JSON object")
        return cls.from_dict(data)
