"""Settings every test shares: tests never reach real AWS."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from rootwatch.local.server import MotoServer
from rootwatch.local.transactions import back_up_only_the_items_a_transaction_names

_DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "rootwatch",
    "POWERTOOLS_METRICS_NAMESPACE": "rootwatch",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}
os.environ.update(_DUMMY_AWS)
back_up_only_the_items_a_transaction_names()

for _variable in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(_variable, None)


@pytest.fixture(autouse=True)
def _dummy_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _DUMMY_AWS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    """moto's server on loopback (`rootwatch.local.server`), one per test module."""
    with MotoServer() as server:
        yield server
