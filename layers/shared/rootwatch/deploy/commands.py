"""Running external commands (`sam`), behind an interface tests can replace."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    output: str
    """Standard output and standard error, interleaved as the command wrote them."""

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


class CommandRunner(Protocol):
    def run(
        self, argv: Sequence[str], *, cwd: Path, environment: Mapping[str, str]
    ) -> CommandResult:
        """Run `argv` in `cwd` with `environment` added to this process's environment."""
        ...


class SubprocessRunner:
    """Runs commands for real, capturing their output."""

    def run(
        self, argv: Sequence[str], *, cwd: Path, environment: Mapping[str, str]
    ) -> CommandResult:
        try:
            completed = subprocess.run(
                list(argv),
                cwd=cwd,
                env={**os.environ, **environment},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
        except OSError as error:
            return CommandResult(returncode=127, output=f"cannot run {argv[0]}: {error}")
        return CommandResult(returncode=completed.returncode, output=completed.stdout)
