"""`rootwatch deploy`: the real console script against moto's server on the loopback.

The tests marked `templates` run `sam deploy` itself (through `rootwatch deploy spokes`)
against the server, through the `--endpoint-url` the command hands to sam.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from rootwatch import naming
from rootwatch.local.server import MotoServer

from tests.support.stacks import HUB_BUS_STACK

ROOT = Path(__file__).resolve().parents[2]
ROOTWATCH = Path(sys.executable).parent / "rootwatch"
HUB_BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/rootwatch-hub"


@pytest.fixture
def aws(moto_server: MotoServer) -> str:
    """The module's moto server, emptied for each test."""
    moto_server.reset()
    return moto_server.url


def client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint)  # type: ignore[call-overload]


def rootwatch(
    *arguments: str, cwd: Path = ROOT, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOTWATCH), *arguments],
        cwd=cwd,
        env={**os.environ, **(environment or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- deploy spokes -----------------------------------------------------------------------


def test_dry_run_prints_one_sam_deploy_per_enabled_region(aws: str, tmp_path: Path) -> None:
    result = rootwatch(
        "deploy",
        "spokes",
        "--regions",
        "all",
        "--hub-bus-arn",
        HUB_BUS_ARN,
        "--endpoint-url",
        aws,
        "--dry-run",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    regions = [command[command.index("--region") + 1] for command in commands]
    enabled = [
        region["RegionName"]
        for region in client(aws, "ec2").describe_regions()["Regions"]
        if region["OptInStatus"] != "not-opted-in"
    ]
    assert sorted(regions) == sorted(enabled)
    assert regions[0] == "us-east-1"
    for command in commands:
        assert command[1:2] == ["deploy"]
        assert command[command.index("--config-file") + 1] == str(ROOT / "samconfig.toml")
        assert f"HubEventBusArn={HUB_BUS_ARN}" in command
    # Nothing was deployed.
    assert client(aws, "cloudformation").list_stacks()["StackSummaries"] == []


def test_hub_bus_arn_is_read_from_the_hub_stack(aws: str) -> None:
    cloudformation = client(aws, "cloudformation", "eu-west-1")
    cloudformation.create_stack(StackName="rootwatch-hub", TemplateBody=HUB_BUS_STACK)
    bus_arn = client(aws, "events", "eu-west-1").describe_event_bus(Name="rootwatch-hub")["Arn"]
    result = rootwatch(
        "deploy",
        "spokes",
        "--regions",
        "us-east-1,eu-west-1",
        "--hub-region",
        "eu-west-1",
        "--endpoint-url",
        aws,
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    assert all(f"HubEventBusArn={bus_arn}" in line for line in result.stdout.splitlines())


def test_missing_hub_stack_is_reported_without_a_traceback(aws: str) -> None:
    result = rootwatch(
        "deploy", "spokes", "--regions", "us-east-1", "--endpoint-url", aws, "--dry-run"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("rootwatch: error: cannot read hub stack 'rootwatch-hub'")
    assert "pass --hub-bus-arn" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--regions", "us-east-1,Ireland"], "--regions: 'Ireland' is not a region name"),
        (["--regions", "us-east-1", "--stack-name", "spoke"], "must start with 'rootwatch-spoke'"),
        (["--regions", "us-east-1", "--heartbeat-minutes", "1"], "5 to 60 minutes"),
        (["--regions", "us-east-1", "--parallel", "0"], "--parallel must be at least 1"),
        (["--regions", "us-east-1", "--protection-region", "x"], "'x' is not a region name"),
        ([], "the following arguments are required: --regions"),
    ],
)
def test_bad_spokes_command_lines_are_usage_errors(
    arguments: list[str], message: str, tmp_path: Path
) -> None:
    result = rootwatch(
        "deploy", "spokes", "--hub-bus-arn", HUB_BUS_ARN, "--dry-run", *arguments, cwd=tmp_path
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "usage: rootwatch" in result.stderr


def test_a_bad_hub_bus_arn_is_a_usage_error() -> None:
    result = rootwatch(
        "deploy", "spokes", "--regions", "us-east-1", "--hub-bus-arn", "rootwatch-hub", "--dry-run"
    )
    assert result.returncode == 2
    assert "is not an event bus ARN" in result.stderr


@pytest.mark.templates
def test_sam_deploys_the_spoke_in_each_region(aws: str, tmp_path: Path) -> None:
    result = rootwatch(
        "deploy",
        "spokes",
        "--regions",
        "us-east-1,eu-west-1",
        "--hub-bus-arn",
        HUB_BUS_ARN,
        "--endpoint-url",
        aws,
        "--parallel",
        "2",
        "--output",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)
    assert [(row["region"], row["status"]) for row in rows] == [
        ("us-east-1", "ok"),
        ("eu-west-1", "ok"),
    ]
    assert all(row["detail"].startswith("Successfully created/updated stack") for row in rows)
    for region in ("us-east-1", "eu-west-1"):
        events = client(aws, "events", region)
        rules = (
            naming.ROOT_ACTIVITY_RULE,
            naming.TAMPER_RULE,
            naming.TAMPER_GUARD_RULE,
            naming.HEARTBEAT_RULE,
        )
        for name in rules:
            (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
            assert target["Arn"] == HUB_BUS_ARN
            assert target["RoleArn"].endswith(f":role/{naming.DELIVERY_ROLE_PREFIX}{region}")


@pytest.mark.templates
def test_a_failed_region_is_reported_and_fails_the_command(tmp_path: Path) -> None:
    result = rootwatch(
        "deploy",
        "spokes",
        "--regions",
        "eu-west-1",
        "--hub-bus-arn",
        HUB_BUS_ARN,
        "--endpoint-url",
        closed_port_url(),
        cwd=tmp_path,
        # No endpoint answers: one attempt per call is enough to know.
        environment={"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"},
    )
    assert result.returncode == 1
    header, row = result.stdout.splitlines()
    assert header.split() == ["REGION", "STATUS", "DETAIL"]
    assert row.split()[:3] == ["eu-west-1", "FAILED", "Error:"]


# --- deploy stackset ---------------------------------------------------------------------


def test_stackset_dry_run_shows_the_calls_and_creates_nothing(aws: str) -> None:
    result = rootwatch(
        "deploy",
        "stackset",
        "--accounts",
        "111111111111,222222222222",
        "--regions",
        "us-east-1,eu-west-1",
        "--hub-bus-arn",
        HUB_BUS_ARN,
        "--execution-role-name",
        "DistributorStackSetExecution",
        "--endpoint-url",
        aws,
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    create, instances = result.stdout.splitlines()
    assert create.startswith("CreateStackSet StackSetName=rootwatch-spoke ")
    assert "PermissionModel=SELF_MANAGED" in create
    assert "ExecutionRoleName=DistributorStackSetExecution" in create
    assert instances.startswith("CreateStackInstances StackSetName=rootwatch-spoke ")
    assert "Accounts=111111111111,222222222222 Regions=us-east-1,eu-west-1" in instances
    assert client(aws, "cloudformation").list_stack_sets()["Summaries"] == []


def test_stackset_deploys_to_accounts_and_reports_every_instance(aws: str) -> None:
    arguments = [
        "deploy",
        "stackset",
        "--accounts",
        "111111111111,222222222222",
        "--regions",
        "us-east-1,eu-west-1",
        "--hub-bus-arn",
        HUB_BUS_ARN,
        "--endpoint-url",
        aws,
    ]
    result = rootwatch(*arguments, "--output", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {(row["account"], row["region"]) for row in rows} == {
        (account, region)
        for account in ("111111111111", "222222222222")
        for region in ("us-east-1", "eu-west-1")
    }
    assert {row["status"] for row in rows} == {"CURRENT/SUCCEEDED"}
    assert "stack set rootwatch-spoke created" in result.stderr

    again = rootwatch(*arguments, "--dry-run")
    assert [line.split()[0] for line in again.stdout.splitlines()] == [
        "UpdateStackSet",
        "CreateStackInstances",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--org-units", "ou-ab12-cdef3456", "--execution-role-name", "Exec"],
            "go with --accounts",
        ),
        (["--accounts", "111111111111", "--call-as", "DELEGATED_ADMIN"], "goes with --org-units"),
        (["--accounts", "1111"], "'1111' is not a 12-digit account id"),
        (["--org-units", "partners"], "'partners' is not an OU id"),
        (["--accounts", "111111111111", "--stack-set-name", "spokes"], "must start with"),
        (
            ["--accounts", "111111111111", "--org-units", "ou-ab12-cdef3456"],
            "not allowed with argument",
        ),
    ],
)
def test_bad_stackset_command_lines_are_usage_errors(arguments: list[str], message: str) -> None:
    result = rootwatch(
        "deploy",
        "stackset",
        "--regions",
        "us-east-1",
        "--hub-bus-arn",
        HUB_BUS_ARN,
        "--dry-run",
        *arguments,
    )
    assert result.returncode == 2
    assert message in result.stderr
