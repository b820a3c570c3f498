"""What the template tests share: the project's command-line tools, and resource values of
a template evaluated without a stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rootwatch.local.template import StackEvaluation

REPO = Path(__file__).resolve().parents[2]
# The tools the project installs next to the interpreter running the tests; sam build also
# needs that directory on PATH for `python3.13`.
_TOOLS_DIR = Path(sys.executable).parent


def run_tool(*arguments: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run one of the venv's command-line tools, output captured for the failure message."""
    environment = {
        **os.environ,
        "PATH": f"{_TOOLS_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [str(_TOOLS_DIR / arguments[0]), *arguments[1:]],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def tool_report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}"


class Placeholders:
    """Resource values for evaluation without a stack: `ref:<id>` and `<id>.<attribute>`."""

    def ref(self, logical_id: str) -> Any:
        return f"ref:{logical_id}"

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return f"{logical_id}.{attribute}"


def resolved_properties(evaluation: StackEvaluation, logical_id: str) -> dict[str, Any]:
    properties = evaluation.resolve(evaluation.template.properties_of(logical_id))
    assert isinstance(properties, dict)
    return properties
