"""Incidents and alert decisions (design §4), on plain inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rootwatch.incidents import (
    Actor,
    Incident,
    IncidentEvent,
    IncidentPolicy,
    IncidentStep,
    actor_of,
    advance,
    find_grant,
    flush_pending,
    grant_from,
    is_first_sighting,
    new_incident_id,
    sightings_of,
)
from rootwatch.model import Severity
from rootwatch.reader import parse_event

from tests.support.events import sample_event, variant

ACCOUNT = "111122223333"
ACTOR = Actor(key="203.0.113.7")
POLICY = IncidentPolicy(window=timedelta(minutes=60), update_interval=timedelta(minutes=5))
T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def event(
    event_id: str,
    minutes: float,
    severity: Severity = Severity.LOW,
    name: str = "ListBuckets",
    region: str = "us-east-1",
) -> IncidentEvent:
    return IncidentEvent(
        event_id=event_id,
        event_time=T0 + timedelta(minutes=minutes),
        event_name=name,
        region=region,
        severity=severity,
        source_ip=ACTOR.key,
        outcome="success",
    )


def step(
    current: Incident | None, events: list[IncidentEvent], *, now_minutes: float
) -> IncidentStep:
    return advance(
        current,
        events,
        account_id=ACCOUNT,
        actor=ACTOR,
        now=T0 + timedelta(minutes=now_minutes),
        policy=POLICY,
    )


def test_a_medium_or_higher_first_event_alerts_at_once() -> None:
    result = step(None, [event("e1", 0, Severity.MEDIUM, "ConsoleLogin")], now_minutes=0)

    (decision,) = result.decisions
    incident_id = new_incident_id(ACCOUNT, ACTOR.key, "e1")
    assert decision.kind == "first"
    assert decision.alert_id == f"{incident_id}:first:1"
    assert decision.trigger_event_id == "e1"
    assert result.opened == (incident_id,)
    assert result.current.incident_id == incident_id
    assert result.current.severity is Severity.MEDIUM
    assert result.current.alerted_severity is Severity.MEDIUM
    assert result.incident_of == {"e1": incident_id}


def test_low_events_wait_until_something_medium_or_higher_joins() -> None:
    quiet = step(None, [event("e1", 0), event("e2", 1)], now_minutes=1)
    assert quiet.decisions == ()
    assert quiet.current.alerted_severity is None
    assert quiet.current.pending_events == 2

    loud = step(
        quiet.current,
        [event("e3", 2), event("e4", 3, Severity.CRITICAL, "CreateAccessKey")],
        now_minutes=3,
    )

    (decision,) = loud.decisions
    assert decision.kind == "first"
    assert decision.trigger_event_id == "e4"
    assert decision.incident.event_count == 4
    assert decision.incident.event_names == {"ListBuckets": 3, "CreateAccessKey": 1}
    assert decision.incident.severity is Severity.CRITICAL
    assert loud.opened == ()
    assert loud.current.pending_events == 0


def test_one_step_opening_with_medium_and_critical_sends_one_first_alert_at_critical() -> None:
    result = step(
        None,
        [event("e1", 0, Severity.MEDIUM, "ConsoleLogin"), event("e2", 1, Severity.CRITICAL)],
        now_minutes=1,
    )

    (decision,) = result.decisions
    assert (decision.kind, decision.trigger_event_id) == ("first", "e2")
    assert decision.incident.severity is Severity.CRITICAL


def test_a_rise_in_severity_escalates_at_once_and_names_the_event_that_raised_it() -> None:
    first = step(None, [event("e1", 0, Severity.HIGH, "ConsoleLogin")], now_minutes=0)

    raised = step(
        first.current,
        [event("e2", 1), event("e3", 1.5, Severity.CRITICAL, "DeactivateMFADevice")],
        now_minutes=1.5,
    )

    (decision,) = raised.decisions
    assert decision.kind == "escalation"
    assert decision.alert_id.endswith(":escalation:2")
    assert decision.trigger_event_id == "e3"
    assert decision.previous_severity is Severity.HIGH
    assert decision.new_events == 2
    assert decision.new_event_names == {"ListBuckets": 1, "DeactivateMFADevice": 1}
    assert raised.current.alerted_severity is Severity.CRITICAL


def test_an_equal_severity_does_not_escalate() -> None:
    first = step(None, [event("e1", 0, Severity.HIGH)], now_minutes=0)

    again = step(first.current, [event("e2", 1, Severity.HIGH)], now_minutes=1)

    assert again.decisions == ()
    assert again.current.pending_events == 1


def test_updates_go_out_at_most_every_interval_with_what_happened_since() -> None:
    first = step(None, [event("e1", 0, Severity.CRITICAL, "ConsoleLogin")], now_minutes=0)
    early = step(first.current, [event("e2", 1), event("e3", 2)], now_minutes=2)
    assert early.decisions == ()
    assert early.current.pending_events == 2
    assert early.current.pending_since == T0 + timedelta(minutes=2)

    just_before = step(early.current, [event("e4", 4, name="DescribeInstances")], now_minutes=4.99)
    assert just_before.decisions == ()

    due = step(just_before.current, [event("e5", 5)], now_minutes=5)

    (update,) = due.decisions
    assert update.kind == "update"
    assert update.alert_id.endswith(":update:2")
    assert update.trigger_event_id == "e5"
    assert update.new_events == 4
    assert update.new_event_names == {"ListBuckets": 3, "DescribeInstances": 1}
    assert due.current.pending_events == 0
    assert due.current.pending_since is None
    assert due.current.last_message_at == T0 + timedelta(minutes=5)

    later = step(due.current, [event("e6", 6)], now_minutes=6)
    assert later.decisions == ()


def test_an_event_exactly_one_window_after_the_last_joins_and_a_second_later_opens_another() -> (
    None
):
    first = step(None, [event("e1", 0, Severity.HIGH)], now_minutes=0)

    joined = step(first.current, [event("e2", 60)], now_minutes=60)
    assert joined.current.incident_id == first.current.incident_id
    assert joined.opened == ()

    gap = timedelta(minutes=60, seconds=1)
    late = IncidentEvent(
        "e3", joined.current.last_seen + gap, "ConsoleLogin", "us-east-1", Severity.HIGH
    )
    reopened = step(joined.current, [late], now_minutes=121)

    new_id = new_incident_id(ACCOUNT, ACTOR.key, "e3")
    assert reopened.opened == (new_id,)
    assert reopened.current.incident_id == new_id
    assert reopened.current.event_count == 1
    (decision,) = reopened.decisions
    assert decision.kind == "first"
    assert decision.incident.incident_id == new_id


def test_an_event_far_older_than_the_open_incident_gets_its_own_incident() -> None:
    first = step(None, [event("e1", 600, Severity.HIGH)], now_minutes=600)

    stale = step(first.current, [event("e0", 0, Severity.MEDIUM)], now_minutes=601)

    assert stale.current.incident_id == first.current.incident_id
    assert stale.current.event_count == 1
    (detached,) = stale.changed
    assert detached.incident_id == new_incident_id(ACCOUNT, ACTOR.key, "e0")
    assert [d.kind for d in stale.decisions] == ["first"]


def test_a_step_replayed_from_the_same_state_decides_the_same_alert_ids() -> None:
    first = step(None, [event("e1", 0, Severity.HIGH)], now_minutes=0)
    events = [event("e2", 10), event("e3", 11, Severity.CRITICAL)]

    once = step(first.current, events, now_minutes=11)
    twice = step(first.current, list(reversed(events)), now_minutes=11)

    assert [d.alert_id for d in once.decisions] == [d.alert_id for d in twice.decisions]
    assert once.current == twice.current


def test_the_timeline_keeps_how_the_incident_started_and_its_latest_events() -> None:
    result = step(None, [event(f"e{n:03}", n * 0.1) for n in range(100)], now_minutes=10)

    timeline = result.current.timeline
    ids = [entry.event_id for entry in timeline]
    assert len(timeline) == 25
    assert ids[:10] == [f"e{n:03}" for n in range(10)]
    assert ids[10:] == [f"e{n:03}" for n in range(85, 100)]
    assert result.current.event_count == 100


def test_regions_and_counts_accumulate_across_steps() -> None:
    first = step(None, [event("e1", 0, Severity.HIGH, region="us-east-1")], now_minutes=0)
    second = step(first.current, [event("e2", 1, region="eu-west-1")], now_minutes=1)

    assert second.current.regions == ("eu-west-1", "us-east-1")
    assert second.current.event_count == 2


def test_a_step_needs_events() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        step(None, [], now_minutes=0)


def test_a_pending_update_is_flushed_once_the_interval_has_passed() -> None:
    first = step(None, [event("e1", 0, Severity.HIGH)], now_minutes=0)
    pending = step(first.current, [event("e2", 1), event("e3", 2)], now_minutes=2)

    assert flush_pending(pending.current, now=T0 + timedelta(minutes=4), policy=POLICY) is None
    flushed = flush_pending(pending.current, now=T0 + timedelta(minutes=5), policy=POLICY)

    assert flushed is not None
    assert (flushed.kind, flushed.new_events, flushed.trigger_event_id) == ("update", 2, "e3")
    assert flushed.incident.pending_events == 0
    assert flush_pending(flushed.incident, now=T0 + timedelta(minutes=30), policy=POLICY) is None


def test_an_incident_that_never_alerted_has_no_update_to_flush() -> None:
    quiet = step(None, [event("e1", 0)], now_minutes=0)

    assert flush_pending(quiet.current, now=T0 + timedelta(hours=2), policy=POLICY) is None


# --- actors and AssumeRoot attribution ------------------------------------------------

CALLER = (
    "arn:aws:sts::777788889999:assumed-role/"
    "AWSReservedSSO_RootAccessAdmin_9f8e7d6c5b4a3921/mlopez@example.com"
)


def test_an_assume_root_call_grants_its_session_on_the_target_account() -> None:
    record = parse_event(sample_event("assume-root-call"))

    grant = grant_from(record)

    assert grant is not None
    assert grant.target_account_id == "444455556666"
    assert grant.caller == CALLER
    assert grant.caller_account_id == "777788889999"
    assert grant.access_key_id == grant.session_id == "ASIAR7TQ2VWN8EXAMPLE"
    assert grant.session_ends_at - grant.issued_at == timedelta(seconds=900)
    assert actor_of(record, []) == Actor(key=CALLER, assumed_root_caller=CALLER)


def test_a_failed_assume_root_call_grants_nothing() -> None:
    failed = variant(sample_event("assume-root-call"), errorCode="AccessDenied")

    assert grant_from(parse_event(failed)) is None


def test_a_target_principal_given_as_an_arn_names_its_account() -> None:
    call = sample_event("assume-root-call")
    call["detail"]["requestParameters"]["targetPrincipal"] = "arn:aws:iam::444455556666:root"

    grant = grant_from(parse_event(call))

    assert grant is not None
    assert grant.target_account_id == "444455556666"


def test_an_assumed_root_session_is_attributed_to_the_caller_by_its_access_key() -> None:
    grant = grant_from(parse_event(sample_event("assume-root-call")))
    assert grant is not None
    session = parse_event(sample_event("assumed-root-delete-bucket-policy"))

    assert find_grant(session, [grant]) == grant
    assert actor_of(session, [grant]) == Actor(key=CALLER, assumed_root_caller=CALLER)


def test_a_session_whose_assume_root_call_was_not_seen_is_its_own_actor_by_source_ip() -> None:
    session = parse_event(sample_event("assumed-root-delete-bucket-policy"))
    other = grant_from(
        parse_event(
            variant(
                sample_event("assume-root-call"),
                responseElements={"credentials": {"accessKeyId": "ASIAOTHERSESSION0001"}},
            )
        )
    )
    assert other is not None

    assert actor_of(session, [other]) == Actor(key="assumed-root:192.0.2.15")


def test_a_session_without_an_access_key_matches_the_only_session_covering_its_time() -> None:
    grant = grant_from(parse_event(sample_event("assume-root-call")))
    assert grant is not None
    keyless = sample_event("assumed-root-delete-bucket-policy")
    del keyless["detail"]["userIdentity"]["accessKeyId"]
    second = grant_from(
        parse_event(
            variant(
                sample_event("assume-root-call"),
                event_id="second-call",
                userIdentity={
                    **sample_event("assume-root-call")["detail"]["userIdentity"],
                    "arn": "arn:aws:sts::777788889999:assumed-role/Admin/other",
                },
                responseElements={"credentials": {"accessKeyId": "ASIAOTHERSESSION0002"}},
            )
        )
    )
    assert second is not None
    record = parse_event(keyless)

    assert actor_of(record, [grant]).assumed_root_caller == CALLER
    assert actor_of(record, [grant, second]) == Actor(key="assumed-root:192.0.2.15")


def test_other_root_activity_belongs_to_its_source_ip() -> None:
    record = parse_event(sample_event("console-login-no-mfa"))

    assert actor_of(record, []) == Actor(key="203.0.113.7")


# --- source IPs seen for the first time -------------------------------------------------


def from_ip(event_id: str, minutes: float, source_ip: str | None) -> IncidentEvent:
    return IncidentEvent(
        event_id=event_id,
        event_time=T0 + timedelta(minutes=minutes),
        event_name="ListBuckets",
        region="us-east-1",
        severity=Severity.HIGH,
        source_ip=source_ip,
    )


def first_seen_after(
    current: Incident | None,
    events: list[IncidentEvent],
    known: dict[str, datetime],
    *,
    now_minutes: float,
) -> tuple[IncidentStep, dict[str, datetime]]:
    """A step, and the account's source IPs as the step leaves them."""
    result = step(current, events, now_minutes=now_minutes)
    sightings = sightings_of(events, known)
    return result, {**known, **{s.source_ip: s.first_seen for s in sightings}}


def test_an_ip_never_seen_is_first_seen_in_every_message_of_its_incident() -> None:
    opening, known = first_seen_after(None, [event("e1", 0, Severity.CRITICAL)], {}, now_minutes=0)
    assert is_first_sighting(ACTOR.key, opening.current, known) is True

    rising, known = first_seen_after(
        opening.current, [event("e2", 20, Severity.CRITICAL)], known, now_minutes=20
    )

    assert rising.current.incident_id == opening.current.incident_id
    assert known == {ACTOR.key: T0}
    assert is_first_sighting(ACTOR.key, rising.current, known) is True


def test_a_new_incident_from_an_ip_seen_last_week_is_not_a_first_sighting() -> None:
    last_week = {ACTOR.key: T0 - timedelta(days=7)}

    result, known = first_seen_after(
        None, [event("e1", 0, Severity.CRITICAL)], last_week, now_minutes=0
    )

    assert known == last_week
    assert is_first_sighting(ACTOR.key, result.current, known) is False


def test_an_ip_seen_in_an_earlier_incident_of_the_same_step_is_not_new_to_the_later_one() -> None:
    late = event("late", -180, Severity.HIGH)
    now = event("now", 0, Severity.HIGH)

    result, known = first_seen_after(None, [now, late], {}, now_minutes=0)

    incidents = {incident.incident_id: incident for incident in result.changed}
    older = incidents[result.incident_of["late"]]
    newer = incidents[result.incident_of["now"]]
    assert older.incident_id != newer.incident_id
    assert known == {ACTOR.key: T0 - timedelta(minutes=180)}
    assert is_first_sighting(ACTOR.key, older, known) is True
    assert is_first_sighting(ACTOR.key, newer, known) is False


def test_sightings_keep_the_earliest_time_of_each_source() -> None:
    events = [
        from_ip("a", 5, "198.51.100.9"),
        from_ip("b", 1, "198.51.100.9"),
        from_ip("c", 3, "203.0.113.7"),
        from_ip("d", 4, None),
        from_ip("e", 2, "cloudformation.amazonaws.com"),
        from_ip("f", 2, "AWS Internal"),
    ]
    known = {"203.0.113.7": T0 + timedelta(minutes=10), "192.0.2.1": T0}

    sightings = sightings_of(events, known)

    assert [(s.source_ip, s.first_seen) for s in sightings] == [
        ("198.51.100.9", T0 + timedelta(minutes=1)),
        ("203.0.113.7", T0 + timedelta(minutes=3)),
    ]


@pytest.mark.parametrize(
    "source", [None, "", "cloudformation.amazonaws.com", "AWS Internal", "1" * 80]
)
def test_a_source_that_is_no_ip_address_is_neither_first_seen_nor_seen_before(
    source: str | None,
) -> None:
    result = step(None, [from_ip("a", 0, source)], now_minutes=0)

    assert sightings_of([from_ip("a", 0, source)], {}) == ()
    assert is_first_sighting(source, result.current, {}) is None


def test_ipv6_sources_are_remembered() -> None:
    result = step(None, [from_ip("a", 0, "2001:db8::7")], now_minutes=0)

    assert is_first_sighting("2001:db8::7", result.current, {"2001:db8::7": T0}) is True
