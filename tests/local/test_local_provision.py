"""Provisioning a template in moto: every resource as the template describes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rootwatch.local.provision import ProvisionedStack, ProvisioningError, provision
from rootwatch.local.server import Endpoint
from rootwatch.local.template import load_template, parse_template

ACCOUNT_ID = "123456789012"


def test_queues_keep_their_attributes_and_redrive_policies(stack: ProvisionedStack) -> None:
    sqs = stack.endpoint.sqs()
    work_url = stack.ref("WorkQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=work_url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.get_att("WorkDeadLetters", "Arn"),
        "maxReceiveCount": 2,
    }
    assert stack.get_att("WorkDeadLetters", "QueueName") == "fx-work-dlq"
    assert stack.get_att("PlainQueue", "QueueName") == "fixture-PlainQueue"
    assert ("WorkDeadLetters", stack.ref("WorkDeadLetters")) in stack.dead_letter_queues()
    assert ("PlainQueue", stack.ref("PlainQueue")) not in stack.dead_letter_queues()


def test_the_table_has_the_templates_keys_indexes_ttl_and_recovery(
    stack: ProvisionedStack,
) -> None:
    dynamodb = stack.endpoint.dynamodb()
    name = stack.ref("Table")
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert [key["AttributeName"] for key in table["KeySchema"]] == ["pk", "sk"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    recovery = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    assert recovery == "ENABLED"


def test_the_bus_holds_every_policy_statement(stack: ProvisionedStack) -> None:
    bus = stack.endpoint.events().describe_event_bus(Name="fx-bus")
    statements = {
        statement["Sid"]: statement for statement in json.loads(bus["Policy"])["Statement"]
    }
    assert set(statements) == {"allow-org", "allow-account"}
    assert statements["allow-org"]["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-example"}
    }


def test_rules_keep_their_patterns_states_and_targets(stack: ProvisionedStack) -> None:
    events = stack.endpoint.events()
    rules = {rule["Name"]: rule for rule in events.list_rules(EventBusName="fx-bus")["Rules"]}
    route = rules["fixture-RouteToWork"]
    assert json.loads(route["EventPattern"]) == {
        "source": [{"prefix": "aws."}],
        "detail-type": ["work"],
    }
    assert route["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    targets = events.list_targets_by_rule(Rule="fixture-RouteToWork", EventBusName="fx-bus")
    assert [target["Arn"] for target in targets["Targets"]] == [stack.get_att("WorkQueue", "Arn")]
    assert stack.ref("RouteToWork") == "fx-bus|fixture-RouteToWork"


def test_a_function_target_is_routed_to_its_shim_queue(stack: ProvisionedStack) -> None:
    events = stack.endpoint.events()
    targets = events.list_targets_by_rule(Rule="fixture-ListenerHeard", EventBusName="fx-bus")
    assert [target["Arn"] for target in targets["Targets"]] == [stack.shims["Listener"].queue_arn]


def test_functions_get_their_code_handler_and_resolved_environment(
    stack: ProvisionedStack, fixture_template: Path
) -> None:
    worker = stack.functions["Worker"]
    assert worker.handler == "app.worker"
    assert worker.code_dir == fixture_template.parent / "functions"
    assert worker.timeout_seconds == 10
    assert worker.environment == {
        "TABLE_NAME": "fixture-Table",
        "POWERTOOLS_METRICS_NAMESPACE": "fixture",
        "WORK_DLQ_URL": stack.ref("WorkDeadLetters"),
    }
    assert worker.arn == f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:fixture-Worker"


def test_event_sources_come_from_sam_events_and_mappings(stack: ProvisionedStack) -> None:
    sources = {source.function: source for source in stack.sqs_sources}
    assert sources["Worker"].batch_size == 5
    assert sources["Worker"].report_batch_item_failures
    assert sources["Worker"].queue_url == stack.ref("WorkQueue")
    assert sources["Plain"].batch_size == 3
    assert not sources["Plain"].report_batch_item_failures


def test_schedules_are_recorded_for_the_driver(stack: ProvisionedStack) -> None:
    (schedule,) = stack.schedules
    assert schedule.expression == "rate(5 minutes)"
    assert schedule.enabled
    assert [target.queue_url for target in schedule.targets] == [stack.shims["Ticker"].queue_url]


def test_a_schedule_leaves_its_targets_to_the_driver(stack: ProvisionedStack) -> None:
    # moto would send every event on the default bus to a rule that has no pattern.
    (schedule,) = stack.schedules
    events = stack.endpoint.events()
    assert events.list_targets_by_rule(Rule=schedule.name)["Targets"] == []
    events.put_events(
        Entries=[{"Source": "aws.signin", "DetailType": "x", "Detail": "{}"}]  # default bus
    )
    shim = stack.shims["Ticker"].queue_url
    assert stack.endpoint.sqs().receive_message(QueueUrl=shim).get("Messages", []) == []


def test_secrets_identities_topics_and_alarms(stack: ProvisionedStack) -> None:
    endpoint = stack.endpoint
    secret = endpoint.secretsmanager().get_secret_value(SecretId="fx/slack/default")
    assert secret["SecretString"] == "http://127.0.0.1:9/hook"
    identities = endpoint.sesv2().list_email_identities()["EmailIdentities"]
    assert [identity["IdentityName"] for identity in identities] == ["rootwatch@example.com"]
    subscriptions = endpoint.sns().list_subscriptions_by_topic(TopicArn=stack.ref("Topic"))
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]] == [
        ("email", "ops@example.com")
    ]
    (alarm,) = endpoint.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "fx-work-dlq"}]
    assert alarm["AlarmActions"] == [stack.ref("Topic")]


def test_resources_without_local_effect_are_named_and_listed(stack: ProvisionedStack) -> None:
    assert ("Role", "AWS::IAM::Role") in stack.skipped
    assert stack.get_att("Role", "Arn") == f"arn:aws:iam::{ACCOUNT_ID}:role/fixture-Role"


def test_outputs_and_conditional_resources(
    endpoint: Endpoint, stack: ProvisionedStack, fixture_template: Path
) -> None:
    assert stack.outputs["BusArn"] == stack.get_att("Bus", "Arn")
    assert stack.outputs["SenderIdentity"] == "rootwatch@example.com"
    without_sender = provision(
        load_template(fixture_template),
        endpoint,
        stack_name="again",
        account_id=ACCOUNT_ID,
        parameters={"Prefix": "again"},
    )
    assert "SenderIdentity" not in without_sender.resources
    assert "SenderIdentity" not in without_sender.outputs


def test_errors_name_the_resource(endpoint: Endpoint) -> None:
    template = parse_template(
        """
Resources:
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [x]}
      Targets: [{Id: t, Arn: "arn:aws:lambda:us-east-1:123456789012:function:elsewhere"}]
"""
    )
    with pytest.raises(ProvisioningError, match=r"Rule: target .* is not a function"):
        provision(template, endpoint, stack_name="broken", account_id=ACCOUNT_ID)


def test_circular_dependencies_are_reported(endpoint: Endpoint) -> None:
    template = parse_template(
        """
Resources:
  A:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !GetAtt B.QueueName}
  B:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !GetAtt A.QueueName}
"""
    )
    with pytest.raises(ProvisioningError, match="circular dependency"):
        provision(template, endpoint, stack_name="cycle", account_id=ACCOUNT_ID)


def test_the_stack_is_recorded_in_cloudformation_with_its_parameters_and_outputs(
    stack: ProvisionedStack,
) -> None:
    cloudformation = stack.endpoint.client("cloudformation")
    (record,) = cloudformation.describe_stacks(StackName="fixture")["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in record["Outputs"]}
    assert outputs == {
        "BusArn": stack.get_att("Bus", "Arn"),
        "TableName": "fixture-Table",
        "SenderIdentity": "rootwatch@example.com",
    }
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in record["Parameters"]}
    assert parameters == {
        "Prefix": "fx",
        "Sender": "rootwatch@example.com",
        "Alerts": "ops@example.com",
    }
    # The record creates nothing: the stack's resources exist once.
    assert len(stack.endpoint.sqs().list_queues(QueueNamePrefix="fx-work-dlq")["QueueUrls"]) == 1
