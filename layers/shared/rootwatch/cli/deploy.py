"""`rootwatch deploy`: spokes in every region of an account, or a StackSet for many accounts."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from rootwatch.cli.main import UsageError
from rootwatch.deploy.commands import SubprocessRunner
from rootwatch.deploy.parameters import (
    DEFAULT_HEARTBEAT_MINUTES,
    DEFAULT_PROTECTION_REGION,
    HubStackError,
    SpokeParameters,
    hub_bus_arn_from_stack,
)
from rootwatch.deploy.regions import (
    RegionError,
    enabled_regions,
    is_all,
    ordered,
    parse_region_list,
)
from rootwatch.deploy.spokes import (
    DEFAULT_SPOKE_STACK_NAME,
    ProjectNotFoundError,
    RegionOutcome,
    SamProject,
    SpokeDeployment,
    default_sam_executable,
    deploy_spokes,
)
from rootwatch.deploy.stackset import (
    DEFAULT_STACK_SET_NAME,
    AccountTargets,
    OrganizationTargets,
    StackSetDeployer,
    StackSetError,
    StackSetReport,
    StackSetRequest,
    StackSetTargets,
    parse_id_list,
)

if TYPE_CHECKING:
    import boto3

DEFAULT_HUB_STACK_NAME = "rootwatch-hub"
DEFAULT_REGION = "us-east-1"
_T = TypeVar("_T")


class _Failure(Exception):
    """A failure reported as `rootwatch: error: ...` with exit status 1."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        help="deploy spokes: every region of an account, or a StackSet for many accounts",
        description="Deploy rootwatch spokes (spoke/template.yaml).",
    )
    routes = deploy.add_subparsers(dest="deploy_route", metavar="ROUTE", required=True)

    spokes = routes.add_parser(
        "spokes",
        help="run `sam deploy --config-env spoke` in each region of one account",
        description=(
            "Deploy the spoke stack in each region of the account of the credentials "
            "(`sam deploy --config-env spoke` per region), then report each region's result. "
            "Exit status 1 if any region failed."
        ),
    )
    _add_region_options(spokes)
    spokes.add_argument(
        "--stack-name",
        default=None,
        help="spoke stack name (default rootwatch-spoke; must start with rootwatch-spoke)",
    )
    spokes.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="regions deployed at the same time (default 1)",
    )
    spokes.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="checkout with samconfig.toml and spoke/template.yaml (default: found from here)",
    )
    _add_spoke_parameter_options(spokes)
    _add_common_options(spokes)
    spokes.set_defaults(handler=_reporting_failures(run_spokes))

    stackset = routes.add_parser(
        "stackset",
        help="create or update a CloudFormation StackSet of spokes for many accounts",
        description=(
            "Create or update the spoke StackSet and its instances. --org-units deploys a "
            "service-managed stack set to an organisation's OUs with automatic deployment to "
            "accounts that join them; --accounts deploys a self-managed stack set to accounts "
            "in separate organisations, through an administration role here and an execution "
            "role in each account. Exit status 1 if any instance failed."
        ),
    )
    targets = stackset.add_mutually_exclusive_group(required=True)
    targets.add_argument("--org-units", metavar="OU,...", help="organisational unit ids")
    targets.add_argument("--accounts", metavar="ACCOUNT,...", help="12-digit account ids")
    _add_region_options(stackset)
    stackset.add_argument(
        "--stack-set-name",
        default=None,
        help="stack set name (default rootwatch-spoke; must start with rootwatch-spoke)",
    )
    stackset.add_argument(
        "--call-as",
        choices=("SELF", "DELEGATED_ADMIN"),
        default="SELF",
        help="with --org-units: DELEGATED_ADMIN from a delegated administrator account",
    )
    stackset.add_argument(
        "--administration-role-arn",
        default=None,
        help="with --accounts: role the stack set assumes here "
        "(default AWSCloudFormationStackSetAdministrationRole)",
    )
    stackset.add_argument(
        "--execution-role-name",
        default=None,
        help="with --accounts: role assumed in each target account "
        "(default AWSCloudFormationStackSetExecutionRole)",
    )
    stackset.add_argument(
        "--max-concurrent-percentage",
        type=int,
        default=100,
        metavar="P",
        help="share of accounts deployed at a time, per region (default 100)",
    )
    stackset.add_argument(
        "--failure-tolerance-percentage",
        type=int,
        default=100,
        metavar="P",
        help="share of accounts that may fail before the operation stops (default 100: "
        "every account is attempted and failures are reported)",
    )
    stackset.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="checkout with spoke/template.yaml (default: found from here)",
    )
    _add_spoke_parameter_options(stackset)
    _add_common_options(stackset)
    stackset.set_defaults(handler=_reporting_failures(run_stackset))


def _add_region_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--regions",
        required=True,
        metavar="all|REGION,...",
        help="`all` (every region enabled for the account) or a comma-separated list",
    )


def _add_spoke_parameter_options(parser: argparse.ArgumentParser) -> None:
    hub = parser.add_argument_group("hub")
    hub.add_argument(
        "--hub-bus-arn",
        default=None,
        help="ARN of the hub event bus (default: output EventBusArn of the hub stack)",
    )
    hub.add_argument(
        "--hub-stack-name",
        default=DEFAULT_HUB_STACK_NAME,
        help=f"hub stack to read the bus ARN from (default {DEFAULT_HUB_STACK_NAME})",
    )
    hub.add_argument(
        "--hub-region",
        default=None,
        help="region of the hub stack (default: --region)",
    )
    spoke = parser.add_argument_group("spoke parameters")
    spoke.add_argument(
        "--heartbeat-minutes",
        type=int,
        default=None,
        metavar="N",
        help="minutes between heartbeats, 5-60 (default 15; match the hub's setting)",
    )
    spoke.add_argument(
        "--protection",
        action="store_true",
        help="create the protection policy (permissions boundary for admin roles)",
    )
    spoke.add_argument(
        "--protection-region",
        default=None,
        help="the one region whose spoke creates the protection policy (default us-east-1)",
    )


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=None, help="AWS named profile")
    parser.add_argument(
        "--region",
        default=None,
        help="region for AWS calls: region discovery, the hub stack, the stack set's home "
        "(default: the profile's, else us-east-1)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=None,
        help="AWS endpoint (a `rootwatch local --serve` stack)",
    )
    parser.add_argument(
        "--output", choices=("table", "json"), default="table", help="result format"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be run or called, and change nothing",
    )


def _reporting_failures(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """The handler, with AWS and environment failures reported in one line, exit status 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except _Failure as failure:
            return _fail(str(failure))
        except (ClientError, BotoCoreError) as error:
            return _fail(_aws_error(error))

    return run


def run_spokes(args: argparse.Namespace) -> int:
    if args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    project = _project(args.project_dir)
    session = _session(args)
    regions = _regions(args, session)
    parameters = _spoke_parameters(args, session)
    deployment = _checked(
        lambda: SpokeDeployment(
            project=project,
            parameters=parameters,
            stack_name=args.stack_name or DEFAULT_SPOKE_STACK_NAME,
            profile=args.profile,
            endpoint_url=args.endpoint_url,
            sam_executable=default_sam_executable(),
        )
    )
    if args.dry_run:
        for region in regions:
            print(shlex.join(deployment.command(region)))
        return 0

    def progress(outcome: RegionOutcome) -> None:
        state = "ok" if outcome.succeeded else "FAILED"
        print(f"{outcome.region}: {state}", file=sys.stderr, flush=True)

    print(
        f"deploying {deployment.stack_name} to {len(regions)} region(s): {', '.join(regions)}",
        file=sys.stderr,
        flush=True,
    )
    outcomes = deploy_spokes(
        deployment, regions, SubprocessRunner(), parallel=args.parallel, on_outcome=progress
    )
    rows = [
        {"region": o.region, "status": "ok" if o.succeeded else "FAILED", "detail": o.summary}
        for o in outcomes
    ]
    _print_rows(rows, args.output)
    return 0 if all(o.succeeded for o in outcomes) else 1


def run_stackset(args: argparse.Namespace) -> int:
    if args.org_units is not None and (args.administration_role_arn or args.execution_role_name):
        raise UsageError(
            "--administration-role-arn and --execution-role-name go with --accounts "
            "(self-managed); --org-units uses the organisation's service roles"
        )
    if args.accounts is not None and args.call_as != "SELF":
        raise UsageError("--call-as goes with --org-units (service-managed)")
    project = _project(args.project_dir)
    session = _session(args)
    regions = _regions(args, session)
    parameters = _spoke_parameters(args, session)

    def build_request() -> StackSetRequest:
        targets: StackSetTargets
        if args.org_units is not None:
            targets = OrganizationTargets(parse_id_list(args.org_units), call_as=args.call_as)
        else:
            targets = AccountTargets(
                parse_id_list(args.accounts),
                administration_role_arn=args.administration_role_arn,
                execution_role_name=args.execution_role_name,
            )
        return StackSetRequest(
            template_body=project.spoke_template.read_text(encoding="utf-8"),
            parameters=parameters,
            targets=targets,
            regions=tuple(regions),
            name=args.stack_set_name or DEFAULT_STACK_SET_NAME,
            max_concurrent_percentage=args.max_concurrent_percentage,
            failure_tolerance_percentage=args.failure_tolerance_percentage,
        )

    try:
        request = build_request()
    except (StackSetError, ValueError) as error:
        raise UsageError(str(error)) from None
    deployer = StackSetDeployer(_client(session, "cloudformation", args.endpoint_url))
    try:
        if args.dry_run:
            for call in deployer.plan(request):
                print(call.describe())
            return 0
        report = deployer.apply(request)
    except StackSetError as error:
        raise _Failure(str(error)) from None
    _print_stackset_report(report, args.output)
    return 1 if report.failed else 0


def _print_stackset_report(report: StackSetReport, output: str) -> None:
    action = "created" if report.created else "updated"
    print(f"stack set {report.stack_set_name} {action}", file=sys.stderr)
    for operation in report.operations:
        print(
            f"{operation.call.describe().split(' ', 1)[0]} {operation.operation_id}: "
            f"{operation.status}",
            file=sys.stderr,
        )
    rows = [
        {
            "account": instance.account,
            "region": instance.region,
            "status": f"{instance.status}/{instance.detailed_status}",
            "reason": instance.reason,
        }
        for instance in report.instances
    ]
    _print_rows(rows, output)


def _project(directory: Path | None) -> SamProject:
    if directory is not None:
        project = SamProject(directory.resolve())
        if not project.is_complete():
            raise UsageError(f"{directory} has no samconfig.toml with spoke/template.yaml")
        return project
    try:
        return SamProject.locate()
    except ProjectNotFoundError as error:
        raise UsageError(str(error)) from None


def _session(args: argparse.Namespace) -> boto3.Session:
    import boto3  # noqa: PLC0415 (boto3 takes a quarter second: only commands that call AWS)

    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
    except ProfileNotFound as error:
        raise UsageError(str(error)) from None
    if not session.region_name:
        session = boto3.Session(profile_name=args.profile, region_name=DEFAULT_REGION)
    return session


def _client(session: boto3.Session, service: str, endpoint_url: str | None) -> Any:
    return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def _regions(args: argparse.Namespace, session: boto3.Session) -> list[str]:
    if is_all(args.regions):
        try:
            found = enabled_regions(_client(session, "ec2", args.endpoint_url))
        except (ClientError, BotoCoreError) as error:
            raise _Failure(f"cannot list the enabled regions: {_aws_error(error)}") from None
        if not found:
            raise _Failure("no enabled region found for this account")
        return ordered(found)
    try:
        return parse_region_list(args.regions)
    except RegionError as error:
        raise UsageError(f"--regions: {error}") from None


def _spoke_parameters(args: argparse.Namespace, session: boto3.Session) -> SpokeParameters:
    hub_bus_arn = args.hub_bus_arn
    if hub_bus_arn is None:
        hub_region = args.hub_region or session.region_name
        cloudformation = session.client(
            "cloudformation", region_name=hub_region, endpoint_url=args.endpoint_url
        )
        try:
            hub_bus_arn = hub_bus_arn_from_stack(cloudformation, args.hub_stack_name)
        except HubStackError as error:
            raise _Failure(f"{error} in {hub_region}; pass --hub-bus-arn") from None
    return _checked(
        lambda: SpokeParameters(
            hub_event_bus_arn=hub_bus_arn,
            heartbeat_minutes=(
                DEFAULT_HEARTBEAT_MINUTES
                if args.heartbeat_minutes is None
                else args.heartbeat_minutes
            ),
            enable_protection=args.protection,
            protection_region=args.protection_region or DEFAULT_PROTECTION_REGION,
        )
    )


def _checked(build: Callable[[], _T]) -> _T:
    """Build a value whose constructor validates user input: a ValueError is a usage error."""
    try:
        return build()
    except ValueError as error:
        raise UsageError(str(error)) from None


def _fail(message: str) -> int:
    print(f"rootwatch: error: {message}", file=sys.stderr)
    return 1


def _aws_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".rstrip(": ")
    return str(error)


def _print_rows(rows: Sequence[dict[str, str]], output: str) -> None:
    if output == "json":
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print("(nothing)")
        return
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(str(row[h])) for row in rows)) for h in headers}
    print("  ".join(h.upper().ljust(widths[h]) for h in headers).rstrip())
    for row in rows:
        print("  ".join(str(row[h]).ljust(widths[h]) for h in headers).rstrip())
