"""The Lambda handlers as tests run them: each `functions/<name>/app.py` loaded as Lambda
loads it (a module of its own, imported once), and the context Lambda passes it."""

from __future__ import annotations

import importlib.util
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from moto.core.models import DEFAULT_ACCOUNT_ID

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def load_handler(name: str) -> ModuleType:
    """A fresh module of `functions/<name>/app.py`, with nothing cached from earlier loads."""
    source = FUNCTIONS / name / "app.py"
    spec = importlib.util.spec_from_file_location(
        f"rootwatch_{name}_app_{uuid.uuid4().hex}", source
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class LambdaContext:
    """The context object of one invocation, with a fixed time left."""

    function_name: str
    remaining_millis: int = 60_000
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{DEFAULT_ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis
