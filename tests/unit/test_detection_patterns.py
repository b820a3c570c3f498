"""The EventBridge patterns of detection match exactly what detection keeps.

The spoke rules are built from `root_activity_pattern()` and `tamper_pattern()`; here moto's
own EventBridge pattern matcher (what routes events in `rootwatch local` and the spoke tests)
is run on records generated from the names detection knows, near misses included.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from moto.events.models import EventPattern
from moto.events.utils import EventMessageType
from rootwatch.detection import (
    classify,
    is_root_activity,
    might_be_kept,
    root_activity_pattern,
    tamper_pattern,
)
from rootwatch.reader import parse_record

ROOT_RULE = EventPattern.load(json.dumps({"detail": root_activity_pattern()}))
TAMPER_RULE = EventPattern.load(json.dumps({"detail": tamper_pattern()}))

SOURCES = [
    "signin.amazonaws.com",
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "events.amazonaws.com",
    "cloudformation.amazonaws.com",
    "organizations.amazonaws.com",
    "guardduty.amazonaws.com",
    "config.amazonaws.com",
    "securityhub.amazonaws.com",
    "frauddetector.amazonaws.com",
    "s3.amazonaws.com",
]
EVENT_NAMES = [
    "ConsoleLogin",
    "PasswordRecoveryRequested",
    "PasswordRecoveryCompleted",
    "AssumeRoot",
    "StopLogging",
    "DeleteTrail",
    "UpdateTrail",
    "PutEventSelectors",
    "CreateTrail",
    "DisableRule",
    "DeleteRule",
    "PutRule",
    "RemoveTargets",
    "PutTargets",
    "PutRolePolicy",
    "DeleteRole",
    "CreateRole",
    "UpdateStack",
    "DeleteStack",
    "CreateStack",
    "CreateChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "SetStackPolicy",
    "UpdateTerminationProtection",
    "DeleteStackInstances",
    "DeleteStackSet",
    "UpdateStackSet",
    "UpdateStackInstances",
    "CreateStackInstances",
    "LeaveOrganization",
    "DeleteDetector",
    "UpdateDetector",
    "StopConfigurationRecorder",
    "DisableSecurityHub",
    "CreateAccessKey",
    "ListBuckets",
]
NAMES = [
    "rootwatch-root-activity",
    "rootwatch-",
    "Rootwatch-tamper",
    "my-rootwatch-rule",
    "rootwatch-delivery-us-east-1",
    "ROOTWATCH-DELIVERY-x",
    "rootwatch-deliver",
    "rootwatch-spoke",
    "rootwatch-spoke-eu-west-1",
    "arn:aws:cloudformation:eu-west-1:111122223333:stack/rootwatch-spoke/abc",
    "arn:aws-cn:cloudformation:cn-north-1:111122223333:stack/rootwatch-spoke-x/abc",
    "arn:aws:cloudformation:eu-west-1:111122223333:stack/app/rootwatch-spoke",
    "StackSet-rootwatch-spoke-4b7e0c2a-91d3",
    "StackSet-rootwatch-spoke",
    "StackSet-app-4b7e0c2a",
    "stackset-rootwatch-spoke-4b7e0c2a",
    "arn:aws:cloudformation:eu-west-1:111122223333:stack/StackSet-rootwatch-spoke-4b7e/abc",
    "arn:aws:cloudformation:eu-west-1:111122223333:stack/StackSet-app/StackSet-rootwatch-spoke",
    "arn:aws:cloudformation:eu-west-1:111122223333:changeSet/rootwatch-spoke/abc",
    "rootwatch-spoke:7c2d9e4f-0a1b-4c3d",
    "app",
    "",
]

identities = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["Root", "FederatedUser", "IAMUser", "AssumedRole", "AWSAccount", "AWSService"]
            ),
            "accountId": st.just("111122223333"),
        },
        optional={
            "sessionContext": st.fixed_dictionaries(
                {},
                optional={
                    "sessionIssuer": st.fixed_dictionaries(
                        {"type": st.sampled_from(["Root", "Role", "IAMUser"])}
                    ),
                    "assumedRoot": st.sampled_from(["true", "false"]),
                },
            ),
            "invokedBy": st.sampled_from(["cloudformation.amazonaws.com", "AWS Internal"]),
        },
    ),
)
# The request parameter each source names its resource with, so that generated records
# mostly carry the parameter the tamper rules look at.
RESOURCE_KEYS = {
    "events.amazonaws.com": ["name", "rule"],
    "iam.amazonaws.com": ["roleName", "userName"],
    "cloudformation.amazonaws.com": ["stackName", "stackSetName", "changeSetName"],
    "guardduty.amazonaws.com": ["enable"],
}
PAIRS = [
    ("signin.amazonaws.com", "ConsoleLogin"),
    ("signin.amazonaws.com", "PasswordRecoveryRequested"),
    ("signin.amazonaws.com", "PasswordRecoveryCompleted"),
    ("sts.amazonaws.com", "AssumeRoot"),
    ("cloudtrail.amazonaws.com", "StopLogging"),
    ("cloudtrail.amazonaws.com", "PutEventSelectors"),
    ("cloudtrail.amazonaws.com", "CreateTrail"),
    ("events.amazonaws.com", "DisableRule"),
    ("events.amazonaws.com", "PutRule"),
    ("events.amazonaws.com", "RemoveTargets"),
    ("events.amazonaws.com", "PutTargets"),
    ("iam.amazonaws.com", "PutRolePolicy"),
    ("iam.amazonaws.com", "DeleteRole"),
    ("iam.amazonaws.com", "CreateRole"),
    ("iam.amazonaws.com", "CreateAccessKey"),
    ("cloudformation.amazonaws.com", "UpdateStack"),
    ("cloudformation.amazonaws.com", "DeleteStack"),
    ("cloudformation.amazonaws.com", "CreateStack"),
    ("cloudformation.amazonaws.com", "CreateChangeSet"),
    ("cloudformation.amazonaws.com", "ExecuteChangeSet"),
    ("cloudformation.amazonaws.com", "DeleteStackInstances"),
    ("cloudformation.amazonaws.com", "UpdateStackSet"),
    ("cloudformation.amazonaws.com", "CreateStackInstances"),
    ("organizations.amazonaws.com", "LeaveOrganization"),
    ("guardduty.amazonaws.com", "DeleteDetector"),
    ("guardduty.amazonaws.com", "UpdateDetector"),
    ("config.amazonaws.com", "StopConfigurationRecorder"),
    ("securityhub.amazonaws.com", "DisableSecurityHub"),
    ("frauddetector.amazonaws.com", "DeleteDetector"),
]


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    source, name = draw(
        st.one_of(
            st.sampled_from(PAIRS),
            st.tuples(st.sampled_from(SOURCES), st.sampled_from(EVENT_NAMES)),
        )
    )
    keys = RESOURCE_KEYS.get(source) or [
        "name",
        "rule",
        "roleName",
        "stackName",
        "stackSetName",
        "enable",
    ]
    values = st.one_of(st.sampled_from(NAMES), st.booleans())
    record: dict[str, Any] = {
        "eventVersion": "1.10",
        "eventID": "e-1",
        "eventTime": "2026-11-28T14:02:11Z",
        "awsRegion": "eu-west-1",
        "recipientAccountId": "111122223333",
        "eventSource": source,
        "eventName": name,
        "eventType": draw(st.sampled_from(["AwsApiCall", "AwsServiceEvent", "AwsConsoleSignIn"])),
        "readOnly": draw(st.booleans()),
        "requestParameters": draw(
            st.one_of(st.none(), st.dictionaries(st.sampled_from(keys), values, max_size=2))
        ),
    }
    identity = draw(identities)
    if identity is not None:
        record["userIdentity"] = identity
    return record


def as_event(record: dict[str, Any]) -> EventMessageType:
    return {
        "version": "0",
        "id": "7e9a2b1c",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + record["eventSource"].split(".")[0],
        "account": "111122223333",
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


def assert_routed_exactly_when_kept(raw: dict[str, Any]) -> None:
    record = parse_record(raw)
    event = as_event(raw)
    assert ROOT_RULE.matches_event(event) == is_root_activity(record)
    forwarded = ROOT_RULE.matches_event(event) or TAMPER_RULE.matches_event(event)
    kept = classify(record) is not None
    assert forwarded == kept
    if kept:
        assert might_be_kept(raw)


def api_call(
    source: str, name: str, parameters: dict[str, Any], identity_type: str = "AssumedRole"
) -> dict[str, Any]:
    return {
        "eventVersion": "1.10",
        "eventID": "e-2",
        "eventTime": "2026-11-28T14:02:11Z",
        "awsRegion": "eu-west-1",
        "recipientAccountId": "111122223333",
        "eventSource": source,
        "eventName": name,
        "requestParameters": parameters,
        "userIdentity": {"type": identity_type, "accountId": "111122223333"},
    }


NEAR_MISSES = (
    [
        api_call("cloudformation.amazonaws.com", event, {key: name})
        for event in ("DeleteStack", "CreateChangeSet", "DeleteStackSet", "UpdateStackInstances")
        for key in ("stackName", "stackSetName", "changeSetName")
        for name in NAMES
    ]
    + [api_call("iam.amazonaws.com", "PutRolePolicy", {"roleName": name}) for name in NAMES]
    + [
        api_call("events.amazonaws.com", event, {key: name})
        for event in ("DisableRule", "RemoveTargets", "PutTargets", "EnableRule")
        for key in ("name", "rule")
        for name in NAMES
    ]
    + [
        api_call("guardduty.amazonaws.com", "UpdateDetector", {"enable": enable}, "Root")
        for enable in (True, False, "false", None)
    ]
)


def test_the_patterns_agree_with_detection_on_near_misses() -> None:
    for raw in NEAR_MISSES:
        assert_routed_exactly_when_kept(raw)
    # Both sides of every name boundary are exercised: each call by others is kept for some
    # names and dropped for others (EnableRule never is tamper; root's records are all kept).
    others = [raw for raw in NEAR_MISSES if raw["userIdentity"]["type"] != "Root"]
    events = {raw["eventName"] for raw in others}
    kept = {raw["eventName"] for raw in others if classify(parse_record(raw))}
    dropped = {raw["eventName"] for raw in others if not classify(parse_record(raw))}
    assert kept == events - {"EnableRule"}
    assert dropped == events


@settings(max_examples=400, deadline=None)
@given(records())
def test_the_patterns_route_exactly_what_detection_keeps(raw: dict[str, Any]) -> None:
    assert_routed_exactly_when_kept(raw)


def test_the_patterns_are_fresh_copies() -> None:
    pattern = root_activity_pattern()
    pattern["$or"].clear()
    assert root_activity_pattern()["$or"]
    assert tamper_pattern() == tamper_pattern()
