"""The alert message the processor (and the watchdog) put on the notify queue.

It carries every fact a responder needs, already enriched, so the notifier only routes,
renders and delivers. `alert_id` is deterministic for a given incident step, so a message
retried by SQS, or enqueued again after a processor crash, maps to the same delivery records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

AlertKind = Literal["first", "escalation", "update", "silent-spoke", "test"]


@dataclass(frozen=True, slots=True)
class AccountInfo:
    account_id: str
    name: str | None = None
    partner: str | None = None
    slack_secrets: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    min_severity: str | None = None


@dataclass(frozen=True, slots=True)
class EventFacts:
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


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of an incident, as a row of the email's timeline table."""

    event_time: str
    event_name: str
    severity: str
    region: str | None = None
    source_ip: str | None = None
    outcome: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentFacts:
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


@dataclass(frozen=True, slots=True)
class UpdateFacts:
    """What changed since the previous message of the incident."""

    new_events: int
    event_names: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpokeFacts:
    """The spoke a silent-spoke alert is about."""

    region: str
    last_heartbeat: str | None = None
    interval_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class Alert:
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
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        account = data["account"]
        incident = data.get("incident")
        event = data.get("event")
        update = data.get("update")
        spoke = data.get("spoke")
        return cls(
            alert_id=str(data["alert_id"]),
            kind=data["kind"],
            severity=str(data["severity"]),
            account=AccountInfo(
                **{
                    **account,
                    "slack_secrets": tuple(account.get("slack_secrets") or ()),
                    "emails": tuple(account.get("emails") or ()),
                }
            ),
            incident=(
                IncidentFacts(
                    **{
                        **incident,
                        "regions": tuple(incident.get("regions") or ()),
                        "timeline": tuple(
                            TimelineEntry(**entry) for entry in incident.get("timeline") or ()
                        ),
                    }
                )
                if incident
                else None
            ),
            event=(
                EventFacts(**{**event, "rules": tuple(event.get("rules") or ())}) if event else None
            ),
            update=UpdateFacts(**update) if update else None,
            previous_severity=data.get("previous_severity"),
            detail=data.get("detail"),
            spoke=SpokeFacts(**spoke) if spoke else None,
            raised_at=data.get("raised_at"),
        )
