"""Slack rendering: what each kind of alert says, and that attacker text stays inert."""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec.structs import replace
from rootwatch.render.slack import render_slack

from tests.support.alerts import (
    CODE_SPAN,
    EVENT_ID,
    EVERY_KIND,
    FIRST,
    INJECTIONS,
    SILENT_SPOKE,
    SPOKE_RECOVERED,
    TEST,
    UPDATE,
    assert_slack_payload_inert,
    mrkdwn_texts,
    with_attacker_text,
    with_benign_text,
)

CLOUDTRAIL_LINK = (
    f"<https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1"
    f"#/events/{EVENT_ID}|Open in CloudTrail>"
)


def message_text(payload: dict[str, Any]) -> str:
    return "\n".join(mrkdwn_texts(payload))


def test_a_first_alert_reads_like_the_design_sample() -> None:
    payload = render_slack(FIRST)
    text = message_text(payload)
    blocks = payload["blocks"]
    assert blocks[0]["text"]["text"] == "🚨 *CRITICAL · Root console login without MFA*"
    assert blocks[1]["text"]["text"] == (
        "`Acme payer` (111122223333) · partner `Acme` · us-east-1 · 2026-11-28 14:02:11 UTC"
    )
    fields = [field["text"] for field in blocks[2]["fields"]]
    assert "*Source IP*\n`203.0.113.7` — first time seen for this account" in fields
    assert "*User agent*\nChrome 135 on Windows" in fields
    assert "*MFA*\nnot used" in fields
    assert "*Result*\nsuccess" in fields
    assert "*Incident*  `3f9c2a7e` · 1 event so far · opened 14:02 UTC" in text
    assert "*Planned*  no planned root use for this account" in text
    assert f"{CLOUDTRAIL_LINK}  `rootwatch show 3f9c2a7e`" in text
    assert payload["unfurl_links"] is False
    assert payload["text"].startswith("🚨 *CRITICAL · Root console login without MFA* · ")


def test_an_escalation_names_what_raised_it_and_the_severity_before() -> None:
    text = message_text(render_slack(EVERY_KIND["escalation"]))
    assert "🚨 *ESCALATED to CRITICAL · root created an access key* (was HIGH)" in text
    assert "`CreateAccessKey` · `iam.amazonaws.com`" in text
    assert "— seen before for this account" in text
    assert "*MFA*\nnot reported" in text
    assert "`ConsoleLogin` ×1, `ListBuckets` ×1" in text  # noqa: RUF001


def test_an_update_is_one_short_line_with_its_incident() -> None:
    payload = render_slack(UPDATE)
    blocks = payload["blocks"]
    assert len(blocks) == 2
    assert blocks[0]["text"]["text"] == (
        "↪️ *+12 events*: `ListBuckets` ×8, `DescribeInstances` ×4 · still CRITICAL"  # noqa: RUF001
    )
    context = blocks[1]["elements"][0]["text"]
    assert "`3f9c2a7e` · 15 events so far" in context
    assert "`rootwatch show 3f9c2a7e`" in context


def test_an_update_lists_the_busiest_event_names_first_and_counts_the_rest() -> None:
    names = {f"Describe{index}": index for index in range(1, 9)}
    alert = replace(UPDATE, update=replace(UPDATE.update, new_events=36, event_names=names))
    headline = render_slack(alert)["blocks"][0]["text"]["text"]
    assert headline.startswith("↪️ *+36 events*: `Describe8` ×8, `Describe7` ×7, ")  # noqa: RUF001
    assert headline.endswith("`Describe4` ×4 and 3 more · still CRITICAL")  # noqa: RUF001


def test_a_silent_spoke_says_where_and_for_how_long() -> None:
    text = message_text(render_slack(SILENT_SPOKE))
    assert "🔕 *CRITICAL · Spoke silent* · no heartbeat from eu-west-1 for 47 min" in text
    assert "*Last heartbeat*\n2026-11-28 13:15:00 UTC" in text
    assert "*Expected*\nevery 5 min" in text
    assert "`rootwatch spokes --account 111122223333`" in text


def test_a_spoke_that_reports_again_says_for_how_long_it_was_silent_and_what_to_scan() -> None:
    payload = render_slack(SPOKE_RECOVERED)
    text = message_text(payload)
    assert text.startswith(
        "✅ *RESOLVED · Spoke reports again* · eu-west-1 after 2 h 5 min without a heartbeat"
    )
    assert "CRITICAL" not in text
    assert "*Silent since*\n2026-11-28 13:15:00 UTC" in text
    assert "*Reported again*\n2026-11-28 15:20:00 UTC" in text
    assert (
        "may not have reached the hub from 2026-11-28 13:15:00 UTC to 2026-11-28 15:20:00 UTC"
        in text
    )
    assert "`rootwatch spokes --account 111122223333`" in text


def test_a_spoke_that_never_reported_before_its_recovery_says_so() -> None:
    spoke = replace(SPOKE_RECOVERED.spoke, last_heartbeat=None)
    text = message_text(render_slack(replace(SPOKE_RECOVERED, spoke=spoke)))
    assert "*Silent since*\nnever reported before" in text
    assert "may not have reached the hub while it was silent" in text


def test_a_spoke_that_never_reported_says_so() -> None:
    alert = replace(SILENT_SPOKE, spoke=replace(SILENT_SPOKE.spoke, last_heartbeat=None))
    text = message_text(render_slack(alert))
    assert "no heartbeat from eu-west-1 ever (never reported)" in text
    assert "*Last heartbeat*\nnever reported" in text


def test_a_test_alert_is_marked_as_a_test_everywhere_it_shows() -> None:
    payload = render_slack(TEST)
    assert payload["text"].startswith("🧪 *TEST* · rootwatch test alert · no action needed")
    assert payload["blocks"][0]["text"]["text"].startswith("🧪 *TEST*")
    assert "`sent by rootwatch verify`" in message_text(payload)


def test_a_planned_window_says_whose_plan_it_was() -> None:
    event = replace(FIRST.event, planned_by="alice@acme.example", planned_reason="close account")
    text = message_text(render_slack(replace(FIRST, event=event)))
    assert "inside root use planned by `alice@acme.example`: `close account`" in text


def test_an_event_id_that_is_not_a_uuid_gets_no_link() -> None:
    event = replace(FIRST.event, event_id="x/../../evil")
    text = message_text(render_slack(replace(FIRST, event=event)))
    assert "<" not in text
    assert "event `x/../../evil`" in text


@pytest.mark.parametrize("kind", sorted(EVERY_KIND))
def test_every_kind_renders_a_payload_slack_accepts(kind: str) -> None:
    payload = render_slack(EVERY_KIND[kind])
    json.dumps(payload)
    assert 1 <= len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        assert len(block.get("text", {}).get("text", "")) <= 3000
        assert len(block.get("fields", [])) <= 10


def skeleton(payload: dict[str, Any]) -> str:
    """The payload with every code span blanked: the part attacker text must not change."""
    return CODE_SPAN.sub("`…`", json.dumps(payload, ensure_ascii=False))


@pytest.mark.parametrize("kind", sorted(EVERY_KIND))
@pytest.mark.parametrize("text", INJECTIONS)
def test_attacker_text_only_ever_appears_inside_code_spans(kind: str, text: str) -> None:
    payload = render_slack(with_attacker_text(text, kind))
    assert_slack_payload_inert(payload)
    assert skeleton(payload) == skeleton(render_slack(with_benign_text(kind)))


def test_injection_strings_are_shown_escaped_not_dropped() -> None:
    text = message_text(render_slack(with_attacker_text("<!channel> *x* `y` &lt;")))
    assert "`&lt;!channel&gt; *x* ˋyˋ &amp;lt;`" in text  # noqa: RUF001


def test_urls_in_attacker_text_are_broken_so_slack_cannot_link_them() -> None:
    text = message_text(render_slack(with_attacker_text("see https://evil.example or www.x.io")))
    assert "`see https:\u2060//evil.example or www\u2060.x.io`" in text


def test_new_lines_in_attacker_text_cannot_fake_fields() -> None:
    alert = with_attacker_text("10.0.0.1\nMFA   used\r\nResult   failure")
    text = message_text(render_slack(alert))
    assert "`10.0.0.1 MFA used Result failure`" in text


def test_a_4000_character_user_agent_is_cut_and_every_limit_holds() -> None:
    agent = "A" * 2000 + "<!channel>" * 200
    payload = render_slack(replace(FIRST, event=replace(FIRST.event, user_agent=agent)))
    assert_slack_payload_inert(payload)
    user_agent = next(
        field["text"]
        for block in payload["blocks"]
        for field in block.get("fields", [])
        if field["text"].startswith("*User agent*")
    )
    assert len(user_agent) < 400
    assert user_agent.endswith("…`")


def test_every_field_of_a_huge_alert_stays_within_block_kit_limits() -> None:
    huge = "&<>" * 3000
    payload = render_slack(with_attacker_text(huge))
    assert_slack_payload_inert(payload)
    for text in mrkdwn_texts(payload):
        assert len(text) <= 3000
    for block in payload["blocks"]:
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000


def test_our_own_summary_cannot_carry_markup_or_mentions() -> None:
    event = replace(FIRST.event, summary="root *called* <!here> https://x.example")
    headline = render_slack(replace(FIRST, event=event))["blocks"][0]["text"]["text"]
    assert headline == "🚨 *CRITICAL · root ∗called∗ &lt;!here&gt; https:\u2060//x.example*"  # noqa: RUF001
