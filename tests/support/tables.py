"""The audit table for tests, created from template.yaml's own key schema and indexes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TABLE_TYPE = "AWS::DynamoDB::Table"


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads every short-form tag (`!Ref`, `!Sub`, ...) as `{"<tag>": value}`."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _tagged)


def audit_table_definition(template_path: Path = TEMPLATE) -> dict[str, Any]:
    """CreateTable arguments (without a name) for the hub template's one DynamoDB table."""
    body = yaml.load(template_path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)
    tables = [
        resource["Properties"]
        for resource in body["Resources"].values()
        if resource.get("Type") == TABLE_TYPE
    ]
    if len(tables) != 1:
        raise AssertionError(f"{template_path} should declare one DynamoDB table")
    properties = tables[0]
    return {
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index["IndexName"],
                "KeySchema": index["KeySchema"],
                "Projection": index["Projection"],
            }
            for index in properties.get("GlobalSecondaryIndexes", [])
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def create_audit_table(dynamodb: Any, name: str = "rootwatch-audit") -> str:
    """Create the audit table through a boto3 DynamoDB client (moto) and return its name."""
    dynamodb.create_table(TableName=name, **audit_table_definition())
    return name
