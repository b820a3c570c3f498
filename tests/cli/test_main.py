"""The console script's own usage handling, shared by every command."""

from __future__ import annotations

import pytest
from rootwatch.cli.main import main


def test_unknown_flag_shows_the_commands_own_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", "--bogus", "events/"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: rootwatch scan ")
    assert "unrecognized arguments: --bogus" in error


def test_unknown_flag_of_a_nested_command_shows_its_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["accounts", "remove", "111122223333", "--bogus"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("usage: rootwatch accounts remove ")


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("usage: rootwatch ")
