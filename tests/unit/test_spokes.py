"""Heartbeats, silence and what alerts (rootwatch.spokes): pure, on plain inputs."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rootwatch import keys
from rootwatch.alerts import AccountInfo, Alert
from rootwatch.spokes import (
    Heartbeat,
    HeartbeatError,
    SilencePolicy,
    SpokeState,
    heard_before_silence,
    parse_heartbeat,
    recovery_alert_id,
    silence_alert_id,
    silences_to_report,
    silent_spoke_alert,
    spoke_recovered_alert,
)

ROOT = Path(__file__).resolve().parents[2]
ACME = "111122223333"
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
POLICY = SilencePolicy(interval=timedelta(minutes=15), intervals_allowed=3)


def _sample_heartbeat() -> dict[str, Any]:
    text = (ROOT / "events" / "heartbeat-scheduled-event.json").read_text(encoding="utf-8")
    event: dict[str, Any] = json.loads(text)
    return event


def _heartbeat_event(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(_sample_heartbeat())
    for name, value in changes.items():
        if value is None:
            event.pop(name.replace("_", "-"), None)
        else:
            event[name.replace("_", "-")] = value
    return event


def _spoke(last: datetime | None, **fields: Any) -> SpokeState:
    return SpokeState(account_id=ACME, region="eu-west-1", last_heartbeat=last, **fields)


# --- reading heartbeats ----------------------------------------------------------------


def test_the_sample_heartbeat_names_its_spoke_and_time() -> None:
    assert parse_heartbeat(_sample_heartbeat(), now=NOW) == Heartbeat(
        account_id=ACME,
        region="us-east-1",
        at=datetime(2026, 11, 28, 14, 15, tzinfo=UTC),
        rule_arn=f"arn:aws:events:us-east-1:{ACME}:rule/rootwatch-heartbeat",
    )


def test_the_spoke_comes_from_the_rule_arn_not_the_envelope_region() -> None:
    # As moto delivers a spoke's heartbeat: no account, the hub bus's region.
    event = _heartbeat_event(
        account=None,
        region="us-east-1",
        resources=[f"arn:aws:events:ap-southeast-2:{ACME}:rule/rootwatch-heartbeat"],
    )
    heartbeat = parse_heartbeat(event, now=NOW)
    assert (heartbeat.account_id, heartbeat.region) == (ACME, "ap-southeast-2")


def test_fractions_of_a_second_are_dropped() -> None:
    heartbeat = parse_heartbeat(_heartbeat_event(time="2026-11-28T14:15:00.734Z"), now=NOW)
    assert heartbeat.at == datetime(2026, 11, 28, 14, 15, tzinfo=UTC)


def test_other_partitions_are_heartbeats_too() -> None:
    arn = "arn:aws-us-gov:events:us-gov-west-1:111122223333:rule/rootwatch-heartbeat"
    heartbeat = parse_heartbeat(_heartbeat_event(account=None, resources=[arn]), now=NOW)
    assert heartbeat.region == "us-gov-west-1"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"source": "aws.s3"}, "not a scheduled event"),
        ({"source": "custom.rootwatch"}, "not a scheduled event"),
        ({"detail_type": "AWS API Call via CloudTrail"}, "not a scheduled event"),
        ({"resources": []}, "exactly one rule"),
        ({"resources": None}, "exactly one rule"),
        (
            {
                "resources": [
                    f"arn:aws:events:us-east-1:{ACME}:rule/rootwatch-heartbeat",
                    f"arn:aws:events:us-east-1:{ACME}:rule/rootwatch-heartbeat",
                ]
            },
            "exactly one rule",
        ),
        ({"resources": [f"arn:aws:events:us-east-1:{ACME}:rule/other"]}, "is not the ARN"),
        (
            {"resources": [f"arn:aws:events:us-east-1:{ACME}:rule/rootwatch-heartbeat-x"]},
            "is not the ARN",
        ),
        ({"resources": ["arn:aws:events:us-east-1:1234:rule/rootwatch-heartbeat"]}, "not the ARN"),
        ({"resources": [f"arn:aws:events:moon:{ACME}:rule/rootwatch-heartbeat"]}, "not the ARN"),
        (
            {"resources": [f"arn:aws:events:us-east-1:{ACME}:rule/bus/rootwatch-heartbeat"]},
            "not the ARN",
        ),
        ({"resources": [42]}, "not the ARN"),
        ({"account": "444455556666"}, "is not the rule's"),
        ({"time": None}, "not an ISO 8601 UTC time"),
        ({"time": "yesterday"}, "not an ISO 8601 UTC time"),
        ({"time": "2026-11-28T14:15:00+02:00"}, "not an ISO 8601 UTC time"),
        ({"time": "2026-13-45T99:00:00Z"}, "not a date and time"),
        ({"time": "2026-11-28T15:06:00Z"}, "ahead of the hub's clock"),
    ],
)
def test_anything_else_is_rejected_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(HeartbeatError, match=reason):
        parse_heartbeat(_heartbeat_event(**changes), now=NOW)


def test_a_non_mapping_is_rejected() -> None:
    with pytest.raises(HeartbeatError, match="expected an EventBridge event"):
        parse_heartbeat([], now=NOW)  # type: ignore[arg-type]


def test_a_heartbeat_a_little_ahead_of_the_hub_clock_is_believed() -> None:
    heartbeat = parse_heartbeat(_heartbeat_event(time="2026-11-28T15:04:59Z"), now=NOW)
    assert heartbeat.at > NOW


def test_long_values_are_cut_in_reasons() -> None:
    with pytest.raises(HeartbeatError) as raised:
        parse_heartbeat(_heartbeat_event(source="x" * 5000), now=NOW)
    assert len(str(raised.value)) < 300


# --- silence -------------------------------------------------------------------------


def test_silent_after_more_than_the_intervals_allowed() -> None:
    cutoff = NOW - timedelta(minutes=45)
    assert POLICY.cutoff(NOW) == cutoff
    assert POLICY.status(_spoke(cutoff), NOW) == "ok"
    assert POLICY.status(_spoke(cutoff - timedelta(seconds=1)), NOW) == "silent"
    assert POLICY.status(_spoke(NOW), NOW) == "ok"
    assert POLICY.status(_spoke(None, expected=True), NOW) == "never"


def test_an_expected_spoke_that_never_reported_is_overdue_once_registered_long_enough() -> None:
    cutoff = POLICY.cutoff(NOW)
    recent = _spoke(None, expected=True, registered_at=cutoff)
    old = _spoke(None, expected=True, registered_at=cutoff - timedelta(seconds=1))
    assert not POLICY.is_overdue(recent, NOW)
    assert POLICY.is_overdue(old, NOW)
    # Expected without a registration time (an item written by hand): reported at once.
    assert POLICY.is_overdue(_spoke(None, expected=True), NOW)
    # Not expected and never reported: nothing to watch.
    assert not POLICY.is_overdue(_spoke(None), NOW)


def test_a_silence_is_reported_once() -> None:
    last = NOW - timedelta(hours=2)
    silent = _spoke(last)
    assert silences_to_report([silent], now=NOW, policy=POLICY) == [silent]
    alerted = _spoke(last, silent_alert_id=silence_alert_id(silent))
    assert silences_to_report([alerted], now=NOW, policy=POLICY) == []
    # A later silence (the spoke reported again, then stopped) is a new one.
    later = _spoke(NOW - timedelta(hours=1), silent_alert_id=silence_alert_id(silent))
    assert silences_to_report([later], now=NOW, policy=POLICY) == [later]


def test_only_overdue_spokes_are_reported_in_the_order_given() -> None:
    never = _spoke(None, expected=True, registered_at=NOW - timedelta(days=1))
    stale = SpokeState(ACME, "us-east-1", NOW - timedelta(hours=3))
    fresh = SpokeState(ACME, "us-west-2", NOW - timedelta(minutes=5))
    waiting = SpokeState(ACME, "sa-east-1", None, expected=True, registered_at=NOW)
    spokes = [never, stale, fresh, waiting]
    assert silences_to_report(spokes, now=NOW, policy=POLICY) == [never, stale]


def test_alert_ids_name_the_silence() -> None:
    last = datetime(2026, 11, 28, 13, 15, tzinfo=UTC)
    assert silence_alert_id(_spoke(last)) == f"silent:{ACME}:eu-west-1:2026-11-28T13:15:00Z"
    assert silence_alert_id(_spoke(None, expected=True)) == f"silent:{ACME}:eu-west-1:never"


@given(
    minutes=st.integers(min_value=1, max_value=60),
    intervals=st.integers(min_value=1, max_value=96),
    age=st.integers(min_value=0, max_value=60 * 60 * 24 * 30),
)
def test_overdue_exactly_when_silent_longer_than_allowed(
    minutes: int, intervals: int, age: int
) -> None:
    policy = SilencePolicy(interval=timedelta(minutes=minutes), intervals_allowed=intervals)
    spoke = _spoke(NOW - timedelta(seconds=age))
    assert policy.is_overdue(spoke, NOW) == (age > minutes * 60 * intervals)
    assert (policy.status(spoke, NOW) == "silent") == policy.is_overdue(spoke, NOW)


def test_a_policy_needs_positive_values() -> None:
    with pytest.raises(ValueError, match="positive"):
        SilencePolicy(interval=timedelta(0), intervals_allowed=3)
    with pytest.raises(ValueError, match="positive"):
        SilencePolicy(interval=timedelta(minutes=15), intervals_allowed=0)


# --- the alert -----------------------------------------------------------------------


def test_the_alert_is_critical_and_carries_the_spoke_and_account() -> None:
    account = AccountInfo(account_id=ACME, name="Acme payer", partner="Acme")
    last = NOW - timedelta(minutes=47)
    alert = silent_spoke_alert(_spoke(last), account, now=NOW, policy=POLICY)
    assert alert.kind == "silent-spoke"
    assert alert.severity == "critical"
    assert alert.account == account
    assert alert.alert_id == silence_alert_id(_spoke(last))
    assert alert.spoke is not None
    assert alert.spoke.region == "eu-west-1"
    assert alert.spoke.last_heartbeat == keys.iso(last)
    assert alert.spoke.interval_minutes == 15
    assert alert.raised_at == keys.iso(NOW)
    assert alert.detail is None
    # What goes on the notify queue comes back whole.
    assert Alert.from_dict(json.loads(json.dumps(alert.to_dict()))) == alert


def test_a_spoke_that_never_reported_says_who_expected_it() -> None:
    spoke = _spoke(
        None,
        expected=True,
        registered_at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        registered_by="arn:aws:iam::999988887777:user/ops",
    )
    alert = silent_spoke_alert(spoke, AccountInfo(account_id=ACME), now=NOW, policy=POLICY)
    assert alert.spoke is not None and alert.spoke.last_heartbeat is None
    assert alert.detail == (
        "registered 2026-11-27T09:00:00Z by arn:aws:iam::999988887777:user/ops; "
        "no heartbeat has ever arrived from this spoke"
    )


# --- the recovery --------------------------------------------------------------------


def test_the_recovery_answers_its_silence_where_the_silence_went() -> None:
    account = AccountInfo(account_id=ACME, name="Acme payer", min_severity="critical")
    last = NOW - timedelta(hours=2)
    silence = silent_spoke_alert(_spoke(last), account, now=NOW, policy=POLICY)
    reported = NOW + timedelta(minutes=5)
    alert = spoke_recovered_alert(
        account=account,
        region="eu-west-1",
        silence_alert_id=silence.alert_id,
        reported_at=reported,
        now=NOW + timedelta(minutes=6),
    )
    assert alert.kind == "spoke-recovered"
    assert alert.alert_id == recovery_alert_id(silence.alert_id) == f"recovered:{silence.alert_id}"
    # Same severity, so an account's minimum severity lets both through or neither.
    assert alert.severity == silence.severity
    assert alert.spoke is not None
    assert (alert.spoke.last_heartbeat, alert.spoke.reported_at) == (
        keys.iso(last),
        keys.iso(reported),
    )
    assert Alert.from_json(alert.to_json()) == alert


@pytest.mark.parametrize(
    ("silence", "heard"),
    [
        (f"silent:{ACME}:eu-west-1:2026-11-28T12:00:00Z", datetime(2026, 11, 28, 12, tzinfo=UTC)),
        (f"silent:{ACME}:eu-west-1:never", None),
        ("silent:garbled", None),
        (f"silent:{ACME}:eu-west-1:2026-13-45T99:00:00Z", None),
    ],
)
def test_the_silence_names_the_heartbeat_it_followed(silence: str, heard: datetime | None) -> None:
    assert heard_before_silence(silence) == heard
