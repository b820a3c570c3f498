"""Text helpers: cleaning, Slack escaping, user agents, durations, CloudTrail links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rootwatch.render.text import (
    ascii_line,
    clean,
    cloudtrail_event_url,
    describe_duration,
    describe_user_agent,
    format_clock,
    parse_time,
    slack_code,
    slack_escape_within,
    slack_text,
)


@pytest.mark.parametrize(
    ("agent", "described"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/135.0.0.0 Safari/537.36",
            "Chrome 135 on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/134.0.0.0 Safari/537.36 Edg/134.0.3124.85",
            "Edge 134 on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128 on Linux",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1",
            "Chrome 123 on iOS",
        ),
        (
            "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off "
            "command/s3.ls",
            "AWS CLI 2.15.30",
        ),
        (
            "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 lang/python#3.12.2",
            "boto3 1.34.69",
        ),
        ("APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io)", "Terraform 1.7.5"),
        ("AWS Internal", "AWS console"),
        ("signin.amazonaws.com", "AWS console"),
        ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.669]", "AWS SDK for Java 1.12.669"),
        ("curl/8.5.0", None),
        ("", None),
        (None, None),
        ("Chrome/<script>", None),
    ],
)
def test_user_agents_are_described_in_a_few_words(agent: str | None, described: str | None) -> None:
    assert describe_user_agent(agent) == described


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (2820, "47 min"), (7200, "2 h"),
     (7500, "2 h 5 min"), (86400, "1 d"), (273600, "3 d 4 h"), (-5, "0 s")],
)  # fmt: skip
def test_durations_read_naturally(seconds: float, words: str) -> None:
    assert describe_duration(seconds) == words


def test_clean_makes_one_bounded_line_of_visible_text() -> None:
    assert clean("a\r\nb\tc\u2028d", 100) == "a b c d"
    assert clean("admin\u202egnp.exe\u200b\x00\x1b[31m", 100) == "admingnp.exe[31m"
    assert clean("x" * 10, 5) == "xxxx…"
    assert clean("   ", 5) == ""


def test_slack_escaping_never_splits_an_entity_when_it_cuts() -> None:
    assert slack_escape_within("<<<", 9) == "&lt;&lt;…"
    assert slack_escape_within("<<<", 8) == "&lt;…"
    assert slack_escape_within("a&b", 20) == "a&amp;b"
    assert slack_code("`x` <@U1>", 100) == "`ˋxˋ &lt;@U1&gt;`"  # noqa: RUF001
    assert slack_code("\x00\u200b", 100) == "—"
    assert slack_text("*a* _b_ ~c~ @here", 100) == "∗a∗ ＿b＿ ∼c∼ @\u2060here"  # noqa: RUF001


def test_ascii_lines_keep_meaning_without_unicode() -> None:
    assert ascii_line("CRITICAL · Café ×3 — done…", 99) == "CRITICAL - Cafe x3 - done..."  # noqa: RUF001
    assert ascii_line("x" * 200, 99) == "x" * 96 + "..."


def test_cloudtrail_links_are_only_built_from_well_formed_parts() -> None:
    event_id = "3f9c2a7e-5b1d-4c8e-9a0f-1d2e3f4a5b6c"
    assert cloudtrail_event_url("eu-west-1", event_id) == (
        "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1"
        f"#/events/{event_id}"
    )
    assert cloudtrail_event_url("cn-north-1", event_id) == (
        "https://cn-north-1.console.amazonaws.cn/cloudtrailv2/home?region=cn-north-1"
        f"#/events/{event_id}"
    )
    assert cloudtrail_event_url("us-east-1", "not-a-uuid") is None
    assert cloudtrail_event_url("evil.example/x", event_id) is None
    assert cloudtrail_event_url("us-east-1", event_id + "|x") is None
    assert cloudtrail_event_url(None, event_id) is None


def test_times_parse_to_utc_and_print_with_or_without_the_date() -> None:
    moment = parse_time("2026-11-28T14:02:11Z")
    assert moment == datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)
    assert parse_time("2026-11-28T15:02:11+01:00") == moment
    assert parse_time("yesterday") is None
    assert format_clock(moment, moment) == "14:02 UTC"
    assert format_clock(moment, datetime(2026, 11, 29, tzinfo=UTC)) == "2026-11-28 14:02 UTC"
