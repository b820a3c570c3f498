"""`rootwatch verify`: check a hub end to end and say what is wrong and how to fix it.

Checks, each OK or FAIL: the stack's outputs; the audit table (active, point-in-time
recovery, encryption with the hub's key, TTL on `expires_at`, every index); the bus policy
(no statement may let any AWS account put events); the dead-letter queues (empty); a test
alert (kind `test`, marked TEST in every message) put on the notify queue, whose delivery
records are awaited for every destination; and which spokes have reported lately.

The judgements are pure functions of what AWS returned, so they are tested on plain inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from rootwatch import keys
from rootwatch.cli.output import table_cell
from rootwatch.cli.target import (
    BUS_NAME_OUTPUT,
    HUB_OUTPUTS,
    INGEST_DLQ_OUTPUT,
    NOTIFY_DLQ_OUTPUT,
    NOTIFY_QUEUE_OUTPUT,
    TABLE_OUTPUT,
    account_id,
    add_target_options,
    hub_command,
    option,
    print_rows,
)
from rootwatch.cli.timeparse import describe_moment
from rootwatch.render.text import plural
from rootwatch.spokes import SilencePolicy, SpokeState

if TYPE_CHECKING:
    from rootwatch.adapters.queries import AuditReader
    from rootwatch.alerts import Alert
    from rootwatch.cli.hub import Hub

DEFAULT_WAIT_SECONDS: Final = 60
POLL_SECONDS: Final = 2.0
NOTIFIER_OUTPUT: Final = "NotifierFunctionName"
# Condition keys that narrow who may use a resource policy to an organisation or accounts.
_NARROWING_KEYS: Final = frozenset(
    {
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalaccount",
        "aws:sourceaccount",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:sourcearn",
        "aws:principalarn",
    }
)
_POSITIVE_OPERATORS: Final = ("stringequals", "stringlike", "arnequals", "arnlike")
# How many silent spokes a line names before "and N more".
LISTED_SPOKES: Final = 5
KEYS: Final = ("check", "result", "detail", "fix")


@dataclass(frozen=True, slots=True)
class Check:
    check: str
    ok: bool
    detail: str
    fix: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "result": "OK" if self.ok else "FAIL",
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class DeliveryWait:
    """How the test alert's delivery is awaited: `pause` between reads, up to `seconds`."""

    seconds: float
    pause: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True, slots=True)
class SpokeReport:
    reporting: tuple[SpokeState, ...] = ()
    overdue: tuple[SpokeState, ...] = ()
    awaited: tuple[SpokeState, ...] = ()
    accounts: frozenset[str] = field(default_factory=frozenset)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check a deployed hub end to end and say how to fix what is wrong",
        description=(
            "Check the hub: its stack outputs, the audit table, the bus policy, the "
            "dead-letter queues, a test alert (marked TEST) through the notifier to every "
            "destination, and which spokes have reported. Prints each check as OK or FAIL "
            "with how to fix it; exit status 1 if any check fails."
        ),
    )
    parser.add_argument(
        "--account",
        metavar="ACCOUNT",
        help="send the test alert as this account's, so its entry's destinations are tested "
        "too (default: the account of the credentials)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait for the test alert's delivery (default {DEFAULT_WAIT_SECONDS})",
    )
    parser.add_argument(
        "--no-test-alert",
        dest="test_alert",
        action="store_false",
        help="check without sending a test alert",
    )
    add_target_options(parser, inherit=False)
    parser.set_defaults(handler=execute)


def execute(
    args: argparse.Namespace,
    *,
    pause: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Run `verify`; `pause` and `clock` shape the wait for the test alert's delivery."""
    return hub_command(partial(_verify, pause=pause, clock=clock))(args)


def _verify(
    args: argparse.Namespace, *, pause: Callable[[float], None], clock: Callable[[], float]
) -> int:
    from rootwatch.adapters.queries import AuditReader  # noqa: PLC0415 (boto3)
    from rootwatch.adapters.spokes import DynamoSpokes  # noqa: PLC0415 (boto3)
    from rootwatch.cli.hub import connect  # noqa: PLC0415 (boto3)
    from rootwatch.cli.main import UsageError  # noqa: PLC0415

    if args.wait < 0:
        raise UsageError("--wait must be 0 or more seconds")
    test_account = account_id(args.account) if args.account else None
    hub = connect(args)
    now = datetime.now(UTC)
    checks = [outputs_check(hub.outputs, hub.stack_name)]
    table_name = hub.outputs.get(TABLE_OUTPUT)
    reader = AuditReader(hub.dynamodb(), table_name) if table_name else None
    if reader is not None:
        checks.append(_table_check(hub))
    if hub.outputs.get(BUS_NAME_OUTPUT):
        policy = hub.events().describe_event_bus(Name=hub.outputs[BUS_NAME_OUTPUT]).get("Policy")
        checks.append(bus_policy_check(policy))
    checks.extend(_dead_letter_checks(hub))
    if reader is not None and args.test_alert and hub.outputs.get(NOTIFY_QUEUE_OUTPUT):
        wait = DeliveryWait(seconds=args.wait, pause=pause, clock=clock)
        checks.append(_test_alert_check(hub, reader, test_account, wait, now))
    if table_name:
        silence = hub.silence_policy()
        spokes = DynamoSpokes(hub.dynamodb(), table_name).every()
        checks.append(spokes_check(spoke_report(spokes, now=now, policy=silence), silence))
    _print_checks(checks, option(args, "output"), hub.describe())
    return 0 if all(check.ok for check in checks) else 1


# the checks ---------------------------------------------------------------------------


def outputs_check(outputs: Mapping[str, str], stack_name: str) -> Check:
    missing = [name for name in HUB_OUTPUTS if not outputs.get(name)]
    if missing:
        return Check(
            "stack outputs",
            False,
            f"{stack_name} lacks {', '.join(missing)}",
            "deploy the current hub template (sam deploy --config-env hub), or pass the "
            "hub's --stack-name",
        )
    return Check("stack outputs", True, f"all {len(HUB_OUTPUTS)} present")


def table_problems(
    table: Mapping[str, Any], backups: Mapping[str, Any], ttl: Mapping[str, Any]
) -> list[str]:
    """What is wrong with the audit table, from DescribeTable, DescribeContinuousBackups
    and DescribeTimeToLive."""
    problems: list[str] = []
    if table.get("TableStatus") != "ACTIVE":
        problems.append(f"status {table.get('TableStatus')}, not ACTIVE")
    recovery = backups.get("PointInTimeRecoveryDescription", {})
    if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        problems.append("point-in-time recovery is off")
    encryption = table.get("SSEDescription", {})
    if encryption.get("Status") not in ("ENABLED", "UPDATING"):
        problems.append("not encrypted with the hub's KMS key")
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING") or (
        ttl.get("AttributeName") != keys.TTL_ATTRIBUTE
    ):
        problems.append(f"TTL is not enabled on {keys.TTL_ATTRIBUTE} (retention never applies)")
    indexes = {index.get("IndexName"): index for index in table.get("GlobalSecondaryIndexes", [])}
    for name, (partition, sort) in keys.INDEXES.items():
        index = indexes.get(name)
        if index is None:
            problems.append(f"index {name} is missing")
            continue
        schema = [element.get("AttributeName") for element in index.get("KeySchema", [])]
        if schema != [partition, sort]:
            problems.append(f"index {name} is keyed on {schema}, not {[partition, sort]}")
        elif index.get("IndexStatus", "ACTIVE") != "ACTIVE":
            problems.append(f"index {name} is {index.get('IndexStatus')}")
    return problems


def bus_policy_check(policy_text: str | None) -> Check:
    """The bus policy must admit only organisations and accounts, never everyone."""
    if not policy_text:
        return Check(
            "bus policy",
            False,
            "the hub bus has no policy: spokes in other accounts cannot put events on it",
            "set AllowedOrgIds or AllowedAccountIds and deploy the hub",
        )
    try:
        policy = json.loads(policy_text)
    except ValueError:
        return Check("bus policy", False, "the bus policy is not JSON", "deploy the hub again")
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    open_statements: list[str] = []
    admitted: list[str] = []
    for position, statement in enumerate(statements, start=1):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        name = str(statement.get("Sid") or f"#{position}")
        principals = _principals(statement.get("Principal"))
        if "*" in principals:
            narrowing = _narrowing_condition(statement.get("Condition"))
            if narrowing:
                admitted.append(narrowing)
            else:
                open_statements.append(name)
        else:
            admitted.extend(principals)
    if open_statements:
        return Check(
            "bus policy",
            False,
            f"statement {', '.join(open_statements)} lets any AWS account put events on the "
            'hub bus (Principal "*" without an organisation or account condition)',
            "remove that statement; admit senders with AllowedOrgIds / AllowedAccountIds",
        )
    if not admitted:
        return Check(
            "bus policy",
            False,
            "the bus policy admits no other account: spokes cannot put events on it",
            "set AllowedOrgIds or AllowedAccountIds and deploy the hub",
        )
    return Check("bus policy", True, f"admits only {', '.join(sorted(set(admitted)))}")


def spoke_report(
    spokes: Iterable[SpokeState], *, now: datetime, policy: SilencePolicy
) -> SpokeReport:
    """Spokes heard from lately, overdue ones (as the watchdog judges them), and expected
    ones still within their first interval."""
    reporting: list[SpokeState] = []
    overdue: list[SpokeState] = []
    awaited: list[SpokeState] = []
    for spoke in spokes:
        if policy.is_overdue(spoke, now):
            overdue.append(spoke)
        elif policy.status(spoke, now) == "ok":
            reporting.append(spoke)
        else:
            awaited.append(spoke)
    return SpokeReport(
        reporting=tuple(reporting),
        overdue=tuple(overdue),
        awaited=tuple(awaited),
        accounts=frozenset(spoke.account_id for spoke in (*reporting, *overdue, *awaited)),
    )


def spokes_check(report: SpokeReport, policy: SilencePolicy) -> Check:
    minutes = policy.silent_after_minutes
    awaited = (
        f"; {len(report.awaited)} registered, awaiting a first heartbeat" if report.awaited else ""
    )
    if not report.reporting and not report.overdue and not report.awaited:
        return Check(
            "spokes",
            False,
            "no spoke has reported",
            "deploy spokes in every account and region (rootwatch deploy spokes --regions all, "
            "or rootwatch deploy stackset)",
        )
    if report.overdue:
        named = [
            f"{spoke.account_id} {spoke.region} ("
            + (f"last {describe_moment(spoke.last_heartbeat)}" if spoke.last_heartbeat else "never")
            + ")"
            for spoke in report.overdue[:LISTED_SPOKES]
        ]
        if len(report.overdue) > LISTED_SPOKES:
            named.append(f"and {len(report.overdue) - LISTED_SPOKES} more (rootwatch spokes)")
        total = len(report.overdue) + len(report.reporting) + len(report.awaited)
        return Check(
            "spokes",
            False,
            f"{len(report.overdue)} of {total} spokes silent for over {minutes} min: "
            f"{'; '.join(named)}{awaited}",
            "check the spoke stack in each of those accounts and regions: its rules enabled, "
            "its delivery role intact (rootwatch deploy spokes redeploys it)",
        )
    return Check(
        "spokes",
        True,
        f"{plural(len(report.reporting), 'spoke')} in {plural(len(report.accounts), 'account')} "
        "reported within "
        f"{minutes} min{awaited}",
    )


def delivery_check(
    records: Sequence[Mapping[str, Any]],
    expected: Sequence[str] | None,
    *,
    waited_seconds: float,
) -> Check:
    """The test alert's outcome from its delivery records (one per destination)."""
    by_destination = {
        str(record.get("destination") or record.get(keys.SK)): record for record in records
    }
    if not by_destination:
        return Check(
            "test alert",
            False,
            f"no delivery records after {waited_seconds:.0f} s: is the notifier running?",
            "check the notifier function's errors and logs, and that the notify queue feeds "
            "it; the test alert stays queued until it runs",
        )
    destinations = list(expected) if expected is not None else sorted(by_destination)
    problems: list[str] = []
    delivered: list[str] = []
    for destination in destinations:
        record = by_destination.get(destination)
        if record is None:
            problems.append(f"{destination}: no delivery yet")
        elif record.get("status") != "delivered":
            problems.append(f"{destination}: {record.get('reason') or record.get('status')}")
        else:
            delivered.append(destination)
    if problems:
        return Check(
            "test alert",
            False,
            "; ".join(problems) + (f" (delivered: {', '.join(delivered)})" if delivered else ""),
            "check each failing destination: the Slack webhook secret's URL, the SES sender "
            "or the topic's confirmed subscriptions; the notifier's logs name the reason",
        )
    unconfirmed = (
        ""
        if expected is not None
        else " (the notifier's configuration is not readable here, so other destinations "
        "may be missing)"
    )
    return Check("test alert", True, f"delivered to {', '.join(delivered)}{unconfirmed}")


# gathering -----------------------------------------------------------------------------


def _table_check(hub: Hub) -> Check:
    dynamodb = hub.dynamodb()
    name = hub.outputs[TABLE_OUTPUT]
    table = dynamodb.describe_table(TableName=name)["Table"]
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    problems = table_problems(table, backups, ttl)
    if problems:
        return Check(
            "audit table",
            False,
            f"{name}: {'; '.join(problems)}",
            "deploy the current hub template (its table enables all of these)",
        )
    return Check(
        "audit table",
        True,
        f"{name} active, point-in-time recovery on, encrypted, TTL on {keys.TTL_ATTRIBUTE}",
    )


def _dead_letter_checks(hub: Hub) -> list[Check]:
    checks: list[Check] = []
    for label, output_name, queue in (
        ("ingest DLQ", INGEST_DLQ_OUTPUT, "ingest"),
        ("notify DLQ", NOTIFY_DLQ_OUTPUT, "notify"),
    ):
        url = hub.outputs.get(output_name)
        if not url:
            continue
        attributes = (
            hub.sqs()
            .get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
            .get("Attributes", {})
        )
        waiting = sum(
            int(attributes.get(name, "0"))
            for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        )
        if waiting:
            checks.append(
                Check(
                    label,
                    False,
                    f"holds {plural(waiting, 'message')}: "
                    + ("events not processed" if queue == "ingest" else "alerts not delivered"),
                    f"see why with rootwatch redrive --queue {queue} --dry-run; after the fix, "
                    f"rootwatch redrive --queue {queue}",
                )
            )
        else:
            checks.append(Check(label, True, "empty"))
    return checks


def _test_alert_check(
    hub: Hub, reader: AuditReader, test_account: str | None, wait: DeliveryWait, now: datetime
) -> Check:
    from rootwatch.adapters.queues import SqsAlertQueue, SqsSender  # noqa: PLC0415 (boto3)

    caller = hub.sts().get_caller_identity()
    account = test_account or str(caller["Account"])
    alert = test_alert(account, reader.account(account), caller_arn=str(caller["Arn"]), now=now)
    expected = _expected_destinations(hub, alert)
    queue = SqsAlertQueue(SqsSender(hub.sqs(), hub.outputs[NOTIFY_QUEUE_OUTPUT]))
    if queue.send_alerts([alert]):
        return Check(
            "test alert",
            False,
            "the notify queue refused the test alert",
            "check the queue's policy and its KMS key allow this identity to send",
        )
    started = wait.clock()
    while True:
        records = reader.deliveries(alert.alert_id)
        if _settled(records, expected):
            break
        remaining = wait.seconds - (wait.clock() - started)
        if remaining <= 0:
            break
        wait.pause(min(POLL_SECONDS, remaining))
    return delivery_check(records, expected, waited_seconds=wait.clock() - started)


def test_alert(
    account: str, entry: Mapping[str, Any] | None, *, caller_arn: str, now: datetime
) -> Alert:
    """A test alert for `account`, routed as its alerts are (its entry's destinations too)."""
    from rootwatch.alerts import AccountInfo, Alert  # noqa: PLC0415

    def texts(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,) if value else ()
        return tuple(str(item) for item in value or ())

    info = AccountInfo(
        account_id=account,
        name=str(entry["name"]) if entry and entry.get("name") else None,
        partner=str(entry["partner"]) if entry and entry.get("partner") else None,
        slack_secrets=texts(entry.get("slack_secrets")) if entry else (),
        emails=texts(entry.get("emails")) if entry else (),
        min_severity=str(entry["min_severity"]) if entry and entry.get("min_severity") else None,
    )
    return Alert(
        alert_id=f"test-{uuid.uuid4().hex}",
        kind="test",
        severity="info",
        account=info,
        detail=f"rootwatch verify, run by {caller_arn} at {describe_moment(now)}",
        raised_at=keys.iso(now),
    )


def _expected_destinations(hub: Hub, alert: Alert) -> list[str] | None:
    """The destinations the notifier routes this alert to, from its configuration; None
    when that cannot be read (no permission, or a local stack without Lambda)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (boto3)

    from rootwatch.routing import route  # noqa: PLC0415
    from rootwatch.services.notifying import NotifierSettings  # noqa: PLC0415

    function_name = hub.outputs.get(NOTIFIER_OUTPUT)
    if not function_name:
        return None
    try:
        configuration = hub.client("lambda").get_function_configuration(FunctionName=function_name)
        environment = configuration.get("Environment", {}).get("Variables", {})
        settings = NotifierSettings.from_environ(environment)
    except (ClientError, BotoCoreError, ValueError):
        return None
    return [destination.destination_id for destination in route(alert, settings.routing)]


def _settled(records: Sequence[Mapping[str, Any]], expected: Sequence[str] | None) -> bool:
    delivered = {
        str(record.get("destination")) for record in records if record.get("status") == "delivered"
    }
    if expected is None:
        return bool(records)
    return set(expected) <= delivered


def _principals(principal: Any) -> list[str]:
    """The AWS principals a statement names; `*` for any that admits every account
    (`*`, or an ARN with a wildcard such as `arn:aws:iam::*:root`)."""
    if isinstance(principal, str):
        values: list[Any] = [principal]
    elif isinstance(principal, Mapping):
        named = principal.get("AWS", [])
        values = [named] if isinstance(named, str) else list(named)
    else:
        return []
    return ["*" if "*" in str(value) else str(value) for value in values]


def _narrowing_condition(condition: Any) -> str | None:
    """What a condition narrows the senders to (e.g. `o-abc`), or None when it does not.

    Only positive string or ARN operators on organisation and account keys, with values
    free of wildcards, narrow; `StringNotEquals`, `IfExists` and `*` do not.
    """
    if not isinstance(condition, Mapping):
        return None
    for operator, tests in condition.items():
        normal = str(operator).lower()
        positive = (
            normal.removeprefix("foranyvalue:")
            .removeprefix("forallvalues:")
            .startswith(_POSITIVE_OPERATORS)
        )
        if (
            not positive
            or "not" in normal
            or normal.endswith("ifexists")
            or not isinstance(tests, Mapping)
        ):
            continue
        for key, values in tests.items():
            listed = [values] if isinstance(values, str) else list(values or [])
            if (
                str(key).lower() in _NARROWING_KEYS
                and listed
                and all(_exact(value) for value in listed)
            ):
                return ", ".join(str(value) for value in listed)
    return None


def _exact(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "*" not in value and "?" not in value


def _print_checks(checks: Sequence[Check], output: str, where: str) -> None:
    if output != "table":
        print_rows([check.row() for check in checks], output=output, columns=(), keys=KEYS)
        return
    # One line per check, not a table: the detail is the point and must not be cut.
    label_width = max(len(check.check) for check in checks)
    for check in checks:
        result = "OK" if check.ok else "FAIL"
        print(f"{result:<4}  {table_cell(check.check):<{label_width}}  {table_cell(check.detail)}")
    failed = [check for check in checks if not check.ok]
    fixes = [check for check in failed if check.fix]
    if fixes:
        print("\nHow to fix:")
        for check in fixes:
            print(f"  {table_cell(check.check)}: {table_cell(check.fix)}")
    sys.stdout.flush()
    summary = f"{len(failed)} of {len(checks)} checks failed" if failed else "all checks passed"
    print(f"verify {where}: {summary}", file=sys.stderr)
