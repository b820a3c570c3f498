"""End-to-end tests: the hub of template.yaml on moto's server, driven by the local runner.

One moto server per test module; each test gets a hub provisioned afresh on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rootwatch.local.hub import LocalHub
from rootwatch.local.server import MotoServer

ACME = "111122223333"
GLOBEX = "444455556666"
HubFactory = Callable[..., LocalHub]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


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
