"""Root activity, tamper and the severity rules of design §2-§3, one rule at a time."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rootwatch.deploy.parameters import SpokeParameters
from rootwatch.deploy.stackset import DEFAULT_STACK_SET_NAME, AccountTargets, StackSetRequest
from rootwatch.detection import classify, is_root_activity, is_tamper, might_be_kept
from rootwatch.model import Classification, CloudTrailRecord, PlannedWindow, Severity
from rootwatch.reader import parse_record

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
WHEN = datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)

ROOT: dict[str, Any] = {
    "type": "Root",
    "principalId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
    "accountId": ACCOUNT,
}
ROLE = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLE:alice",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice",
    "accountId": ACCOUNT,
    "sessionContext": {
        "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/Admin"},
        "attributes": {"mfaAuthenticated": "false"},
    },
}
IAM_USER = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLE",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/bob",
    "accountId": ACCOUNT,
    "userName": "bob",
}
ASSUMED_ROOT_SESSION = {
    **ROOT,
    "accessKeyId": "ASIAEXAMPLE",
    "sessionContext": {
        "attributes": {"creationDate": "2026-11-28T14:00:00Z", "mfaAuthenticated": "false"},
        "assumedRoot": "true",
    },
}


def raw_record(
    event_name: str,
    source: str,
    identity: dict[str, Any] | None = ROOT,
    **fields: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.10",
        "eventTime": "2026-11-28T14:02:11Z",
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": None,
        "responseElements": None,
        "eventID": f"id-{event_name}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
    }
    if identity is not None:
        record["userIdentity"] = copy.deepcopy(identity)
    record.update(fields)
    return record


def console_login(
    identity: dict[str, Any] | None = ROOT, *, result: str = "Success", mfa: str | None = "Yes"
) -> dict[str, Any]:
    extra: dict[str, Any] = {"LoginTo": "https://console.aws.amazon.com/"}
    if mfa is not None:
        extra["MFAUsed"] = mfa
    fields: dict[str, Any] = {
        "responseElements": {"ConsoleLogin": result},
        "additionalEventData": extra,
        "eventType": "AwsConsoleSignIn",
    }
    if result == "Failure":
        fields["errorMessage"] = "Failed authentication"
    return raw_record("ConsoleLogin", "signin.amazonaws.com", identity, **fields)


def kept(raw: dict[str, Any], planned: PlannedWindow | None = None) -> Classification:
    classification = classify(parse_record(raw), planned)
    assert classification is not None
    assert might_be_kept(raw), "the pre-check must never drop a kept record"
    return classification


def dropped(raw: dict[str, Any]) -> None:
    record = parse_record(raw)
    assert classify(record) is None
    assert not is_root_activity(record)
    assert not is_tamper(record)


def record_of(raw: dict[str, Any]) -> CloudTrailRecord:
    return parse_record(raw)


# --- console sign-in --------------------------------------------------------------------------


def test_root_console_login_without_mfa_is_critical() -> None:
    result = kept(console_login(mfa="No"))
    assert result.severity is Severity.CRITICAL
    assert result.rules == ("login-no-mfa",)
    assert result.summary == "Root console login without MFA"
    assert (result.outcome, result.mfa, result.is_root, result.tamper) == (
        "success",
        False,
        True,
        False,
    )


def test_root_console_login_with_mfa_is_high_whatever_the_case_of_yes() -> None:
    for answer in ("Yes", "YES", "yes"):
        result = kept(console_login(mfa=answer))
        assert result.severity is Severity.HIGH
        assert result.rules == ("login",)
        assert result.mfa is True


def test_root_console_login_that_does_not_say_mfa_counts_as_without() -> None:
    result = kept(console_login(mfa=None))
    assert result.rules == ("login-no-mfa",)
    assert result.severity is Severity.CRITICAL
    assert result.mfa is None


def test_failed_root_console_login_is_medium_and_a_failure() -> None:
    result = kept(console_login(result="Failure", mfa="No"))
    assert result.severity is Severity.MEDIUM
    assert result.rules == ("login-failed",)
    assert result.outcome == "failure"
    assert result.summary == "Root console login failed"


def test_an_error_code_alone_makes_a_console_login_a_failure() -> None:
    raw = console_login(mfa="No")
    raw["responseElements"] = None
    raw["errorCode"] = "AccessDenied"
    result = kept(raw)
    assert (result.outcome, result.rules) == ("failure", ("login-failed",))


# --- credentials --------------------------------------------------------------------------------


def test_root_creating_its_own_access_key_is_critical() -> None:
    result = kept(raw_record("CreateAccessKey", "iam.amazonaws.com"))
    assert (result.severity, result.rules) == (Severity.CRITICAL, ("root-access-key",))
    assert result.summary == "Root created an access key"


def test_root_creating_a_key_for_an_iam_user_is_a_generic_write() -> None:
    raw = raw_record("CreateAccessKey", "iam.amazonaws.com", requestParameters={"userName": "bob"})
    result = kept(raw)
    assert (result.severity, result.rules) == (Severity.HIGH, ("write",))


def test_invoked_by_never_lowers_a_specific_rule_and_is_shown() -> None:
    identity = {**ROOT, "invokedBy": "signin.amazonaws.com"}
    result = kept(raw_record("CreateAccessKey", "iam.amazonaws.com", identity))
    assert result.severity is Severity.CRITICAL
    assert result.invoked_by == "signin.amazonaws.com"


def test_a_failed_attempt_keeps_its_rule_and_says_it_failed() -> None:
    raw = raw_record("CreateAccessKey", "iam.amazonaws.com", errorCode="LimitExceeded")
    result = kept(raw)
    assert (result.severity, result.outcome) == (Severity.CRITICAL, "failure")
    assert result.summary == "Root created an access key (failed: LimitExceeded)"


@pytest.mark.parametrize("event_name", ["DeactivateMFADevice", "DeleteVirtualMFADevice"])
def test_root_removing_mfa_is_critical(event_name: str) -> None:
    result = kept(raw_record(event_name, "iam.amazonaws.com"))
    assert (result.severity, result.rules) == (Severity.CRITICAL, ("mfa-removed",))


@pytest.mark.parametrize(
    ("event_name", "source"),
    [
        ("PasswordUpdated", "signin.amazonaws.com"),
        ("PasswordRecoveryCompleted", "signin.amazonaws.com"),
        ("CreateLoginProfile", "iam.amazonaws.com"),
        ("UpdateLoginProfile", "iam.amazonaws.com"),
    ],
)
def test_root_credential_changes_are_critical(event_name: str, source: str) -> None:
    result = kept(raw_record(event_name, source))
    assert (result.severity, result.rules) == (Severity.CRITICAL, ("credential-change",))


def test_a_login_profile_change_says_whose_password_it_was() -> None:
    own = kept(raw_record("CreateLoginProfile", "iam.amazonaws.com"))
    assert own.summary == "Root created the root password"
    users = kept(
        raw_record("UpdateLoginProfile", "iam.amazonaws.com", requestParameters={"userName": "bob"})
    )
    assert users.summary == "Root changed an IAM user's console password"
    assert users.rules == ("credential-change",)


def test_password_recovery_is_root_activity_whoever_the_record_names() -> None:
    for identity in (None, {"type": "Unknown", "accountId": ACCOUNT}):
        requested = kept(raw_record("PasswordRecoveryRequested", "signin.amazonaws.com", identity))
        assert (requested.severity, requested.rules) == (Severity.HIGH, ("recovery-requested",))
        assert requested.is_root
        completed = kept(raw_record("PasswordRecoveryCompleted", "signin.amazonaws.com", identity))
        assert (completed.severity, completed.rules) == (Severity.CRITICAL, ("credential-change",))


def test_a_recovery_event_name_from_another_service_is_not_root() -> None:
    dropped(raw_record("PasswordRecoveryRequested", "example.amazonaws.com", ROLE))


# --- the account --------------------------------------------------------------------------------


def test_root_closing_the_account_is_critical() -> None:
    result = kept(raw_record("CloseAccount", "billingconsole.amazonaws.com"))
    assert (result.severity, result.rules) == (Severity.CRITICAL, ("account-closed",))


@pytest.mark.parametrize(
    ("event_name", "source"),
    [
        ("PutContactInformation", "account.amazonaws.com"),
        ("PutAlternateContact", "account.amazonaws.com"),
        ("PutAccountName", "account.amazonaws.com"),
        ("AcceptPrimaryEmailUpdate", "account.amazonaws.com"),
        ("SetContactAddress", "billingconsole.amazonaws.com"),
        ("SetAccountPreferences", "billingconsole.amazonaws.com"),
        ("SetIAMAccessPreference", "billingconsole.amazonaws.com"),
        ("SetPayInformation", "billingconsole.amazonaws.com"),
        ("Instruments_Create", "payments.amazonaws.com"),
    ],
)
def test_root_changing_account_settings_is_high(event_name: str, source: str) -> None:
    result = kept(raw_record(event_name, source))
    assert (result.severity, result.rules) == (Severity.HIGH, ("account-change",))
    assert result.summary.startswith("Root ")


# --- tamper ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_name", ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]
)
def test_cloudtrail_tamper_by_anyone_is_kept_and_critical(event_name: str) -> None:
    raw = raw_record(
        event_name, "cloudtrail.amazonaws.com", ROLE, requestParameters={"name": "org"}
    )
    result = kept(raw)
    assert (result.severity, result.rules) == (Severity.CRITICAL, ("tamper",))
    assert result.tamper and not result.is_root
    assert is_tamper(record_of(raw))
    assert result.summary.startswith("An assumed role ")


@pytest.mark.parametrize(
    ("event_name", "parameters"),
    [
        ("DisableRule", {"name": "rootwatch-root-activity", "eventBusName": "default"}),
        ("DeleteRule", {"name": "rootwatch-tamper"}),
        ("PutRule", {"name": "rootwatch-heartbeat", "state": "DISABLED"}),
        ("RemoveTargets", {"rule": "rootwatch-root-activity", "ids": ["hub"]}),
        (
            "PutTargets",
            {
                "rule": "rootwatch-root-activity",
                "eventBusName": "default",
                "targets": [
                    {
                        "id": "rootwatch-hub",
                        "arn": f"arn:aws:events:eu-west-1:{OTHER_ACCOUNT}:event-bus/elsewhere",
                    }
                ],
            },
        ),
    ],
)
def test_changes_to_rootwatch_rules_are_tamper(event_name: str, parameters: dict[str, Any]) -> None:
    raw = raw_record(event_name, "events.amazonaws.com", IAM_USER, requestParameters=parameters)
    assert kept(raw).rules == ("tamper",)


def test_redirecting_a_rootwatch_rule_says_so() -> None:
    raw = raw_record(
        "PutTargets",
        "events.amazonaws.com",
        ROLE,
        requestParameters={"rule": "rootwatch-tamper", "targets": [{"id": "rootwatch-hub"}]},
    )
    assert kept(raw).summary == "An assumed role changed the targets of a rootwatch rule"


@pytest.mark.parametrize(
    ("event_name", "parameters"),
    [
        ("DisableRule", {"name": "nightly-report"}),
        ("RemoveTargets", {"rule": "nightly-report", "ids": ["1"]}),
        ("RemoveTargets", {"name": "rootwatch-root-activity"}),
        ("PutTargets", {"rule": "nightly-report", "targets": [{"id": "1"}]}),
        ("PutTargets", {"name": "rootwatch-root-activity"}),
        ("EnableRule", {"name": "rootwatch-root-activity"}),
    ],
)
def test_other_rules_and_other_calls_are_not_tamper(
    event_name: str, parameters: dict[str, Any]
) -> None:
    dropped(raw_record(event_name, "events.amazonaws.com", IAM_USER, requestParameters=parameters))


def test_changes_to_the_delivery_role_are_tamper_in_any_letter_case() -> None:
    for role_name in ("rootwatch-delivery-us-east-1", "ROOTWATCH-Delivery-x"):
        raw = raw_record(
            "PutRolePolicy", "iam.amazonaws.com", ROLE, requestParameters={"roleName": role_name}
        )
        assert kept(raw).rules == ("tamper",)
    dropped(
        raw_record("DeleteRole", "iam.amazonaws.com", ROLE, requestParameters={"roleName": "app"})
    )
    dropped(
        raw_record(
            "CreateRole",
            "iam.amazonaws.com",
            ROLE,
            requestParameters={"roleName": "rootwatch-delivery-x"},
        )
    )


SPOKE_STACK_NAMES = (
    "rootwatch-spoke",
    "rootwatch-spoke-eu-west-1",
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/rootwatch-spoke/0f1e2d3c",
    # Deployed by a StackSet: CloudFormation names the stack after the stack set.
    "StackSet-rootwatch-spoke-4b7e0c2a-91d3-4f6e-8a5b-2c1d0e9f8a7b",
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/"
    "StackSet-rootwatch-spoke-4b7e0c2a-91d3-4f6e-8a5b-2c1d0e9f8a7b/0f1e2d3c",
    f"arn:aws-us-gov:cloudformation:us-gov-west-1:{ACCOUNT}:stack/StackSet-rootwatch-spoke-x/1",
)
OTHER_STACK_NAMES = (
    "app",
    "Rootwatch-spoke",
    "StackSet-app-4b7e0c2a",
    "stackset-rootwatch-spoke-4b7e0c2a",
    "team-StackSet-rootwatch-spoke",
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/app/rootwatch-spoke",
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/StackSet-app/StackSet-rootwatch-spoke",
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:changeSet/rootwatch-spoke/0f1e2d3c",
)
STACK_EVENTS = (
    "UpdateStack",
    "DeleteStack",
    "CreateChangeSet",
    "ExecuteChangeSet",
    "SetStackPolicy",
    "UpdateTerminationProtection",
    "RollbackStack",
    "ContinueUpdateRollback",
)


@pytest.mark.parametrize("event_name", STACK_EVENTS)
def test_changes_to_the_spoke_stack_are_tamper_by_name_or_arn(event_name: str) -> None:
    for stack_name in SPOKE_STACK_NAMES:
        raw = raw_record(
            event_name,
            "cloudformation.amazonaws.com",
            ROLE,
            requestParameters={"stackName": stack_name},
        )
        assert kept(raw).rules == ("tamper",), stack_name
    for stack_name in OTHER_STACK_NAMES:
        dropped(
            raw_record(
                event_name,
                "cloudformation.amazonaws.com",
                ROLE,
                requestParameters={"stackName": stack_name},
            )
        )


def test_a_change_set_on_the_spoke_stack_is_tamper_and_says_so() -> None:
    create = raw_record(
        "CreateChangeSet",
        "cloudformation.amazonaws.com",
        ROLE,
        requestParameters={
            "stackName": "rootwatch-spoke",
            "changeSetName": "samcli-deploy1764338531",
            "changeSetType": "UPDATE",
            "usePreviousTemplate": True,
        },
    )
    execute = raw_record(
        "ExecuteChangeSet",
        "cloudformation.amazonaws.com",
        ROLE,
        requestParameters={
            "changeSetName": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:changeSet/"
            "samcli-deploy1764338531/5b9e7c3d",
            "stackName": "rootwatch-spoke",
        },
    )
    assert kept(create).summary == (
        "An assumed role created a change set on the rootwatch spoke stack"
    )
    assert kept(execute).summary == (
        "An assumed role executed a change set on the rootwatch spoke stack"
    )


def test_a_change_set_on_another_stack_or_without_a_stack_name_is_not_tamper() -> None:
    dropped(
        raw_record(
            "CreateChangeSet",
            "cloudformation.amazonaws.com",
            ROLE,
            requestParameters={"stackName": "app", "changeSetName": "rootwatch-spoke"},
        )
    )
    # A change set ARN does not name its stack; the CreateChangeSet that made it did.
    dropped(
        raw_record(
            "ExecuteChangeSet",
            "cloudformation.amazonaws.com",
            ROLE,
            requestParameters={
                "changeSetName": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:changeSet/"
                "rootwatch-spoke/5b9e7c3d"
            },
        )
    )


@pytest.mark.parametrize(
    ("event_name", "summary"),
    [
        ("DeleteStackInstances", "removed spokes from the rootwatch stack set"),
        ("DeleteStackSet", "deleted the rootwatch stack set"),
        ("UpdateStackSet", "changed the rootwatch stack set"),
        ("UpdateStackInstances", "changed spokes of the rootwatch stack set"),
    ],
)
def test_changes_to_the_spoke_stack_set_are_tamper_by_name_or_id(
    event_name: str, summary: str
) -> None:
    for stack_set_name in (
        "rootwatch-spoke",
        "rootwatch-spoke-partners",
        "rootwatch-spoke:7c2d9e4f-0a1b-4c3d-9e8f-1a2b3c4d5e6f",
    ):
        raw = raw_record(
            event_name,
            "cloudformation.amazonaws.com",
            ROLE,
            requestParameters={
                "stackSetName": stack_set_name,
                "accounts": [OTHER_ACCOUNT],
                "regions": ["eu-west-1"],
                "callAs": "SELF",
            },
        )
        result = kept(raw)
        assert (result.severity, result.rules) == (Severity.CRITICAL, ("tamper",))
        assert result.summary == f"An assumed role {summary}"
    for stack_set_name in ("team-baseline", "Rootwatch-spoke", "StackSet-rootwatch-spoke"):
        dropped(
            raw_record(
                event_name,
                "cloudformation.amazonaws.com",
                ROLE,
                requestParameters={"stackSetName": stack_set_name},
            )
        )
    dropped(
        raw_record(
            event_name,
            "cloudformation.amazonaws.com",
            ROLE,
            requestParameters={"stackName": "rootwatch-spoke"},
        )
    )


def test_adding_spokes_to_the_stack_set_is_not_tamper() -> None:
    for event_name in ("CreateStackInstances", "CreateStackSet", "DescribeStackSet"):
        dropped(
            raw_record(
                event_name,
                "cloudformation.amazonaws.com",
                ROLE,
                requestParameters={"stackSetName": "rootwatch-spoke"},
            )
        )


def stack_set_request(name: str) -> StackSetRequest:
    return StackSetRequest(
        template_body="{}",
        parameters=SpokeParameters(
            hub_event_bus_arn=f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/rootwatch-hub"
        ),
        targets=AccountTargets((OTHER_ACCOUNT,)),
        regions=("eu-west-1",),
        name=name,
    )


def test_every_stack_set_the_deploy_command_accepts_is_watched_with_its_stacks() -> None:
    for name in (DEFAULT_STACK_SET_NAME, f"{DEFAULT_STACK_SET_NAME}-partners"):
        request = stack_set_request(name)
        stack = f"StackSet-{request.name}-4b7e0c2a-91d3-4f6e-8a5b-2c1d0e9f8a7b"
        for event_name, parameters in (
            ("DeleteStack", {"stackName": stack}),
            ("DeleteStackSet", {"stackSetName": request.name}),
        ):
            raw = raw_record(
                event_name, "cloudformation.amazonaws.com", ROLE, requestParameters=parameters
            )
            assert kept(raw).rules == ("tamper",), (name, event_name)
    with pytest.raises(ValueError, match="must start with"):
        stack_set_request("team-spokes")


def test_leaving_the_organization_is_tamper() -> None:
    result = kept(raw_record("LeaveOrganization", "organizations.amazonaws.com", ROLE))
    assert (result.severity, result.tamper) == (Severity.CRITICAL, True)


@pytest.mark.parametrize(
    ("event_name", "source", "parameters"),
    [
        ("DeleteDetector", "guardduty.amazonaws.com", {"detectorId": "d1"}),
        ("UpdateDetector", "guardduty.amazonaws.com", {"detectorId": "d1", "enable": False}),
        ("StopConfigurationRecorder", "config.amazonaws.com", {"configurationRecorderName": "d"}),
        ("DeleteConfigurationRecorder", "config.amazonaws.com", {"configurationRecorderName": "d"}),
        ("DeleteDeliveryChannel", "config.amazonaws.com", {"deliveryChannelName": "default"}),
        ("DisableSecurityHub", "securityhub.amazonaws.com", {}),
    ],
)
def test_root_disabling_detective_controls_is_tamper_but_others_are_not(
    event_name: str, source: str, parameters: dict[str, Any]
) -> None:
    result = kept(raw_record(event_name, source, requestParameters=parameters))
    assert (result.severity, result.rules, result.is_root) == (
        Severity.CRITICAL,
        ("tamper",),
        True,
    )
    assert result.summary.startswith("Root ")
    dropped(raw_record(event_name, source, ROLE, requestParameters=parameters))


def test_root_enabling_guardduty_or_deleting_another_services_detector_is_a_write() -> None:
    enable = raw_record(
        "UpdateDetector", "guardduty.amazonaws.com", requestParameters={"enable": True}
    )
    assert kept(enable).rules == ("write",)
    fraud = raw_record("DeleteDetector", "frauddetector.amazonaws.com")
    assert kept(fraud).rules == ("write",)


# --- generic rules --------------------------------------------------------------------------


def test_root_write_is_high_and_read_is_low() -> None:
    write = kept(raw_record("PutBucketPolicy", "s3.amazonaws.com"))
    assert (write.severity, write.rules) == (Severity.HIGH, ("write",))
    assert write.summary == "Root write call s3:PutBucketPolicy"
    read = kept(raw_record("ListBuckets", "s3.amazonaws.com", readOnly=True))
    assert (read.severity, read.rules) == (Severity.LOW, ("read",))


def test_invoked_by_lowers_the_generic_rules_one_step() -> None:
    identity = {**ROOT, "invokedBy": "cloudformation.amazonaws.com"}
    write = kept(raw_record("CreateBucket", "s3.amazonaws.com", identity))
    assert (write.severity, write.rules) == (Severity.MEDIUM, ("write",))
    assert write.invoked_by == "cloudformation.amazonaws.com"
    read = kept(raw_record("GetBucketAcl", "s3.amazonaws.com", identity, readOnly=True))
    assert (read.severity, read.rules) == (Severity.INFO, ("read",))


def test_a_record_that_does_not_say_read_only_counts_as_a_write() -> None:
    raw = raw_record("CheckMfa", "signin.amazonaws.com")
    del raw["readOnly"]
    assert kept(raw).rules == ("write",)


def test_root_federation_token_sessions_are_root_activity() -> None:
    federated: dict[str, Any] = {
        "type": "FederatedUser",
        "principalId": f"{ACCOUNT}:partner",
        "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/partner",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root"},
            "attributes": {"mfaAuthenticated": "true"},
        },
    }
    result = kept(raw_record("RunInstances", "ec2.amazonaws.com", federated))
    assert (result.severity, result.rules, result.is_root, result.mfa) == (
        Severity.HIGH,
        ("write",),
        True,
        True,
    )
    by_a_role = copy.deepcopy(federated)
    by_a_role["sessionContext"]["sessionIssuer"] = {"type": "IAMUser", "arn": "x"}
    dropped(raw_record("RunInstances", "ec2.amazonaws.com", by_a_role))


# --- service events and AssumeRoot ----------------------------------------------------------


def test_service_events_for_root_are_info() -> None:
    raw = raw_record("CredentialVerification", "signin.amazonaws.com", eventType="AwsServiceEvent")
    del raw["readOnly"]
    result = kept(raw)
    assert (result.severity, result.rules) == (Severity.INFO, ("service-event",))


def test_a_service_event_that_is_tamper_stays_critical() -> None:
    raw = raw_record("DisableSecurityHub", "securityhub.amazonaws.com", eventType="AwsServiceEvent")
    result = kept(raw)
    assert result.severity is Severity.CRITICAL
    assert set(result.rules) == {"service-event", "tamper"}


def test_the_assume_root_call_is_low_and_attributed_to_its_caller() -> None:
    raw = raw_record(
        "AssumeRoot",
        "sts.amazonaws.com",
        ROLE,
        requestParameters={
            "targetPrincipal": OTHER_ACCOUNT,
            "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"},
        },
    )
    record = record_of(raw)
    assert is_root_activity(record)
    result = kept(raw)
    assert (result.severity, result.rules, result.assumed_root) == (
        Severity.LOW,
        ("assumed-root",),
        True,
    )
    assert result.mfa is False
    assert record.principal_arn == ROLE["arn"]


def test_actions_in_an_assume_root_session_are_low() -> None:
    raw = raw_record("DeleteBucketPolicy", "s3.amazonaws.com", ASSUMED_ROOT_SESSION)
    result = kept(raw)
    assert (result.severity, result.rules, result.assumed_root) == (
        Severity.LOW,
        ("assumed-root",),
        True,
    )


def test_specific_rules_in_an_assume_root_session_are_listed_but_low() -> None:
    result = kept(raw_record("DeactivateMFADevice", "iam.amazonaws.com", ASSUMED_ROOT_SESSION))
    assert result.severity is Severity.LOW
    assert set(result.rules) == {"assumed-root", "mfa-removed"}


def test_an_assume_root_session_creating_a_root_password_is_high() -> None:
    result = kept(raw_record("CreateLoginProfile", "iam.amazonaws.com", ASSUMED_ROOT_SESSION))
    assert result.severity is Severity.HIGH
    assert set(result.rules) == {"assumed-root", "credential-change"}


def test_tamper_in_an_assume_root_session_is_critical() -> None:
    raw = raw_record("StopLogging", "cloudtrail.amazonaws.com", ASSUMED_ROOT_SESSION)
    result = kept(raw)
    assert result.severity is Severity.CRITICAL
    assert set(result.rules) == {"assumed-root", "tamper"}


# --- planned windows --------------------------------------------------------------------------


def window(
    account: str = ACCOUNT, *, starts: datetime = WHEN - timedelta(hours=1)
) -> PlannedWindow:
    return PlannedWindow(
        window_id="w1",
        account_id=account,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        created_by="alice@example.com",
        reason="close the old payer account's S3 bucket",
    )


def test_a_planned_window_lowers_high_and_medium_to_low_and_says_whose() -> None:
    write = kept(raw_record("PutBucketPolicy", "s3.amazonaws.com"), window())
    assert (write.severity, write.rules) == (Severity.LOW, ("write", "planned"))
    assert write.planned_by == "alice@example.com"
    assert write.planned_reason == "close the old payer account's S3 bucket"
    failed = kept(console_login(result="Failure", mfa="No"), window())
    assert (failed.severity, failed.rules) == (Severity.LOW, ("login-failed", "planned"))


def test_a_planned_window_never_lowers_critical_but_is_still_named() -> None:
    result = kept(console_login(mfa="No"), window())
    assert (result.severity, result.rules) == (Severity.CRITICAL, ("login-no-mfa",))
    assert result.planned_by == "alice@example.com"


def test_low_stays_low_without_a_planned_rule() -> None:
    result = kept(raw_record("ListBuckets", "s3.amazonaws.com", readOnly=True), window())
    assert (result.severity, result.rules) == (Severity.LOW, ("read",))


def test_a_window_of_another_account_or_time_changes_nothing() -> None:
    raw = raw_record("PutBucketPolicy", "s3.amazonaws.com")
    for other in (window(OTHER_ACCOUNT), window(starts=WHEN + timedelta(minutes=1))):
        result = kept(raw, other)
        assert (result.severity, result.planned_by) == (Severity.HIGH, None)


# --- what is not root -------------------------------------------------------------------------


def test_the_traps_are_not_root() -> None:
    iam_user_named_root = {
        **IAM_USER,
        "userName": "root",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/root",
    }
    dropped(console_login(iam_user_named_root, mfa="No"))
    role_session_named_root = copy.deepcopy(ROLE)
    role_session_named_root["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/root"
    role_session_named_root["principalId"] = "AROAEXAMPLE:root"
    dropped(raw_record("CreateAccessKey", "iam.amazonaws.com", role_session_named_root))
    other_account = {
        "type": "AWSAccount",
        "principalId": "AIDAEXAMPLE",
        "accountId": OTHER_ACCOUNT,
        "arn": f"arn:aws:iam::{OTHER_ACCOUNT}:root",
    }
    dropped(raw_record("GetObject", "s3.amazonaws.com", other_account, readOnly=True))
    service = {"type": "AWSService", "invokedBy": "config.amazonaws.com"}
    dropped(raw_record("DescribeInstances", "ec2.amazonaws.com", service, readOnly=True))
    dropped(raw_record("ListBuckets", "s3.amazonaws.com", None, readOnly=True))


def test_the_mfa_tag_comes_from_the_session_outside_console_logins() -> None:
    identity = copy.deepcopy(ROOT)
    identity["sessionContext"] = {"attributes": {"mfaAuthenticated": "true"}}
    assert kept(raw_record("ListUsers", "iam.amazonaws.com", identity, readOnly=True)).mfa is True
    assert kept(raw_record("ListUsers", "iam.amazonaws.com", readOnly=True)).mfa is None


@pytest.mark.parametrize(
    "raw",
    [
        {"eventName": ["ConsoleLogin"]},
        {"eventName": {"name": "x"}},
        {"eventName": "ListBuckets", "userIdentity": {"type": ["Root"]}},
        {"eventName": "ListBuckets", "userIdentity": {"type": {"Root": 1}}},
    ],
)
def test_the_pre_check_passes_malformed_names_on_to_the_parse_that_reports_them(
    raw: dict[str, object],
) -> None:
    assert might_be_kept(raw)
