"""`rootwatch events`, `incidents` and `show` against a hub in moto, through `main()`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws
from rootwatch.cli.events import KEYS as EVENT_KEYS
from rootwatch.cli.incidents import KEYS as INCIDENT_KEYS
from rootwatch.keys import iso

from tests.support.cli_hub import (
    CliResult,
    MotoHub,
    create_hub,
    event_item,
    incident_item,
)

ACME = "111122223333"
GLOBEX = "444455556666"
INITECH = "777788889999"
PARTNERS = {ACME: "Acme", GLOBEX: "Globex", INITECH: None}
SEVERITIES = ("info", "low", "medium", "high", "critical")
NAMES = ("ListBuckets", "ConsoleLogin", "CreateAccessKey", "GetCallerIdentity")
IPS = ("203.0.113.7", "198.51.100.23", "2001:db8::1")
NOW = datetime.now(UTC).replace(microsecond=0)
# Long, and with a terminal escape: shown whole, and inert.
HOSTILE_AGENT = "Mozilla/5.0 \x1b]0;owned\x07\x1b[2J" + " (compatible; " * 20 + "end-of-agent"


def _dataset() -> list[dict[str, Any]]:
    """Forty-five events over three accounts, some of them weeks old (earlier months)."""
    events = []
    for index in range(45):
        account = (ACME, GLOBEX, INITECH)[index % 3]
        hours = index * 3 if index < 36 else 24 * (35 + index)
        events.append(
            event_item(
                event_id=f"evt-{index:03d}",
                account_id=account,
                at=NOW - timedelta(hours=hours, minutes=index),
                severity=SEVERITIES[index % 5],
                event_name=NAMES[index % 4],
                source_ip=IPS[index % 3],
                incident_id=f"inc{account[:3]}{index // 9:06d}",
                partner=PARTNERS[account],
                account_name=f"{PARTNERS[account] or 'Initech'} payer",
                user_agent=HOSTILE_AGENT if index == 7 else "aws-cli/2.22.35",
            )
        )
    return events


EVENTS = _dataset()
TIMELINE_INCIDENT = "inc111000002"


def incident_members(incident_id: str) -> list[dict[str, Any]]:
    """The incident's events, newest first."""
    chosen = [event for event in EVENTS if event["incident_id"] == incident_id]
    return sorted(chosen, key=lambda event: event["event_time"], reverse=True)


@pytest.fixture(scope="module")
def hub() -> Iterator[MotoHub]:
    with mock_aws():
        created = create_hub()
        created.put(EVENTS)
        created.put(
            [
                incident_item(
                    incident_id="inc-open",
                    account_id=ACME,
                    opened_at=NOW - timedelta(minutes=50),
                    last_seen=NOW - timedelta(minutes=5),
                    severity="critical",
                    event_names={"ConsoleLogin": 1, "ListBuckets": 8},
                    partner="Acme",
                ),
                incident_item(
                    incident_id="inc-closed",
                    account_id=GLOBEX,
                    opened_at=NOW - timedelta(days=2),
                    last_seen=NOW - timedelta(days=2) + timedelta(minutes=20),
                    severity="medium",
                    partner="Globex",
                ),
                incident_item(
                    incident_id=TIMELINE_INCIDENT,
                    account_id=ACME,
                    opened_at=datetime.fromisoformat(
                        incident_members(TIMELINE_INCIDENT)[-1]["event_time"]
                    ),
                    last_seen=datetime.fromisoformat(
                        incident_members(TIMELINE_INCIDENT)[0]["event_time"]
                    ),
                    partner="Acme",
                ),
                incident_item(
                    incident_id="inc-old",
                    account_id=ACME,
                    opened_at=NOW - timedelta(days=70),
                    last_seen=NOW - timedelta(days=70),
                    severity="high",
                    partner="Acme",
                ),
            ]
        )
        yield created


def expected_ids(keep: Callable[[dict[str, Any]], bool] = lambda _event: True) -> list[str]:
    chosen = [event for event in EVENTS if keep(event)]
    chosen.sort(key=lambda event: (event["event_time"], event["event_id"]), reverse=True)
    return [event["event_id"] for event in chosen]


def listed_ids(result: CliResult) -> list[str]:
    assert result.status == 0, result.err
    return [event["event_id"] for event in result.json()["events"]]


# --- output formats ---


def test_json_lists_every_event_newest_first_with_the_documented_keys(cli: Any) -> None:
    result = cli("events", "--output", "json", "--limit", "1000")
    document = result.json()
    assert listed_ids(result) == expected_ids()
    assert document["next_token"] is None
    first = document["events"][0]
    assert tuple(first) == EVENT_KEYS
    assert first["account_name"] and first["rules"] == ["write"]


def test_table_shows_one_line_per_event_under_a_header(cli: Any) -> None:
    result = cli("events", "--limit", "5")
    assert result.status == 0, result.err
    header, *rows = result.lines()
    assert header.split()[:3] == ["TIME", "(UTC)", "SEVERITY"]
    assert len(rows) == 5
    newest = expected_ids()[0]
    newest_event = next(event for event in EVENTS if event["event_id"] == newest)
    assert newest_event["event_time"].replace("T", " ").rstrip("Z") in rows[0]
    assert result.err.startswith("next: ")


def test_csv_has_a_header_row_and_one_row_per_event(cli: Any) -> None:
    result = cli("events", "--output", "csv", "--account", GLOBEX, "--limit", "1000")
    assert result.status == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert tuple(rows[0]) == EVENT_KEYS
    assert [row[0] for row in rows[1:]] == expected_ids(lambda e: e["account_id"] == GLOBEX)
    assert result.err == ""


def test_an_empty_listing_says_so_on_stderr_only(cli: Any) -> None:
    result = cli("events", "--event-name", "DeleteTrail")
    assert result.status == 0
    assert result.out == ""
    assert "no events match" in result.err


# --- filters ---


@pytest.mark.parametrize(
    ("arguments", "keep"),
    [
        (["--account", ACME], lambda e: e["account_id"] == ACME),
        (["--partner", "Globex"], lambda e: e.get("partner") == "Globex"),
        (["--severity", "high"], lambda e: e["severity"] in ("high", "critical")),
        (["--severity", "medium"], lambda e: e["severity"] in ("medium", "high", "critical")),
        (["--severity", "info"], lambda e: True),
        (["--event-name", "ConsoleLogin"], lambda e: e["event_name"] == "ConsoleLogin"),
        (["--source-ip", "2001:db8::1"], lambda e: e["source_ip"] == "2001:db8::1"),
        (["--incident", f"inc{ACME[:3]}000001"], lambda e: e["incident_id"] == "inc111000001"),
        (
            ["--account", ACME, "--severity", "critical"],
            lambda e: e["account_id"] == ACME and e["severity"] == "critical",
        ),
        (
            ["--severity", "low", "--event-name", "ListBuckets", "--partner", "Acme"],
            lambda e: (
                e["severity"] != "info"
                and e["event_name"] == "ListBuckets"
                and e.get("partner") == "Acme"
            ),
        ),
        (
            ["--incident", "inc111000001", "--account", GLOBEX],
            lambda e: False,
        ),
    ],
)
def test_filters(cli: Any, arguments: list[str], keep: Callable[[dict[str, Any]], bool]) -> None:
    result = cli("events", "--output", "json", "--limit", "1000", *arguments)
    assert listed_ids(result) == expected_ids(keep)


def test_time_range_reaches_into_earlier_months(cli: Any) -> None:
    since = NOW - timedelta(days=60)
    until = NOW - timedelta(days=2)
    result = cli(
        "events", "--output", "json", "--limit", "1000", "--since", "60d", "--until", iso(until)
    )
    assert listed_ids(result) == expected_ids(lambda e: iso(since) <= e["event_time"] < iso(until))
    older = cli("events", "--output", "json", "--limit", "1000", "--until", "30d")
    assert listed_ids(older) == expected_ids(
        lambda e: e["event_time"] < iso(NOW - timedelta(days=30))
    )
    assert listed_ids(older), "the data set has events over 30 days old"


def test_until_is_exclusive_and_since_inclusive(cli: Any) -> None:
    pivot = EVENTS[4]["event_time"]
    before = cli("events", "--output", "json", "--limit", "1000", "--until", pivot)
    after = cli("events", "--output", "json", "--limit", "1000", "--since", pivot)
    assert EVENTS[4]["event_id"] not in listed_ids(before)
    assert EVENTS[4]["event_id"] in listed_ids(after)
    assert sorted(listed_ids(before) + listed_ids(after)) == sorted(expected_ids())


# --- paging ---


def pages(cli: Any, *arguments: str, limit: int) -> list[list[str]]:
    """Every page of a listing, following `next:` tokens from stderr."""
    collected: list[list[str]] = []
    token: list[str] = []
    while True:
        result = cli("events", "--output", "csv", "--limit", str(limit), *arguments, *token)
        assert result.status == 0, result.err
        collected.append([row[0] for row in list(csv.reader(io.StringIO(result.out)))[1:]])
        if not result.err:
            return collected
        assert result.err.startswith("next: ")
        token = ["--next-token", result.err.split("next: ", 1)[1].strip()]
        assert len(collected) < 100, "paging does not end"


@pytest.mark.parametrize(
    ("arguments", "keep"),
    [
        ([], lambda e: True),
        (["--severity", "medium"], lambda e: e["severity"] in ("medium", "high", "critical")),
        (["--account", INITECH], lambda e: e["account_id"] == INITECH),
        (["--event-name", "ListBuckets"], lambda e: e["event_name"] == "ListBuckets"),
        (["--since", "50d"], lambda e: e["event_time"] >= iso(NOW - timedelta(days=50))),
    ],
)
def test_pages_follow_each_other_without_gaps_or_repeats(
    cli: Any, arguments: list[str], keep: Callable[[dict[str, Any]], bool]
) -> None:
    collected = pages(cli, *arguments, limit=4)
    assert all(len(page) == 4 for page in collected[:-1])
    assert [event_id for page in collected for event_id in page] == expected_ids(keep)


def test_json_pages_carry_the_token(cli: Any) -> None:
    first = cli("events", "--output", "json", "--limit", "10")
    token = first.json()["next_token"]
    assert token and first.err == ""
    second = cli("events", "--output", "json", "--limit", "10", "--next-token", token)
    assert listed_ids(first) + listed_ids(second) == expected_ids()[:20]


def test_a_token_used_with_other_filters_is_a_usage_error(cli: Any) -> None:
    token = cli("events", "--output", "json", "--limit", "3").json()["next_token"]
    result = cli("events", "--severity", "high", "--next-token", token)
    assert result.status == 2
    assert "other filters" in result.err
    assert "Traceback" not in result.err


# --- usage and failures ---


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "last tuesday"], "is neither ISO 8601"),
        (["--since", "1d", "--until", "7d"], "must be before --until"),
        (["--account", "1234"], "12-digit"),
        (["--limit", "0"], "--limit must be 1 to 1000"),
        (["--severity", "severe"], "invalid choice"),
        (["--next-token", "garbage"], "not a token"),
        (["--output", "yaml"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_a_message(cli: Any, arguments: list[str], message: str) -> None:
    result = cli("events", *arguments)
    assert result.status == 2
    assert message in result.err
    assert "Traceback" not in result.err and result.out == ""


def test_a_missing_stack_names_itself_and_the_region(cli: Any) -> None:
    result = cli("events", "--stack-name", "rootwatch-elsewhere")
    assert result.status == 1
    assert result.err.strip() == (
        "rootwatch: error: no stack rootwatch-elsewhere in region us-east-1: deploy the hub "
        "or pass --stack-name/--region"
    )


def test_the_wrong_region_is_a_missing_stack_there(cli: Any) -> None:
    result = cli("incidents", "--region", "eu-west-1")
    assert result.status == 1
    assert "no stack rootwatch-hub in region eu-west-1" in result.err


def test_no_credentials_says_how_to_get_them(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    result = cli("events")
    assert result.status == 1
    assert "no AWS credentials found" in result.err
    assert "--profile" in result.err


def test_an_unknown_profile_is_a_usage_error(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    result = cli("events", "--profile", "nobody")
    assert result.status == 2
    assert "nobody" in result.err and "--profile" in result.err


def test_a_stack_without_the_table_output_says_so(cli: Any) -> None:
    create_hub(stack_name="rootwatch-partial", omit_outputs=("TableName",))
    result = cli("events", "--stack-name", "rootwatch-partial")
    assert result.status == 1
    assert "has no output TableName" in result.err


# --- incidents ---


def test_incidents_newest_first_with_state_and_counts(cli: Any) -> None:
    result = cli("incidents", "--output", "json")
    assert result.status == 0, result.err
    incidents = result.json()["incidents"]
    assert [incident["incident_id"] for incident in incidents] == [
        "inc-open",
        "inc-closed",
        TIMELINE_INCIDENT,
        "inc-old",
    ]
    assert tuple(incidents[0]) == INCIDENT_KEYS
    assert incidents[0]["state"] == "open" and incidents[1]["state"] == "closed"
    assert incidents[0]["event_count"] == 9
    assert incidents[0]["event_names"] == {"ConsoleLogin": 1, "ListBuckets": 8}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--open"], ["inc-open"]),
        (["--closed"], ["inc-closed", TIMELINE_INCIDENT, "inc-old"]),
        (["--account", ACME], ["inc-open", TIMELINE_INCIDENT, "inc-old"]),
        (["--severity", "high"], ["inc-open", TIMELINE_INCIDENT, "inc-old"]),
        (["--partner", "Globex"], ["inc-closed"]),
        (["--since", "7d"], ["inc-open", "inc-closed", TIMELINE_INCIDENT]),
        (["--account", ACME, "--until", "1d"], [TIMELINE_INCIDENT, "inc-old"]),
    ],
)
def test_incident_filters(cli: Any, arguments: list[str], expected: list[str]) -> None:
    result = cli("incidents", "--output", "json", *arguments)
    assert result.status == 0, result.err
    assert [incident["incident_id"] for incident in result.json()["incidents"]] == expected


def test_incidents_page_and_print_tables_and_csv(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    narrow = cli("incidents", "--limit", "2")
    assert max(len(line) for line in narrow.lines()) <= 100
    monkeypatch.setenv("COLUMNS", "200")
    first = cli("incidents", "--limit", "2")
    assert first.status == 0
    assert len(first.lines()) == 3 and "inc-open" in first.lines()[1]
    assert "ListBuckets:8, ConsoleLogin:1" in first.lines()[1]
    token = first.err.split("next: ", 1)[1].strip()
    rest = cli("incidents", "--limit", "2", "--output", "csv", "--next-token", token)
    rows = list(csv.reader(io.StringIO(rest.out)))
    assert tuple(rows[0]) == INCIDENT_KEYS
    assert [row[0] for row in rows[1:]] == [TIMELINE_INCIDENT, "inc-old"]
    assert rest.err == ""


def test_incident_usage_errors(cli: Any) -> None:
    assert cli("incidents", "--open", "--closed").status == 2
    assert cli("incidents", "--since", "tomorrow").status == 2


# --- show ---


def test_show_an_event_with_its_cloudtrail_record(cli: Any) -> None:
    event = EVENTS[7]
    result = cli("show", event["event_id"], "--output", "json")
    assert result.status == 0, result.err
    shown = result.json()["event"]
    assert shown["event_id"] == event["event_id"]
    assert shown["record"] == json.loads(event["record"])
    assert not any(key.startswith("gsi") or key in ("pk", "sk") for key in shown)

    table = cli("show", event["event_id"])
    assert table.status == 0
    assert "\x1b" not in table.out and "\x07" not in table.out
    assert "end-of-agent" in table.out
    assert "CloudTrail record:" in table.out
    assert f'"eventID": "{event["event_id"]}"' in table.out
    assert "severity" in table.out and event["severity"] in table.out


def test_show_an_incident_with_its_timeline_oldest_first(cli: Any) -> None:
    members = [event["event_id"] for event in reversed(incident_members(TIMELINE_INCIDENT))]
    assert len(members) == 3
    result = cli("show", TIMELINE_INCIDENT, "--output", "json")
    assert result.status == 0, result.err
    document = result.json()
    assert document["incident"]["incident_id"] == TIMELINE_INCIDENT
    assert document["incident"]["state"] == "closed"
    assert [event["event_id"] for event in document["timeline"]] == members
    assert document["more_events"] is False
    table = cli("show", TIMELINE_INCIDENT)
    assert table.status == 0
    assert "Timeline (oldest first):" in table.out
    assert table.out.index(members[0]) < table.out.index(members[1]) < table.out.index(members[2])
    rows = cli("show", TIMELINE_INCIDENT, "--output", "csv")
    assert [row[0] for row in list(csv.reader(io.StringIO(rows.out)))[1:]] == members


def test_show_a_timeline_longer_than_the_limit(cli: Any) -> None:
    members = [event["event_id"] for event in reversed(incident_members(TIMELINE_INCIDENT))]
    result = cli("show", TIMELINE_INCIDENT, "--output", "json", "--limit", "2")
    document = result.json()
    assert [event["event_id"] for event in document["timeline"]] == members[:2]
    assert document["more_events"] is True
    table = cli("show", TIMELINE_INCIDENT, "--limit", "2")
    assert f"rootwatch events --incident {TIMELINE_INCIDENT}" in table.err
    assert members[1] in table.out and members[2] not in table.out


def test_show_an_unknown_id_fails_with_a_message(cli: Any) -> None:
    result = cli("show", "nothing-like-this")
    assert result.status == 1
    assert "no event or incident nothing-like-this" in result.err
    assert cli("show", "two words").status == 2
