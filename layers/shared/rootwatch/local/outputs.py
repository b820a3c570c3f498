"""The local hub as a CloudFormation stack, so commands find it as they find a deployed one.

`rootwatch` commands resolve the hub through DescribeStacks (its outputs name the table,
queues and bus; its parameters the retention and heartbeat settings). The local runner
provisions the hub's resources directly, then registers a stack in moto that holds nothing
but those outputs and parameters, so `--endpoint-url` is the only difference between the
local hub and a deployed one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_cloudformation import CloudFormationClient

# CloudFormation wants at least one resource; this one is declared under a condition that
# never holds, so the stack creates nothing.
_PLACEHOLDER_RESOURCE = {
    "Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle", "Condition": "Never"}
}


def local_stack_template(outputs: Mapping[str, str], parameters: Mapping[str, str]) -> str:
    """A template whose outputs are the given values and which declares the parameters."""
    body: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "rootwatch hub running locally (rootwatch local --serve)",
        "Conditions": {"Never": {"Fn::Equals": ["local", "deployed"]}},
        "Resources": _PLACEHOLDER_RESOURCE,
        "Outputs": {name: {"Value": str(value)} for name, value in outputs.items()},
    }
    if parameters:
        body["Parameters"] = {name: {"Type": "String"} for name in parameters}
    return json.dumps(body)


def register_local_stack(
    session: boto3.Session,
    stack_name: str,
    outputs: Mapping[str, str],
    *,
    endpoint_url: str,
    parameters: Mapping[str, str] | None = None,
) -> None:
    """Create (or replace the outputs of) the stack `stack_name` at `endpoint_url`.

    `session` gives the region and credentials; `endpoint_url` is required so the stack can
    only ever be registered in the embedded AWS.
    """
    cloudformation: CloudFormationClient = session.client(
        "cloudformation", endpoint_url=endpoint_url
    )
    given = dict(parameters or {})
    arguments: dict[str, Any] = {
        "StackName": stack_name,
        "TemplateBody": local_stack_template(outputs, given),
        "Parameters": [
            {"ParameterKey": name, "ParameterValue": str(value)} for name, value in given.items()
        ],
    }
    try:
        cloudformation.create_stack(**arguments)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "AlreadyExistsException":
            raise
        cloudformation.update_stack(**arguments)
