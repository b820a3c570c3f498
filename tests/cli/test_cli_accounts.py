"""`rootwatch accounts list|set|remove|import` against moto, read back as the processor reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rootwatch.adapters.audit import DynamoAuditStore
from rootwatch.alerts import AccountInfo
from rootwatch.cli.entries import EntryError, entries_from_csv, entries_from_yaml, plan_import

from tests.support.cli_hub import MotoHub, create_hub

ACME = "111122223333"
GLOBEX = "444455556666"


@pytest.fixture
def hub() -> Iterator[MotoHub]:
    with mock_aws():
        yield create_hub()


def entries(cli: Any) -> dict[str, dict[str, Any]]:
    result = cli("accounts", "list", "--output", "json")
    assert result.status == 0, result.err
    return {entry["account_id"]: entry for entry in result.json()}


def routing_of(hub: MotoHub, account: str) -> AccountInfo:
    """The entry as the processor reads it to enrich and route alerts."""
    return (
        DynamoAuditStore(hub.dynamodb, hub.table)
        .load_account(account, now=datetime.now(UTC))
        .account
    )


def test_set_creates_an_entry_the_processor_routes_by(cli: Any, hub: MotoHub) -> None:
    result = cli(
        "accounts",
        "set",
        ACME,
        "--name",
        "Acme payer",
        "--partner",
        "Acme",
        "--slack-secrets",
        "acme-oncall, acme-sec",
        "--emails",
        "sec@acme.example",
        "--min-severity",
        "HIGH",
    )
    assert result.status == 0, result.err
    assert result.err.strip() == f"created the entry of account {ACME}"
    assert routing_of(hub, ACME) == AccountInfo(
        account_id=ACME,
        name="Acme payer",
        partner="Acme",
        slack_secrets=("acme-oncall", "acme-sec"),
        emails=("sec@acme.example",),
        min_severity="high",
    )
    listed = entries(cli)[ACME]
    assert listed["slack_secrets"] == ["acme-oncall", "acme-sec"]
    assert listed["updated_by"].startswith("arn:aws:")


def test_set_changes_only_the_fields_given_and_empty_removes(cli: Any, hub: MotoHub) -> None:
    cli("accounts", "set", ACME, "--name", "Acme payer", "--partner", "Acme", "--emails", "a@x.io")
    result = cli("accounts", "set", ACME, "--partner", "", "--min-severity", "medium")
    assert result.status == 0
    assert "updated the entry" in result.err
    assert routing_of(hub, ACME) == AccountInfo(
        account_id=ACME, name="Acme payer", emails=("a@x.io",), min_severity="medium"
    )
    cli("accounts", "set", ACME, "--min-severity", "none", "--emails", "")
    assert routing_of(hub, ACME) == AccountInfo(account_id=ACME, name="Acme payer")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([ACME], "nothing to set"),
        ([ACME, "--emails", "not-an-address"], "not an email address"),
        ([ACME, "--slack-secrets", "bad name!"], "not a Secrets Manager name"),
        ([ACME, "--min-severity", "urgent"], "unknown severity"),
        (["12345", "--name", "x"], "12-digit"),
        ([ACME, "--name", "line\nbreak"], "printable"),
    ],
)
def test_set_refuses_bad_fields(cli: Any, arguments: list[str], message: str) -> None:
    result = cli("accounts", "set", *arguments)
    assert result.status == 2
    assert message in result.err
    assert entries(cli) == {}


def test_list_table_and_csv_and_partner_filter(cli: Any) -> None:
    cli("accounts", "set", ACME, "--name", "Acme payer", "--partner", "Acme")
    cli("accounts", "set", GLOBEX, "--name", "Globex payer", "--partner", "Globex")
    table = cli("accounts", "list")
    assert table.lines()[0].split()[:3] == ["ACCOUNT", "NAME", "PARTNER"]
    assert [line.split()[0] for line in table.lines()[1:]] == [ACME, GLOBEX]
    only = cli("accounts", "list", "--partner", "Globex", "--output", "csv")
    assert only.lines()[0].startswith("account_id,name,partner")
    assert [line.split(",")[0] for line in only.lines()[1:]] == [GLOBEX]


def test_remove_deletes_and_says_when_there_was_nothing(cli: Any, hub: MotoHub) -> None:
    cli("accounts", "set", ACME, "--name", "Acme payer")
    assert cli("accounts", "remove", ACME).status == 0
    assert routing_of(hub, ACME) == AccountInfo(account_id=ACME)
    again = cli("accounts", "remove", ACME)
    assert again.status == 1
    assert f"no entry for account {ACME}" in again.err


def test_import_csv_creates_then_updates_only_what_changed(cli: Any, tmp_path: Path) -> None:
    cli("accounts", "set", GLOBEX, "--name", "Old name", "--emails", "keep@globex.example")
    listing = tmp_path / "accounts.csv"
    listing.write_text(
        "Account ID,Name,Partner,Slack secrets\n"
        f"{ACME},Acme payer,Acme,acme-oncall;acme-sec\n"
        f"{GLOBEX},Globex payer,Globex,\n",
        encoding="utf-8",
    )
    result = cli("accounts", "import", "--file", str(listing), "--output", "json")
    assert result.status == 0, result.err
    assert {row["account_id"]: row["action"] for row in result.json()} == {
        ACME: "create",
        GLOBEX: "update",
    }
    assert "created 1, updated 1, unchanged 0" in result.err
    stored = entries(cli)
    assert stored[ACME]["slack_secrets"] == ["acme-oncall", "acme-sec"]
    # Fields the file does not name stay as they were.
    assert stored[GLOBEX]["emails"] == ["keep@globex.example"]
    assert stored[GLOBEX]["name"] == "Globex payer"
    again = cli("accounts", "import", "--file", str(listing))
    assert "created 0, updated 0, unchanged 2" in again.err


def test_import_dry_run_changes_nothing(cli: Any, tmp_path: Path) -> None:
    listing = tmp_path / "accounts.yaml"
    listing.write_text(
        f"accounts:\n  - account_id: {ACME}\n    name: Acme payer\n    emails: [a@acme.example]\n",
        encoding="utf-8",
    )
    result = cli("accounts", "import", "--file", str(listing), "--dry-run")
    assert result.status == 0
    assert "would create" in result.out
    assert "would create 1" in result.err
    assert entries(cli) == {}


def test_import_from_a_bad_file_writes_nothing_and_names_each_problem(
    cli: Any, tmp_path: Path
) -> None:
    listing = tmp_path / "accounts.csv"
    listing.write_text(
        f"account_id,name,emails\n{ACME},Acme,ok@acme.example\n12345,Short,\n"
        f"{GLOBEX},Globex,nope\n{ACME},Twice,\n",
        encoding="utf-8",
    )
    result = cli("accounts", "import", "--file", str(listing))
    assert result.status == 2
    assert f"{listing}:3: '12345' is not a 12-digit AWS account id" in result.err
    assert f"{listing}:4: 'nope' is not an email address" in result.err
    assert f"{listing}:5: account {ACME} again (first at {listing}:2)" in result.err
    assert entries(cli) == {}


def test_import_refuses_unknown_columns_and_files(cli: Any, tmp_path: Path) -> None:
    listing = tmp_path / "accounts.csv"
    listing.write_text(f"account_id,owner\n{ACME},me\n", encoding="utf-8")
    assert "unknown column 'owner'" in cli("accounts", "import", "--file", str(listing)).err
    assert cli("accounts", "import", "--file", str(tmp_path / "missing.csv")).status == 2
    text = tmp_path / "accounts.txt"
    text.write_text("x", encoding="utf-8")
    assert "give a .csv, .yaml or .yml file" in cli("accounts", "import", "--file", str(text)).err


def test_import_from_organizations(cli: Any) -> None:
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    for name in ("Acme payer", "Globex payer"):
        organizations.create_account(AccountName=name, Email=f"{name.split()[0]}@example.com")
    members = {
        account["Id"]: account["Name"] for account in organizations.list_accounts()["Accounts"]
    }
    result = cli(
        "accounts", "import", "--from-organizations", "--partner", "Distri", "--output", "json"
    )
    assert result.status == 0, result.err
    stored = entries(cli)
    assert {account: entry["name"] for account, entry in stored.items()} == members
    assert {entry["partner"] for entry in stored.values()} == {"Distri"}
    # The root user's email address is not a destination.
    assert all("emails" not in entry or not entry["emails"] for entry in stored.values())


def test_import_from_an_organisation_without_accounts_says_what_to_do(cli: Any) -> None:
    result = cli("accounts", "import", "--from-organizations")
    assert result.status == 1
    assert "lists no accounts" in result.err and "--file" in result.err


def test_entries_from_yaml_read_ids_lists_and_strings() -> None:
    imported = entries_from_yaml(
        f"- account_id: {ACME}\n  slack: [a, b, a]\n  min_severity: Critical\n"
        f"- {{account: '{GLOBEX}', emails: 'x@g.example, y@g.example', partner: ''}}\n",
        source="accounts.yaml",
    )
    assert [entry.account_id for entry in imported] == [ACME, GLOBEX]
    assert imported[0].fields == {"slack_secrets": ("a", "b"), "min_severity": "critical"}
    assert imported[1].fields == {"emails": ("x@g.example", "y@g.example"), "partner": None}


def test_an_unquoted_yaml_id_read_as_octal_asks_for_quotes() -> None:
    # YAML 1.1 reads 011112222333 as an octal number; 012345678901 stays text.
    with pytest.raises(EntryError, match="quote account ids"):
        entries_from_yaml("- account_id: 011112222333\n", source="accounts.yaml")
    assert entries_from_yaml("- account_id: 012345678901\n", source="a.yaml")[0].account_id == (
        "012345678901"
    )


def test_a_plan_names_only_differences() -> None:
    imported = entries_from_csv(
        f"account_id,name,partner\n{ACME},Acme,Acme\n{GLOBEX},Globex,\n", source="a.csv"
    )
    plan = plan_import(
        imported,
        [
            {"account_id": ACME, "name": "Acme", "partner": "Acme", "emails": ["x@acme.example"]},
        ],
    )
    assert [(change.account_id, change.action, dict(change.changes)) for change in plan] == [
        (ACME, "unchanged", {}),
        (GLOBEX, "create", {"name": "Globex"}),
    ]
