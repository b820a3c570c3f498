"""The spoke stack's parameters, as `sam deploy` and CloudFormation StackSets take them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from rootwatch.deploy.regions import REGION_PATTERN

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

# The same constraints as spoke/template.yaml, checked before anything is deployed.
HUB_BUS_ARN_PATTERN: Final = re.compile(
    r"arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+"
)
MIN_HEARTBEAT_MINUTES: Final = 5
MAX_HEARTBEAT_MINUTES: Final = 60
DEFAULT_HEARTBEAT_MINUTES: Final = 15
DEFAULT_PROTECTION_REGION: Final = "us-east-1"
# The hub stack's output naming its bus.
HUB_BUS_OUTPUT: Final = "EventBusArn"


class ParameterError(ValueError):
    """A spoke parameter that the spoke template would refuse."""


@dataclass(frozen=True, slots=True)
class SpokeParameters:
    hub_event_bus_arn: str
    heartbeat_minutes: int = DEFAULT_HEARTBEAT_MINUTES
    enable_protection: bool = False
    protection_region: str = DEFAULT_PROTECTION_REGION

    def __post_init__(self) -> None:
        if not HUB_BUS_ARN_PATTERN.fullmatch(self.hub_event_bus_arn):
            raise ParameterError(
                f"{self.hub_event_bus_arn!r} is not an event bus ARN "
                "(arn:aws:events:REGION:ACCOUNT:event-bus/NAME)"
            )
        if not MIN_HEARTBEAT_MINUTES <= self.heartbeat_minutes <= MAX_HEARTBEAT_MINUTES:
            raise ParameterError(
                f"the heartbeat rate must be {MIN_HEARTBEAT_MINUTES} to "
                f"{MAX_HEARTBEAT_MINUTES} minutes, not {self.heartbeat_minutes}"
            )
        if not REGION_PATTERN.fullmatch(self.protection_region):
            raise ParameterError(f"{self.protection_region!r} is not a region name")

    def as_dict(self) -> dict[str, str]:
        return {
            "HubEventBusArn": self.hub_event_bus_arn,
            "HeartbeatRateMinutes": str(self.heartbeat_minutes),
            "EnableProtection": "true" if self.enable_protection else "false",
            "ProtectionRegion": self.protection_region,
        }

    def as_overrides(self) -> list[str]:
        """`KEY=VALUE` items for `sam deploy --parameter-overrides`."""
        return [f"{key}={value}" for key, value in self.as_dict().items()]

    def as_cloudformation(self) -> list[dict[str, str]]:
        return [
            {"ParameterKey": key, "ParameterValue": value} for key, value in self.as_dict().items()
        ]


class HubStackError(LookupError):
    """The hub stack, or its bus output, cannot be found."""


def hub_bus_arn_from_stack(cloudformation: CloudFormationClient, stack_name: str) -> str:
    """The hub bus ARN from the outputs of the deployed hub stack."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        raise HubStackError(
            f"cannot read hub stack {stack_name!r}: {error.response['Error'].get('Message')}"
        ) from error
    for stack in stacks:
        for output in stack.get("Outputs", []):
            if output.get("OutputKey") == HUB_BUS_OUTPUT and output.get("OutputValue"):
                return output["OutputValue"]
    raise HubStackError(f"hub stack {stack_name!r} has no output {HUB_BUS_OUTPUT}")
