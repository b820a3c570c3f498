"""Spokes in `rootwatch local`: events through spoke/template.yaml's rules in each account and
region, heartbeats to the hub, and a silenced spoke reported by the watchdog through Slack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rootwatch import naming
from rootwatch.local.hub import LocalHub
from rootwatch.local.inputs import InputEvent, from_value
from rootwatch.local.runner import collect, run_through_spokes
from rootwatch.local.slack_text import render_payload
from rootwatch.local.spokes import SpokeFleet

from tests.e2e.conftest import ACME, GLOBEX, HubFactory, run_rootwatch
from tests.support.cli_hub import run_cli
from tests.support.events import sample_event, variant

pytestmark = pytest.mark.e2e


def _login(event_id: str, *, account: str, region: str) -> InputEvent:
    event = variant(
        sample_event("console-login-no-mfa"), event_id=event_id, account=account, awsRegion=region
    )
    return from_value(event)


def _trap(account: str) -> InputEvent:
    """An IAM user called root: not root activity, so no spoke rule forwards it."""
    return from_value(variant(sample_event("trap-iam-user-named-root"), account=account))


def _fleet(hub: LocalHub) -> SpokeFleet:
    fleet = SpokeFleet.for_hub(hub)
    assert fleet is not None, "spoke/template.yaml is beside template.yaml"
    return fleet


def _silent_spoke_posts(hub: LocalHub) -> list[str]:
    texts = [render_payload(post.payload) for post in hub.slack_posts() if post.accepted]
    return [text for text in texts if "Spoke silent" in text]


def test_only_what_the_spoke_rules_forward_reaches_the_hub(start_hub: HubFactory) -> None:
    hub = start_hub()
    fleet = _fleet(hub)
    events = [
        _login("a0000000-0000-4000-8000-000000000001", account=ACME, region="eu-west-1"),
        _trap(ACME),
    ]
    put, _handled = run_through_spokes(hub, fleet, events)
    assert (put.put, put.failed) == (2, ())
    result = collect(hub, put, [], 0)
    assert [(item["account_id"], item["region"]) for item in result.audit] == [(ACME, "eu-west-1")]
    # Each spoke is the spoke template's stack, in its own account and region.
    assert sorted(spoke.spoke_id for spoke in fleet.spokes) == [
        (ACME, "eu-west-1"),
        (ACME, "us-east-1"),
    ]
    spoke = fleet.spoke(ACME, "eu-west-1")
    rules = spoke.stack.endpoint.events().list_rules()["Rules"]
    assert {rule["Name"] for rule in rules} == {
        naming.ROOT_ACTIVITY_RULE,
        naming.TAMPER_RULE,
        naming.TAMPER_GUARD_RULE,
        naming.HEARTBEAT_RULE,
    }
    assert all(rule["Arn"].split(":")[3:5] == ["eu-west-1", ACME] for rule in rules)
    hub_bus = hub.stack.outputs["EventBusArn"]
    (target,) = spoke.stack.endpoint.events().list_targets_by_rule(Rule=naming.ROOT_ACTIVITY_RULE)[
        "Targets"
    ]
    assert target["Arn"] == hub_bus


def test_every_spoke_reports_and_none_is_silent(start_hub: HubFactory) -> None:
    hub = start_hub()
    fleet = _fleet(hub)
    run_through_spokes(
        hub,
        fleet,
        [
            _login("a0000000-0000-4000-8000-000000000002", account=ACME, region="us-east-1"),
            _login("a0000000-0000-4000-8000-000000000003", account=GLOBEX, region="ap-south-1"),
        ],
    )
    assert _silent_spoke_posts(hub) == []
    assert [invocation.error for invocation in hub.function_errors] == []
    # Two spokes, each with the heartbeats of one more interval than the hub allows to miss.
    rounds = fleet.policy.intervals_allowed + 2
    assert hub.metric_total("HeartbeatsRecorded") == 2 * rounds


def test_a_silenced_spoke_is_reported_once_and_listed_as_silent(
    start_hub: HubFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = start_hub()
    fleet = _fleet(hub)
    events = [
        _login("a0000000-0000-4000-8000-000000000004", account=ACME, region="us-east-1"),
        _login("a0000000-0000-4000-8000-000000000005", account=ACME, region="eu-west-1"),
        _login("a0000000-0000-4000-8000-000000000006", account=GLOBEX, region="us-east-1"),
    ]
    run_through_spokes(hub, fleet, events, silenced={(ACME, "eu-west-1")})

    (alert,) = _silent_spoke_posts(hub)
    assert "no heartbeat from eu-west-1" in alert
    assert ACME in alert and GLOBEX not in alert
    assert f"rootwatch spokes --account {ACME}" in alert

    # The watchdog's next run finds the same silence, already reported.
    hub.fire_schedules()
    hub.drain()
    assert len(_silent_spoke_posts(hub)) == 1

    listing = run_cli(
        capsys,
        "spokes",
        "--endpoint-url",
        hub.endpoint.url,
        "--region",
        hub.region,
        "--output",
        "json",
    )
    assert listing.status == 0, listing.err
    statuses = {(row["account_id"], row["region"]): row["status"] for row in listing.json()}
    assert statuses == {
        (ACME, "eu-west-1"): "silent",
        (ACME, "us-east-1"): "ok",
        (GLOBEX, "us-east-1"): "ok",
    }
    silent = run_cli(capsys, "spokes", "--endpoint-url", hub.endpoint.url, "--status", "silent")
    (_header, row) = silent.lines()
    assert row.split()[:3] == [ACME, "-", "eu-west-1"] and row.endswith("silent")


def test_a_silenced_spoke_that_reports_again_says_so_once(start_hub: HubFactory) -> None:
    hub = start_hub()
    fleet = _fleet(hub)
    events = [
        _login("a0000000-0000-4000-8000-000000000007", account=ACME, region="us-east-1"),
        _login("a0000000-0000-4000-8000-000000000008", account=ACME, region="eu-west-1"),
    ]
    run_through_spokes(hub, fleet, events, silenced={(ACME, "eu-west-1")})
    assert len(_silent_spoke_posts(hub)) == 1

    fleet.beat(datetime.now(UTC))
    hub.drain()
    texts = [render_payload(post.payload) for post in hub.slack_posts() if post.accepted]
    (recovered,) = [text for text in texts if "Spoke reports again" in text]
    assert recovered.startswith("✅ RESOLVED · Spoke reports again · eu-west-1 after ")
    assert ACME in recovered
    assert [invocation.error for invocation in hub.function_errors] == []
    assert hub.metric_total("RecoveryAlerts") == 1

    # The next heartbeats and watchdog runs find nothing to say.
    fleet.beat(datetime.now(UTC) + timedelta(minutes=1))
    hub.fire_schedules()
    hub.drain()
    texts = [render_payload(post.payload) for post in hub.slack_posts() if post.accepted]
    assert sum("Spoke reports again" in text for text in texts) == 1
    assert len(_silent_spoke_posts(hub)) == 1


def _write_events(directory: Path) -> Path:
    directory.mkdir()
    for number, (account, region) in enumerate(
        [(ACME, "us-east-1"), (ACME, "eu-west-1"), (GLOBEX, "us-east-1")]
    ):
        event = variant(
            sample_event("console-login-no-mfa"),
            event_id=f"b0000000-0000-4000-8000-00000000000{number}",
            account=account,
            awsRegion=region,
        )
        (directory / f"login-{number}.json").write_text(json.dumps(event))
    return directory


def test_the_command_shows_the_silenced_spoke_reported(tmp_path: Path) -> None:
    out = tmp_path / "out"
    completed = run_rootwatch(
        "local",
        "--events",
        _write_events(tmp_path / "events"),
        "--silence",
        f"{ACME}:eu-west-1",
        "--out",
        out,
    )
    assert completed.returncode == 0, completed.stderr
    stdout = completed.stdout
    assert "default buses of 3 spokes in 2 accounts" in stdout
    assert "CRITICAL · Spoke silent · no heartbeat from eu-west-1" in stdout
    assert f"Spokes · 3 · 1 silent · silenced: {ACME}:eu-west-1" in stdout
    posts = [json.loads(line) for line in (out / "slack.jsonl").read_text().splitlines()]
    silent = [post for post in posts if "Spoke silent" in render_payload(post["payload"])]
    assert len(silent) == 1
    spokes = [json.loads(line) for line in (out / "spokes.jsonl").read_text().splitlines()]
    first = spokes[0]
    assert (first["account_id"], first["region"], first["status"]) == (ACME, "eu-west-1", "silent")
    assert first["silent_alerted_at"] is not None
    assert {row["status"] for row in spokes[1:]} == {"ok"}


@pytest.mark.parametrize(
    ("silence", "message"),
    [
        ("999999999999", "the input comes from no such spoke"),
        (f"{ACME}:ap-south-1", "the input comes from no such spoke"),
        ("acme", "expected ACCOUNT or ACCOUNT:REGION"),
        (f"{ACME}:moon", "'moon' is not a region name"),
    ],
)
def test_silencing_a_spoke_the_input_lacks_is_a_usage_error(
    tmp_path: Path, silence: str, message: str
) -> None:
    completed = run_rootwatch(
        "local", "--events", _write_events(tmp_path / "events"), "--silence", silence
    )
    assert completed.returncode == 2
    assert message in completed.stderr
