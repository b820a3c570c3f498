"""The audit table for tests, created from template.yaml's own key schema and indexes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rootwatch.local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TABLE_TYPE = "AWS::DynamoDB::Table"


def audit_table_definition(template_path: Path = TEMPLATE) -> dict[str, Any]:
    """CreateTable arguments (without a name) for the hub template's one DynamoDB table."""
    tables = [
        resource["Properties"]
        for resource in load_template(template_path).resources.values()
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
