"""The spoke in many accounts through one CloudFormation StackSet.

Two shapes of estate:

- an organisation: a service-managed stack set deployed to organisational units, with
  automatic deployment, so an account that joins an OU gets its spokes without anyone
  acting (and loses them when it leaves);
- accounts in separate organisations (a distributor whose every partner payer is its own
  organisation): a self-managed stack set, whose administration role in this account
  assumes an execution role in each target account.

`StackSetDeployer.plan` reads the current state and returns the calls it would make;
`apply` makes them one at a time, waiting for each stack set operation to end, then lists
every stack instance with its status.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from botocore.exceptions import ClientError

from rootwatch.deploy.parameters import SpokeParameters
from rootwatch.deploy.spokes import DEFAULT_SPOKE_STACK_NAME, check_spoke_stack_name

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

SERVICE_MANAGED: Final = "SERVICE_MANAGED"
SELF_MANAGED: Final = "SELF_MANAGED"
DEFAULT_STACK_SET_NAME: Final = DEFAULT_SPOKE_STACK_NAME
CallAs = Literal["SELF", "DELEGATED_ADMIN"]

ACCOUNT_ID_PATTERN: Final = re.compile(r"\d{12}")
ORG_UNIT_PATTERN: Final = re.compile(r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32}")
ROLE_ARN_PATTERN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
ROLE_NAME_PATTERN: Final = re.compile(r"[\w+=,.@-]{1,64}")

_RUNNING_STATUSES: Final = frozenset({"RUNNING", "QUEUED", "STOPPING"})
_FAILED_DETAILED_STATUSES: Final = frozenset({"FAILED", "CANCELLED", "INOPERABLE"})


class StackSetError(Exception):
    """A stack set request that cannot be carried out."""


@dataclass(frozen=True, slots=True)
class OrganizationTargets:
    """Service-managed: every account in these OUs (and their children), now and later."""

    org_unit_ids: tuple[str, ...]
    call_as: CallAs = "SELF"

    def __post_init__(self) -> None:
        if not self.org_unit_ids:
            raise StackSetError("name at least one organisational unit")
        for ou in self.org_unit_ids:
            if not ORG_UNIT_PATTERN.fullmatch(ou):
                raise StackSetError(f"{ou!r} is not an OU id (ou-xxxx-xxxxxxxx) or root (r-xxxx)")

    permission_model = SERVICE_MANAGED


@dataclass(frozen=True, slots=True)
class AccountTargets:
    """Self-managed: these accounts, each trusting this account through its execution role."""

    account_ids: tuple[str, ...]
    administration_role_arn: str | None = None
    execution_role_name: str | None = None

    def __post_init__(self) -> None:
        if not self.account_ids:
            raise StackSetError("name at least one account")
        for account in self.account_ids:
            if not ACCOUNT_ID_PATTERN.fullmatch(account):
                raise StackSetError(f"{account!r} is not a 12-digit account id")
        if self.administration_role_arn is not None and not ROLE_ARN_PATTERN.fullmatch(
            self.administration_role_arn
        ):
            raise StackSetError(f"{self.administration_role_arn!r} is not an IAM role ARN")
        if self.execution_role_name is not None and not ROLE_NAME_PATTERN.fullmatch(
            self.execution_role_name
        ):
            raise StackSetError(f"{self.execution_role_name!r} is not an IAM role name")

    permission_model = SELF_MANAGED


StackSetTargets = OrganizationTargets | AccountTargets


@dataclass(frozen=True, slots=True)
class StackSetRequest:
    template_body: str
    parameters: SpokeParameters
    targets: StackSetTargets
    regions: tuple[str, ...]
    name: str = DEFAULT_STACK_SET_NAME
    # A partner account that cannot take its spoke must not hold back everyone else's:
    # every instance is attempted, and the failures are reported.
    max_concurrent_percentage: int = 100
    failure_tolerance_percentage: int = 100

    def __post_init__(self) -> None:
        check_spoke_stack_name(self.name)
        if not self.regions:
            raise StackSetError("name at least one region")
        for percentage in (self.max_concurrent_percentage, self.failure_tolerance_percentage):
            if not 0 <= percentage <= 100:
                raise StackSetError(f"{percentage} is not a percentage")
        if self.max_concurrent_percentage < 1:
            raise StackSetError("at least 1% of the accounts must be deployed at a time")


@dataclass(frozen=True, slots=True)
class StackSetCall:
    """One CloudFormation API call, by its boto3 method name."""

    operation: Literal["create_stack_set", "update_stack_set", "create_stack_instances"]
    arguments: Mapping[str, Any]

    def describe(self) -> str:
        """The call as one readable line, with the template body abbreviated."""
        shown = []
        for key, value in self.arguments.items():
            if key == "TemplateBody":
                shown.append(f"TemplateBody=<{len(str(value))} characters>")
            elif key == "Parameters":
                pairs = ",".join(f"{p['ParameterKey']}={p['ParameterValue']}" for p in value)
                shown.append(f"Parameters={pairs}")
            else:
                shown.append(f"{key}={_compact(value)}")
        return f"{_api_name(self.operation)} {' '.join(shown)}"


@dataclass(frozen=True, slots=True)
class InstanceOutcome:
    """One stack instance (account and region) as the stack set reports it."""

    account: str
    region: str
    status: str
    detailed_status: str
    reason: str = ""
    org_unit_id: str | None = None

    @property
    def failed(self) -> bool:
        # OUTDATED after an operation ended: its create or update failed or was stopped.
        return self.status != "CURRENT" or self.detailed_status in _FAILED_DETAILED_STATUSES


@dataclass(frozen=True, slots=True)
class OperationOutcome:
    call: StackSetCall
    operation_id: str
    status: str

    @property
    def failed(self) -> bool:
        return self.status != "SUCCEEDED"


@dataclass(frozen=True, slots=True)
class StackSetReport:
    stack_set_name: str
    created: bool
    operations: tuple[OperationOutcome, ...] = ()
    instances: tuple[InstanceOutcome, ...] = ()

    @property
    def failed(self) -> bool:
        return any(operation.failed for operation in self.operations) or any(
            instance.failed for instance in self.instances
        )


class StackSetDeployer:
    def __init__(
        self,
        cloudformation: CloudFormationClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 15.0,
        max_polls: int = 480,
    ) -> None:
        self._cloudformation = cloudformation
        self._sleep = sleep
        self._poll_seconds = poll_seconds
        self._max_polls = max_polls

    def plan(self, request: StackSetRequest) -> list[StackSetCall]:
        """The calls that bring the stack set and its instances to `request` (reads only)."""
        existing = self._describe(request)
        if existing is None:
            first = StackSetCall("create_stack_set", _stack_set_arguments(request))
        else:
            model = existing.get("PermissionModel", SELF_MANAGED)
            if model != request.targets.permission_model:
                raise StackSetError(
                    f"stack set {request.name!r} is {model}; this deployment needs "
                    f"{request.targets.permission_model}: choose another --stack-set-name"
                )
            first = StackSetCall("update_stack_set", _update_arguments(request))
        return [first, StackSetCall("create_stack_instances", _instances_arguments(request))]

    def apply(self, request: StackSetRequest) -> StackSetReport:
        calls = self.plan(request)
        outcomes: list[OperationOutcome] = []
        for call in calls:
            response: Mapping[str, Any] = getattr(self._cloudformation, call.operation)(
                **call.arguments
            )
            operation_id = response.get("OperationId")
            if operation_id is None:
                continue
            status = self._wait(request, str(operation_id))
            outcomes.append(OperationOutcome(call, str(operation_id), status))
            if status != "SUCCEEDED":
                break
        return StackSetReport(
            stack_set_name=request.name,
            created=calls[0].operation == "create_stack_set",
            operations=tuple(outcomes),
            instances=self.instances(request),
        )

    def _describe(self, request: StackSetRequest) -> Mapping[str, Any] | None:
        try:
            response = self._cloudformation.describe_stack_set(
                StackSetName=request.name, **_call_as(request)
            )
        except ClientError as error:
            if error.response["Error"].get("Code") == "StackSetNotFoundException":
                return None
            raise
        stack_set: Mapping[str, Any] = response["StackSet"]
        if stack_set.get("Status") == "DELETED":
            return None
        return stack_set

    def _wait(self, request: StackSetRequest, operation_id: str) -> str:
        for _ in range(self._max_polls):
            operation = self._cloudformation.describe_stack_set_operation(
                StackSetName=request.name, OperationId=operation_id, **_call_as(request)
            )["StackSetOperation"]
            status = str(operation.get("Status", "RUNNING"))
            if status not in _RUNNING_STATUSES:
                return status
            self._sleep(self._poll_seconds)
        raise StackSetError(
            f"operation {operation_id} of stack set {request.name!r} is still running; "
            "follow it in the CloudFormation console"
        )

    def instances(self, request: StackSetRequest) -> tuple[InstanceOutcome, ...]:
        """Every instance of the stack set (those added by automatic deployment too)."""
        paginator = self._cloudformation.get_paginator("list_stack_instances")
        outcomes = []
        for page in paginator.paginate(StackSetName=request.name, **_call_as(request)):
            for summary in page.get("Summaries", []):
                detailed = summary.get("StackInstanceStatus", {}).get("DetailedStatus", "")
                outcomes.append(
                    InstanceOutcome(
                        account=str(summary.get("Account", "")),
                        region=str(summary.get("Region", "")),
                        status=str(summary.get("Status", "")),
                        detailed_status=str(detailed),
                        reason=str(summary.get("StatusReason") or ""),
                        org_unit_id=summary.get("OrganizationalUnitId"),
                    )
                )
        return tuple(sorted(outcomes, key=lambda i: (i.account, i.region)))


def _call_as(request: StackSetRequest) -> dict[str, Any]:
    targets = request.targets
    if isinstance(targets, OrganizationTargets) and targets.call_as != "SELF":
        return {"CallAs": targets.call_as}
    return {}


def _preferences(request: StackSetRequest) -> dict[str, Any]:
    return {
        "RegionConcurrencyType": "PARALLEL",
        "MaxConcurrentPercentage": request.max_concurrent_percentage,
        "FailureTolerancePercentage": request.failure_tolerance_percentage,
    }


def _role_arguments(targets: StackSetTargets) -> dict[str, Any]:
    if isinstance(targets, OrganizationTargets):
        return {}
    arguments: dict[str, Any] = {}
    if targets.administration_role_arn:
        arguments["AdministrationRoleARN"] = targets.administration_role_arn
    if targets.execution_role_name:
        arguments["ExecutionRoleName"] = targets.execution_role_name
    return arguments


def _model_arguments(request: StackSetRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {"PermissionModel": request.targets.permission_model}
    if isinstance(request.targets, OrganizationTargets):
        arguments["AutoDeployment"] = {"Enabled": True, "RetainStacksOnAccountRemoval": False}
        arguments["ManagedExecution"] = {"Active": True}
    return arguments


def _stack_set_arguments(request: StackSetRequest) -> dict[str, Any]:
    return {
        "StackSetName": request.name,
        "Description": "rootwatch spoke: forwards root activity, tampering and heartbeats "
        "to the rootwatch hub",
        "TemplateBody": request.template_body,
        "Parameters": request.parameters.as_cloudformation(),
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
        **_model_arguments(request),
        **_role_arguments(request.targets),
        **_call_as(request),
    }


def _update_arguments(request: StackSetRequest) -> dict[str, Any]:
    # Without targets, an update applies to every existing instance of the stack set.
    return {**_stack_set_arguments(request), "OperationPreferences": _preferences(request)}


def _instances_arguments(request: StackSetRequest) -> dict[str, Any]:
    targets = request.targets
    where: dict[str, Any]
    if isinstance(targets, OrganizationTargets):
        where = {"DeploymentTargets": {"OrganizationalUnitIds": list(targets.org_unit_ids)}}
    else:
        where = {"Accounts": list(targets.account_ids)}
    return {
        "StackSetName": request.name,
        **where,
        "Regions": list(request.regions),
        "OperationPreferences": _preferences(request),
        **_call_as(request),
    }


def _api_name(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def _compact(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}={_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ",".join(_compact(item) for item in value)
    return str(value)


def parse_id_list(text: str) -> tuple[str, ...]:
    """`a, b,,c` as `("a", "b", "c")`, without repeats."""
    return tuple(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
