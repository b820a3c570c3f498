"""The real pipeline through `rootwatch local`: bus, rule, queues, processor, notifier, table.

Events go on the hub bus as EventBridge delivers them; the runner drives the functions of
template.yaml until every queue is empty; the assertions read what came out (the --out
files or the runner's result).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rootwatch.local.hub import LocalHub
from rootwatch.local.inputs import from_value
from rootwatch.local.runner import LocalRunResult, collect, run_events, write_outputs
from rootwatch.local.slack_receiver import ScriptedResponse
from rootwatch.local.slack_text import render_payload

from tests.e2e.conftest import ACME, GLOBEX, HubFactory
from tests.support.alerts import INJECTIONS, assert_html_inert, assert_slack_payload_inert
from tests.support.events import sample_event, variant

pytestmark = pytest.mark.e2e

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def _run(hub: LocalHub, events: list[dict[str, Any]]) -> LocalRunResult:
    """Events on the hub bus as they arrive, through the runner, and what came out."""
    put, handled = run_events(hub, [from_value(event) for event in events])
    assert not put.failed
    return collect(hub, put, [], handled)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _pipeline_letters(letters: list[Any]) -> list[Any]:
    """Dead letters of the ingest and notify queues (the heartbeat path has its own tests)."""
    queues = ("IngestDeadLetterQueue", "NotifyDeadLetterQueue")
    return [
        letter
        for letter in letters
        if (letter["queue"] if isinstance(letter, dict) else letter.queue) in queues
    ]


def _slack_text(result: LocalRunResult) -> list[str]:
    return [render_payload(post.payload) for post in result.slack if post.accepted]


def _login_without_mfa(event_id: str, *, account: str = ACME, ip: str = "203.0.113.7") -> Any:
    return variant(
        sample_event("console-login-no-mfa"),
        event_id=event_id,
        at=START,
        source_ip=ip,
        account=account,
    )


def test_an_event_delivered_three_times_is_audited_and_alerted_once(
    start_hub: HubFactory, tmp_path: Path
) -> None:
    hub = start_hub()
    event = _login_without_mfa("11111111-1111-4111-8111-111111111111")
    result = _run(hub, [event, event, event])
    write_outputs(result, tmp_path)

    audit = _read_jsonl(tmp_path / "audit.jsonl")
    assert [item["event_id"] for item in audit] == ["11111111-1111-4111-8111-111111111111"]
    (item,) = audit
    assert (item["account_id"], item["region"], item["event_name"]) == (
        ACME,
        "us-east-1",
        "ConsoleLogin",
    )
    assert item["severity"] == "critical"
    assert item["rules"] == ["login-no-mfa"]
    assert item["incident_id"]
    slack = _read_jsonl(tmp_path / "slack.jsonl")
    assert len(slack) == 1
    assert slack[0]["destination"] == "rootwatch/slack/security-alerts"
    assert "CRITICAL" in slack[0]["payload"]["text"]
    emails = _read_jsonl(tmp_path / "email.jsonl")
    assert [email["to"] for email in emails] == [["security@example.com"]]
    assert "ConsoleLogin" in emails[0]["text"] and "<html" in emails[0]["html"].lower()
    assert hub.metric_total("Duplicates") == 2
    assert _pipeline_letters(_read_jsonl(tmp_path / "dlq.jsonl")) == []


def test_a_burst_of_one_session_is_one_incident_and_a_critical_event_alerts_at_once(
    start_hub: HubFactory,
) -> None:
    hub = start_hub()
    ip = "198.51.100.77"
    login = variant(
        sample_event("console-login-with-mfa"),
        event_id="b0000000-0000-4000-8000-000000000000",
        at=START,
        source_ip=ip,
        account=ACME,
    )
    reads = [
        variant(
            sample_event(
                "root-console-describe-instances" if n % 2 else "root-api-key-list-buckets"
            ),
            event_id=f"b0000000-0000-4000-8000-{n:012d}",
            at=START + timedelta(seconds=n),
            source_ip=ip,
            account=ACME,
        )
        for n in range(1, 500)
    ]
    burst = _run(hub, [login, *reads])
    assert len(burst.audit) == 500
    assert len(burst.incidents) == 1
    assert {item["incident_id"] for item in burst.audit} == {burst.incidents[0]["incident_id"]}
    assert 1 <= len(burst.slack) <= 5

    critical = variant(
        sample_event("root-create-access-key-console"),
        event_id="c0000000-0000-4000-8000-000000000000",
        at=START + timedelta(seconds=501),
        source_ip=ip,
        account=ACME,
    )
    after = _run(hub, [critical])
    assert len(after.incidents) == 1
    new_posts = after.slack[len(burst.slack) :]
    assert len(new_posts) == 1
    assert "CRITICAL" in render_payload(new_posts[0].payload)
    assert "CreateAccessKey" in render_payload(new_posts[0].payload)
    assert len(after.slack) <= 6


def test_slack_answering_429_then_200_delivers_exactly_once(start_hub: HubFactory) -> None:
    hub = start_hub()
    hub.slack.script(ScriptedResponse.rate_limited(retry_after_seconds=1), ScriptedResponse())
    result = _run(hub, [_login_without_mfa("22222222-2222-4222-8222-222222222222")])
    assert [post.status for post in result.slack] == [429, 200]
    assert len(_slack_text(result)) == 1
    assert len(result.emails) == 1
    assert _pipeline_letters(result.dead_letters) == []


def test_slack_failing_every_time_ends_in_the_dlq_with_its_reason_and_the_alarm(
    start_hub: HubFactory, tmp_path: Path
) -> None:
    hub = start_hub(parameters={"NotifyMaxReceiveCount": "2"})
    hub.slack.always(ScriptedResponse.server_error())
    result = _run(hub, [_login_without_mfa("33333333-3333-4333-8333-333333333333")])
    write_outputs(result, tmp_path)

    assert result.slack and not any(post.accepted for post in result.slack)
    (letter,) = _pipeline_letters(_read_jsonl(tmp_path / "dlq.jsonl"))
    assert letter["queue"] == "NotifyDeadLetterQueue"
    assert "slack" in letter["reason"].lower()
    assert letter["message"]["kind"] == "first"
    assert hub.metric_total("AlertsFailed") >= 1
    firing = {alarm.name for alarm in result.alarms_firing}
    assert hub.stack.ref("NotifyDeadLetterAlarm") in firing
    # The email destination had the alert before Slack gave up.
    assert len(result.emails) == 1


def test_a_malformed_record_goes_to_the_dlq_and_the_rest_of_its_batch_is_processed(
    start_hub: HubFactory, tmp_path: Path
) -> None:
    hub = start_hub()
    good = [
        _login_without_mfa(f"44444444-4444-4444-8444-{n:012d}", ip=f"203.0.113.{n}")
        for n in range(1, 6)
    ]
    malformed = _login_without_mfa("44444444-4444-4444-8444-999999999999")
    del malformed["detail"]["eventTime"]
    malformed["detail"]["eventName"] = {"not": "a name"}
    result = _run(hub, [*good[:2], malformed, *good[2:]])
    write_outputs(result, tmp_path)

    audited = {item["event_id"] for item in _read_jsonl(tmp_path / "audit.jsonl")}
    assert audited == {event["detail"]["eventID"] for event in good}
    (letter,) = _pipeline_letters(_read_jsonl(tmp_path / "dlq.jsonl"))
    assert letter["queue"] == "IngestDeadLetterQueue"
    assert letter["message"]["detail"]["eventID"] == "44444444-4444-4444-8444-999999999999"
    assert letter["reason"]
    assert len(_slack_text(result)) == 5


def test_untrusted_sources_and_accounts_never_reach_the_audit_log(start_hub: HubFactory) -> None:
    hub = start_hub(allowed_account_ids=[ACME])
    forged = _login_without_mfa("55555555-5555-4555-8555-555555555555")
    forged["source"] = "custom.rootwatch"
    stranger = _login_without_mfa("66666666-6666-4666-8666-666666666666", account=GLOBEX)
    trusted = _login_without_mfa("77777777-7777-4777-8777-777777777777")
    result = _run(hub, [forged, stranger, trusted])

    assert [item["event_id"] for item in result.audit] == ["77777777-7777-4777-8777-777777777777"]
    assert len(_slack_text(result)) == 1
    # The forged source never passes the rule; the stranger's account is refused in code.
    assert hub.metric_total("EventsReceived") == 2
    assert hub.metric_total("Rejected") == 1
    assert _pipeline_letters(result.dead_letters) == []


def test_injected_text_reaches_slack_and_email_only_inert(
    start_hub: HubFactory, tmp_path: Path
) -> None:
    hub = start_hub()
    events = []
    for n, text in enumerate(INJECTIONS, start=1):
        event = _login_without_mfa(f"88888888-8888-4888-8888-{n:012d}", ip=f"192.0.2.{n}")
        event["detail"]["userAgent"] = text
        event["detail"]["additionalEventData"]["LoginTo"] = text
        events.append(event)
    result = _run(hub, events)
    write_outputs(result, tmp_path)

    slack = _read_jsonl(tmp_path / "slack.jsonl")
    emails = _read_jsonl(tmp_path / "email.jsonl")
    assert len(slack) == len(emails) == len(INJECTIONS)
    for post in slack:
        assert_slack_payload_inert(post["payload"])
        rendered = render_payload(post["payload"], styled=True)
        assert "\x1b[7m" not in rendered  # no mention or channel link would show
    for email in emails:
        assert_html_inert(email["html"])
        assert "<script>" not in email["html"]
