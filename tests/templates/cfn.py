"""Helpers for the hub template tests: evaluation for the hub stack, policy statements.

The tools and the values of an evaluation without a stack are `tests.support.templates`.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rootwatch.local.template import Pseudo, StackEvaluation, Template, TemplateError

from tests.support.templates import REPO, Placeholders

HUB_TEMPLATE = REPO / "template.yaml"
HUB_ACCOUNT = "111111111111"
PSEUDO = Pseudo(region="us-east-1", account_id=HUB_ACCOUNT, stack_name="rootwatch-hub")


@dataclass(frozen=True, slots=True)
class Build:
    """The outcome of one `sam build` and the directory it built into."""

    result: subprocess.CompletedProcess[str]
    directory: Path


def evaluate(template: Template, **parameters: str) -> StackEvaluation:
    """The template evaluated for the hub account with these parameter values."""
    return StackEvaluation(template, PSEUDO, overrides=parameters, resources=Placeholders())


def resources_of_type(evaluation: StackEvaluation, resource_type: str) -> list[str]:
    """Logical IDs of the active resources of one type, in template order."""
    return [
        logical_id
        for logical_id in evaluation.active_resources()
        if evaluation.template.resources[logical_id]["Type"] == resource_type
    ]


def translated(template: Template) -> Template:
    """The template as CloudFormation receives it after the SAM transform.

    Code locations become S3 placeholders, as `sam validate` does; no managed policy name is
    resolved (the template must not use any).
    """
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

    body = copy.deepcopy(dict(template.body))
    for resource in body["Resources"].values():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://placeholder/code.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://placeholder/layer.zip"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    output = transform(body, {}, NoManagedPolicies())
    return Template(body=output, directory=template.directory)


def rule_assertions_hold(template: Template, evaluation: StackEvaluation) -> dict[str, bool]:
    """Each assertion of the template's `Rules`, evaluated as CloudFormation would."""

    def value(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                return evaluation.parameters[argument]
            if function == "Fn::Not":
                return not value(argument[0])
            if function == "Fn::And":
                return all(value(item) for item in argument)
            if function == "Fn::Or":
                return any(value(item) for item in argument)
            if function == "Fn::Equals":
                return value(argument[0]) == value(argument[1])
            if function == "Fn::Contains":
                return value(argument[1]) in value(argument[0])
            if function == "Fn::EachMemberEquals":
                return all(item == value(argument[1]) for item in value(argument[0]))
            if function == "Fn::EachMemberIn":
                allowed = value(argument[1])
                return all(item in allowed for item in value(argument[0]))
            raise TemplateError(f"{function} is not a rule function")
        return node

    results: dict[str, bool] = {}
    for rule_name, rule in (template.body.get("Rules") or {}).items():
        if "RuleCondition" in rule and not value(rule["RuleCondition"]):
            continue
        for position, assertion in enumerate(rule.get("Assertions") or []):
            results[f"{rule_name}[{position}]"] = bool(value(assertion["Assert"]))
    return results


@dataclass(frozen=True, slots=True)
class PolicyStatement:
    """One statement of any policy in a template, and where it is."""

    resource: str
    document: str
    statement: Mapping[str, Any]

    @property
    def sid(self) -> str:
        return str(self.statement.get("Sid", ""))

    @property
    def actions(self) -> list[str]:
        return _as_list(self.statement.get("Action"))

    @property
    def resources(self) -> list[Any]:
        return _as_list(self.statement.get("Resource"))

    @property
    def allows(self) -> bool:
        return self.statement.get("Effect") == "Allow"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_POLICY_DOCUMENT_TYPES = (
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
)


def policy_statements(resources: Mapping[str, Mapping[str, Any]]) -> Iterator[PolicyStatement]:
    """Every statement of every policy document held by these (CloudFormation) resources."""
    for logical_id, resource in resources.items():
        properties = resource.get("Properties") or {}
        documents: list[tuple[str, Any]] = []
        resource_type = resource["Type"]
        if resource_type == "AWS::IAM::Role":
            documents.append(("AssumeRolePolicyDocument", properties["AssumeRolePolicyDocument"]))
            for policy in properties.get("Policies") or []:
                documents.append((str(policy["PolicyName"]), policy["PolicyDocument"]))
        elif resource_type in _POLICY_DOCUMENT_TYPES:
            documents.append(("PolicyDocument", properties["PolicyDocument"]))
        elif resource_type == "AWS::KMS::Key":
            documents.append(("KeyPolicy", properties["KeyPolicy"]))
        elif resource_type == "AWS::Events::EventBusPolicy":
            documents.append(("Statement", {"Statement": [properties["Statement"]]}))
        elif resource_type == "AWS::Events::EventBus" and properties.get("Policy"):
            documents.append(("Policy", properties["Policy"]))
        elif resource_type == "AWS::SecretsManager::ResourcePolicy":
            documents.append(("ResourcePolicy", properties["ResourcePolicy"]))
        for name, document in documents:
            for statement in _as_list(document.get("Statement")):
                yield PolicyStatement(logical_id, name, statement)
