"""Webhook payloads rendered as a reader sees them in Slack."""

from __future__ import annotations

import pytest
from rootwatch.local.slack_text import render_mrkdwn, render_payload, visible_width


@pytest.mark.parametrize(
    ("mrkdwn", "shown"),
    [
        ("*CRITICAL* · Root login", "CRITICAL · Root login"),
        ("_italic_ and ~struck~", "italic and struck"),
        ("`203.0.113.7`", "203.0.113.7"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("<https://console.aws.amazon.com/x|Open in CloudTrail>", "Open in CloudTrail"),
        ("<https://example.com>", "https://example.com"),
        ("hi <!channel> and <!here|here>", "hi @channel and @here"),
        ("<@U123|alice> in <#C42|ops>", "@alice in #ops"),
        ("<!subteam^S1|security>", "@security"),
        ("`&lt;!channel&gt; *x*`", "<!channel> *x*"),
        ("```a *b*\nc```", "a *b*\nc"),
        ("2*3*4 keeps its stars", "2*3*4 keeps its stars"),
        ("<https://x.test/a_b_c|a_b_c>", "a_b_c"),
    ],
)
def test_mrkdwn_reads_as_slack_shows_it(mrkdwn: str, shown: str) -> None:
    assert render_mrkdwn(mrkdwn) == shown


def test_escaped_markup_stays_literal_and_real_mentions_stand_out() -> None:
    styled = render_mrkdwn("&lt;!channel&gt; <!channel>", styled=True)
    assert styled.startswith("<!channel> ")
    assert "\x1b[7m@channel\x1b[27m" in styled


def test_styles_are_terminal_escapes_when_asked() -> None:
    assert render_mrkdwn("*bold*", styled=True) == "\x1b[1mbold\x1b[22m"
    assert visible_width(render_mrkdwn("*bold* `code`", styled=True)) == len("bold code")


def test_blocks_become_lines_with_fields_in_two_columns() -> None:
    payload = {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Headline*"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Source IP*\n`203.0.113.7`"},
                    {"type": "mrkdwn", "text": "*MFA*\nnot used"},
                    {"type": "mrkdwn", "text": "*Rules*\nlogin-no-mfa"},
                ],
            },
            {"type": "divider"},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "one"},
                    {"type": "plain_text", "text": "two"},
                ],
            },
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Ack"}}],
            },
            {"type": "video"},
        ],
    }
    lines = render_payload(payload, width=40).split("\n")
    assert lines[0] == "Title"
    assert lines[1] == "Headline"
    assert lines[2] == "Source IP" + " " * 10 + "  MFA"
    assert lines[3] == "203.0.113.7" + " " * 8 + "  not used"
    assert lines[4:6] == ["Rules", "login-no-mfa"]
    assert lines[6] == "─" * 40
    assert lines[7:] == ["one  two", "[Ack]", "[video block]"]


def test_a_payload_without_blocks_shows_its_text() -> None:
    assert render_payload({"text": "*hello* <!here>"}) == "hello @here"
    assert render_payload("not an object") == "not an object"
