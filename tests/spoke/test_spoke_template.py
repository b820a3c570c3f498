"""spoke/template.yaml: the tools accept it, and its resources say what the design says.

The checks that run the tools (cfn-lint, sam validate, sam build) are marked `templates`.
The rest read the template with the project's loader and evaluate it for a stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rootwatch import detection, naming
from rootwatch.deploy import parameters as spoke_parameters
from rootwatch.local.template import Pseudo, StackEvaluation, Template, load_template

from tests.support.templates import (
    REPO,
    Placeholders,
    resolved_properties,
    run_tool,
    tool_report,
)

SPOKE_TEMPLATE = REPO / "spoke" / "template.yaml"
HUB_TEMPLATE = REPO / "template.yaml"
ACCOUNT = "111122223333"
HUB_BUS_ARN = "arn:aws:events:eu-west-1:444455556666:event-bus/rootwatch-hub"
RULES = {
    "RootActivityRule": naming.ROOT_ACTIVITY_RULE,
    "TamperRule": naming.TAMPER_RULE,
    "TamperGuardRule": naming.TAMPER_GUARD_RULE,
    "HeartbeatRule": naming.HEARTBEAT_RULE,
}
BOUNDARY_ALLOW_SID = "BoundaryAllowsWhatTheRolePoliciesAllow"


@pytest.fixture(scope="module")
def spoke() -> Template:
    return load_template(SPOKE_TEMPLATE)


def evaluate(template: Template, region: str = "eu-west-1", **overrides: str) -> StackEvaluation:
    return StackEvaluation(
        template,
        Pseudo(region=region, account_id=ACCOUNT, stack_name=naming.SPOKE_STACK_PREFIX),
        overrides={"HubEventBusArn": HUB_BUS_ARN, **overrides},
        resources=Placeholders(),
    )


def canonical(value: Any) -> Any:
    """A pattern with the order of its lists removed: EventBridge ignores it."""
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((canonical(item) for item in value), key=json.dumps)
    return value


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(evaluation: StackEvaluation) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for logical_id in evaluation.active_resources():
        resource_type = evaluation.template.resources[logical_id]["Type"]
        props = resolved_properties(evaluation, logical_id)
        if resource_type == "AWS::IAM::Role":
            yield f"{logical_id} trust", props["AssumeRolePolicyDocument"]
            for policy in props.get("Policies", []):
                yield f"{logical_id} {policy['PolicyName']}", policy["PolicyDocument"]
        elif resource_type in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            yield logical_id, props["PolicyDocument"]


# --- the tools ---------------------------------------------------------------------------


@pytest.mark.templates
def test_cfn_lint_passes() -> None:
    result = run_tool("cfn-lint", str(SPOKE_TEMPLATE))
    assert result.returncode == 0, tool_report(result)


@pytest.mark.templates
def test_sam_validate_with_lint_passes() -> None:
    result = run_tool("sam", "validate", "--lint", "--template-file", str(SPOKE_TEMPLATE))
    assert result.returncode == 0, tool_report(result)


@pytest.mark.templates
def test_sam_build_builds_the_spoke(tmp_path: Path, spoke: Template) -> None:
    build_dir = tmp_path / "build"
    result = run_tool(
        "sam",
        "build",
        "--template-file",
        str(SPOKE_TEMPLATE),
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, tool_report(result)
    built = load_template(build_dir / "template.yaml")
    assert set(built.resources) == set(spoke.resources)


# --- rules -------------------------------------------------------------------------------


def test_rule_names_are_the_names_tamper_detection_watches(spoke: Template) -> None:
    evaluation = evaluate(spoke)
    rules = {
        logical_id: resolved_properties(evaluation, logical_id)["Name"]
        for logical_id, resource in spoke.resources.items()
        if resource["Type"] == "AWS::Events::Rule"
    }
    assert rules == RULES
    assert all(name.startswith(naming.RULE_NAME_PREFIX) for name in rules.values())


def test_rules_sit_on_the_default_bus_in_their_states(spoke: Template) -> None:
    evaluation = evaluate(spoke)
    states = {
        logical_id: (resolved_properties(evaluation, logical_id)["State"])
        for logical_id in RULES
        if resolved_properties(evaluation, logical_id)["EventBusName"] == "default"
    }
    # Without the CloudTrail state, root's read-only calls never reach EventBridge.
    assert states == {
        "RootActivityRule": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
        "TamperRule": "ENABLED",
        "TamperGuardRule": "ENABLED",
        "HeartbeatRule": "ENABLED",
    }


def test_root_activity_pattern_is_detections(spoke: Template) -> None:
    pattern = resolved_properties(evaluate(spoke), "RootActivityRule")["EventPattern"]
    assert canonical(pattern) == canonical(
        {"source": [{"prefix": "aws."}], "detail": detection.root_activity_pattern()}
    )


def test_tamper_pattern_is_detections(spoke: Template) -> None:
    pattern = resolved_properties(evaluate(spoke), "TamperRule")["EventPattern"]
    assert canonical(pattern) == canonical(
        {"source": [{"prefix": "aws."}], "detail": detection.tamper_pattern()}
    )


def test_tamper_guard_watches_rootwatchs_rules_as_the_tamper_rule_does(spoke: Template) -> None:
    pattern = resolved_properties(evaluate(spoke), "TamperGuardRule")["EventPattern"]
    rule_branches = [
        branch
        for branch in detection.tamper_pattern()["$or"]
        if branch["eventSource"] == [detection.EVENTBRIDGE_SOURCE]
    ]
    assert len(rule_branches) == 2
    assert canonical(pattern) == canonical(
        {"source": [{"prefix": "aws."}], "detail": {"$or": rule_branches}}
    )


def test_heartbeat_is_a_schedule_at_the_rate_parameter(spoke: Template) -> None:
    default = resolved_properties(evaluate(spoke), "HeartbeatRule")
    assert default["ScheduleExpression"] == "rate(15 minutes)"
    assert "EventPattern" not in default
    chosen = resolved_properties(evaluate(spoke, HeartbeatRateMinutes="30"), "HeartbeatRule")
    assert chosen["ScheduleExpression"] == "rate(30 minutes)"
    declared = spoke.parameters["HeartbeatRateMinutes"]
    assert declared["Default"] == spoke_parameters.DEFAULT_HEARTBEAT_MINUTES
    assert declared["MinValue"] == spoke_parameters.MIN_HEARTBEAT_MINUTES
    assert declared["MaxValue"] == spoke_parameters.MAX_HEARTBEAT_MINUTES


def test_heartbeat_default_matches_the_hubs_expectation(spoke: Template) -> None:
    hub = load_template(HUB_TEMPLATE)
    assert (
        hub.parameters["HeartbeatIntervalMinutes"]["Default"]
        == spoke.parameters["HeartbeatRateMinutes"]["Default"]
    )


def test_every_rule_sends_to_the_hub_bus_through_the_delivery_role(spoke: Template) -> None:
    evaluation = evaluate(spoke)
    for logical_id in RULES:
        targets = resolved_properties(evaluation, logical_id)["Targets"]
        # One target, the event unchanged: the hub needs CloudTrail's record as it is.
        assert targets == [
            {"Id": "rootwatch-hub", "Arn": HUB_BUS_ARN, "RoleArn": "DeliveryRole.Arn"}
        ], logical_id


# --- the delivery role -------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-2"])
def test_delivery_role_is_named_per_region(spoke: Template, region: str) -> None:
    role = resolved_properties(evaluate(spoke, region=region), "DeliveryRole")
    assert role["RoleName"] == f"{naming.DELIVERY_ROLE_PREFIX}{region}"


def test_delivery_role_may_only_put_events_on_the_hub_bus(spoke: Template) -> None:
    role = resolved_properties(evaluate(spoke), "DeliveryRole")
    assert set(role) <= {"RoleName", "Description", "AssumeRolePolicyDocument", "Policies"}
    (policy,) = role["Policies"]
    (statement,) = statements(policy["PolicyDocument"])
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["events:PutEvents"]
    assert as_list(statement["Resource"]) == [HUB_BUS_ARN]
    assert "Condition" not in statement


def test_only_this_accounts_rootwatch_rules_may_assume_the_delivery_role(
    spoke: Template,
) -> None:
    region = "eu-west-1"
    role = resolved_properties(evaluate(spoke, region=region), "DeliveryRole")
    (statement,) = statements(role["AssumeRolePolicyDocument"])
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sts:AssumeRole"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert set(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == {
        f"arn:aws:events:{region}:{ACCOUNT}:rule/{name}" for name in RULES.values()
    }


def test_no_allow_has_a_wildcard_but_the_boundarys(spoke: Template) -> None:
    """The one `*`: a permissions boundary allows everything its Deny statements leave."""
    evaluation = evaluate(spoke, EnableProtection="true", ProtectionRegion="eu-west-1")
    wildcards = []
    for where, document in policy_documents(evaluation):
        for statement in statements(document):
            assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), where
            if statement["Effect"] != "Allow":
                continue
            values = as_list(statement["Action"]) + as_list(statement.get("Resource", []))
            if any("*" in str(value) for value in values):
                wildcards.append((where, statement.get("Sid"), statement))
    assert wildcards == [
        (
            "ProtectionPolicy",
            BOUNDARY_ALLOW_SID,
            {"Sid": BOUNDARY_ALLOW_SID, "Effect": "Allow", "Action": "*", "Resource": "*"},
        )
    ]


# --- the protection policy ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("enable", "protection_region", "region", "created"),
    [
        ("false", "us-east-1", "us-east-1", False),
        ("true", "us-east-1", "us-east-1", True),
        ("true", "us-east-1", "eu-west-1", False),
        ("true", "eu-west-1", "eu-west-1", True),
    ],
)
def test_protection_policy_is_created_once_per_account_when_enabled(
    spoke: Template, enable: str, protection_region: str, region: str, created: bool
) -> None:
    evaluation = evaluate(
        spoke, region=region, EnableProtection=enable, ProtectionRegion=protection_region
    )
    assert evaluation.is_active("ProtectionPolicy") is created
    assert spoke.outputs["ProtectionPolicyArn"]["Condition"] == "CreateProtection"


class Boundary:
    """The protection policy's statements, evaluated for actions on resources."""

    def __init__(self, spoke: Template, region: str = "us-east-1") -> None:
        evaluation = evaluate(
            spoke, region=region, EnableProtection="true", ProtectionRegion=region
        )
        policy = resolved_properties(evaluation, "ProtectionPolicy")
        self.name = policy["ManagedPolicyName"]
        self.arn = f"arn:aws:iam::{ACCOUNT}:policy/{self.name}"
        self.statements = statements(policy["PolicyDocument"])

    def statement(self, sid: str) -> Mapping[str, Any]:
        (found,) = [statement for statement in self.statements if statement.get("Sid") == sid]
        return found

    def denies(self, action: str, resource: str, context: Mapping[str, str] | None = None) -> bool:
        for statement in self.statements:
            if statement["Effect"] != "Deny":
                continue
            if not any(
                fnmatchcase(action.lower(), a.lower()) for a in as_list(statement["Action"])
            ):
                continue
            if not any(fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
                continue
            if self._condition_holds(statement.get("Condition", {}), context or {}):
                return True
        return False

    @staticmethod
    def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
        for operator, keys in condition.items():
            assert operator == "StringNotEquals", f"no evaluation for {operator}"
            for key, expected in keys.items():
                # A key absent from the request matches a negated operator.
                if context.get(key) in as_list(expected):
                    return False
        return True


REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
STACK_ID = "6f0c2d10-aaaa-bbbb-cccc-0123456789ab"


def test_protection_policy_is_named_for_its_region(spoke: Template) -> None:
    assert Boundary(spoke, "eu-west-1").name == f"{naming.PROTECTION_POLICY_PREFIX}eu-west-1"


def test_boundary_denies_changing_rootwatchs_rules(spoke: Template) -> None:
    boundary = Boundary(spoke)
    actions = (
        {
            "DeleteRule",
            "DisableRule",
            "PutRule",
            "PutTargets",
            "RemoveTargets",
            "TagResource",
            "UntagResource",
        }
        | set(detection.RULE_TAMPER_EVENTS)
        | set(detection.TARGET_TAMPER_EVENTS)
    )
    for region in REGIONS:
        for rule in RULES.values():
            arn = f"arn:aws:events:{region}:{ACCOUNT}:rule/{rule}"
            assert all(boundary.denies(f"events:{action}", arn) for action in actions), arn
    assert not boundary.denies("events:PutRule", f"arn:aws:events:us-east-1:{ACCOUNT}:rule/team")
    assert not boundary.denies(
        "events:EnableRule", f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{naming.TAMPER_RULE}"
    )


def test_boundary_denies_every_change_tamper_detection_watches_on_the_delivery_role(
    spoke: Template,
) -> None:
    boundary = Boundary(spoke)
    for region in REGIONS:
        arn = f"arn:aws:iam::{ACCOUNT}:role/{naming.DELIVERY_ROLE_PREFIX}{region}"
        for event in detection.ROLE_TAMPER_EVENTS:
            assert boundary.denies(f"iam:{event}", arn), event
    assert not boundary.denies("iam:DeleteRole", f"arn:aws:iam::{ACCOUNT}:role/team-role")


def test_boundary_denies_every_change_tamper_detection_watches_on_the_spoke_stacks(
    spoke: Template,
) -> None:
    boundary = Boundary(spoke)
    stacks = [
        f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/{STACK_ID}"
        for region in REGIONS
        for name in (naming.SPOKE_STACK_PREFIX, f"{naming.STACK_SET_SPOKE_STACK_PREFIX}-0a1b2c")
    ]
    for arn in stacks:
        for event in detection.STACK_TAMPER_EVENTS:
            assert boundary.denies(f"cloudformation:{event}", arn), (event, arn)
    other = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/team-stack/{STACK_ID}"
    assert not boundary.denies("cloudformation:DeleteStack", other)


def test_boundary_denies_every_change_tamper_detection_watches_on_the_spoke_stack_set(
    spoke: Template,
) -> None:
    boundary = Boundary(spoke)
    # A delegated administrator acts on the management account's stack set.
    stack_sets = [
        f"arn:aws:cloudformation:{region}:{account}:stackset/{name}:{STACK_ID}"
        for region in REGIONS
        for account in (ACCOUNT, "999999999999")
        for name in (naming.SPOKE_STACK_SET_PREFIX, f"{naming.SPOKE_STACK_SET_PREFIX}-partners")
    ]
    for arn in stack_sets:
        for event in detection.STACK_SET_TAMPER_EVENTS:
            assert boundary.denies(f"cloudformation:{event}", arn), (event, arn)
    other = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stackset/team-baseline:{STACK_ID}"
    assert not boundary.denies("cloudformation:DeleteStackSet", other)
    spoke_set = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stackset/rootwatch-spoke:{STACK_ID}"
    assert not boundary.denies("cloudformation:CreateStackInstances", spoke_set)


def test_boundary_denies_stopping_cloudtrail(spoke: Template) -> None:
    boundary = Boundary(spoke)
    trail = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/management"
    assert boundary.denies("cloudtrail:StopLogging", trail)
    assert boundary.denies("cloudtrail:DeleteTrail", trail)
    assert not boundary.denies("cloudtrail:StartLogging", trail)


def test_boundary_cannot_be_changed_removed_or_left_off(spoke: Template) -> None:
    boundary = Boundary(spoke)
    for action in ("CreatePolicyVersion", "DeletePolicy", "DeletePolicyVersion"):
        assert boundary.denies(f"iam:{action}", boundary.arn), action
    assert boundary.denies("iam:SetDefaultPolicyVersion", boundary.arn)
    assert boundary.denies("iam:DeleteRolePermissionsBoundary", f"arn:aws:iam::{ACCOUNT}:role/a")
    assert boundary.denies("iam:DeleteUserPermissionsBoundary", f"arn:aws:iam::{ACCOUNT}:user/b")
    role, user = f"arn:aws:iam::{ACCOUNT}:role/new", f"arn:aws:iam::{ACCOUNT}:user/new"
    with_this = {"iam:PermissionsBoundary": boundary.arn}
    with_other = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/AllowAll"}
    for action, arn in (
        ("iam:CreateRole", role),
        ("iam:PutRolePermissionsBoundary", role),
        ("iam:CreateUser", user),
        ("iam:PutUserPermissionsBoundary", user),
    ):
        assert boundary.denies(action, arn), f"{action} without a boundary"
        assert boundary.denies(action, arn, with_other), f"{action} with another boundary"
        assert not boundary.denies(action, arn, with_this), f"{action} with this boundary"


def test_boundary_lets_administrators_work(spoke: Template) -> None:
    boundary = Boundary(spoke)
    allow = boundary.statement(BOUNDARY_ALLOW_SID)
    assert (allow["Effect"], allow["Action"], allow["Resource"]) == ("Allow", "*", "*")
    assert not boundary.denies("ec2:RunInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i")
    assert not boundary.denies("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/team-role")


# --- deployed in moto --------------------------------------------------------------------


def test_stack_deploys_the_rules_role_and_policy(spoke: Template) -> None:
    region = "eu-west-1"
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=region)
        cloudformation.create_stack(
            StackName=naming.SPOKE_STACK_PREFIX,
            TemplateBody=SPOKE_TEMPLATE.read_text(encoding="utf-8"),
            Parameters=[
                {"ParameterKey": "HubEventBusArn", "ParameterValue": HUB_BUS_ARN},
                {"ParameterKey": "EnableProtection", "ParameterValue": "true"},
                {"ParameterKey": "ProtectionRegion", "ParameterValue": region},
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        (stack,) = cloudformation.describe_stacks(StackName=naming.SPOKE_STACK_PREFIX)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
        role_arn = f"arn:aws:iam::{account}:role/{naming.DELIVERY_ROLE_PREFIX}{region}"
        assert outputs["DeliveryRoleArn"] == role_arn
        policy_arn = f"arn:aws:iam::{account}:policy/{naming.PROTECTION_POLICY_PREFIX}{region}"
        assert outputs["ProtectionPolicyArn"] == policy_arn
        assert boto3.client("iam").get_policy(PolicyArn=policy_arn)["Policy"]

        events = boto3.client("events", region_name=region)
        for name in RULES.values():
            rule = events.describe_rule(Name=name)
            (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
            assert (target["Arn"], target["RoleArn"]) == (HUB_BUS_ARN, role_arn)
            assert rule["State"] != "DISABLED"
            assert rule["Arn"] in outputs.values()
        root_rule = events.describe_rule(Name=naming.ROOT_ACTIVITY_RULE)
        assert canonical(json.loads(root_rule["EventPattern"])["detail"]) == canonical(
            detection.root_activity_pattern()
        )
