"""What a message says, independent of the channel it goes to.

An alert becomes a `Message`: a headline, a context line, labelled facts, notes and links,
each a sequence of segments. A segment is either our own wording (`Words`), a value that
came from a CloudTrail record or an account entry (`Value`: attacker-controlled, so every
channel shows it verbatim but inert), or a `Link` whose URL we built and validated. Slack
and email render the same `Message`, so they carry the same facts, each escaped its way.
"""

from __future__ import annotations

from msgspec import Struct

from rootwatch.alerts import Alert, EventFacts, IncidentFacts, TimelineEntry
from rootwatch.model import Severity
from rootwatch.render.text import (
    TIMES,
    cloudtrail_event_url,
    describe_duration,
    describe_user_agent,
    format_clock,
    format_time,
    is_account_id,
    is_region,
    parse_time,
    plural,
)

# Bounds for attacker-controlled values, so no field can crowd out the others.
NAME_LIMIT = 120
SHORT_LIMIT = 64
ARN_LIMIT = 300
USER_AGENT_LIMIT = 300
REQUEST_LIMIT = 500
DETAIL_LIMIT = 500
# How many event names an update or incident line lists before "and N more".
LISTED_EVENT_NAMES = 5


class Words(Struct, frozen=True):
    text: str
    strong: bool = False


class Value(Struct, frozen=True):
    text: str
    limit: int = SHORT_LIMIT


class Link(Struct, frozen=True):
    url: str
    label: str


Segment = Words | Value | Link
Line = tuple[Segment, ...]


class Fact(Struct, frozen=True):
    label: str
    line: Line
    # Shown where there is room for the full picture (email), left out of Slack.
    detail_only: bool = False


class Message(Struct, frozen=True):
    icon: str
    headline: Line
    context: Line
    facts: tuple[Fact, ...]
    notes: tuple[Fact, ...]
    links: Line
    timeline: tuple[TimelineEntry, ...]
    # Events of the incident the timeline leaves out (the producer keeps its first and last).
    timeline_omitted: int
    is_test: bool
    # An update is one short line in Slack, not a full alert.
    compact: bool


_ICONS = {
    Severity.CRITICAL: "🚨",
    Severity.HIGH: "🟠",
    Severity.MEDIUM: "🟡",
    Severity.LOW: "🔵",
    Severity.INFO: "⚪",
}
UNRATED = "UNRATED"


def severity_word(text: str | None) -> str:
    try:
        return Severity.parse(text or "").label.upper()
    except ValueError:
        return UNRATED


def severity_icon(text: str | None) -> str:
    try:
        return _ICONS[Severity.parse(text or "")]
    except ValueError:
        return "❔"


def build_message(alert: Alert) -> Message:
    severity = severity_word(alert.severity)
    if alert.kind == "update":
        return _update_message(alert, severity)
    if alert.kind == "silent-spoke":
        return _silent_spoke_message(alert, severity)
    if alert.kind == "spoke-recovered":
        return _spoke_recovered_message(alert)
    event = alert.event
    if alert.kind == "test":
        summary = event.summary if event else "rootwatch test alert"
        icon = "🧪"
        headline: Line = (Words("TEST", strong=True), Words(f" · {summary} · no action needed"))
    else:
        summary = (event.summary if event else None) or alert.detail or "Root activity"
        icon = severity_icon(alert.severity)
        if alert.kind == "escalation":
            headline = (Words(f"ESCALATED to {severity} · {summary}", strong=True),)
            if alert.previous_severity:
                headline += (Words(f" (was {severity_word(alert.previous_severity)})"),)
        else:
            headline = (Words(f"{severity} · {summary}", strong=True),)

    facts = _event_facts(event) if event else ()
    notes: list[Fact] = []
    if alert.incident:
        notes.append(Fact("Incident", _incident_line(alert.incident, event)))
    if event:
        notes.append(Fact("Planned", _planned_line(event)))
    if alert.kind == "test":
        notes.append(
            Fact(
                "Test",
                (
                    Words(
                        "sent to prove that this destination receives rootwatch alerts; "
                        "nothing happened in the account"
                    ),
                ),
            )
        )
    if alert.detail and alert.detail != summary:
        notes.append(Fact("Note", (Value(alert.detail, DETAIL_LIMIT),)))
    return Message(
        icon=icon,
        headline=headline,
        context=_context_line(alert),
        facts=facts,
        notes=tuple(notes),
        links=_links(alert),
        timeline=alert.incident.timeline if alert.incident else (),
        timeline_omitted=_omitted(alert.incident),
        is_test=alert.kind == "test",
        compact=False,
    )


def _update_message(alert: Alert, severity: str) -> Message:
    incident = alert.incident
    if alert.update:
        new_events, names = alert.update.new_events, alert.update.event_names
    else:
        new_events, names = 0, {}
    headline: Line = (Words(f"+{plural(new_events, 'event')}", strong=True),)
    if names:
        headline += (Words(": "), *_event_name_counts(names))
    headline += (Words(f" · still {severity}"),)
    notes = (Fact("Incident", _incident_line(incident, alert.event)),) if incident else ()
    return Message(
        icon="↪️",
        headline=headline,
        context=_context_line(alert),
        facts=(),
        notes=notes,
        links=_links(alert),
        timeline=incident.timeline if incident else (),
        timeline_omitted=_omitted(incident),
        is_test=False,
        compact=True,
    )


def _silent_spoke_message(alert: Alert, severity: str) -> Message:
    spoke = alert.spoke
    region = spoke.region if spoke else None
    raised = parse_time(alert.raised_at)
    last = parse_time(spoke.last_heartbeat) if spoke else None
    headline: Line = (Words(f"{severity} · Spoke silent", strong=True),)
    if region:
        headline += (Words(" · no heartbeat from "), *_region(region))
        if last is None:
            headline += (Words(" ever (never reported)"),)
        elif raised is not None:
            headline += (Words(f" for {describe_duration((raised - last).total_seconds())}"),)
    facts: list[Fact] = []
    if spoke:
        facts.append(Fact("Region", _region(spoke.region)))
        facts.append(
            Fact(
                "Last heartbeat",
                (Words(format_time(last) if last else "never reported"),),
            )
        )
        if spoke.interval_minutes:
            facts.append(Fact("Expected", (Words(f"every {spoke.interval_minutes} min"),)))
    notes = [
        Fact(
            "What to check",
            (
                Words(
                    "the spoke stack, its rules and delivery role in this account and region; "
                    "a stopped spoke hides root activity"
                ),
            ),
        )
    ]
    if alert.detail:
        notes.append(Fact("Note", (Value(alert.detail, DETAIL_LIMIT),)))
    return Message(
        icon="🔕",
        headline=headline,
        context=_context_line(alert),
        facts=tuple(facts),
        notes=tuple(notes),
        links=(Value(f"rootwatch spokes --account {alert.account.account_id}", NAME_LIMIT),),
        timeline=(),
        timeline_omitted=0,
        is_test=False,
        compact=False,
    )


def _spoke_recovered_message(alert: Alert) -> Message:
    spoke = alert.spoke
    before = parse_time(spoke.last_heartbeat) if spoke else None
    reported = parse_time(spoke.reported_at) if spoke else None
    headline: Line = (Words("RESOLVED · Spoke reports again", strong=True),)
    if spoke:
        headline += (Words(" · "), *_region(spoke.region))
        if before is not None and reported is not None:
            silent_for = describe_duration((reported - before).total_seconds())
            headline += (Words(f" after {silent_for} without a heartbeat"),)
    facts: list[Fact] = []
    if spoke:
        facts.append(Fact("Region", _region(spoke.region)))
        facts.append(
            Fact(
                "Silent since",
                (Words(format_time(before) if before else "never reported before"),),
            )
        )
        if reported is not None:
            facts.append(Fact("Reported again", (Words(format_time(reported)),)))
    window = (
        f"from {format_time(before)} to {format_time(reported)}"
        if before is not None and reported is not None
        else "while it was silent"
    )
    notes = (
        Fact(
            "What to check",
            (
                Words(
                    "root activity in this account and region may not have reached the hub "
                    f"{window}: run rootwatch scan on its CloudTrail log files of that time"
                ),
            ),
        ),
    )
    return Message(
        icon="✅",
        headline=headline,
        context=_context_line(alert),
        facts=tuple(facts),
        notes=notes,
        links=(Value(f"rootwatch spokes --account {alert.account.account_id}", NAME_LIMIT),),
        timeline=(),
        timeline_omitted=0,
        is_test=False,
        compact=False,
    )


def _omitted(incident: IncidentFacts | None) -> int:
    if incident is None or not incident.timeline:
        return 0
    return max(incident.event_count - len(incident.timeline), 0)


def _context_line(alert: Alert) -> Line:
    account = alert.account
    line: list[Segment] = []
    if account.name:
        line += [Value(account.name, NAME_LIMIT), Words(" (")]
    line += _account_id(account.account_id)
    if account.name:
        line.append(Words(")"))
    if account.partner:
        line += [Words(" · partner "), Value(account.partner, NAME_LIMIT)]
    region = alert.event.region if alert.event else alert.spoke.region if alert.spoke else None
    if region:
        line += [Words(" · "), *_region(region)]
    moment = parse_time(alert.event.event_time if alert.event else alert.raised_at)
    if moment is not None:
        line.append(Words(f" · {format_time(moment)}"))
    return tuple(line)


def _event_facts(event: EventFacts) -> tuple[Fact, ...]:
    facts: list[Fact] = []
    if event.source_ip:
        ip_line: Line = (Value(event.source_ip),)
        if event.first_seen_ip is True:
            ip_line += (Words(" — first time seen for this account"),)
        elif event.first_seen_ip is False:
            ip_line += (Words(" — seen before for this account"),)
        facts.append(Fact("Source IP", ip_line))
    if event.user_agent:
        described = describe_user_agent(event.user_agent)
        if described:
            facts.append(Fact("User agent", (Words(described),)))
            facts.append(
                Fact("Full user agent", (Value(event.user_agent, 1000),), detail_only=True)
            )
        else:
            facts.append(Fact("User agent", (Value(event.user_agent, USER_AGENT_LIMIT),)))
    mfa = {True: "used", False: "not used", None: "not reported"}[event.mfa]
    facts.append(Fact("MFA", (Words(mfa),)))
    result: Line = (Words(event.outcome),)
    if event.error_code:
        result += (Words(" · "), Value(event.error_code))
    facts.append(Fact("Result", result))
    facts.append(Fact("Event", (Value(event.event_name), Words(" · "), Value(event.event_source))))
    if event.assumed_root_caller:
        facts.append(Fact("AssumeRoot caller", (Value(event.assumed_root_caller, ARN_LIMIT),)))
    if event.invoked_by:
        facts.append(Fact("Invoked by", (Value(event.invoked_by, NAME_LIMIT),)))
    if event.request_summary:
        facts.append(Fact("Request", (Value(event.request_summary, REQUEST_LIMIT),)))
    if event.rules:
        rules: list[Segment] = []
        for rule in event.rules:
            rules += [Words(", ")] if rules else []
            rules.append(Value(rule))
        facts.append(Fact("Rules", tuple(rules)))
    facts.append(Fact("Event ID", (Value(event.event_id),), detail_only=True))
    return tuple(facts)


def _incident_line(incident: IncidentFacts, event: EventFacts | None) -> Line:
    line: list[Segment] = [
        Value(incident.incident_id),
        Words(f" · {plural(incident.event_count, 'event')} so far"),
    ]
    opened = parse_time(incident.opened_at)
    if opened is not None:
        reference = parse_time(event.event_time) if event else parse_time(incident.last_seen)
        line.append(Words(f" · opened {format_clock(opened, reference)}"))
    if len(incident.event_names) > 1:
        line += [Words(" · "), *_event_name_counts(incident.event_names)]
    if len(incident.regions) > 1:
        line.append(Words(" · regions "))
        for index, region in enumerate(incident.regions[:LISTED_EVENT_NAMES]):
            line += [Words(", ")] if index else []
            line += _region(region)
    if incident.actor:
        line += [Words(" · actor "), Value(incident.actor, ARN_LIMIT)]
    return tuple(line)


def _planned_line(event: EventFacts) -> Line:
    if not event.planned_by:
        return (Words("no planned root use for this account"),)
    line: Line = (Words("inside root use planned by "), Value(event.planned_by, NAME_LIMIT))
    if event.planned_reason:
        line += (Words(": "), Value(event.planned_reason, DETAIL_LIMIT))
    return line


def _event_name_counts(names: dict[str, int]) -> list[Segment]:
    ordered = sorted(names.items(), key=lambda item: (-item[1], item[0]))
    segments: list[Segment] = []
    for name, count in ordered[:LISTED_EVENT_NAMES]:
        segments += [Words(", ")] if segments else []
        segments += [Value(name), Words(f" {TIMES}{count}")]
    hidden = len(ordered) - LISTED_EVENT_NAMES
    if hidden > 0:
        segments.append(Words(f" and {hidden} more"))
    return segments


def _links(alert: Alert) -> Line:
    line: list[Segment] = []
    if alert.event:
        url = cloudtrail_event_url(alert.event.region, alert.event.event_id)
        if url:
            line.append(Link(url, "Open in CloudTrail"))
        else:
            line += [Words("event "), Value(alert.event.event_id)]
    if alert.incident:
        line += [Words("   ")] if line else []
        line.append(Value(f"rootwatch show {alert.incident.incident_id}", NAME_LIMIT))
    return tuple(line)


def _region(region: str) -> Line:
    return (Words(region),) if is_region(region) else (Value(region),)


def _account_id(account_id: str) -> Line:
    return (Words(account_id),) if is_account_id(account_id) else (Value(account_id),)
