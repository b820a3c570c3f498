"""The StackSet route, against moto's CloudFormation stack sets and Organizations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rootwatch import naming
from rootwatch.deploy.parameters import SpokeParameters
from rootwatch.deploy.stackset import (
    AccountTargets,
    InstanceOutcome,
    OperationOutcome,
    OrganizationTargets,
    StackSetCall,
    StackSetDeployer,
    StackSetError,
    StackSetReport,
    StackSetRequest,
    parse_id_list,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_BODY = (ROOT / "spoke" / "template.yaml").read_text(encoding="utf-8")
REGION = "us-east-1"
HUB_BUS_ARN = f"arn:aws:events:{REGION}:123456789012:event-bus/rootwatch-hub"
PARTNERS = ("111111111111", "222222222222")
PARAMETERS = SpokeParameters(hub_event_bus_arn=HUB_BUS_ARN)


@pytest.fixture
def cloudformation() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


def no_sleep(_: float) -> None:
    raise AssertionError("moto's operations end at once: nothing to wait for")


def accounts_request(*regions: str, **targets: Any) -> StackSetRequest:
    return StackSetRequest(
        template_body=TEMPLATE_BODY,
        parameters=PARAMETERS,
        targets=AccountTargets(PARTNERS, **targets),
        regions=regions,
    )


def rules_in(account: str, region: str) -> dict[str, list[dict[str, Any]]]:
    """The rules on the default bus of `account` in `region`, with their targets."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/inspector", RoleSessionName="inspector"
    )["Credentials"]
    events = boto3.client(
        "events",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return {
        rule["Name"]: events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        for rule in events.list_rules()["Rules"]
    }


def test_self_managed_stack_set_puts_a_spoke_in_every_account_and_region(
    cloudformation: Any,
) -> None:
    deployer = StackSetDeployer(cloudformation, sleep=no_sleep)
    report = deployer.apply(
        accounts_request(
            "us-east-1",
            "eu-west-1",
            administration_role_arn="arn:aws:iam::123456789012:role/DistributorStackSetAdmin",
            execution_role_name="DistributorStackSetExecution",
        )
    )
    assert report.created
    assert not report.failed
    assert [operation.call.operation for operation in report.operations] == [
        "create_stack_instances"
    ]
    assert {(i.account, i.region) for i in report.instances} == {
        (account, region) for account in PARTNERS for region in ("us-east-1", "eu-west-1")
    }
    stack_set = cloudformation.describe_stack_set(StackSetName=naming.SPOKE_STACK_PREFIX)[
        "StackSet"
    ]
    assert stack_set["PermissionModel"] == "SELF_MANAGED"
    assert stack_set["AdministrationRoleARN"].endswith(":role/DistributorStackSetAdmin")
    assert stack_set["ExecutionRoleName"] == "DistributorStackSetExecution"
    for account in PARTNERS:
        rules = rules_in(account, "eu-west-1")
        assert set(rules) == {
            naming.ROOT_ACTIVITY_RULE,
            naming.TAMPER_RULE,
            naming.TAMPER_GUARD_RULE,
            naming.HEARTBEAT_RULE,
        }
        assert all(targets[0]["Arn"] == HUB_BUS_ARN for targets in rules.values())


def test_second_run_updates_the_stack_set_and_adds_new_regions(cloudformation: Any) -> None:
    deployer = StackSetDeployer(cloudformation, sleep=no_sleep)
    deployer.apply(accounts_request("us-east-1"))
    report = deployer.apply(accounts_request("us-east-1", "ap-southeast-2"))
    assert not report.created
    assert [operation.call.operation for operation in report.operations] == [
        "update_stack_set",
        "create_stack_instances",
    ]
    assert len(report.instances) == 4
    assert naming.HEARTBEAT_RULE in rules_in(PARTNERS[1], "ap-southeast-2")


def test_plan_reads_and_changes_nothing(cloudformation: Any) -> None:
    calls = StackSetDeployer(cloudformation, sleep=no_sleep).plan(accounts_request(REGION))
    assert [call.operation for call in calls] == ["create_stack_set", "create_stack_instances"]
    assert cloudformation.list_stack_sets()["Summaries"] == []
    create, instances = calls
    assert create.arguments["PermissionModel"] == "SELF_MANAGED"
    assert create.arguments["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert "AutoDeployment" not in create.arguments
    assert {p["ParameterKey"]: p["ParameterValue"] for p in create.arguments["Parameters"]} == (
        PARAMETERS.as_dict()
    )
    assert instances.arguments["Accounts"] == list(PARTNERS)
    assert instances.arguments["Regions"] == [REGION]
    assert instances.arguments["OperationPreferences"] == {
        "RegionConcurrencyType": "PARALLEL",
        "MaxConcurrentPercentage": 100,
        "FailureTolerancePercentage": 100,
    }


def organization_with_partner_ou() -> tuple[str, list[str]]:
    """An organisation with an OU of two accounts (and one account outside it)."""
    organizations = boto3.client("organizations", region_name=REGION)
    organizations.create_organization(FeatureSet="ALL")
    root_id = organizations.list_roots()["Roots"][0]["Id"]
    ou_id = organizations.create_organizational_unit(ParentId=root_id, Name="partners")[
        "OrganizationalUnit"
    ]["Id"]
    members = []
    for name in ("acme", "globex", "outside"):
        account_id = organizations.create_account(AccountName=name, Email=f"{name}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        if name != "outside":
            organizations.move_account(
                AccountId=account_id, SourceParentId=root_id, DestinationParentId=ou_id
            )
            members.append(account_id)
    return ou_id, members


def test_service_managed_stack_set_deploys_to_the_ous_accounts_and_to_new_ones(
    cloudformation: Any,
) -> None:
    ou_id, members = organization_with_partner_ou()
    request = StackSetRequest(
        template_body=TEMPLATE_BODY,
        parameters=PARAMETERS,
        targets=OrganizationTargets((ou_id,)),
        regions=("us-east-1", "eu-central-1"),
    )
    deployer = StackSetDeployer(cloudformation, sleep=no_sleep)
    create, instances = deployer.plan(request)
    assert create.arguments["PermissionModel"] == "SERVICE_MANAGED"
    assert create.arguments["AutoDeployment"] == {
        "Enabled": True,
        "RetainStacksOnAccountRemoval": False,
    }
    assert instances.arguments["DeploymentTargets"] == {"OrganizationalUnitIds": [ou_id]}
    assert "Accounts" not in instances.arguments

    report = deployer.apply(request)
    assert not report.failed
    assert {(i.account, i.region) for i in report.instances} == {
        (account, region) for account in members for region in ("us-east-1", "eu-central-1")
    }
    assert naming.ROOT_ACTIVITY_RULE in rules_in(members[0], "eu-central-1")


def test_delegated_administrator_calls_say_so(cloudformation: Any) -> None:
    request = StackSetRequest(
        template_body=TEMPLATE_BODY,
        parameters=PARAMETERS,
        targets=OrganizationTargets(("ou-ab12-cdef3456",), call_as="DELEGATED_ADMIN"),
        regions=(REGION,),
    )
    calls = StackSetDeployer(cloudformation, sleep=no_sleep).plan(request)
    assert all(call.arguments["CallAs"] == "DELEGATED_ADMIN" for call in calls)


def test_a_stack_set_of_the_other_permission_model_is_not_reused(cloudformation: Any) -> None:
    deployer = StackSetDeployer(cloudformation, sleep=no_sleep)
    deployer.apply(accounts_request(REGION))
    ou_request = StackSetRequest(
        template_body=TEMPLATE_BODY,
        parameters=PARAMETERS,
        targets=OrganizationTargets(("ou-ab12-cdef3456",)),
        regions=(REGION,),
    )
    with pytest.raises(StackSetError, match="is SELF_MANAGED; this deployment needs SERVICE"):
        deployer.plan(ou_request)


def test_running_operations_are_waited_for(cloudformation: Any) -> None:
    """CloudFormation reports RUNNING until the operation ends: moto's operations end at
    once, so the first polls are answered RUNNING here."""
    running_polls = 2

    def still_running(parsed: dict[str, Any], **_: Any) -> None:
        nonlocal running_polls
        if running_polls:
            running_polls -= 1
            parsed["StackSetOperation"]["Status"] = "RUNNING"

    cloudformation.meta.events.register(
        "after-call.cloudformation.DescribeStackSetOperation", still_running
    )
    sleeps: list[float] = []
    deployer = StackSetDeployer(cloudformation, sleep=sleeps.append, poll_seconds=7)
    report = deployer.apply(accounts_request(REGION))
    assert sleeps == [7, 7]
    assert [operation.status for operation in report.operations] == ["SUCCEEDED"]


def test_an_operation_that_never_ends_is_reported(cloudformation: Any) -> None:
    def forever_running(parsed: dict[str, Any], **_: Any) -> None:
        parsed["StackSetOperation"]["Status"] = "RUNNING"

    cloudformation.meta.events.register(
        "after-call.cloudformation.DescribeStackSetOperation", forever_running
    )
    sleeps: list[float] = []
    deployer = StackSetDeployer(cloudformation, sleep=sleeps.append, max_polls=3)
    with pytest.raises(StackSetError, match="is still running"):
        deployer.apply(accounts_request(REGION))
    assert len(sleeps) == 3


# --- values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AccountTargets(()), "at least one account"),
        (lambda: AccountTargets(("12345",)), "not a 12-digit account id"),
        (
            lambda: AccountTargets(PARTNERS, administration_role_arn="StackSetAdmin"),
            "not an IAM role ARN",
        ),
        (lambda: AccountTargets(PARTNERS, execution_role_name="bad name"), "not an IAM role"),
        (lambda: OrganizationTargets(()), "at least one organisational unit"),
        (lambda: OrganizationTargets(("partners",)), "not an OU id"),
        (accounts_request, "at least one region"),
    ],
)
def test_targets_that_cannot_work_are_refused(build: Any, message: str) -> None:
    with pytest.raises(StackSetError, match=message):
        build()


def test_stack_set_name_must_be_one_tamper_detection_watches() -> None:
    with pytest.raises(ValueError, match="must start with 'rootwatch-spoke'"):
        StackSetRequest(
            template_body=TEMPLATE_BODY,
            parameters=PARAMETERS,
            targets=AccountTargets(PARTNERS),
            regions=(REGION,),
            name="spokes",
        )


def test_id_lists_are_split_trimmed_and_unique() -> None:
    assert parse_id_list(" 111111111111,222222222222,,111111111111 ") == PARTNERS


def test_report_fails_when_an_operation_or_an_instance_failed() -> None:
    call = StackSetCall("create_stack_instances", {})
    good = InstanceOutcome("111111111111", REGION, "CURRENT", "SUCCEEDED")
    outdated = InstanceOutcome("222222222222", REGION, "OUTDATED", "FAILED", "No role")
    assert not StackSetReport(
        "s", True, (OperationOutcome(call, "op", "SUCCEEDED"),), (good,)
    ).failed
    assert StackSetReport("s", True, (OperationOutcome(call, "op", "FAILED"),), (good,)).failed
    assert StackSetReport("s", True, (), (good, outdated)).failed
    assert InstanceOutcome("1", REGION, "INOPERABLE", "INOPERABLE").failed


def test_calls_read_as_one_line_without_the_template() -> None:
    call = StackSetCall(
        "create_stack_set",
        {
            "StackSetName": "rootwatch-spoke",
            "TemplateBody": TEMPLATE_BODY,
            "Parameters": PARAMETERS.as_cloudformation(),
            "AutoDeployment": {"Enabled": True},
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
        },
    )
    line = call.describe()
    assert line.startswith("CreateStackSet StackSetName=rootwatch-spoke TemplateBody=<")
    assert f"HubEventBusArn={HUB_BUS_ARN}" in line
    assert "AutoDeployment={Enabled=True}" in line
    assert "\n" not in line
