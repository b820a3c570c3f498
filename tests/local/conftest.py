"""The module's moto server (tests/conftest.py), emptied before each test, and the fixture
stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from rootwatch.local.provision import ProvisionedStack, provision
from rootwatch.local.server import Endpoint, MotoServer
from rootwatch.local.template import load_template

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "stack" / "template.yaml"
ACCOUNT_ID = "123456789012"


@pytest.fixture
def fixture_template() -> Path:
    return FIXTURE_TEMPLATE


@pytest.fixture
def endpoint(moto_server: MotoServer) -> Endpoint:
    moto_server.reset()
    return moto_server.endpoint("us-east-1")


@pytest.fixture
def stack(endpoint: Endpoint) -> ProvisionedStack:
    return provision(
        load_template(FIXTURE_TEMPLATE),
        endpoint,
        stack_name="fixture",
        account_id=ACCOUNT_ID,
        parameters={"Sender": "rootwatch@example.com"},
        secret_values={"fx/slack/default": "http://127.0.0.1:9/hook"},
    )
