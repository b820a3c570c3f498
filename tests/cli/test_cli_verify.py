"""`rootwatch verify` against the hub provisioned from template.yaml on moto's server.

The local hub's functions run only when driven, so the wait for the test alert's delivery
is injected: a pause that drives the notifier (as `rootwatch local --serve` does), or one
that does nothing and only advances a clock (no consumer), so no test sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rootwatch import keys
from rootwatch.cli import verify
from rootwatch.cli.main import build_parser
from rootwatch.local.hub import LocalHub
from rootwatch.local.outputs import register_local_stack
from rootwatch.local.server import MotoServer
from rootwatch.spokes import SilencePolicy, SpokeState

from tests.support.cli_hub import CliResult, put_items, run_cli

SPOKE_ACCOUNT = "111122223333"
STACK = "rootwatch-hub"


@pytest.fixture
def hub(moto_server: MotoServer) -> Iterator[LocalHub]:
    """The local hub, found as the stack `rootwatch-hub` (provisioning records it)."""
    with LocalHub(
        allowed_account_ids=[SPOKE_ACCOUNT], server=moto_server, stack_name=STACK
    ) as local:
        yield local


def add_spoke(hub: LocalHub, region: str, last_heartbeat: datetime | None) -> None:
    item: dict[str, Any] = {
        **keys.spoke_key(SPOKE_ACCOUNT, region),
        **keys.spoke_index_keys(
            account_id=SPOKE_ACCOUNT, region=region, last_heartbeat=last_heartbeat
        ),
        "account_id": SPOKE_ACCOUNT,
        "region": region,
        "expected": True,
    }
    if last_heartbeat is not None:
        item["last_heartbeat"] = keys.iso(last_heartbeat)
    put_items(hub.endpoint.dynamodb(), hub.table_name, [item])


class FakeClock:
    """A clock that moves only when paused, and remembers each pause."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def run_verify(
    hub: LocalHub,
    capsys: pytest.CaptureFixture[str],
    *arguments: str,
    drive: bool = True,
    clock: FakeClock | None = None,
) -> CliResult:
    """`rootwatch verify` with its wait injected: pausing drives the hub's functions."""
    clock = clock or FakeClock()

    def pause(seconds: float) -> None:
        clock.pause(seconds)
        if drive:
            hub.drain()

    args = build_parser().parse_args(["verify", "--endpoint-url", hub.endpoint.url, *arguments])
    capsys.readouterr()
    status = verify.execute(args, pause=pause, clock=clock)
    captured = capsys.readouterr()
    return CliResult(status, captured.out, captured.err)


def results(output: CliResult) -> dict[str, dict[str, Any]]:
    return {row["check"]: row for row in json.loads(output.out)}


def test_a_healthy_hub_passes_every_check(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    add_spoke(hub, "us-east-1", now - timedelta(minutes=3))
    add_spoke(hub, "eu-west-1", now - timedelta(minutes=14))
    result = run_verify(hub, capsys, "--output", "json")
    checks = results(result)
    assert result.status == 0, result.out
    assert {name: row["result"] for name, row in checks.items()} == {
        "stack outputs": "OK",
        "audit table": "OK",
        "bus policy": "OK",
        "ingest DLQ": "OK",
        "notify DLQ": "OK",
        "test alert": "OK",
        "spokes": "OK",
    }
    assert "rootwatch/slack/security-alerts" in checks["test alert"]["detail"]
    assert "email:security@example.com" in checks["test alert"]["detail"]
    assert checks["spokes"]["detail"].startswith("2 spokes in 1 account ")
    assert checks["bus policy"]["detail"] == f"admits only {SPOKE_ACCOUNT}"
    posts = [post for post in hub.slack_posts() if post.accepted]
    assert len(posts) == 1
    assert "TEST" in posts[0].payload["text"]
    assert any("TEST" in email.subject for email in hub.emails())


def test_the_table_output_says_ok_or_fail_per_check(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_verify(hub, capsys)
    lines = result.lines()
    assert lines[0].startswith("OK    stack outputs")
    assert any(
        line.startswith("FAIL  spokes") and "no spoke has reported" in line for line in lines
    )
    assert "How to fix:" in result.out
    assert "rootwatch deploy spokes" in result.out
    assert "1 of 7 checks failed" in result.err
    assert result.status == 1


def test_a_missing_output_is_reported_and_what_needs_it_skipped(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = "rootwatch-partial"
    register_local_stack(
        hub.endpoint.session,
        partial,
        {
            name: str(value)
            for name, value in hub.stack.outputs.items()
            if name not in ("NotifyQueueUrl", "EventBusArn")
        },
        endpoint_url=hub.endpoint.url,
    )
    result = run_verify(hub, capsys, "--output", "json", "--stack-name", partial)
    checks = results(result)
    assert result.status == 1
    assert checks["stack outputs"]["result"] == "FAIL"
    assert checks["stack outputs"]["detail"] == f"{partial} lacks NotifyQueueUrl, EventBusArn"
    assert "sam deploy" in checks["stack outputs"]["fix"]
    assert "test alert" not in checks
    assert checks["audit table"]["result"] == "OK"


def test_a_bus_policy_that_admits_everyone_fails(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.endpoint.events().put_permission(
        EventBusName=hub.bus_name,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "anyone",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "events:PutEvents",
                        "Resource": hub.stack.outputs["EventBusArn"],
                    }
                ],
            }
        ),
    )
    result = run_verify(hub, capsys, "--output", "json", "--no-test-alert")
    check = results(result)["bus policy"]
    assert result.status == 1
    assert check["result"] == "FAIL"
    assert "statement anyone lets any AWS account put events" in check["detail"]
    assert "AllowedOrgIds" in check["fix"]


def test_silent_and_never_reporting_spokes_fail(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    add_spoke(hub, "us-east-1", now - timedelta(minutes=5))
    add_spoke(hub, "eu-west-1", now - timedelta(hours=2))
    add_spoke(hub, "ap-south-1", None)
    result = run_verify(hub, capsys, "--output", "json", "--no-test-alert")
    check = results(result)["spokes"]
    assert result.status == 1
    assert check["result"] == "FAIL"
    assert check["detail"].startswith("2 of 3 spokes silent for over 45 min: ")
    assert f"{SPOKE_ACCOUNT} ap-south-1 (never)" in check["detail"]
    assert f"{SPOKE_ACCOUNT} eu-west-1 (last " in check["detail"]
    assert "us-east-1" not in check["detail"]


def test_no_delivery_records_means_the_notifier_is_not_running(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock()
    result = run_verify(hub, capsys, "--output", "json", "--wait", "5", drive=False, clock=clock)
    check = results(result)["test alert"]
    assert check["result"] == "FAIL"
    assert check["detail"] == "no delivery records after 5 s: is the notifier running?"
    assert clock.pauses == [2.0, 2.0, 1.0]
    # The alert is still queued: a notifier that starts later delivers it.
    assert hub.drain() >= 1
    assert [post for post in hub.slack_posts() if "TEST" in post.payload["text"]]


def test_the_test_alert_reaches_an_account_entry_and_names_a_failing_destination(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.add_slack_channel("rootwatch/slack/acme-oncall")
    run_cli(
        capsys,
        "accounts",
        "set",
        SPOKE_ACCOUNT,
        "--slack-secrets",
        "acme-oncall,acme-gone",
        "--endpoint-url",
        hub.endpoint.url,
    )
    result = run_verify(hub, capsys, "--output", "json", "--account", SPOKE_ACCOUNT, "--wait", "20")
    check = results(result)["test alert"]
    assert check["result"] == "FAIL"
    assert "slack:rootwatch/slack/acme-gone" in check["detail"]
    assert "slack:rootwatch/slack/acme-oncall" in check["detail"]
    delivered = {post.destination for post in hub.slack_posts() if post.accepted}
    assert delivered == {"rootwatch/slack/security-alerts", "rootwatch/slack/acme-oncall"}


def test_messages_waiting_in_a_dead_letter_queue_fail(
    hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.endpoint.sqs().send_message(
        QueueUrl=hub.stack.outputs["IngestDeadLetterQueueUrl"], MessageBody="{}"
    )
    check = results(run_verify(hub, capsys, "--output", "json", "--no-test-alert"))["ingest DLQ"]
    assert check["result"] == "FAIL"
    assert check["detail"] == "holds 1 message: events not processed"
    assert "rootwatch redrive --queue ingest --dry-run" in check["fix"]


# --- the judgements, on plain inputs ---


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, condition: Any = None, sid: str = "s") -> dict[str, Any]:
    statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": "events:PutEvents",
    }
    if condition is not None:
        statement["Condition"] = condition
    return statement


@pytest.mark.parametrize(
    ("statements", "ok", "words"),
    [
        (
            [allow("*", {"StringEquals": {"aws:PrincipalOrgID": "o-abc123defg"}})],
            True,
            "o-abc123defg",
        ),
        ([allow({"AWS": ["111122223333", "444455556666"]})], True, "111122223333, 444455556666"),
        ([allow({"AWS": "arn:aws:iam::111122223333:root"})], True, "111122223333"),
        ([allow("*")], False, "lets any AWS account"),
        ([allow({"AWS": "*"})], False, "lets any AWS account"),
        ([allow({"AWS": "arn:aws:iam::*:root"})], False, "lets any AWS account"),
        ([allow("*", {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123defg"}})], False, "any"),
        ([allow("*", {"StringLike": {"aws:PrincipalOrgID": "o-*"}})], False, "any"),
        ([allow("*", {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-abc"}})], False, "any"),
        ([allow("*", {"StringEquals": {"aws:SourceIp": "203.0.113.7"}})], False, "any"),
        ([{**allow("*"), "Effect": "Deny"}], False, "admits no other account"),
        ([allow({"Service": "events.amazonaws.com"})], False, "admits no other account"),
    ],
)
def test_bus_policy_judgement(statements: list[dict[str, Any]], ok: bool, words: str) -> None:
    check = verify.bus_policy_check(policy(*statements))
    assert check.ok is ok
    assert words in check.detail


def test_no_bus_policy_fails() -> None:
    assert not verify.bus_policy_check(None).ok
    assert not verify.bus_policy_check("not json").ok


def healthy_table() -> dict[str, Any]:
    return {
        "TableStatus": "ACTIVE",
        "SSEDescription": {"Status": "ENABLED"},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [{"AttributeName": pk}, {"AttributeName": sk}],
                "IndexStatus": "ACTIVE",
            }
            for name, (pk, sk) in keys.INDEXES.items()
        ],
    }


PITR_ON = {"PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "ENABLED"}}
TTL_ON = {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_table_judgement() -> None:
    assert verify.table_problems(healthy_table(), PITR_ON, TTL_ON) == []
    broken = healthy_table()
    broken["SSEDescription"] = {}
    broken["GlobalSecondaryIndexes"] = broken["GlobalSecondaryIndexes"][:3]
    problems = verify.table_problems(
        broken,
        {"PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}},
        {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"},
    )
    assert problems == [
        "point-in-time recovery is off",
        "not encrypted with the hub's KMS key",
        "TTL is not enabled on expires_at (retention never applies)",
        "index gsi4 is missing",
    ]


def test_spoke_judgement_follows_the_watchdog() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    policy = SilencePolicy(interval=timedelta(minutes=15), intervals_allowed=3)
    heard = SpokeState("1", "r1", now - timedelta(minutes=30))
    silent = SpokeState("1", "r2", now - timedelta(hours=2))
    never = SpokeState("2", "r1", None, expected=True, registered_at=now - timedelta(hours=1))
    awaited = SpokeState("2", "r2", None, expected=True, registered_at=now - timedelta(minutes=5))
    report = verify.spoke_report([heard, silent, never, awaited], now=now, policy=policy)
    assert report.reporting == (heard,)
    assert report.overdue == (silent, never)
    assert report.awaited == (awaited,)
    check = verify.spokes_check(report, policy)
    assert not check.ok
    assert check.detail == (
        "2 of 4 spokes silent for over 45 min: 1 r2 (last 2026-11-28 10:00:00 UTC); "
        "2 r1 (never); 1 registered, awaiting a first heartbeat"
    )
    fine = verify.spokes_check(verify.spoke_report([heard], now=now, policy=policy), policy)
    assert fine.ok and fine.detail == "1 spoke in 1 account reported within 45 min"


def test_delivery_judgement() -> None:
    delivered = {"destination": "slack:a", "status": "delivered"}
    failed = {"destination": "email:b", "status": "failed", "reason": "554 rejected"}
    assert verify.delivery_check([delivered], ["slack:a"], waited_seconds=1).ok
    outcome = verify.delivery_check(
        [delivered, failed], ["slack:a", "email:b", "sns:c"], waited_seconds=9
    )
    assert not outcome.ok
    assert outcome.detail == ("email:b: 554 rejected; sns:c: no delivery yet (delivered: slack:a)")
    unknown = verify.delivery_check([delivered], None, waited_seconds=1)
    assert unknown.ok and "may be missing" in unknown.detail


def test_registering_a_local_stack_again_replaces_its_outputs(hub: LocalHub) -> None:
    cloudformation = hub.endpoint.client("cloudformation")
    for table in ("first-table", "second-table"):
        register_local_stack(
            hub.endpoint.session,
            "rootwatch-registered",
            {"TableName": table},
            endpoint_url=hub.endpoint.url,
            parameters={"RetentionDays": "30"},
        )
    stack = cloudformation.describe_stacks(StackName="rootwatch-registered")["Stacks"][0]
    assert stack["Outputs"] == [{"OutputKey": "TableName", "OutputValue": "second-table"}]
    assert stack["Parameters"] == [{"ParameterKey": "RetentionDays", "ParameterValue": "30"}]
