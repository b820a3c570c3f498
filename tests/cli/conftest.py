"""What the command tests share: `cli` runs `rootwatch` through `main()` against the hub the
test module provides as its `hub` fixture."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.cli_hub import CliResult, run_cli


@pytest.fixture
def cli(hub: object, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    def run(*argv: str) -> CliResult:
        return run_cli(capsys, *argv)

    return run
