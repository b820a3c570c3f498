"""The hub stack (template.yaml): it deploys what design sections 1, 4 and 5 describe.

The checks that run the tools (cfn-lint, sam validate, sam build) are marked `templates`.
The others read the template, evaluated for a stack with given parameters, and its SAM
translation; the rules' patterns are exercised by routing events through moto's EventBridge.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from cfn import (
    HUB_ACCOUNT,
    PSEUDO,
    Build,
    PolicyStatement,
    evaluate,
    policy_statements,
    resources_of_type,
    rule_assertions_hold,
    translated,
)
from moto import mock_aws
from rootwatch import keys, naming
from rootwatch.local.template import Pseudo, StackEvaluation, Template, TemplateError

from tests.support.templates import REPO, Placeholders, resolved_properties, run_tool, tool_report

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

ORG_ONLY = {"AllowedOrgIds": "o-abcdefghij"}
ACCOUNTS_ONLY = {"AllowedAccountIds": "222222222222,333333333333"}
ORG_AND_ACCOUNTS = {**ORG_ONLY, **ACCOUNTS_ONLY}

FUNCTIONS = {
    "ProcessorFunction": "processor",
    "NotifierFunction": "notifier",
    "HeartbeatFunction": "heartbeat",
    "WatchdogFunction": "watchdog",
}
POWERTOOLS_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
# Metrics the functions emit with powertools, shown on the dashboard.
# The metrics the hub's operators watch first (every metric a function emits is shown too).
DASHBOARD_METRICS = (
    "EventsReceived",
    "Duplicates",
    "Rejected",
    "IncidentsOpened",
    "AlertsSent",
    "AlertsFailed",
)
METRIC_CALLS = frozenset({"add_metric", "single_metric"})


def emitted_metrics(source: str) -> set[str]:
    """The metric names a handler's source emits: `add_metric(name="X")`, `single_metric(...)`,
    and the names of a `for name, value in (("X", ...), ...)` loop that emits `name`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in METRIC_CALLS
        ):
            for keyword in node.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    names.add(keyword.value.value)
        if (
            isinstance(node, ast.For)
            and isinstance(node.target, ast.Tuple)
            and isinstance(node.target.elts[0], ast.Name)
            and isinstance(node.iter, ast.Tuple)
        ):
            for pair in node.iter.elts:
                if isinstance(pair, ast.Tuple) and isinstance(pair.elts[0], ast.Constant):
                    names.add(pair.elts[0].value)
    return names


# Every exception to "no wildcard action" and "no `*` resource", with its reason.
JUSTIFIED_WILDCARD_ACTIONS = {
    ("EncryptionKey", "AccountAdministersThroughIam"): (
        "AWS's default key policy: it hands the key's administration to the account's IAM "
        "policies; without it the key can become unmanageable"
    ),
}
JUSTIFIED_ANY_RESOURCE = {
    "WriteTraces": "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource ARNs",
    "KeyPolicy": "in a key policy, Resource * means the key itself",
}


def _logical_id(reference: Any) -> str:
    """The logical ID in a placeholder value (`ref:Id` or `Id.Attribute`)."""
    text = str(reference)
    return text.removeprefix("ref:").split(".", 1)[0]


def _pattern(evaluation: StackEvaluation, rule: str) -> dict[str, Any]:
    pattern = resolved_properties(evaluation, rule)["EventPattern"]
    assert isinstance(pattern, dict)
    return pattern


# ---------------------------------------------------------------- the tools


@pytest.mark.templates
def test_cfn_lint_passes() -> None:
    result = run_tool("cfn-lint", "template.yaml")
    assert result.returncode == 0, tool_report(result)


@pytest.mark.templates
def test_sam_validate_with_lint_passes() -> None:
    result = run_tool("sam", "validate", "--lint", "--template-file", "template.yaml")
    assert result.returncode == 0, tool_report(result)


@pytest.mark.templates
def test_sam_build_builds_every_function_and_the_layer(hub: Template, hub_build: Build) -> None:
    assert hub_build.result.returncode == 0, tool_report(hub_build.result)
    for logical_id in FUNCTIONS:
        handler = hub_build.directory / logical_id / "app.py"
        assert handler.is_file(), f"{logical_id}: no app.py in the build"
        module = ast.parse(handler.read_text(encoding="utf-8"))
        defined = {node.name for node in module.body if isinstance(node, ast.FunctionDef)}
        assigned = {
            target.id
            for node in module.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert "lambda_handler" in defined | assigned, f"{logical_id}: no lambda_handler"
    layer = hub_build.directory / "SharedLayer" / "python"
    assert (layer / "rootwatch" / "keys.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir()
    assert (layer / "aws_xray_sdk").is_dir(), "Tracer imports aws-xray-sdk at import time"
    # The runtime's boto3 and botocore, compiled and matched, are the ones the handlers use.
    shipped = {path.name.split("-")[0].lower() for path in layer.glob("*.dist-info")}
    assert not shipped & {"boto3", "botocore", "s3transfer", "requests", "urllib3"}, shipped
    # Compiled extensions are the Lambda platform's (arm64), not this machine's: wrapt's
    # (Tracer) and msgspec's (every handler's value types).
    for package in ("wrapt", "msgspec"):
        extensions = [path.name for path in (layer / package).glob("*.so")]
        assert extensions and all("aarch64" in name for name in extensions), extensions
    # Bytecode that does not depend on file times, so Lambda never recompiles the layer.
    keys_bytecode = list((layer / "rootwatch" / "__pycache__").glob("keys.cpython-313.pyc"))
    assert keys_bytecode, "the layer is not compiled for python3.13"
    flags = int.from_bytes(keys_bytecode[0].read_bytes()[4:8], "little")
    assert flags & 0b01, "bytecode is checked against file times"


# ---------------------------------------------------------------- parameters and rules


def test_deployment_needs_allowed_organizations_or_accounts(hub: Template) -> None:
    assert not all(rule_assertions_hold(hub, evaluate(hub)).values())
    for parameters in (ORG_ONLY, ACCOUNTS_ONLY, ORG_AND_ACCOUNTS):
        assert all(rule_assertions_hold(hub, evaluate(hub, **parameters)).values()), parameters


@pytest.mark.parametrize(
    "parameters",
    [
        {"AllowedOrgIds": "123456789012"},
        {"AllowedAccountIds": "o-abcdefghij"},
        {"AllowedAccountIds": "1234"},
        {"DefaultEmails": "a@example.com b@example.com"},
        {"DefaultEmails": ",".join(f"ops{n}@example.com" for n in range(6))},
    ],
)
def test_malformed_senders_and_recipients_are_refused(
    hub: Template, parameters: dict[str, str]
) -> None:
    with pytest.raises(TemplateError):
        evaluate(hub, **{**ORG_ONLY, **parameters})


# ---------------------------------------------------------------- hub bus


@pytest.mark.parametrize("parameters", [ORG_ONLY, ACCOUNTS_ONLY, ORG_AND_ACCOUNTS])
def test_bus_policy_admits_only_the_allowed_organizations_and_accounts(
    hub: Template, parameters: dict[str, str]
) -> None:
    evaluation = evaluate(hub, **parameters)
    statements = [
        resolved_properties(evaluation, logical_id)["Statement"]
        for logical_id in resources_of_type(evaluation, "AWS::Events::EventBusPolicy")
    ]
    expected = []
    if "AllowedOrgIds" in parameters:
        expected.append(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": "HubEventBus.Arn",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": ["o-abcdefghij"]}},
            }
        )
    if "AllowedAccountIds" in parameters:
        expected.append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["222222222222", "333333333333"]},
                "Action": "events:PutEvents",
                "Resource": "HubEventBus.Arn",
            }
        )
    assert statements == expected
    for logical_id in resources_of_type(evaluation, "AWS::Events::EventBusPolicy"):
        assert resolved_properties(evaluation, logical_id)["EventBusName"] == "ref:HubEventBus"


def test_hub_bus_is_named_by_its_parameter(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    assert resolved_properties(evaluation, "HubEventBus")["Name"] == "rootwatch-hub"
    for rule in ("RootActivityRule", "HeartbeatRule"):
        assert resolved_properties(evaluation, rule)["EventBusName"] == "ref:HubEventBus"


def test_root_activity_rule_takes_aws_sources_and_not_heartbeats(hub: Template) -> None:
    org_only = _pattern(evaluate(hub, **ORG_ONLY), "RootActivityRule")
    assert org_only == {
        "source": [{"prefix": "aws."}],
        "detail-type": [{"anything-but": naming.HEARTBEAT_DETAIL_TYPE}],
    }
    with_accounts = _pattern(evaluate(hub, **ORG_AND_ACCOUNTS), "RootActivityRule")
    assert with_accounts == {
        **org_only,
        "account": [HUB_ACCOUNT, "222222222222", "333333333333"],
    }


def test_heartbeat_rule_takes_only_the_spokes_heartbeats(hub: Template) -> None:
    pattern = _pattern(evaluate(hub, **ORG_ONLY), "HeartbeatRule")
    assert pattern == {
        "source": [naming.HEARTBEAT_SOURCE],
        "detail-type": [naming.HEARTBEAT_DETAIL_TYPE],
        "resources": [{"suffix": f":rule/{naming.HEARTBEAT_RULE}"}],
    }
    with_accounts = _pattern(evaluate(hub, **ACCOUNTS_ONLY), "HeartbeatRule")
    assert with_accounts["account"] == [HUB_ACCOUNT, "222222222222", "333333333333"]


def test_rules_deliver_with_retries_and_a_dead_letter_queue(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    expected_targets = {
        "RootActivityRule": ("IngestQueue", "IngestDeadLetterQueue"),
        "HeartbeatRule": ("HeartbeatFunction", "HeartbeatDeadLetterQueue"),
        "WatchdogSchedule": ("WatchdogFunction", "WatchdogDeadLetterQueue"),
    }
    assert set(resources_of_type(evaluation, "AWS::Events::Rule")) == set(expected_targets)
    for rule, (target, dead_letter_queue) in expected_targets.items():
        properties = resolved_properties(evaluation, rule)
        assert properties["State"] == "ENABLED"
        (only_target,) = properties["Targets"]
        assert only_target["Arn"] == f"{target}.Arn"
        assert only_target["DeadLetterConfig"] == {"Arn": f"{dead_letter_queue}.Arn"}
        assert only_target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert only_target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 600


def test_watchdog_runs_at_the_heartbeat_rate(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY, HeartbeatIntervalMinutes="10")
    schedule = resolved_properties(evaluation, "WatchdogSchedule")
    assert schedule["ScheduleExpression"] == "rate(10 minutes)"
    assert "EventBusName" not in schedule


def test_function_targets_may_be_invoked_by_their_rule_only(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    permissions = {
        (
            _logical_id(properties["FunctionName"]),
            _logical_id(properties["SourceArn"]),
        ): properties
        for properties in (
            resolved_properties(evaluation, logical_id)
            for logical_id in resources_of_type(evaluation, "AWS::Lambda::Permission")
        )
    }
    assert set(permissions) == {
        ("HeartbeatFunction", "HeartbeatRule"),
        ("WatchdogFunction", "WatchdogSchedule"),
    }
    for permission in permissions.values():
        assert permission["Principal"] == "events.amazonaws.com"
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["SourceAccount"] == HUB_ACCOUNT


# ---------------------------------------------------------------- routing through EventBridge

MOTO_ACCOUNT = "123456789012"


def _event(
    source: str, detail_type: str, marker: str, resources: list[str] | None = None
) -> PutEventsRequestEntryTypeDef:
    return {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps({"marker": marker}),
        "Resources": resources or [],
    }


def _route(
    hub: Template,
    hub_account: str,
    parameters: Mapping[str, str],
    entries: list[PutEventsRequestEntryTypeDef],
) -> dict[str, set[str]]:
    """Put `entries` on a hub bus with the template's two rules; the markers each received."""
    pseudo = Pseudo(region="us-east-1", account_id=hub_account, stack_name="rootwatch-hub")
    evaluation = StackEvaluation(hub, pseudo, overrides=dict(parameters), resources=Placeholders())
    received: dict[str, set[str]] = {}
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        bus = events.create_event_bus(Name="rootwatch-hub")["EventBusArn"]
        queues = {}
        for rule in ("RootActivityRule", "HeartbeatRule"):
            url = sqs.create_queue(QueueName=rule)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            queues[rule] = url
            events.put_rule(
                Name=rule, EventBusName=bus, EventPattern=json.dumps(_pattern(evaluation, rule))
            )
            events.put_targets(
                Rule=rule,
                EventBusName=bus,
                Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}],
            )
        for entry in entries:
            events.put_events(Entries=[{**entry, "EventBusName": bus}])
        for rule, url in queues.items():
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            received[rule] = {
                json.loads(message["Body"])["detail"]["marker"]
                for message in messages.get("Messages", [])
            }
    return received


def test_rules_route_root_activity_and_heartbeats_apart(hub: Template) -> None:
    heartbeat_rule = f"arn:aws:events:eu-west-1:{MOTO_ACCOUNT}:rule/{naming.HEARTBEAT_RULE}"
    other_rule = f"arn:aws:events:eu-west-1:{MOTO_ACCOUNT}:rule/nightly-backup"
    received = _route(
        hub,
        MOTO_ACCOUNT,
        ORG_ONLY,
        [
            _event("aws.signin", "AWS Console Sign In via CloudTrail", "console-login"),
            _event("aws.iam", "AWS API Call via CloudTrail", "api-call"),
            _event("aws.events", "Scheduled Event", "heartbeat", [heartbeat_rule]),
            _event("aws.events", "Scheduled Event", "other-schedule", [other_rule]),
            _event("acme.aws", "AWS API Call via CloudTrail", "forged-source"),
            _event("awsx.signin", "AWS Console Sign In via CloudTrail", "lookalike-source"),
        ],
    )
    assert received == {
        "RootActivityRule": {"console-login", "api-call"},
        "HeartbeatRule": {"heartbeat"},
    }


@pytest.mark.parametrize(
    ("hub_account", "parameters", "admitted"),
    [
        pytest.param("999999999999", ORG_ONLY, True, id="organizations-only-the-bus-decides"),
        pytest.param(MOTO_ACCOUNT, {"AllowedAccountIds": "222222222222"}, True, id="hub-itself"),
        pytest.param("999999999999", {"AllowedAccountIds": MOTO_ACCOUNT}, True, id="listed"),
        pytest.param("999999999999", {"AllowedAccountIds": "222222222222"}, False, id="unlisted"),
    ],
)
def test_rules_admit_only_allowed_accounts(
    hub: Template, hub_account: str, parameters: dict[str, str], admitted: bool
) -> None:
    heartbeat_rule = f"arn:aws:events:us-east-1:{MOTO_ACCOUNT}:rule/{naming.HEARTBEAT_RULE}"
    received = _route(
        hub,
        hub_account,
        parameters,
        [
            _event("aws.signin", "AWS Console Sign In via CloudTrail", "console-login"),
            _event("aws.events", "Scheduled Event", "heartbeat", [heartbeat_rule]),
        ],
    )
    expected = (
        {"RootActivityRule": {"console-login"}, "HeartbeatRule": {"heartbeat"}}
        if admitted
        else {"RootActivityRule": set(), "HeartbeatRule": set()}
    )
    assert received == expected


# ---------------------------------------------------------------- queues and encryption


def test_queues_admit_only_the_rules_that_target_them(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    senders: dict[str, set[str]] = {}
    for rule in resources_of_type(evaluation, "AWS::Events::Rule"):
        for target in resolved_properties(evaluation, rule)["Targets"]:
            for arn in (target["Arn"], target.get("DeadLetterConfig", {}).get("Arn")):
                if arn and evaluation.template.resources[_logical_id(arn)]["Type"] == (
                    "AWS::SQS::Queue"
                ):
                    senders.setdefault(_logical_id(arn), set()).add(rule)
    admitted: dict[str, set[str]] = {}
    for logical_id in resources_of_type(evaluation, "AWS::SQS::QueuePolicy"):
        properties = resolved_properties(evaluation, logical_id)
        (queue,) = [_logical_id(url) for url in properties["Queues"]]
        for statement in properties["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert statement["Principal"] == {"Service": "events.amazonaws.com"}
            assert statement["Action"] == "sqs:SendMessage"
            assert statement["Resource"] == f"{queue}.Arn"
            source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
            admitted.setdefault(queue, set()).add(_logical_id(source))
    assert admitted == senders


def test_every_queue_topic_and_the_table_use_the_rotated_key(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    key = hub.resources["EncryptionKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    # The retained table stays readable only while its key exists.
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    queues = resources_of_type(evaluation, "AWS::SQS::Queue")
    topics = resources_of_type(evaluation, "AWS::SNS::Topic")
    assert len(queues) == 6
    assert topics
    for logical_id in queues + topics:
        properties = resolved_properties(evaluation, logical_id)
        assert properties["KmsMasterKeyId"] == "ref:EncryptionKey", logical_id
    sse = resolved_properties(evaluation, "AuditTable")["SSESpecification"]
    assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": "ref:EncryptionKey"}


def test_key_lets_eventbridge_and_cloudwatch_encrypt_for_this_account_only(
    hub: Template,
) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    statements = resolved_properties(evaluation, "EncryptionKey")["KeyPolicy"]["Statement"]
    services = {
        statement["Principal"]["Service"]: statement
        for statement in statements
        if "Service" in statement["Principal"]
    }
    assert set(services) == {"events.amazonaws.com", "cloudwatch.amazonaws.com"}
    for statement in services.values():
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": HUB_ACCOUNT}}


def test_consumed_queues_redrive_to_their_dead_letter_queues(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY, NotifyMaxReceiveCount="7")
    ingest = resolved_properties(evaluation, "IngestQueue")["RedrivePolicy"]
    notify = resolved_properties(evaluation, "NotifyQueue")["RedrivePolicy"]
    assert ingest["deadLetterTargetArn"] == "IngestDeadLetterQueue.Arn"
    assert notify == {"deadLetterTargetArn": "NotifyDeadLetterQueue.Arn", "maxReceiveCount": "7"}
    environment = resolved_properties(evaluation, "NotifierFunction")["Environment"]["Variables"]
    assert environment["MAX_RECEIVE_COUNT"] == notify["maxReceiveCount"]


# ---------------------------------------------------------------- audit table


def test_table_has_the_keys_indexes_and_ttl_of_the_keys_module(hub: Template) -> None:
    table = hub.resources["AuditTable"]
    properties = table["Properties"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": keys.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert properties["KeySchema"] == [
        {"AttributeName": keys.PK, "KeyType": "HASH"},
        {"AttributeName": keys.SK, "KeyType": "RANGE"},
    ]
    indexes = {
        index["IndexName"]: (
            [(part["AttributeName"], part["KeyType"]) for part in index["KeySchema"]],
            index["Projection"],
        )
        for index in properties["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        name: ([(partition, "HASH"), (sort, "RANGE")], {"ProjectionType": "ALL"})
        for name, (partition, sort) in keys.INDEXES.items()
    }
    key_attributes = {keys.PK, keys.SK} | {name for pair in keys.INDEXES.values() for name in pair}
    assert {
        definition["AttributeName"]: definition["AttributeType"]
        for definition in properties["AttributeDefinitions"]
    } == dict.fromkeys(key_attributes, "S")


# ---------------------------------------------------------------- functions


def _documented_environment() -> dict[str, dict[str, str | None]]:
    """docs/architecture.md's table: each function's variables and their documented defaults."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Functions and their environment", 1)[1].split("\n## ", 1)[0]
    variable = re.compile(r"`([A-Z][A-Z0-9_]+)`(?:\s*\((?:(\d+)|`([^`]+)`)\))?")
    documented: dict[str, dict[str, str | None]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("function", "") or set(cells[0]) <= set("-: "):
            continue
        variables: dict[str, str | None] = {}
        for name, number, text_value in variable.findall(cells[2]):
            default = number or text_value or None
            variables[name] = variables.get(name) or default
        documented[cells[0]] = variables
    return documented


def test_architecture_doc_lists_the_four_functions() -> None:
    assert set(_documented_environment()) == set(FUNCTIONS.values())


@pytest.mark.parametrize(("logical_id", "name"), FUNCTIONS.items())
def test_function_environment_is_the_documented_one(
    hub: Template, logical_id: str, name: str
) -> None:
    documented = _documented_environment()[name]
    evaluation = evaluate(hub, **ORG_ONLY)
    properties = resolved_properties(evaluation, logical_id)
    environment = properties["Environment"]["Variables"]
    assert set(environment) == set(documented) | POWERTOOLS_VARIABLES
    for variable, default in documented.items():
        if default is not None:
            assert environment[variable] == default, variable
    assert all(isinstance(value, str) for value in environment.values())
    assert properties["CodeUri"] == f"functions/{name}"
    assert properties["Handler"] == "app.lambda_handler"


def test_environment_points_at_the_stack_resources(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    environments = {
        logical_id: resolved_properties(evaluation, logical_id)["Environment"]["Variables"]
        for logical_id in FUNCTIONS
    }
    for environment in environments.values():
        assert environment["TABLE_NAME"] == "ref:AuditTable"
    assert environments["ProcessorFunction"]["NOTIFY_QUEUE_URL"] == "ref:NotifyQueue"
    assert environments["ProcessorFunction"]["INGEST_DLQ_URL"] == "ref:IngestDeadLetterQueue"
    assert environments["NotifierFunction"]["NOTIFY_DLQ_URL"] == "ref:NotifyDeadLetterQueue"
    assert environments["WatchdogFunction"]["NOTIFY_QUEUE_URL"] == "ref:NotifyQueue"


@pytest.mark.parametrize(
    ("parameters", "allowed"),
    [
        (ORG_ONLY, ""),
        (ACCOUNTS_ONLY, f"{HUB_ACCOUNT},222222222222,333333333333"),
    ],
)
def test_processor_knows_the_allowed_accounts(
    hub: Template, parameters: dict[str, str], allowed: str
) -> None:
    evaluation = evaluate(hub, **parameters)
    environment = resolved_properties(evaluation, "ProcessorFunction")["Environment"]
    assert environment["Variables"]["ALLOWED_ACCOUNT_IDS"] == allowed


def test_functions_share_runtime_tracing_and_powertools_settings(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY, LogLevel="WARNING")
    for logical_id in FUNCTIONS:
        properties = resolved_properties(evaluation, logical_id)
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Tracing"] == "Active"
        assert properties["Layers"] == ["ref:SharedLayer"]
        assert properties["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "WARNING"
    layer = hub.resources["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/shared"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    assert (REPO / "layers" / "shared" / "requirements.txt").is_file()
    assert "build-SharedLayer:" in (REPO / "layers" / "shared" / "Makefile").read_text()


def test_sqs_functions_report_partial_failures_within_the_visibility_timeout(
    hub: Template,
) -> None:
    cloudformation = translated(hub)
    evaluation = StackEvaluation(
        cloudformation, PSEUDO, overrides=ORG_ONLY, resources=Placeholders()
    )
    mappings = resources_of_type(evaluation, "AWS::Lambda::EventSourceMapping")
    consumed = {}
    for logical_id in mappings:
        mapping = resolved_properties(evaluation, logical_id)
        function = resolved_properties(evaluation, _logical_id(mapping["FunctionName"]))
        queue = _logical_id(mapping["EventSourceArn"])
        consumed[queue] = _logical_id(mapping["FunctionName"])
        visibility = int(resolved_properties(evaluation, queue)["VisibilityTimeout"])
        assert visibility >= 6 * int(function["Timeout"]), queue
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BatchSize"] == 10
        assert mapping["MaximumBatchingWindowInSeconds"] >= 0
        reserved = function["ReservedConcurrentExecutions"]
        assert mapping["ScalingConfig"]["MaximumConcurrency"] <= reserved
    assert consumed == {"IngestQueue": "ProcessorFunction", "NotifyQueue": "NotifierFunction"}


def test_concurrency_is_reserved_unless_turned_off(hub: Template) -> None:
    reserved = evaluate(hub, **ORG_ONLY)
    unreserved = evaluate(hub, **ORG_ONLY, ReserveConcurrency="false")
    assert resolved_properties(reserved, "WatchdogFunction")["ReservedConcurrentExecutions"] == 1
    for logical_id in FUNCTIONS:
        assert resolved_properties(reserved, logical_id)["ReservedConcurrentExecutions"] >= 1
        assert "ReservedConcurrentExecutions" not in resolved_properties(unreserved, logical_id)


def test_event_invoked_functions_keep_failed_events(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    for logical_id, queue in (
        ("HeartbeatFunction", "HeartbeatDeadLetterQueue"),
        ("WatchdogFunction", "WatchdogDeadLetterQueue"),
    ):
        dead_letter = resolved_properties(evaluation, logical_id)["DeadLetterQueue"]
        assert dead_letter == {"Type": "SQS", "TargetArn": f"{queue}.Arn"}


def test_functions_log_to_their_own_retained_log_groups(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY, LogRetentionDays="30")
    groups = set()
    for logical_id in FUNCTIONS:
        logging = resolved_properties(evaluation, logical_id)["LoggingConfig"]
        group = _logical_id(logging["LogGroup"])
        assert resolved_properties(evaluation, group)["RetentionInDays"] == "30"
        groups.add(group)
    assert len(groups) == len(FUNCTIONS)


# ---------------------------------------------------------------- email


def test_without_ses_the_default_emails_subscribe_to_the_alert_topic(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY, DefaultEmails="soc@example.com,cto@example.com")
    subscriptions = {
        resolved_properties(evaluation, logical_id)["Endpoint"]: resolved_properties(
            evaluation, logical_id
        )
        for logical_id in resources_of_type(evaluation, "AWS::SNS::Subscription")
        if _logical_id(resolved_properties(evaluation, logical_id)["TopicArn"]) == "AlertTopic"
    }
    assert set(subscriptions) == {"soc@example.com", "cto@example.com"}
    assert all(item["Protocol"] == "email" for item in subscriptions.values())
    environment = resolved_properties(evaluation, "NotifierFunction")["Environment"]["Variables"]
    assert environment["SES_SENDER"] == ""
    assert environment["ALERT_TOPIC_ARN"] == "ref:AlertTopic"
    assert environment["DEFAULT_EMAILS"] == "soc@example.com,cto@example.com"


def test_with_ses_there_is_no_alert_topic(hub: Template) -> None:
    evaluation = evaluate(
        hub, **ORG_ONLY, SesSender="rootwatch@example.com", DefaultEmails="soc@example.com"
    )
    assert "AlertTopic" not in evaluation.active_resources()
    assert not [
        logical_id
        for logical_id in resources_of_type(evaluation, "AWS::SNS::Subscription")
        if logical_id.startswith("AlertEmail")
    ]
    environment = resolved_properties(evaluation, "NotifierFunction")["Environment"]["Variables"]
    assert environment["SES_SENDER"] == "rootwatch@example.com"
    assert environment["ALERT_TOPIC_ARN"] == ""


def test_operations_email_is_optional(hub: Template) -> None:
    assert "OperationsEmailSubscription" not in evaluate(hub, **ORG_ONLY).active_resources()
    evaluation = evaluate(hub, **ORG_ONLY, OpsEmail="oncall@example.com")
    subscription = resolved_properties(evaluation, "OperationsEmailSubscription")
    assert subscription["TopicArn"] == "ref:OperationsTopic"
    assert subscription["Endpoint"] == "oncall@example.com"


# ---------------------------------------------------------------- least privilege

# SES sender set (SES statement) and not set (SNS statement): every statement is seen.
_PRIVILEGE_CASES = [
    {**ORG_AND_ACCOUNTS, "SesSender": "rootwatch@example.com"},
    {**ORG_AND_ACCOUNTS, "DefaultEmails": "soc@example.com"},
]


def _deployed_statements(hub: Template, parameters: Mapping[str, str]) -> list[PolicyStatement]:
    cloudformation = translated(hub)
    evaluation = StackEvaluation(
        cloudformation,
        PSEUDO,
        overrides=dict(parameters),
        resources=Placeholders(),
    )
    resolved = {
        logical_id: {
            "Type": cloudformation.resources[logical_id]["Type"],
            "Properties": resolved_properties(evaluation, logical_id),
        }
        for logical_id in evaluation.active_resources()
    }
    return list(policy_statements(resolved))


def test_sam_adds_no_role_or_managed_policy(hub: Template) -> None:
    cloudformation = translated(hub)
    roles = {
        logical_id
        for logical_id, resource in cloudformation.resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    assert roles == {"ProcessorRole", "NotifierRole", "HeartbeatRole", "WatchdogRole"}
    for logical_id in roles:
        assert "ManagedPolicyArns" not in cloudformation.resources[logical_id]["Properties"]
    assert not [
        logical_id
        for logical_id, resource in cloudformation.resources.items()
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
    ]


@pytest.mark.parametrize("parameters", _PRIVILEGE_CASES)
def test_no_wildcard_action_and_no_any_resource_without_a_reason(
    hub: Template, parameters: dict[str, str]
) -> None:
    statements = _deployed_statements(hub, parameters)
    assert len(statements) > 20
    for statement in statements:
        if not statement.allows:
            continue
        if any("*" in action for action in statement.actions):
            assert (statement.resource, statement.sid) in JUSTIFIED_WILDCARD_ACTIONS, statement
        if "*" in statement.resources:
            assert (
                statement.sid in JUSTIFIED_ANY_RESOURCE
                or statement.document in JUSTIFIED_ANY_RESOURCE
            ), statement
        principal = statement.statement.get("Principal")
        if principal in ("*", {"AWS": "*"}):
            condition = statement.statement["Condition"]["StringEquals"]
            assert condition["aws:PrincipalOrgID"] == ["o-abcdefghij"], statement


def _role_statements(
    statements: list[PolicyStatement], role: str
) -> dict[str, list[PolicyStatement]]:
    """A role's permission statements by action."""
    by_action: dict[str, list[PolicyStatement]] = {}
    for statement in statements:
        if statement.resource == role and statement.document != "AssumeRolePolicyDocument":
            for action in statement.actions:
                by_action.setdefault(action, []).append(statement)
    return by_action


def _granted_resources(by_action: Mapping[str, list[PolicyStatement]], action: str) -> set[str]:
    return {
        str(resource) for statement in by_action.get(action, []) for resource in statement.resources
    }


@pytest.mark.parametrize("parameters", _PRIVILEGE_CASES)
def test_each_role_holds_only_what_its_function_does(
    hub: Template, parameters: dict[str, str]
) -> None:
    statements = _deployed_statements(hub, parameters)
    trust = [item for item in statements if item.document == "AssumeRolePolicyDocument"]
    assert {item.resource for item in trust} == {f"{name}Role" for name in _ROLE_PREFIXES}
    for item in trust:
        assert item.statement["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert item.actions == ["sts:AssumeRole"]

    table = {"AuditTable.Arn", "AuditTable.Arn/index/*"}
    for prefix, expected in _ROLE_PREFIXES.items():
        by_action = _role_statements(statements, f"{prefix}Role")
        dynamodb = {action for action in by_action if action.startswith("dynamodb:")}
        assert dynamodb == expected["dynamodb"], prefix
        for action in dynamodb:
            assert _granted_resources(by_action, action) <= table
        assert _granted_resources(by_action, "sqs:SendMessage") == {
            f"{queue}.Arn" for queue in expected["send"]
        }, prefix
        assert _granted_resources(by_action, "sqs:ReceiveMessage") == {
            f"{queue}.Arn" for queue in expected["receive"]
        }, prefix
        assert _granted_resources(by_action, "logs:PutLogEvents") == {f"{prefix}LogGroup.Arn"}
        assert _granted_resources(by_action, "kms:Decrypt") == {"EncryptionKey.Arn"}
        others = {
            action
            for action in by_action
            if action.split(":")[0] not in ("dynamodb", "sqs", "logs", "kms", "xray")
        }
        email = {"ses:SendEmail"} if "SesSender" in parameters else {"sns:Publish"}
        assert others == expected["other"] | (email if prefix == "Notifier" else set()), prefix


_ROLE_PREFIXES: dict[str, dict[str, Any]] = {
    "Processor": {
        "dynamodb": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:Query",
            "dynamodb:BatchWriteItem",
        },
        "send": {"NotifyQueue", "IngestDeadLetterQueue"},
        "receive": {"IngestQueue"},
        "other": set(),
    },
    "Notifier": {
        "dynamodb": {"dynamodb:PutItem", "dynamodb:Query"},
        "send": {"NotifyDeadLetterQueue"},
        "receive": {"NotifyQueue"},
        "other": {"secretsmanager:GetSecretValue"},
    },
    "Heartbeat": {
        "dynamodb": {"dynamodb:UpdateItem", "dynamodb:GetItem"},
        "send": {"NotifyQueue", "HeartbeatDeadLetterQueue"},
        "receive": set(),
        "other": set(),
    },
    "Watchdog": {
        "dynamodb": {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"},
        "send": {"NotifyQueue", "WatchdogDeadLetterQueue"},
        "receive": set(),
        "other": set(),
    },
}


# boto3 calls the adapters make, and the IAM action each needs.
_CALL_ACTIONS = {
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "send_message": "sqs:SendMessage",
    "send_message_batch": "sqs:SendMessage",
    "publish": "sns:Publish",
    "send_email": "ses:SendEmail",
    "get_secret_value": "secretsmanager:GetSecretValue",
}
# Operations inside transact_write_items, written as the keys of its items.
_TRANSACTION_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
# Helpers that call AWS on the caller's behalf.
_HELPER_ACTIONS = {"SecretsProvider": "secretsmanager:GetSecretValue"}


def _actions_of_module(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    actions: set[str] = set()
    transactions = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _CALL_ACTIONS:
                actions.add(_CALL_ACTIONS[node.func.attr])
            transactions = transactions or node.func.attr == "transact_write_items"
        if isinstance(node, ast.Name) and node.id in _HELPER_ACTIONS:
            actions.add(_HELPER_ACTIONS[node.id])
    if transactions:
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key in node.keys:
                    if isinstance(key, ast.Constant) and key.value in _TRANSACTION_ACTIONS:
                        actions.add(_TRANSACTION_ACTIONS[key.value])
    return actions


def _actions_of_handler(handler: Path) -> set[str]:
    """What the handler's adapters call: the adapters it imports, read for boto3 calls."""
    package = REPO / "layers" / "shared"
    actions: set[str] = set()
    for node in ast.walk(ast.parse(handler.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "rootwatch.adapters."
        ):
            module = package / Path(*str(node.module).split("."))
            actions |= _actions_of_module(module.with_suffix(".py"))
    return actions


@pytest.mark.parametrize(("logical_id", "name"), FUNCTIONS.items())
def test_each_role_allows_what_its_handler_calls(hub: Template, logical_id: str, name: str) -> None:
    handler = REPO / "functions" / name / "app.py"
    if not handler.is_file():
        pytest.skip(f"functions/{name}/app.py is not written yet (the build test fails)")
    needed = _actions_of_handler(handler)
    assert needed, f"{name}: no AWS call found in its adapters"
    role = f"{logical_id.removesuffix('Function')}Role"
    for parameters in _PRIVILEGE_CASES:
        granted = set(_role_statements(_deployed_statements(hub, parameters), role))
        email = {"ses:SendEmail"} if "SesSender" in parameters else {"sns:Publish"}
        other_email = {"ses:SendEmail", "sns:Publish"} - email
        assert needed - other_email <= granted, (name, parameters)


def test_notifier_reads_only_slack_secrets_and_sends_only_as_the_sender(hub: Template) -> None:
    with_ses = _role_statements(_deployed_statements(hub, _PRIVILEGE_CASES[0]), "NotifierRole")
    assert _granted_resources(with_ses, "secretsmanager:GetSecretValue") == {
        f"arn:aws:secretsmanager:us-east-1:{HUB_ACCOUNT}:secret:rootwatch/slack/*"
    }
    assert _granted_resources(with_ses, "ses:SendEmail") == {
        f"arn:aws:ses:us-east-1:{HUB_ACCOUNT}:identity/rootwatch@example.com",
        f"arn:aws:ses:us-east-1:{HUB_ACCOUNT}:identity/example.com",
    }
    (send_email,) = with_ses["ses:SendEmail"]
    assert send_email.statement["Condition"] == {
        "StringEquals": {"ses:FromAddress": "rootwatch@example.com"}
    }
    assert "sns:Publish" not in with_ses

    with_sns = _role_statements(_deployed_statements(hub, _PRIVILEGE_CASES[1]), "NotifierRole")
    assert _granted_resources(with_sns, "sns:Publish") == {"ref:AlertTopic"}
    assert "ses:SendEmail" not in with_sns


def test_nothing_may_scan_the_audit_log(hub: Template) -> None:
    for parameters in _PRIVILEGE_CASES:
        for statement in _deployed_statements(hub, parameters):
            assert "dynamodb:Scan" not in statement.actions


# ---------------------------------------------------------------- alarms and dashboard


def _alarms(evaluation: StackEvaluation) -> list[dict[str, Any]]:
    return [
        resolved_properties(evaluation, logical_id)
        for logical_id in resources_of_type(evaluation, "AWS::CloudWatch::Alarm")
    ]


def _dimension(alarm: Mapping[str, Any], name: str) -> str:
    (value,) = [item["Value"] for item in alarm["Dimensions"] if item["Name"] == name]
    return _logical_id(value)


def test_every_dead_letter_queue_and_function_has_an_alarm(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    dead_letter_queues = set()
    for logical_id in resources_of_type(evaluation, "AWS::SQS::Queue"):
        redrive = resolved_properties(evaluation, logical_id).get("RedrivePolicy")
        if redrive:
            dead_letter_queues.add(_logical_id(redrive["deadLetterTargetArn"]))
    for logical_id in resources_of_type(evaluation, "AWS::Events::Rule"):
        for target in resolved_properties(evaluation, logical_id)["Targets"]:
            dead_letter_queues.add(_logical_id(target["DeadLetterConfig"]["Arn"]))
    for logical_id in FUNCTIONS:
        dead_letter = resolved_properties(evaluation, logical_id).get("DeadLetterQueue")
        if dead_letter:
            dead_letter_queues.add(_logical_id(dead_letter["TargetArn"]))
    assert dead_letter_queues == {
        "IngestDeadLetterQueue",
        "NotifyDeadLetterQueue",
        "HeartbeatDeadLetterQueue",
        "WatchdogDeadLetterQueue",
    }

    alarms = _alarms(evaluation)
    for alarm in alarms:
        assert alarm["AlarmActions"] == ["ref:OperationsTopic"]
        assert alarm["TreatMissingData"] == "notBreaching"
    depth_alarmed = {
        _dimension(alarm, "QueueName")
        for alarm in alarms
        if alarm["Namespace"] == "AWS/SQS"
        and alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        and alarm["Threshold"] == 0
    }
    assert depth_alarmed == dead_letter_queues
    error_alarmed = {
        _dimension(alarm, "FunctionName")
        for alarm in alarms
        if alarm["Namespace"] == "AWS/Lambda"
        and alarm["MetricName"] == "Errors"
        and alarm["Statistic"] == "Sum"
        and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        and alarm["Threshold"] == 0
    }
    assert error_alarmed == set(FUNCTIONS)


def test_root_events_eventbridge_could_not_deliver_anywhere_raise_an_alarm(
    hub: Template,
) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    rule_name = resolved_properties(evaluation, "RootActivityRule")["Name"]
    lost = [
        alarm
        for alarm in _alarms(evaluation)
        if alarm["Namespace"] == "AWS/Events"
        and alarm["MetricName"] == "InvocationsFailedToBeSentToDlq"
    ]
    assert [{item["Name"]: item["Value"] for item in alarm["Dimensions"]} for alarm in lost] == [
        {"EventBusName": "ref:HubEventBus", "RuleName": rule_name}
    ]
    assert lost[0]["Threshold"] == 0
    assert lost[0]["ComparisonOperator"] == "GreaterThanThreshold"


def test_dashboard_shows_the_metrics_and_every_queue(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    body = json.loads(resolved_properties(evaluation, "Dashboard")["DashboardBody"])
    namespace = hub.globals_for("Function")["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"
    ]
    expressions = [
        metric[0]["expression"]
        for widget in body["widgets"]
        for metric in widget["properties"]["metrics"]
        if isinstance(metric[0], dict)
    ]
    emitted = set().union(
        *(emitted_metrics(path.read_text()) for path in (REPO / "functions").glob("*/app.py"))
    )
    assert set(DASHBOARD_METRICS) <= emitted
    for metric_name in sorted(emitted):
        assert (
            f"SEARCH('Namespace=\"{namespace}\" MetricName=\"{metric_name}\"', 'Sum', 300)"
            in expressions
        ), metric_name
    shown_queues = {
        _logical_id(metric[3])
        for widget in body["widgets"]
        for metric in widget["properties"]["metrics"]
        if metric[:3] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"]
    }
    assert shown_queues == set(resources_of_type(evaluation, "AWS::SQS::Queue"))


# ---------------------------------------------------------------- outputs


def test_outputs_name_what_operators_and_spokes_need(hub: Template) -> None:
    evaluation = evaluate(hub, **ORG_ONLY)
    outputs = {name: evaluation.resolve_output(name) for name in hub.outputs}
    assert outputs["EventBusArn"] == "HubEventBus.Arn"
    assert outputs["EventBusName"] == "ref:HubEventBus"
    assert outputs["TableName"] == "ref:AuditTable"
    assert outputs["IngestQueueUrl"] == "ref:IngestQueue"
    assert outputs["IngestDeadLetterQueueUrl"] == "ref:IngestDeadLetterQueue"
    assert outputs["NotifyQueueUrl"] == "ref:NotifyQueue"
    assert outputs["NotifyDeadLetterQueueUrl"] == "ref:NotifyDeadLetterQueue"
    assert outputs["AlertTopicArn"] == "ref:AlertTopic"
    assert outputs["OperationsTopicArn"] == "ref:OperationsTopic"
    assert outputs["DashboardName"] == "ref:Dashboard"
    for logical_id in FUNCTIONS:
        assert outputs[f"{logical_id}Name"] == f"ref:{logical_id}"
