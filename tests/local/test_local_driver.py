"""The driver runs the fixture stack's functions as Lambda would."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from rootwatch.local.driver import STUCK_AFTER_RECEIVES, LambdaDriver
from rootwatch.local.provision import ProvisionedStack

# The fixture's worker publishes no metric for a batch that only fails; powertools says so.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def _put(stack: ProvisionedStack, detail_type: str, *details: dict[str, Any]) -> None:
    events = stack.endpoint.events()
    entries = [
        {
            "Source": "aws.test",
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "EventBusName": stack.ref("Bus"),
        }
        for detail in details
    ]
    for start in range(0, len(entries), 10):
        response = events.put_events(Entries=entries[start : start + 10])  # type: ignore[arg-type]
        assert response["FailedEntryCount"] == 0


def _seen(stack: ProvisionedStack, kind: str) -> dict[str, dict[str, Any]]:
    items = stack.endpoint.dynamodb().scan(TableName=stack.ref("Table"))["Items"]
    return {
        item["pk"]["S"].split("#", 1)[1]: {key: value["S"] for key, value in item.items()}
        for item in items
        if item["pk"]["S"].startswith(f"{kind}#")
    }


def _queue_depth(stack: ProvisionedStack, logical_id: str) -> int:
    attributes = stack.endpoint.sqs().get_queue_attributes(
        QueueUrl=stack.ref(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_events_reach_the_function_through_the_rule_and_the_queue(
    stack: ProvisionedStack,
) -> None:
    driver = LambdaDriver(stack)
    _put(stack, "work", *({"key": str(number)} for number in range(12)))
    assert driver.drain() == 12
    seen = _seen(stack, "work")
    assert sorted(seen, key=int) == [str(number) for number in range(12)]
    record = json.loads(seen["0"]["payload"])
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack.get_att("WorkQueue", "Arn")
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert json.loads(record["body"])["detail"] == {"key": "0"}
    assert seen["0"]["endpoint"] == stack.endpoint.url
    assert seen["0"]["function"] == "fixture-Worker"
    batches = [invocation.records for invocation in driver.invocations]
    assert max(batches) <= 5
    assert sum(batches) == 12
    assert _queue_depth(stack, "WorkQueue") == 0


def test_the_function_environment_exists_only_while_it_runs(stack: ProvisionedStack) -> None:
    before = dict(os.environ)
    driver = LambdaDriver(stack)
    _put(stack, "work", {"key": "one"})
    driver.drain()
    assert dict(os.environ) == before
    assert "TABLE_NAME" not in os.environ


def test_reported_failures_are_retried_then_redriven_and_successes_deleted(
    stack: ProvisionedStack,
) -> None:
    driver = LambdaDriver(stack)
    _put(stack, "work", {"key": "good"}, {"key": "bad", "fail": True})
    driver.drain()
    assert set(_seen(stack, "work")) == {"good"}
    dead = stack.endpoint.sqs().receive_message(
        QueueUrl=stack.ref("WorkDeadLetters"), MaxNumberOfMessages=10
    )["Messages"]
    assert [json.loads(message["Body"])["detail"]["key"] for message in dead] == ["bad"]
    failed_receives = [inv.failed_records for inv in driver.invocations if inv.failed_records]
    assert failed_receives == [1, 1]  # maxReceiveCount is 2
    assert _queue_depth(stack, "WorkQueue") == 0


def test_a_crash_fails_the_whole_batch(stack: ProvisionedStack) -> None:
    driver = LambdaDriver(stack)
    _put(stack, "work", {"key": "innocent"}, {"key": "boom", "crash": True})
    driver.drain()
    crashes = [inv for inv in driver.invocations if inv.error]
    assert crashes
    assert all(inv.failed_records == inv.records for inv in crashes)
    assert all("RuntimeError: asked to crash" in (inv.error or "") for inv in crashes)
    traceback_lines = [line for line in driver.runtimes["Worker"].log if "asked to crash" in line]
    assert traceback_lines


def test_an_identifier_outside_the_batch_fails_the_whole_batch(stack: ProvisionedStack) -> None:
    driver = LambdaDriver(stack)
    _put(stack, "work", {"key": "x", "bad_identifier": True})
    driver.drain()
    assert [inv.failed_records for inv in driver.invocations] == [1, 1]
    assert _queue_depth(stack, "WorkDeadLetters") == 1


def test_without_partial_responses_a_return_means_the_batch_succeeded(
    stack: ProvisionedStack,
) -> None:
    driver = LambdaDriver(stack)
    sqs = stack.endpoint.sqs()
    for key in ("a", "b", "c", "d"):
        sqs.send_message(QueueUrl=stack.ref("PlainQueue"), MessageBody=json.dumps({"key": key}))
    sqs.send_message(
        QueueUrl=stack.ref("PlainQueue"), MessageBody=json.dumps({"key": "f", "fail": True})
    )
    driver.drain()
    assert set(_seen(stack, "work")) == {"a", "b", "c", "d"}
    assert [inv.records for inv in driver.invocations if inv.function == "Plain"] == [3, 2]
    assert _queue_depth(stack, "PlainQueue") == 0


def test_a_message_failing_on_a_queue_without_redrive_is_set_aside(
    stack: ProvisionedStack,
) -> None:
    driver = LambdaDriver(stack)
    body = json.dumps({"key": "forever", "crash": True})
    stack.endpoint.sqs().send_message(QueueUrl=stack.ref("PlainQueue"), MessageBody=body)
    driver.drain()
    (aside,) = driver.set_aside
    assert aside.body == body
    assert aside.function == "Plain"
    assert str(STUCK_AFTER_RECEIVES) in aside.reason
    assert len(driver.invocations) == STUCK_AFTER_RECEIVES


def test_rule_targets_are_invoked_with_the_eventbridge_event(stack: ProvisionedStack) -> None:
    driver = LambdaDriver(stack)
    _put(stack, "listen", {"key": "heard"})
    driver.drain()
    event = json.loads(_seen(stack, "listen")["heard"]["payload"])
    assert event["detail-type"] == "listen"
    assert event["source"] == "aws.test"
    assert event["detail"] == {"key": "heard"}


def test_failed_asynchronous_invocations_are_retried_twice_then_set_aside(
    stack: ProvisionedStack,
) -> None:
    driver = LambdaDriver(stack)
    _put(stack, "listen", {"key": "never", "fail": True})
    driver.drain()
    attempts = [inv for inv in driver.invocations if inv.function == "Listener"]
    assert len(attempts) == 3
    (aside,) = driver.set_aside
    assert "asynchronous invocation failed 3 times" in aside.reason
    assert "listener failed" in aside.reason


def test_schedules_fire_on_request(stack: ProvisionedStack) -> None:
    driver = LambdaDriver(stack)
    moment = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    assert driver.fire_schedules(at=moment) == 1
    driver.drain()
    (tick,) = _seen(stack, "tick").values()
    event = json.loads(tick["payload"])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2026-11-28T14:00:00Z"
    assert event["resources"] == [stack.schedules[0].arn]


def test_metrics_printed_by_functions_are_captured_and_published(
    stack: ProvisionedStack,
) -> None:
    driver = LambdaDriver(stack)
    _put(stack, "work", {"key": "1"}, {"key": "2"})
    driver.drain()
    worked = [datum for datum in driver.metrics if datum.name == "Worked"]
    assert sum(datum.value for datum in worked) == 2
    assert {datum.namespace for datum in worked} == {"fixture"}
    cloudwatch = stack.endpoint.client("cloudwatch")
    names = {
        (metric["Namespace"], metric["MetricName"])
        for metric in cloudwatch.list_metrics()["Metrics"]
    }
    assert {("fixture", "Worked"), ("AWS/Lambda", "Invocations"), ("AWS/Lambda", "Errors")} <= names
    assert any("worked through" in line for line in driver.runtimes["Worker"].log)


def test_an_asynchronous_failure_goes_to_the_functions_dead_letter_queue(
    stack: ProvisionedStack,
) -> None:
    driver = LambdaDriver(stack)
    _put(stack, "guarded", {"key": "lost", "fail": True})
    driver.drain()
    assert not driver.set_aside
    assert len([inv for inv in driver.invocations if inv.function == "Guarded"]) == 3
    (message,) = stack.endpoint.sqs().receive_message(
        QueueUrl=stack.ref("GuardedDeadLetters"), MessageAttributeNames=["All"]
    )["Messages"]
    assert json.loads(message["Body"])["detail"] == {"key": "lost", "fail": True}
    error = message["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert error == "RuntimeError: listener failed"
    assert ("GuardedDeadLetters", stack.ref("GuardedDeadLetters")) in stack.dead_letter_queues()
