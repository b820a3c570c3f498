"""What a failed AWS call said, as the adapters test it."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def condition_failed(error: ClientError) -> bool:
    """Whether a conditional write was refused because its condition did not hold."""
    return error_code(error) == "ConditionalCheckFailedException"
