"""Email rendering: subject, plain text and HTML carry the same facts, all inert."""

from __future__ import annotations

import re
import unicodedata

import pytest
from msgspec.structs import replace
from rootwatch.render.email import render_email

from tests.support.alerts import (
    EVENT_ID,
    EVERY_KIND,
    FIRST,
    INJECTIONS,
    OUR_URL,
    SILENT_SPOKE,
    SPOKE_RECOVERED,
    TEST,
    UPDATE,
    HtmlStructure,
    assert_html_inert,
    with_attacker_text,
    with_benign_text,
)

CLOUDTRAIL_URL = (
    "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1"
    f"#/events/{EVENT_ID}"
)


def test_a_first_alert_has_the_facts_in_both_parts() -> None:
    email = render_email(FIRST)
    assert email.subject == (
        "[rootwatch] CRITICAL · Root console login without MFA · Acme payer (111122223333)"
    )
    for line in (
        "🚨 CRITICAL · Root console login without MFA",
        "Acme payer (111122223333) · partner Acme · us-east-1 · 2026-11-28 14:02:11 UTC",
        "Source IP        203.0.113.7 — first time seen for this account",
        "User agent       Chrome 135 on Windows",
        "MFA              not used",
        "Incident         3f9c2a7e · 1 event so far · opened 14:02 UTC",
        "Planned          no planned root use for this account",
        f"Open in CloudTrail: {CLOUDTRAIL_URL}",
        "rootwatch show 3f9c2a7e",
    ):
        assert line in email.text.splitlines(), line
    html_text = "".join(HtmlStructure(email.html).text)
    for fact in ("203.0.113.7", "Chrome 135 on Windows", "not used", "Acme payer", "login-no-mfa"):
        assert fact in html_text
    assert HtmlStructure(email.html).hrefs == [CLOUDTRAIL_URL]


def test_the_incident_timeline_is_a_table_in_both_parts() -> None:
    email = render_email(FIRST)
    lines = email.text.splitlines()
    header = lines.index("Timeline") + 1
    assert lines[header].split() == [
        "Time",
        "(UTC)",
        "Event",
        "Severity",
        "Region",
        "Source",
        "IP",
        "Result",
    ]
    assert lines[header + 1].split() == [
        "2026-11-28", "14:02:11", "ConsoleLogin", "critical", "us-east-1", "203.0.113.7", "success",
    ]  # fmt: skip
    assert "<h3>Timeline</h3>" in email.html
    assert "<td" in email.html.split("<h3>Timeline</h3>")[1]


def test_a_timeline_says_how_many_events_it_leaves_out() -> None:
    email = render_email(UPDATE)
    note = "... and 14 more events between the first and the latest listed"
    assert note in email.text.splitlines()
    assert f"<p>{note}</p>" in email.html
    assert "more event" not in render_email(FIRST).text


def test_an_update_and_a_silent_spoke_and_a_test_have_subjects_that_say_so() -> None:
    assert render_email(UPDATE).subject.startswith(
        "[rootwatch] +12 events: ListBuckets ×8, DescribeInstances ×4 · still CRITICAL"  # noqa: RUF001
    )
    assert (
        "Spoke silent · no heartbeat from eu-west-1 for 47 min"
        in render_email(SILENT_SPOKE).subject
    )
    recovered = render_email(SPOKE_RECOVERED)
    assert recovered.subject.startswith(
        "[rootwatch] RESOLVED · Spoke reports again · eu-west-1 after 2 h 5 min"
    )
    assert recovered.ascii_subject.startswith("[rootwatch] RESOLVED - Spoke reports again")
    assert "Silent since" in recovered.text and "Reported again" in recovered.text
    test = render_email(TEST)
    assert test.subject.startswith("[rootwatch TEST] TEST · rootwatch test alert")
    assert "<strong>TEST</strong>" in test.html


@pytest.mark.parametrize("kind", sorted(EVERY_KIND))
def test_every_kind_has_an_ascii_subject_short_enough_for_sns(kind: str) -> None:
    email = render_email(EVERY_KIND[kind])
    assert email.ascii_subject.isascii()
    assert 0 < len(email.ascii_subject) < 100
    assert email.ascii_subject.isprintable()


@pytest.mark.parametrize("kind", sorted(EVERY_KIND))
@pytest.mark.parametrize("text", INJECTIONS)
def test_attacker_text_cannot_inject_html_headers_or_links(kind: str, text: str) -> None:
    email = render_email(with_attacker_text(text, kind))
    for subject in (email.subject, email.ascii_subject):
        assert not any(unicodedata.category(char) == "Cc" for char in subject)
    assert email.ascii_subject.isprintable()
    assert_html_inert(email.html)
    assert "<script" not in email.html and "<img" not in email.html
    for part in (email.text, email.html):
        assert "://" not in OUR_URL.sub("", part)
        assert "\u202e" not in part and "\u200b" not in part and "\r" not in part


def test_attacker_text_is_shown_escaped_in_html_and_verbatim_in_text() -> None:
    email = render_email(with_attacker_text('"><img src=x onerror=alert(1)>'))
    assert "<code>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</code>" in email.html
    assert re.search(r'^Source IP +"><img src=x onerror=alert\(1\)> — first', email.text, re.M)


def test_new_lines_in_attacker_text_cannot_add_lines_to_the_text_part() -> None:
    plain = render_email(with_benign_text()).text.splitlines()
    injected = render_email(with_attacker_text("10.0.0.1\nMFA   used\r\nResult   failure"))
    assert len(injected.text.splitlines()) == len(plain)


def test_a_subject_cannot_carry_a_header_injection() -> None:
    account = replace(FIRST.account, name="Acme\r\nBcc: victim@example.com")
    email = render_email(replace(FIRST, account=account))
    assert email.subject.endswith("Acme Bcc: victim@example.com (111122223333)")


def test_a_4000_character_user_agent_is_cut() -> None:
    email = render_email(replace(FIRST, event=replace(FIRST.event, user_agent="<" * 4000)))
    line = next(line for line in email.text.splitlines() if line.startswith("User agent"))
    assert len(line) < 400 and line.endswith("…")
    assert re.search(r"<code>(&lt;){299}…</code>", email.html)
