"""End-to-end tests: the hub of template.yaml on moto's server, driven by the local runner.

One moto server per test module (`moto_server`); each test gets a hub provisioned afresh on
it. Tests of the console script run `rootwatch` as a user does, in its own process
(`run_rootwatch`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from rootwatch.local.hub import LocalHub
from rootwatch.local.server import MotoServer

ACME = "111122223333"
GLOBEX = "444455556666"
HubFactory = Callable[..., LocalHub]
ROOTWATCH = Path(sys.executable).with_name("rootwatch")
# Only a guard against a hung process; nothing here asserts on time.
PATIENCE_SECONDS = 300


def command_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its AWS settings (the local hub needs none),
    unbuffered and without colour, plus `extra`."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(PYTHONUNBUFFERED="1", NO_COLOR="1", AWS_DEFAULT_REGION="us-east-1")
    environment.update(extra or {})
    return environment


def run_rootwatch(
    *arguments: str | Path, extra_environment: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script run to its end, with what it printed."""
    return subprocess.run(
        [str(ROOTWATCH), *map(str, arguments)],
        capture_output=True,
        text=True,
        env=command_environment(extra_environment),
        timeout=PATIENCE_SECONDS,
        check=False,
    )


@pytest.fixture
def start_hub(moto_server: MotoServer) -> Iterator[HubFactory]:
    """Starts a hub on the module's server; the test may pass LocalHub's options."""
    hubs: list[LocalHub] = []

    def start(**options: Any) -> LocalHub:
        options.setdefault("allowed_account_ids", [ACME, GLOBEX])
        hub = LocalHub(server=moto_server, **options).start()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()
