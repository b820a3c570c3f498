"""Account entries in `rootwatch local`: imported before the events, as `rootwatch accounts
import --file` imports them, with a local Slack channel for each secret they name."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rootwatch.cli.entries import EntryError
from rootwatch.cli.main import main
from rootwatch.local.accounts import (
    entries_files_beside,
    import_entries_files,
    read_entries_files,
)
from rootwatch.local.hub import LocalHub
from rootwatch.local.inputs import from_value
from rootwatch.local.runner import run_events, run_local
from rootwatch.local.slack_text import render_payload

from tests.e2e.conftest import ACME, GLOBEX, HubFactory
from tests.support.events import sample_event, variant

pytestmark = pytest.mark.e2e

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
ACME_CHANNEL = "rootwatch/slack/acme-root-alerts"
ENTRIES = f"""\
accounts:
  - account_id: "{ACME}"
    name: Acme payer
    partner: Acme
    slack_secrets: acme-root-alerts
    min_severity: high
  - account_id: "{GLOBEX}"
    name: Globex payer
    partner: Globex
"""


def _entries_file(directory: Path, text: str = ENTRIES, name: str = "accounts.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _events() -> list[dict[str, Any]]:
    critical = variant(
        sample_event("console-login-no-mfa"), event_id="acme-login", at=START, account=ACME
    )
    medium = variant(
        sample_event("console-login-failed"),
        event_id="acme-failed-login",
        at=START + timedelta(minutes=1),
        account=ACME,
        source_ip="198.51.100.77",
    )
    globex = variant(
        sample_event("console-login-no-mfa"),
        event_id="globex-login",
        at=START,
        account=GLOBEX,
        source_ip="192.0.2.50",
    )
    return [critical, medium, globex]


def _posts_by_destination(hub: LocalHub) -> dict[str, list[str]]:
    posts: dict[str, list[str]] = {}
    for post in hub.slack_posts():
        if post.accepted:
            posts.setdefault(post.destination, []).append(render_payload(post.payload))
    return posts


def test_entries_name_accounts_and_partners_and_a_partner_channel_gets_its_alerts(
    start_hub: HubFactory, tmp_path: Path
) -> None:
    hub = start_hub()
    entries = import_entries_files(hub, read_entries_files([_entries_file(tmp_path)]))

    assert [(e["account_id"], e["name"], e["partner"]) for e in entries] == [
        (ACME, "Acme payer", "Acme"),
        (GLOBEX, "Globex payer", "Globex"),
    ]
    run_events(hub, [from_value(event) for event in _events()])

    posts = _posts_by_destination(hub)
    default = posts.pop("rootwatch/slack/security-alerts")
    assert len(default) == 3
    (partner,) = posts.pop(ACME_CHANNEL)
    assert posts == {}
    assert "CRITICAL · Root console login without MFA" in partner
    assert f"Acme payer ({ACME}) · partner Acme" in partner
    assert "203.0.113.7 — first time seen for this account" in partner
    assert any(f"Globex payer ({GLOBEX}) · partner Globex" in text for text in default)
    audit = {item["event_id"]: item for item in hub.audit_items()}
    assert (audit["acme-login"]["account_name"], audit["acme-login"]["partner"]) == (
        "Acme payer",
        "Acme",
    )


def test_importing_again_changes_nothing_and_creates_no_second_secret(
    start_hub: HubFactory, tmp_path: Path
) -> None:
    hub = start_hub()
    files = read_entries_files([_entries_file(tmp_path)])
    first = import_entries_files(hub, files)

    again = import_entries_files(hub, files)

    assert again == first
    secrets = hub.endpoint.secretsmanager().list_secrets()["SecretList"]
    assert sorted(secret["Name"] for secret in secrets) == [
        ACME_CHANNEL,
        "rootwatch/slack/security-alerts",
    ]


def test_a_later_file_changes_the_fields_it_names_and_leaves_the_others(
    start_hub: HubFactory, tmp_path: Path
) -> None:
    hub = start_hub()
    first = _entries_file(tmp_path / "a")
    second = _entries_file(tmp_path / "b", f'- account_id: "{ACME}"\n  partner: Acme Europe\n')

    entries = import_entries_files(hub, read_entries_files([first, second]))

    acme = next(entry for entry in entries if entry["account_id"] == ACME)
    assert (acme["name"], acme["partner"], acme["slack_secrets"]) == (
        "Acme payer",
        "Acme Europe",
        ["acme-root-alerts"],
    )


def test_the_run_imports_the_file_beside_the_events_and_reports_it(tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    for event in _events():
        (events / f"{event['detail']['eventID']}.json").write_text(json.dumps(event))
    entries_path = _entries_file(events)
    out = tmp_path / "out"
    printed = io.StringIO()

    result = run_local([events], out=out, stream=printed)

    assert result.entries_files == [str(entries_path)]
    assert {entry["account_id"] for entry in result.accounts} == {ACME, GLOBEX}
    partner_posts = [post for post in result.slack if post.destination == ACME_CHANNEL]
    assert len(partner_posts) == 1
    written = [json.loads(line) for line in (out / "accounts.jsonl").read_text().splitlines()]
    assert [row["name"] for row in written] == ["Acme payer", "Globex payer"]
    assert f"Account entries · 2 from {entries_path}" in printed.getvalue()
    assert f"── {ACME_CHANNEL}" in printed.getvalue()


def test_entries_files_are_found_beside_input_directories_and_files(tmp_path: Path) -> None:
    directory_yaml = _entries_file(tmp_path / "one")
    file_csv = _entries_file(tmp_path / "two", f"account_id,name\n{ACME},Acme\n", "accounts.csv")
    (tmp_path / "two" / "login.json").write_text("{}")
    (tmp_path / "three").mkdir()

    found = entries_files_beside(
        [tmp_path / "one", tmp_path / "two" / "login.json", tmp_path / "two", tmp_path / "three"]
    )

    assert found == [directory_yaml, file_csv]


def test_an_entries_file_with_a_mistake_stops_the_run_before_any_hub_starts(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "login.json").write_text(json.dumps(_events()[0]))
    _entries_file(events, f'- account_id: "{ACME}"\n  min_severity: severe\n')

    with pytest.raises(EntryError, match=r"accounts\.yaml: account 1: .*severe"):
        run_local([events])


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ('- account_id: "1111"\n', "accounts.yaml: account 1: '1111' is not a 12-digit"),
        (f'- account_id: "{ACME}"\n  slack: "#alerts"\n', "is not a Secrets Manager name"),
    ],
)
def test_the_command_names_a_faulty_accounts_file_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entries: str, message: str
) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "login.json").write_text(json.dumps(_events()[0]))
    faulty = _entries_file(tmp_path / "elsewhere", entries)

    status = main(["local", "--events", str(events), "--accounts", str(faulty)])

    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: rootwatch local ")
    assert message in error


def test_the_command_refuses_a_missing_accounts_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "login.json").write_text(json.dumps(_events()[0]))

    status = main(["local", "--events", str(events), "--accounts", str(tmp_path / "none.yaml")])

    assert status == 2
    assert "no such file or directory" in capsys.readouterr().err
