"""The AWS calls each command makes over 10,000 events in 100 accounts: Queries, never a Scan.

Calls are counted with botocore's `before-call` hook on the commands' own session. Stack
resolution (one DescribeStacks per command) is counted apart from the command's work: the
budgets below are for the work.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from rootwatch.keys import iso

from tests.support.cli_hub import (
    ApiCalls,
    CliResult,
    MotoHub,
    create_hub,
    event_item,
    incident_item,
    run_cli,
)

EVENTS = 10_000
ACCOUNTS = [f"{100000000000 + index * 7919:012d}" for index in range(100)]
SEVERITIES = ("info", "low", "medium", "high", "critical")
NAMES = ("ListBuckets", "GetCallerIdentity", "ConsoleLogin", "DescribeInstances")
NOW = datetime.now(UTC).replace(microsecond=0)
# Events spread evenly over the last 90 days: four month partitions at most.
SPAN = timedelta(days=90)


def _event(index: int) -> dict[str, Any]:
    account = ACCOUNTS[index % len(ACCOUNTS)]
    return event_item(
        event_id=f"{index:08d}-0000-4000-8000-000000000000",
        account_id=account,
        at=NOW - SPAN * index / EVENTS,
        severity=SEVERITIES[index % len(SEVERITIES)],
        event_name=NAMES[index % len(NAMES)],
        source_ip=f"198.51.100.{index % 250}",
        incident_id=f"inc{index // 20:09d}",
        partner=f"partner-{index % 10}",
    )


@pytest.fixture(scope="module")
def hub() -> Iterator[MotoHub]:
    with mock_aws():
        created = create_hub()
        created.put(_event(index) for index in range(EVENTS))
        created.put(
            incident_item(
                incident_id=f"inc{number:09d}",
                account_id=ACCOUNTS[number % len(ACCOUNTS)],
                opened_at=NOW - SPAN * number * 20 / EVENTS,
                last_seen=NOW - SPAN * number * 20 / EVENTS + timedelta(minutes=30),
            )
            for number in range(EVENTS // 20)
        )
        yield created


@pytest.fixture
def calls(hub: MotoHub, monkeypatch: pytest.MonkeyPatch) -> ApiCalls:
    recorder = ApiCalls()
    recorder.install(monkeypatch)
    return recorder


@pytest.fixture
def command(
    calls: ApiCalls, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[CliResult, Counter[str]]]:
    """Run a command; its result and the operations of its work (DescribeStacks apart)."""

    def run(*argv: str) -> tuple[CliResult, Counter[str]]:
        calls.take()
        result = run_cli(capsys, *argv)
        assert result.status in (0, 1), result.err
        operations = Counter(calls.take())
        assert operations.pop("DescribeStacks") == 1
        assert "Scan" not in operations
        return result, operations

    return run


def test_first_page_of_the_last_30_days_takes_at_most_3_calls(command: Any) -> None:
    result, operations = command("events", "--since", "30d", "--output", "json")
    assert set(operations) == {"Query"}
    assert sum(operations.values()) <= 3
    events = result.json()["events"]
    assert len(events) == 50
    assert events[0]["event_time"] >= iso(NOW - timedelta(minutes=1))
    assert result.json()["next_token"]


def test_every_page_of_a_listing_is_queries_only(command: Any) -> None:
    result, _operations = command("events", "--since", "30d", "--output", "json")
    token = result.json()["next_token"]
    following, more = command("events", "--since", "30d", "--output", "json", "--next-token", token)
    assert more == Counter({"Query": 1})
    assert following.json()["events"][0]["event_time"] <= result.json()["events"][-1]["event_time"]


@pytest.mark.parametrize(
    ("arguments", "queries"),
    [
        (["events"], 1),
        (["events", "--account", ACCOUNTS[42]], 1),
        (["events", "--incident", "inc000000007"], 1),
        # One Query per severity at or above the floor, merged.
        (["events", "--severity", "high"], 2),
        (["events", "--severity", "low", "--since", "7d"], 4),
        (["events", "--account", ACCOUNTS[3], "--severity", "critical"], 1),
        (["incidents"], 1),
        (["incidents", "--account", ACCOUNTS[5]], 1),
        (["incidents", "--since", "30d", "--open"], None),
        (["events", "--event-name", "ConsoleLogin", "--since", "7d"], None),
        (["events", "--partner", "partner-3", "--since", "7d"], None),
        (["events", "--source-ip", "198.51.100.7", "--since", "7d"], None),
    ],
)
def test_listings_are_queries(command: Any, arguments: list[str], queries: int | None) -> None:
    result, operations = command(*arguments, "--output", "json")
    assert set(operations) == {"Query"}
    if queries is not None:
        assert operations["Query"] == queries
    else:
        # Filters are applied to the month partitions the range covers: one read each.
        assert operations["Query"] <= 3
    assert result.status == 0


def test_show_reads_by_key(command: Any) -> None:
    _result, operations = command("show", "00000042-0000-4000-8000-000000000000")
    assert operations == Counter({"BatchGetItem": 1})
    _result, operations = command("show", "inc000000003")
    assert operations == Counter({"BatchGetItem": 1, "Query": 1})


def test_account_and_window_commands(command: Any, tmp_path: Path) -> None:
    _result, operations = command("accounts", "list")
    assert operations == Counter({"Query": 1})
    _result, operations = command("accounts", "set", ACCOUNTS[0], "--name", "Payer 0")
    assert operations == Counter({"GetCallerIdentity": 1, "UpdateItem": 1})
    listing = tmp_path / "accounts.csv"
    with listing.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["account_id", "name", "partner"])
        writer.writerows(
            [account, f"Payer {index}", "Acme"] for index, account in enumerate(ACCOUNTS)
        )
    _result, operations = command("accounts", "import", "--file", str(listing))
    # One Query reads the entries; only the changed ones are written.
    assert operations == Counter({"Query": 1, "GetCallerIdentity": 1, "UpdateItem": 100})
    _result, operations = command("accounts", "import", "--file", str(listing))
    assert operations == Counter({"Query": 1})
    result, operations = command(
        "expect", "--account", ACCOUNTS[1], "--for", "1h", "--reason", "test", "--output", "json"
    )
    assert operations == Counter({"GetCallerIdentity": 1, "PutItem": 1})
    window_id = result.json()[0]["window_id"]
    _result, operations = command("expect", "list")
    assert operations == Counter({"Query": 1})
    _result, operations = command("expect", "cancel", window_id)
    assert operations == Counter({"Query": 1, "GetCallerIdentity": 1, "UpdateItem": 1})
    _result, operations = command("accounts", "remove", ACCOUNTS[0])
    assert operations == Counter({"DeleteItem": 1})


def test_operations_commands(command: Any) -> None:
    _result, operations = command("redrive", "--dry-run")
    assert operations == Counter({"GetQueueAttributes": 2})
    _result, operations = command("verify", "--no-test-alert")
    assert operations == Counter(
        {
            "DescribeTable": 1,
            "DescribeContinuousBackups": 1,
            "DescribeTimeToLive": 1,
            "DescribeEventBus": 1,
            "GetQueueAttributes": 2,
            "Query": 1,
        }
    )
