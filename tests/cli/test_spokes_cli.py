"""`rootwatch spokes`, `spokes expect` and `spokes forget` against moto: spokes written as the
heartbeat function writes them, read back as the watchdog reads them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws
from rootwatch.adapters.admin import AuditAdmin, EntryUpdate
from rootwatch.adapters.heartbeats import DynamoHeartbeats
from rootwatch.adapters.spokes import DynamoSpokes
from rootwatch.spokes import Heartbeat

from tests.support.cli_hub import ApiCalls, MotoHub, create_hub

ACME = "111122223333"
GLOBEX = "444455556666"
# A hub whose spokes are silent after 3 x 10 minutes.
PARAMETERS = {"HeartbeatIntervalMinutes": "10", "SilentAfterIntervals": "3"}


@pytest.fixture
def hub() -> Iterator[MotoHub]:
    with mock_aws():
        yield create_hub(parameters=PARAMETERS)


def beat(hub: MotoHub, account: str, region: str, minutes_ago: int) -> datetime:
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    rule = f"arn:aws:events:{region}:{account}:rule/rootwatch-heartbeat"
    DynamoHeartbeats(hub.dynamodb, hub.table, timedelta(days=400)).record(
        Heartbeat(account, region, at, rule)
    )
    return at


@pytest.fixture
def fleet(hub: MotoHub, cli: Any) -> dict[str, datetime]:
    """Acme: two spokes reporting, one silent; Globex: one reporting, one never reported."""
    AuditAdmin(hub.dynamodb, hub.table).update_account(
        EntryUpdate(ACME, {"name": "Acme payer", "partner": "Acme"}),
        updated_by="arn:aws:iam::1:user/ops",
        now=datetime.now(UTC),
    )
    times = {
        "acme-us-east-1": beat(hub, ACME, "us-east-1", minutes_ago=4),
        "acme-eu-west-1": beat(hub, ACME, "eu-west-1", minutes_ago=29),
        "acme-ap-southeast-2": beat(hub, ACME, "ap-southeast-2", minutes_ago=75),
        "globex-us-east-1": beat(hub, GLOBEX, "us-east-1", minutes_ago=1),
    }
    assert cli("spokes", "expect", "--account", GLOBEX, "--regions", "sa-east-1").status == 0
    return times


def rows(cli: Any, *argv: str) -> list[dict[str, Any]]:
    result = cli("spokes", *argv, "--output", "json")
    assert result.status == 0, result.err
    listed: list[dict[str, Any]] = result.json()
    return listed


def test_the_table_lists_every_spoke_worst_first(cli: Any, fleet: dict[str, datetime]) -> None:
    result = cli("spokes")
    assert result.status == 0, result.err
    header, *lines = result.lines()
    assert header.split() == [
        *("ACCOUNT", "NAME", "REGION", "LAST", "HEARTBEAT", "(UTC)", "AGE", "STATUS")
    ]
    assert [line.split()[0] for line in lines] == [GLOBEX, ACME, ACME, ACME, GLOBEX]
    assert lines[0].split()[1:] == ["-", "sa-east-1", "-", "-", "never", "reported"]
    assert "Acme payer  ap-southeast-2" in lines[1] and lines[1].endswith("silent")
    assert "1 h 15 min" in lines[1]
    assert "Acme payer  eu-west-1" in lines[2] and lines[2].endswith("ok")
    assert result.err.strip() == (
        "5 spokes in 2 accounts: 3 ok, 1 silent, 1 never reported "
        "(silent after 30 min without a heartbeat)"
    )


def test_json_carries_times_ages_and_plain_statuses(cli: Any, fleet: dict[str, datetime]) -> None:
    listed = {(row["account_id"], row["region"]): row for row in rows(cli)}
    silent = listed[(ACME, "ap-southeast-2")]
    assert silent["status"] == "silent"
    assert silent["last_heartbeat"] == fleet["acme-ap-southeast-2"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert 75 * 60 <= silent["age_seconds"] < 77 * 60
    assert (silent["name"], silent["partner"], silent["expected"]) == ("Acme payer", "Acme", False)
    never = listed[(GLOBEX, "sa-east-1")]
    assert (never["status"], never["last_heartbeat"], never["expected"]) == ("never", None, True)
    assert never["registered_at"] is not None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("never", [(GLOBEX, "sa-east-1")]),
        ("silent", [(ACME, "ap-southeast-2")]),
        ("ok", [(ACME, "eu-west-1"), (ACME, "us-east-1"), (GLOBEX, "us-east-1")]),
    ],
)
def test_status_filters_read_only_their_key_range(
    cli: Any,
    fleet: dict[str, datetime],
    monkeypatch: pytest.MonkeyPatch,
    status: str,
    expected: list[tuple[str, str]],
) -> None:
    calls = ApiCalls()
    calls.install(monkeypatch)
    listed = rows(cli, "--status", status)
    assert [(row["account_id"], row["region"]) for row in listed] == expected
    assert {row["status"] for row in listed} == {status}
    operations = calls.take()
    assert "Scan" not in operations
    assert operations.count("Query") == 2  # the spokes' range, then the account entries


def test_one_account_by_its_own_index(
    cli: Any, fleet: dict[str, datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = ApiCalls()
    calls.install(monkeypatch)
    listed = rows(cli, "--account", ACME)
    assert [row["region"] for row in listed] == ["ap-southeast-2", "eu-west-1", "us-east-1"]
    assert calls.take() == ["DescribeStacks", "Query", "GetItem"]
    assert [row["region"] for row in rows(cli, "--account", ACME, "--status", "ok")] == [
        "eu-west-1",
        "us-east-1",
    ]


def test_csv_has_a_header_and_one_line_per_spoke(cli: Any, fleet: dict[str, datetime]) -> None:
    result = cli("spokes", "--output", "csv", "--status", "silent")
    header, line = result.lines()
    assert header.split(",")[:5] == ["account_id", "name", "partner", "region", "status"]
    assert line.startswith(f"{ACME},Acme payer,Acme,ap-southeast-2,silent,")


def test_nothing_to_list_says_what_to_do(cli: Any) -> None:
    result = cli("spokes")
    assert result.status == 0 and result.out == ""
    assert "rootwatch spokes expect" in result.err
    assert cli("spokes", "--status", "silent").err.strip() == "no silent spokes"
    assert cli("spokes", "--account", ACME).err.strip() == f"no spokes for account {ACME}"


def test_expect_registers_each_region_once(cli: Any, hub: MotoHub) -> None:
    beat(hub, ACME, "us-east-1", minutes_ago=2)
    first = cli("spokes", "expect", "--account", ACME, "--regions", "us-east-1, EU-WEST-1")
    assert first.status == 0, first.err
    assert first.err.splitlines() == [
        f"registered spoke {ACME} us-east-1, which has reported already",
        f"registered spoke {ACME} eu-west-1: reported if it sends no heartbeat within 30 min",
    ]
    again = cli("spokes", "expect", "--account", ACME, "--regions", "eu-west-1")
    assert again.err.strip() == f"spoke {ACME} eu-west-1 was registered already"
    spokes = {s.region: s for s in DynamoSpokes(hub.dynamodb, hub.table).of_account(ACME)}
    assert spokes["us-east-1"].expected and spokes["us-east-1"].last_heartbeat is not None
    assert spokes["eu-west-1"].expected and spokes["eu-west-1"].last_heartbeat is None
    assert spokes["eu-west-1"].registered_by is not None
    assert spokes["eu-west-1"].registered_by.startswith("arn:aws:")


def test_forget_removes_spokes_and_says_which_were_not_there(cli: Any, hub: MotoHub) -> None:
    beat(hub, ACME, "us-east-1", minutes_ago=2)
    beat(hub, ACME, "eu-west-1", minutes_ago=200)
    partly = cli("spokes", "forget", "--account", ACME, "--regions", "eu-west-1,us-west-2")
    assert partly.status == 1
    assert f"forgot spoke {ACME} eu-west-1" in partly.err
    assert f"account {ACME} has no spoke in us-west-2" in partly.err
    assert [row["region"] for row in rows(cli)] == ["us-east-1"]
    assert cli("spokes", "forget", "--account", ACME, "--regions", "all").status == 0
    assert rows(cli) == []
    nothing = cli("spokes", "forget", "--account", ACME, "--regions", "all")
    assert nothing.status == 1 and f"account {ACME} has no spokes" in nothing.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["expect", "--account", "123", "--regions", "us-east-1"], "12-digit"),
        (["expect", "--account", ACME, "--regions", "mars-1"], "'mars-1' is not a region"),
        (["expect", "--account", ACME, "--regions", " , "], "at least one region"),
        (["expect", "--account", ACME, "--regions", "all"], "'all' is not a region"),
        (["--account", "nope"], "12-digit"),
        (["--status", "quiet"], "invalid choice"),
        (["expect", "--regions", "us-east-1"], "required: --account"),
    ],
)
def test_usage_errors(cli: Any, argv: list[str], message: str) -> None:
    result = cli("spokes", *argv)
    assert result.status == 2
    assert message in result.err
