"""The output helpers every command prints with, and scan's progress bar."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rootwatch.cli import scan
from rootwatch.cli.output import (
    Column,
    ProgressBar,
    byte_size,
    table_cell,
    table_lines,
    write_csv,
    write_json,
    write_jsonl,
)
from rootwatch.model import Severity


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def root_login_file(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "eventID": "login",
                "eventTime": "2026-11-28T14:02:11Z",
                "eventSource": "signin.amazonaws.com",
                "eventName": "ConsoleLogin",
                "awsRegion": "us-east-1",
                "recipientAccountId": "111122223333",
                "userIdentity": {"type": "Root"},
                "responseElements": {"ConsoleLogin": "Success"},
                "additionalEventData": {"MFAUsed": "No"},
            }
        )
    )
    return path


def test_a_large_scan_on_a_terminal_shows_a_progress_bar_then_erases_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan, "LARGE_INPUT_BYTES", 1)
    terminal = Terminal()
    result = scan.scan([str(root_login_file(tmp_path / "a.json"))], stderr=terminal)
    assert [f.record.event_id for f in result.findings] == ["login"]
    shown = terminal.getvalue()
    assert "[##############################] 100%" in shown
    assert shown.endswith("\r\x1b[K")


def test_no_progress_bar_when_stderr_is_not_a_terminal_or_the_input_is_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(root_login_file(tmp_path / "a.json"))
    terminal = Terminal()
    scan.scan([path], stderr=terminal)
    assert terminal.getvalue() == ""
    monkeypatch.setattr(scan, "LARGE_INPUT_BYTES", 1)
    piped = io.StringIO()
    scan.scan([path], stderr=piped)
    assert piped.getvalue() == ""


def test_the_progress_bar_is_erased_before_a_message(tmp_path: Path) -> None:
    terminal = Terminal()
    bar = ProgressBar(200, terminal)
    bar.advance(100)
    assert terminal.getvalue().startswith("\r[###############...............]  50%  100 B of 200 B")
    bar.clear()
    assert terminal.getvalue().endswith("\r\x1b[K")
    bar.clear()
    assert terminal.getvalue().count("\x1b[K") == 1


def test_table_columns_give_up_width_in_the_stated_order() -> None:
    columns = [Column("a", "A"), Column("b", "B", max_width=6), Column("c", "C")]
    rows = [{"a": "aaaa", "b": "bbbbbbbbbb", "c": "cccccccccc"}]
    assert table_lines(rows, columns, width=100) == ["A     B       C", "aaaa  bbbbb…  cccccccccc"]
    shrunk = table_lines(rows, columns, shrink=[("c", 6), ("b", 3), ("c", 2)], width=15)
    assert shrunk == ["A     B    C", "aaaa  bb…  ccc…"]
    too_narrow = table_lines(rows, columns, shrink=[("c", 8)], width=15)
    assert too_narrow[1] == "aaaa  bbbbb…  ccccccc…"


def test_table_cells_are_plain_and_safe_for_a_terminal() -> None:
    assert table_cell(None) == "-"
    assert (table_cell(True), table_cell(False)) == ("yes", "no")
    assert table_cell(Severity.HIGH) == "high"
    assert table_cell(datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)) == "2026-11-28 14:02:11"
    assert table_cell(["login", "planned"]) == "login,planned"
    assert table_cell("evil\x1b]8;;http://x\x07link\n") == "evil?]8;;http://x?link?"


def test_json_csv_and_jsonl_writers() -> None:
    rows: list[dict[str, Any]] = [
        {"t": datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC), "s": Severity.LOW, "r": ("a", "b")},
        {"t": None, "s": "+1", "r": []},
    ]
    lines = io.StringIO()
    write_jsonl(rows, lines)
    assert (
        lines.getvalue().splitlines()[0] == '{"t":"2026-11-28T14:02:11Z","s":"low","r":["a","b"]}'
    )
    whole = io.StringIO()
    write_json(rows, whole)
    assert json.loads(whole.getvalue())[1] == {"t": None, "s": "+1", "r": []}
    table = io.StringIO()
    write_csv(rows, ["t", "s", "r"], table)
    assert table.getvalue() == "t,s,r\n2026-11-28T14:02:11Z,low,a;b\n,'+1,\n"


def test_byte_sizes_read_like_people_write_them() -> None:
    assert [byte_size(n) for n in (0, 1023, 1536, 5 * 1024**2, 3 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.5 KB",
        "5.0 MB",
        "3072.0 GB",
    ]


def test_a_parallel_scan_finds_and_reports_exactly_what_a_serial_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = json.loads(root_login_file(tmp_path / "login.json").read_text())
    for number in range(6):
        records = [
            {**login, "eventID": f"login-{number}", "eventTime": f"2026-11-2{number}T10:00:00Z"},
            {**login, "eventID": "login-0", "eventTime": "2026-11-20T10:00:00Z"},
            {**login, "eventID": None},
        ]
        (tmp_path / f"log-{number}.json").write_text(json.dumps({"Records": records}))
    (tmp_path / "broken.json").write_text("{")

    def scanned(threshold: int) -> tuple[list[tuple[str, str]], str, tuple[int, int, int, int]]:
        monkeypatch.setattr(scan, "LARGE_INPUT_BYTES", threshold)
        messages = io.StringIO()
        result = scan.scan([str(tmp_path)], stderr=messages)
        found = [(f.record.event_id, f.file) for f in result.findings]
        counts = (result.records_read, result.files_read, result.duplicates, result.unreadable)
        return found, messages.getvalue(), counts

    serial = scanned(10**12)
    monkeypatch.setattr(scan, "_worker_count", lambda files: 3)
    parallel = scanned(1)
    assert parallel == serial
    found, messages, counts = parallel
    assert found[0] == ("login-0", str(tmp_path / "log-0.json"))
    assert len(found) == 7
    assert counts == (19, 8, 6, 7)
    assert messages.splitlines()[0].startswith(f"rootwatch scan: {tmp_path / 'broken.json'}")
    assert (
        messages.splitlines()[1]
        == f"rootwatch scan: {tmp_path / 'log-0.json'}: Records[2]: missing eventID"
    )
