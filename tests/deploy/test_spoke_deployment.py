"""`sam deploy` per region: the commands, their outcomes, regions, parameters, the hub's ARN."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from rootwatch.deploy.commands import CommandResult, SubprocessRunner
from rootwatch.deploy.parameters import (
    HubStackError,
    ParameterError,
    SpokeParameters,
    hub_bus_arn_from_stack,
)
from rootwatch.deploy.regions import RegionError, enabled_regions, ordered, parse_region_list
from rootwatch.deploy.spokes import (
    SamProject,
    SpokeDeployment,
    StackNameError,
    deploy_spokes,
    summarize,
)

from tests.support.stacks import HUB_BUS_STACK

ROOT = Path(__file__).resolve().parents[2]
HUB_BUS_ARN = "arn:aws:events:us-east-1:444455556666:event-bus/rootwatch-hub"


class RecordingRunner:
    """Our CommandRunner: records each command and answers from a script per region."""

    def __init__(self, answers: Mapping[str, CommandResult]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[str], Path, dict[str, str]]] = []
        self._lock = threading.Lock()

    def run(
        self, argv: Sequence[str], *, cwd: Path, environment: Mapping[str, str]
    ) -> CommandResult:
        with self._lock:
            self.calls.append((list(argv), cwd, dict(environment)))
        region = argv[list(argv).index("--region") + 1]
        return self.answers[region]


def deployment(**changes: object) -> SpokeDeployment:
    settings: dict[str, object] = {
        "project": SamProject(ROOT),
        "parameters": SpokeParameters(hub_event_bus_arn=HUB_BUS_ARN),
    }
    settings.update(changes)
    return SpokeDeployment(**settings)  # type: ignore[arg-type]


OK = CommandResult(0, "Deploying...\nSuccessfully created/updated stack - rootwatch-spoke in r\n")


# --- the command -------------------------------------------------------------------------


def test_command_deploys_the_spoke_environment_in_one_region() -> None:
    argv = deployment(sam_executable="/opt/sam").command("eu-west-1")
    assert argv[:2] == ["/opt/sam", "deploy"]

    def option(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert option("--config-file") == str(ROOT / "samconfig.toml")
    assert option("--config-env") == "spoke"
    assert option("--template-file") == str(ROOT / "spoke" / "template.yaml")
    assert option("--stack-name") == "rootwatch-spoke"
    assert option("--region") == "eu-west-1"
    assert option("--capabilities") == "CAPABILITY_NAMED_IAM"
    assert "--no-confirm-changeset" in argv
    assert "--no-fail-on-empty-changeset" in argv
    overrides = argv[argv.index("--parameter-overrides") + 1 :]
    assert overrides == [
        f"HubEventBusArn={HUB_BUS_ARN}",
        "HeartbeatRateMinutes=15",
        "EnableProtection=false",
        "ProtectionRegion=us-east-1",
    ]
    assert "--profile" not in argv


def test_command_carries_the_profile_and_the_parameters() -> None:
    parameters = SpokeParameters(
        hub_event_bus_arn=HUB_BUS_ARN,
        heartbeat_minutes=30,
        enable_protection=True,
        protection_region="eu-west-1",
    )
    argv = deployment(parameters=parameters, profile="partner-acme").command("us-east-1")
    assert argv[argv.index("--profile") + 1] == "partner-acme"
    assert "HeartbeatRateMinutes=30" in argv
    assert "EnableProtection=true" in argv
    assert "ProtectionRegion=eu-west-1" in argv


def test_endpoint_goes_to_sam_through_its_environment() -> None:
    assert deployment().environment() == {}
    local = deployment(endpoint_url="http://127.0.0.1:5000")
    assert local.environment() == {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}


def test_spoke_stack_name_must_be_one_tamper_detection_watches() -> None:
    assert deployment(stack_name="rootwatch-spoke-eu").stack_name == "rootwatch-spoke-eu"
    with pytest.raises(StackNameError, match="must start with 'rootwatch-spoke'"):
        deployment(stack_name="my-spoke")


# --- running it in every region -----------------------------------------------------------


def test_every_region_is_attempted_and_reported_in_order() -> None:
    runner = RecordingRunner(
        {
            "us-east-1": OK,
            "eu-west-1": CommandResult(
                1,
                "Error: Failed to create changeset for the stack: rootwatch-spoke, "
                "ex: Waiter ChangeSetCreateComplete failed\n",
            ),
            "ap-south-1": CommandResult(0, "No changes to deploy. Stack rootwatch-spoke is up\n"),
        }
    )
    heard: list[str] = []
    outcomes = deploy_spokes(
        deployment(),
        ["us-east-1", "eu-west-1", "ap-south-1"],
        runner,
        on_outcome=lambda outcome: heard.append(outcome.region),
    )
    assert [(o.region, o.succeeded) for o in outcomes] == [
        ("us-east-1", True),
        ("eu-west-1", False),
        ("ap-south-1", True),
    ]
    assert outcomes[1].summary.startswith("Error: Failed to create changeset")
    assert outcomes[2].summary.startswith("No changes to deploy")
    assert sorted(heard) == ["ap-south-1", "eu-west-1", "us-east-1"]
    assert all(cwd == ROOT for _, cwd, _ in runner.calls)


def test_parallel_deploys_keep_the_order_of_the_regions() -> None:
    regions = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "sa-east-1"]
    runner = RecordingRunner(dict.fromkeys(regions, OK))
    outcomes = deploy_spokes(deployment(), regions, runner, parallel=3)
    assert [o.region for o in outcomes] == regions
    assert sorted(call[0][call[0].index("--region") + 1] for call in runner.calls) == sorted(
        regions
    )


@pytest.mark.parametrize(
    ("result", "summary"),
    [
        (CommandResult(0, "\x1b[32mSuccessfully created/updated stack - s in r\x1b[0m\n\n"), None),
        (CommandResult(0, "something\nlast words\n"), "last words"),
        (CommandResult(2, "Usage: sam deploy\nError: No such option: --bad\n"), None),
        (CommandResult(127, "cannot run sam: not found"), "exit status 127: cannot run sam"),
        (CommandResult(1, ""), "exit status 1: no output"),
    ],
)
def test_summary_is_the_line_that_says_how_it_ended(
    result: CommandResult, summary: str | None
) -> None:
    expected = (
        summary
        or {
            0: "Successfully created/updated stack - s in r",
            2: "Error: No such option: --bad",
        }[result.returncode]
    )
    assert summarize(result).startswith(expected)


def test_subprocess_runner_reports_a_missing_program(tmp_path: Path) -> None:
    result = SubprocessRunner().run([str(tmp_path / "no-such-sam")], cwd=tmp_path, environment={})
    assert result.returncode == 127
    assert "cannot run" in result.output


def test_subprocess_runner_passes_the_environment_and_captures_both_streams(
    tmp_path: Path,
) -> None:
    script = "import os,sys; print(os.environ['ROOTWATCH_PROBE']); print('oops', file=sys.stderr)"
    result = SubprocessRunner().run(
        [sys.executable, "-c", script], cwd=tmp_path, environment={"ROOTWATCH_PROBE": "seen"}
    )
    assert result.succeeded
    assert result.output.split() == ["seen", "oops"]


# --- parameters and regions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hub_event_bus_arn": "rootwatch-hub"}, "not an event bus ARN"),
        ({"hub_event_bus_arn": HUB_BUS_ARN.replace("event-bus", "rule")}, "not an event bus"),
        ({"heartbeat_minutes": 4}, "5 to 60 minutes"),
        ({"heartbeat_minutes": 61}, "5 to 60 minutes"),
        ({"protection_region": "Europe"}, "not a region name"),
    ],
)
def test_parameters_the_template_would_refuse_are_refused_first(
    changes: dict[str, object], message: str
) -> None:
    settings: dict[str, object] = {"hub_event_bus_arn": HUB_BUS_ARN, **changes}
    with pytest.raises(ParameterError, match=message):
        SpokeParameters(**settings)  # type: ignore[arg-type]


def test_region_list_keeps_the_given_order_without_repeats() -> None:
    assert parse_region_list(" eu-west-1,us-east-1,,eu-west-1 ") == ["eu-west-1", "us-east-1"]
    assert parse_region_list("us-gov-west-1") == ["us-gov-west-1"]
    with pytest.raises(RegionError, match="not a region name"):
        parse_region_list("us-east-1,Ireland")
    with pytest.raises(RegionError, match="no region"):
        parse_region_list(" , ")


def test_all_regions_start_with_us_east_1() -> None:
    assert ordered(["eu-west-1", "us-east-1", "ap-south-1", "eu-west-1"]) == [
        "us-east-1",
        "ap-south-1",
        "eu-west-1",
    ]


def test_enabled_regions_leave_out_regions_not_opted_in() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        listed = ec2.describe_regions(AllRegions=False)["Regions"]
        regions = enabled_regions(ec2)
    not_opted_in = {r["RegionName"] for r in listed if r["OptInStatus"] == "not-opted-in"}
    assert not_opted_in, "moto lists some regions as not opted in"
    assert not_opted_in.isdisjoint(regions)
    assert {"us-east-1", "eu-west-1"} <= set(regions)
    assert regions == sorted(regions)


# --- the hub stack -------------------------------------------------------------------------


def test_hub_bus_arn_comes_from_the_hub_stacks_output() -> None:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
        cloudformation.create_stack(StackName="rootwatch-hub", TemplateBody=HUB_BUS_STACK)
        arn = hub_bus_arn_from_stack(cloudformation, "rootwatch-hub")
        assert (
            arn
            == boto3.client("events", region_name="eu-west-1").describe_event_bus(
                Name="rootwatch-hub"
            )["Arn"]
        )
        no_output = HUB_BUS_STACK.split("Outputs:", maxsplit=1)[0].replace("rootwatch-hub", "other")
        cloudformation.create_stack(StackName="not-a-hub", TemplateBody=no_output)
        with pytest.raises(HubStackError, match="has no output EventBusArn"):
            hub_bus_arn_from_stack(cloudformation, "not-a-hub")
        with pytest.raises(HubStackError, match="cannot read hub stack 'missing'"):
            hub_bus_arn_from_stack(cloudformation, "missing")


def test_hub_template_names_its_bus_output_as_the_deployer_reads_it() -> None:
    from rootwatch.deploy.parameters import HUB_BUS_OUTPUT
    from rootwatch.local.template import load_template

    hub = load_template(ROOT / "template.yaml")
    assert hub.outputs[HUB_BUS_OUTPUT]["Value"] == {"Fn::GetAtt": ["HubEventBus", "Arn"]}


# --- the project -------------------------------------------------------------------------


def test_project_is_found_above_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "spoke").mkdir()
    (tmp_path / "spoke" / "template.yaml").write_text("Resources: {}\n", encoding="utf-8")
    (tmp_path / "samconfig.toml").write_text("version = 0.1\n", encoding="utf-8")
    below = tmp_path / "docs" / "deeper"
    below.mkdir(parents=True)
    assert SamProject.locate(below) == SamProject(tmp_path.resolve())


def test_project_falls_back_to_the_checkout_of_the_package(tmp_path: Path) -> None:
    assert SamProject.locate(tmp_path) == SamProject(ROOT)


def test_incomplete_project_is_not_a_project(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text("version = 0.1\n", encoding="utf-8")
    assert not SamProject(tmp_path).is_complete()
