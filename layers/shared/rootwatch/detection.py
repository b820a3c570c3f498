"""What rootwatch keeps and how severe it is: design §2 (root activity, tamper) and §3 (severity).

Pure functions over `CloudTrailRecord`s. `root_activity_pattern()` and `tamper_pattern()` are
the same conditions written as the `detail` of an EventBridge event pattern, so the spoke
rules can be compared with (and built from) exactly what `is_root_activity` and `is_tamper`
accept. `might_be_kept` is a cheap test on a raw record dict that is False only for records
`classify` would drop, so a reader can skip building those.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from msgspec import Struct

from rootwatch.model import Classification, CloudTrailRecord, Outcome, PlannedWindow, Severity
from rootwatch.naming import (
    DELIVERY_ROLE_PREFIX,
    RULE_NAME_PREFIX,
    SPOKE_STACK_PREFIX,
    SPOKE_STACK_SET_PREFIX,
    STACK_SET_SPOKE_STACK_PREFIX,
)

# Rule ids, in the order of design §3's table, then the steps around it.
LOGIN_NO_MFA: Final = "login-no-mfa"
ROOT_ACCESS_KEY: Final = "root-access-key"
MFA_REMOVED: Final = "mfa-removed"
CREDENTIAL_CHANGE: Final = "credential-change"
TAMPER: Final = "tamper"
ACCOUNT_CLOSED: Final = "account-closed"
ACCOUNT_CHANGE: Final = "account-change"
LOGIN: Final = "login"
RECOVERY_REQUESTED: Final = "recovery-requested"
LOGIN_FAILED: Final = "login-failed"
WRITE: Final = "write"
READ: Final = "read"
SERVICE_EVENT: Final = "service-event"
ASSUMED_ROOT: Final = "assumed-root"
PLANNED: Final = "planned"

RULES: Final = (
    LOGIN_NO_MFA,
    ROOT_ACCESS_KEY,
    MFA_REMOVED,
    CREDENTIAL_CHANGE,
    TAMPER,
    ACCOUNT_CLOSED,
    ACCOUNT_CHANGE,
    LOGIN,
    RECOVERY_REQUESTED,
    LOGIN_FAILED,
    WRITE,
    READ,
    SERVICE_EVENT,
    ASSUMED_ROOT,
    PLANNED,
)

# --- root activity (design §2) --------------------------------------------------------------

ROOT_IDENTITY_TYPE: Final = "Root"
FEDERATED_IDENTITY_TYPE: Final = "FederatedUser"
SIGNIN_SOURCE: Final = "signin.amazonaws.com"
ROOT_SIGNIN_EVENTS: Final = frozenset({"PasswordRecoveryRequested", "PasswordRecoveryCompleted"})
ASSUME_ROOT_EVENT: Final = "AssumeRoot"


def is_root_activity(record: CloudTrailRecord) -> bool:
    """Root used the account: design §2, and exactly `root_activity_pattern()`."""
    return (
        record.user_identity_type == ROOT_IDENTITY_TYPE
        or (
            record.user_identity_type == FEDERATED_IDENTITY_TYPE
            and record.session_issuer_type == ROOT_IDENTITY_TYPE
        )
        or (record.event_source == SIGNIN_SOURCE and record.event_name in ROOT_SIGNIN_EVENTS)
        or record.event_name == ASSUME_ROOT_EVENT
    )


def root_activity_pattern() -> dict[str, Any]:
    """The `detail` of an EventBridge pattern matching what `is_root_activity` accepts."""
    return {
        "$or": [
            {"userIdentity": {"type": [ROOT_IDENTITY_TYPE]}},
            {
                "userIdentity": {
                    "type": [FEDERATED_IDENTITY_TYPE],
                    "sessionContext": {"sessionIssuer": {"type": [ROOT_IDENTITY_TYPE]}},
                }
            },
            {"eventSource": [SIGNIN_SOURCE], "eventName": sorted(ROOT_SIGNIN_EVENTS)},
            {"eventName": [ASSUME_ROOT_EVENT]},
        ]
    }


# --- tamper (design §2 and §3) --------------------------------------------------------------

CLOUDTRAIL_SOURCE: Final = "cloudtrail.amazonaws.com"
EVENTBRIDGE_SOURCE: Final = "events.amazonaws.com"
IAM_SOURCE: Final = "iam.amazonaws.com"
CLOUDFORMATION_SOURCE: Final = "cloudformation.amazonaws.com"
ORGANIZATIONS_SOURCE: Final = "organizations.amazonaws.com"
GUARDDUTY_SOURCE: Final = "guardduty.amazonaws.com"
CONFIG_SOURCE: Final = "config.amazonaws.com"
SECURITYHUB_SOURCE: Final = "securityhub.amazonaws.com"

# Tamper by anyone, with what each says in a message.
TRAIL_TAMPER_EVENTS: Final[Mapping[str, str]] = {
    "StopLogging": "stopped CloudTrail logging",
    "DeleteTrail": "deleted a CloudTrail trail",
    "UpdateTrail": "changed a CloudTrail trail",
    "PutEventSelectors": "changed CloudTrail event selectors",
}
# EventBridge names the rule `name` in these requests...
RULE_TAMPER_EVENTS: Final[Mapping[str, str]] = {
    "DisableRule": "disabled a rootwatch rule",
    "DeleteRule": "deleted a rootwatch rule",
    "PutRule": "changed a rootwatch rule",
}
# ...and `rule` in these. PutTargets can point a rule's events somewhere else.
TARGET_TAMPER_EVENTS: Final[Mapping[str, str]] = {
    "RemoveTargets": "removed the targets of a rootwatch rule",
    "PutTargets": "changed the targets of a rootwatch rule",
}
ROLE_TAMPER_EVENTS: Final = frozenset(
    {
        "DeleteRole",
        "UpdateRole",
        "UpdateRoleDescription",
        "UpdateAssumeRolePolicy",
        "PutRolePolicy",
        "DeleteRolePolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePermissionsBoundary",
        "DeleteRolePermissionsBoundary",
        "TagRole",
        "UntagRole",
    }
)
# CloudFormation names the stack `stackName` in these requests (a name or a stack ARN). An
# ExecuteChangeSet that names only the change set's ARN does not say which stack it changes;
# the CreateChangeSet before it does.
STACK_TAMPER_EVENTS: Final[Mapping[str, str]] = {
    "UpdateStack": "updated the rootwatch spoke stack",
    "DeleteStack": "deleted the rootwatch spoke stack",
    "CreateChangeSet": "created a change set on the rootwatch spoke stack",
    "ExecuteChangeSet": "executed a change set on the rootwatch spoke stack",
    "SetStackPolicy": "changed the stack policy of the rootwatch spoke stack",
    "UpdateTerminationProtection": "changed the termination protection of the rootwatch spoke "
    "stack",
    "RollbackStack": "rolled back the rootwatch spoke stack",
    "ContinueUpdateRollback": "continued a rollback of the rootwatch spoke stack",
}
# ...and the stack set `stackSetName` in these (its name, or its ID `<name>:<uuid>`). They are
# recorded in the stack set's administrator account.
STACK_SET_TAMPER_EVENTS: Final[Mapping[str, str]] = {
    "DeleteStackInstances": "removed spokes from the rootwatch stack set",
    "DeleteStackSet": "deleted the rootwatch stack set",
    "UpdateStackSet": "changed the rootwatch stack set",
    "UpdateStackInstances": "changed spokes of the rootwatch stack set",
}
ORGANIZATION_TAMPER_EVENTS: Final[Mapping[str, str]] = {
    "LeaveOrganization": "took the account out of its organization",
}
# Tamper only when root does it: root switching off the account's other detective controls.
ROOT_TAMPER_EVENTS: Final[Mapping[tuple[str, str], str]] = {
    (GUARDDUTY_SOURCE, "DeleteDetector"): "deleted the GuardDuty detector",
    (GUARDDUTY_SOURCE, "UpdateDetector"): "disabled GuardDuty",
    (CONFIG_SOURCE, "StopConfigurationRecorder"): "stopped AWS Config recording",
    (CONFIG_SOURCE, "DeleteConfigurationRecorder"): "deleted the AWS Config recorder",
    (CONFIG_SOURCE, "DeleteDeliveryChannel"): "deleted the AWS Config delivery channel",
    (SECURITYHUB_SOURCE, "DisableSecurityHub"): "disabled Security Hub",
}

# IAM role names are case-insensitive; rule, stack and stack set names are not. A spoke stack
# is deployed by name or by a StackSet, and may be named by its ARN, which the pattern
# matches with the wildcards below.
_SPOKE_STACK_PREFIXES: Final = (SPOKE_STACK_PREFIX, STACK_SET_SPOKE_STACK_PREFIX)
_STACK_ARN_WILDCARDS: Final = tuple(
    f"arn:*:cloudformation:*:stack/{prefix}*" for prefix in _SPOKE_STACK_PREFIXES
)
_STACK_ARN = re.compile(
    "arn:.*:cloudformation:.*:stack/(?:"
    + "|".join(re.escape(prefix) for prefix in _SPOKE_STACK_PREFIXES)
    + ")",
    re.DOTALL,
)


def tamper_pattern() -> dict[str, Any]:
    """The `detail` of an EventBridge pattern matching the tamper events anyone can make.

    Root's own tamper (GuardDuty, Config, Security Hub) needs no pattern of its own: the
    root-activity rule already forwards everything root does.
    """
    return {
        "$or": [
            {"eventSource": [CLOUDTRAIL_SOURCE], "eventName": sorted(TRAIL_TAMPER_EVENTS)},
            {
                "eventSource": [EVENTBRIDGE_SOURCE],
                "eventName": sorted(RULE_TAMPER_EVENTS),
                "requestParameters": {"name": [{"prefix": RULE_NAME_PREFIX}]},
            },
            {
                "eventSource": [EVENTBRIDGE_SOURCE],
                "eventName": sorted(TARGET_TAMPER_EVENTS),
                "requestParameters": {"rule": [{"prefix": RULE_NAME_PREFIX}]},
            },
            {
                "eventSource": [IAM_SOURCE],
                "eventName": sorted(ROLE_TAMPER_EVENTS),
                "requestParameters": {
                    "roleName": [{"prefix": {"equals-ignore-case": DELIVERY_ROLE_PREFIX}}]
                },
            },
            {
                "eventSource": [CLOUDFORMATION_SOURCE],
                "eventName": sorted(STACK_TAMPER_EVENTS),
                "requestParameters": {
                    "stackName": [
                        *({"prefix": prefix} for prefix in _SPOKE_STACK_PREFIXES),
                        *({"wildcard": wildcard} for wildcard in _STACK_ARN_WILDCARDS),
                    ]
                },
            },
            {
                "eventSource": [CLOUDFORMATION_SOURCE],
                "eventName": sorted(STACK_SET_TAMPER_EVENTS),
                "requestParameters": {"stackSetName": [{"prefix": SPOKE_STACK_SET_PREFIX}]},
            },
            {
                "eventSource": [ORGANIZATIONS_SOURCE],
                "eventName": sorted(ORGANIZATION_TAMPER_EVENTS),
            },
        ]
    }


def is_tamper(record: CloudTrailRecord) -> bool:
    """An attempt to blind rootwatch or the account's audit trail (design §2 and §3)."""
    return _tamper_action(record, is_root_activity(record)) is not None


def _tamper_action(record: CloudTrailRecord, root: bool) -> str | None:
    """What the tamper event did, in words; None when it is not tamper."""
    source, name, parameters = record.event_source, record.event_name, record.request_parameters
    if source == CLOUDTRAIL_SOURCE:
        return TRAIL_TAMPER_EVENTS.get(name)
    if source == EVENTBRIDGE_SOURCE:
        if name in RULE_TAMPER_EVENTS and _starts_with(parameters.get("name"), RULE_NAME_PREFIX):
            return RULE_TAMPER_EVENTS[name]
        if name in TARGET_TAMPER_EVENTS and _starts_with(parameters.get("rule"), RULE_NAME_PREFIX):
            return TARGET_TAMPER_EVENTS[name]
        return None
    if source == IAM_SOURCE:
        role = parameters.get("roleName")
        if (
            name in ROLE_TAMPER_EVENTS
            and isinstance(role, str)
            and role.lower().startswith(DELIVERY_ROLE_PREFIX.lower())
        ):
            return f"changed the rootwatch delivery role ({name})"
        return None
    if source == CLOUDFORMATION_SOURCE:
        if name in STACK_TAMPER_EVENTS and _is_spoke_stack(parameters.get("stackName")):
            return STACK_TAMPER_EVENTS[name]
        if name in STACK_SET_TAMPER_EVENTS and _starts_with(
            parameters.get("stackSetName"), SPOKE_STACK_SET_PREFIX
        ):
            return STACK_SET_TAMPER_EVENTS[name]
        return None
    if source == ORGANIZATIONS_SOURCE:
        return ORGANIZATION_TAMPER_EVENTS.get(name)
    if not root:
        return None
    action = ROOT_TAMPER_EVENTS.get((source, name))
    if action and name == "UpdateDetector" and not _is_false(parameters.get("enable")):
        return None
    return action


def _is_false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _starts_with(value: object, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix)


def _is_spoke_stack(value: object) -> bool:
    return isinstance(value, str) and (
        value.startswith(_SPOKE_STACK_PREFIXES) or _STACK_ARN.match(value) is not None
    )


# --- the cheap pre-check ---------------------------------------------------------------------

_CANDIDATE_IDENTITY_TYPES: Final = frozenset({ROOT_IDENTITY_TYPE, FEDERATED_IDENTITY_TYPE})
_CANDIDATE_EVENT_NAMES: Final = frozenset(
    {ASSUME_ROOT_EVENT}
    | ROOT_SIGNIN_EVENTS
    | TRAIL_TAMPER_EVENTS.keys()
    | RULE_TAMPER_EVENTS.keys()
    | TARGET_TAMPER_EVENTS.keys()
    | ROLE_TAMPER_EVENTS
    | STACK_TAMPER_EVENTS.keys()
    | STACK_SET_TAMPER_EVENTS.keys()
    | ORGANIZATION_TAMPER_EVENTS.keys()
)


def might_be_kept(raw: Mapping[str, Any]) -> bool:
    """False only for a raw CloudTrail record dict that `classify` would drop.

    Root's own tamper needs no name here: every root record passes on its identity type.
    """
    identity = raw.get("userIdentity")
    if isinstance(identity, dict):
        identity_type = identity.get("type")
        if not isinstance(identity_type, str | None):
            return True  # malformed: the full parse reports it
        if identity_type in _CANDIDATE_IDENTITY_TYPES:
            return True
    event_name = raw.get("eventName")
    if not isinstance(event_name, str | None):
        return True
    return event_name in _CANDIDATE_EVENT_NAMES


# --- severity (design §3) ---------------------------------------------------------------------

CONSOLE_LOGIN: Final = "ConsoleLogin"
SERVICE_EVENT_TYPE: Final = "AwsServiceEvent"

CREDENTIAL_CHANGE_EVENTS: Final[Mapping[str, str]] = {
    "PasswordUpdated": "Root changed the root password",
    "PasswordRecoveryCompleted": "Root password reset through password recovery",
    "CreateLoginProfile": "Root created the root password",
    "UpdateLoginProfile": "Root changed the root password",
}
# The login profile calls name a user when the password is an IAM user's, not root's.
_USER_PASSWORD_CHANGES: Final[Mapping[str, str]] = {
    "CreateLoginProfile": "Root created an IAM user's console password",
    "UpdateLoginProfile": "Root changed an IAM user's console password",
}
MFA_REMOVAL_EVENTS: Final = frozenset({"DeactivateMFADevice", "DeleteVirtualMFADevice"})
ACCOUNT_CLOSE_EVENT: Final = "CloseAccount"
# Contact, name, email, billing access and payment settings: the Account Management API
# (account.amazonaws.com) and the billing console (billingconsole / payments).
ACCOUNT_CHANGE_EVENTS: Final[Mapping[str, str]] = {
    "PutContactInformation": "Root changed the account's contact information",
    "SetContactAddress": "Root changed the account's contact information",
    "PutAlternateContact": "Root changed an alternate contact",
    "DeleteAlternateContact": "Root removed an alternate contact",
    "SetAdditionalContacts": "Root changed the alternate contacts",
    "PutAccountName": "Root changed the account name",
    "StartPrimaryEmailUpdate": "Root started changing the root email address",
    "AcceptPrimaryEmailUpdate": "Root changed the root email address",
    "SetAccountPreferences": "Root changed the account name, email or password",
    "SetIAMAccessPreference": "Root changed IAM access to billing",
    "SetPayInformation": "Root changed the payment method",
    "SetFxPaymentCurrency": "Root changed the payment currency",
    "SetBillingAddress": "Root changed the billing address",
    "UpdatePaymentMethod": "Root changed a payment method",
    "DeletePaymentMethod": "Root removed a payment method",
    "SetDefaultPaymentMethod": "Root changed the default payment method",
    "Instruments_Create": "Root added a payment method",
    "Instruments_Update": "Root changed a payment method",
    "Instruments_Delete": "Root removed a payment method",
    "Preferences_CreatePaymentProfile": "Root created a payment profile",
    "Preferences_UpdatePaymentProfile": "Root changed a payment profile",
    "Preferences_DeletePaymentProfile": "Root removed a payment profile",
}

# Who made a tamper event that is not root's, as a message names them.
_ACTORS: Final[Mapping[str, str]] = {
    "IAMUser": "An IAM user",
    "AssumedRole": "An assumed role",
    "FederatedUser": "A federated user",
    "AWSService": "An AWS service",
    "AWSAccount": "Another AWS account",
    "IdentityCenterUser": "An Identity Center user",
}


class _Match(Struct, frozen=True):
    rule: str
    severity: Severity
    summary: str


def classify(
    record: CloudTrailRecord, planned: PlannedWindow | None = None
) -> Classification | None:
    """Severity, matched rules, summary and tags of a record; None when rootwatch drops it.

    `planned` is the account's planned window, if any; it applies when it covers the
    record's time and account.
    """
    root = is_root_activity(record)
    tamper_action = _tamper_action(record, root)
    if not root and tamper_action is None:
        return None

    outcome = _outcome(record)
    service_event = root and record.event_type == SERVICE_EVENT_TYPE
    assumed_root = root and (record.assumed_root or record.event_name == ASSUME_ROOT_EVENT)
    specific = _specific_matches(record, root, outcome, tamper_action)
    tamper = next((match for match in specific if match.rule == TAMPER), None)

    rules: list[str] = []
    if service_event:
        rules.append(SERVICE_EVENT)
    if assumed_root:
        rules.append(ASSUMED_ROOT)
    rules.extend(match.rule for match in specific)

    decided: _Match
    if service_event:
        decided = tamper or _Match(SERVICE_EVENT, Severity.INFO, _service_event_summary(record))
    elif assumed_root:
        credential = next((m for m in specific if m.rule == CREDENTIAL_CHANGE), None)
        decided = (
            tamper
            or (credential and _Match(CREDENTIAL_CHANGE, Severity.HIGH, credential.summary))
            or _Match(ASSUMED_ROOT, Severity.LOW, _assumed_root_summary(record, outcome))
        )
    elif specific:
        decided = max(specific, key=lambda match: match.severity)
    else:
        decided = _generic_match(record, outcome)
        rules.append(decided.rule)

    severity = decided.severity
    planned_by = planned_reason = None
    if (
        planned is not None
        and planned.account_id == record.account_id
        and planned.covers(record.event_time)
    ):
        planned_by, planned_reason = planned.created_by, planned.reason
        if severity in (Severity.HIGH, Severity.MEDIUM):
            severity = Severity.LOW
            rules.append(PLANNED)

    return Classification(
        severity=severity,
        rules=tuple(rules),
        summary=decided.summary,
        is_root=root,
        tamper=tamper is not None,
        outcome=outcome,
        mfa=_mfa(record),
        assumed_root=assumed_root,
        invoked_by=record.invoked_by,
        planned_by=planned_by,
        planned_reason=planned_reason,
    )


def _specific_matches(
    record: CloudTrailRecord, root: bool, outcome: Outcome, tamper_action: str | None
) -> list[_Match]:
    """The rules of design §3's table that match, in the table's order."""
    matches: list[_Match] = []
    name = record.event_name
    failed = _failure_note(record) if outcome == "failure" else ""
    console_login = root and name == CONSOLE_LOGIN and record.event_source == SIGNIN_SOURCE

    if console_login and outcome == "success" and not _mfa_used(record):
        matches.append(_Match(LOGIN_NO_MFA, Severity.CRITICAL, "Root console login without MFA"))
    if (
        root
        and record.event_source == IAM_SOURCE
        and name == "CreateAccessKey"
        and not record.request_parameters.get("userName")
    ):
        summary = "Root created an access key" + failed
        matches.append(_Match(ROOT_ACCESS_KEY, Severity.CRITICAL, summary))
    if root and record.event_source == IAM_SOURCE and name in MFA_REMOVAL_EVENTS:
        matches.append(
            _Match(MFA_REMOVED, Severity.CRITICAL, "Root removed an MFA device" + failed)
        )
    if root and name in CREDENTIAL_CHANGE_EVENTS:
        words = CREDENTIAL_CHANGE_EVENTS[name]
        if name in _USER_PASSWORD_CHANGES and record.request_parameters.get("userName"):
            words = _USER_PASSWORD_CHANGES[name]
        summary = words + failed
        matches.append(_Match(CREDENTIAL_CHANGE, Severity.CRITICAL, summary))
    if tamper_action is not None:
        actor = _ACTORS.get(record.user_identity_type or "", "A principal") if not root else "Root"
        summary = f"{actor} {tamper_action}{failed}"
        matches.append(_Match(TAMPER, Severity.CRITICAL, summary))
    if root and name == ACCOUNT_CLOSE_EVENT:
        matches.append(
            _Match(ACCOUNT_CLOSED, Severity.CRITICAL, "Root closed the account" + failed)
        )
    if root and name in ACCOUNT_CHANGE_EVENTS:
        summary = ACCOUNT_CHANGE_EVENTS[name] + failed
        matches.append(_Match(ACCOUNT_CHANGE, Severity.HIGH, summary))
    if console_login and outcome == "success" and _mfa_used(record):
        matches.append(_Match(LOGIN, Severity.HIGH, "Root console login with MFA"))
    if root and name == "PasswordRecoveryRequested" and record.event_source == SIGNIN_SOURCE:
        summary = "Root password recovery requested" + failed
        matches.append(_Match(RECOVERY_REQUESTED, Severity.HIGH, summary))
    if console_login and outcome == "failure":
        matches.append(_Match(LOGIN_FAILED, Severity.MEDIUM, "Root console login failed"))
    return matches


def _generic_match(record: CloudTrailRecord, outcome: Outcome) -> _Match:
    """`write` or `read` (design §3 step 4). A record that does not say it is read-only
    counts as a write: nothing shows it changed nothing."""
    call = f"{_service(record.event_source)}:{record.event_name}"
    failed = _failure_note(record) if outcome == "failure" else ""
    if record.read_only is True:
        rule, severity, words = READ, Severity.LOW, f"Root read call {call}"
    else:
        rule, severity, words = WRITE, Severity.HIGH, f"Root write call {call}"
    if record.invoked_by:
        severity = severity.lowered()
        words += " through an AWS service"
    return _Match(rule, severity, words + failed)


def _assumed_root_summary(record: CloudTrailRecord, outcome: Outcome) -> str:
    failed = _failure_note(record) if outcome == "failure" else ""
    if record.event_name == ASSUME_ROOT_EVENT:
        return "Privileged root session requested (AssumeRoot)" + failed
    call = f"{_service(record.event_source)}:{record.event_name}"
    return f"Root call {call} in an AssumeRoot session{failed}"


def _service_event_summary(record: CloudTrailRecord) -> str:
    return f"AWS service event for root: {_service(record.event_source)}:{record.event_name}"


def _service(event_source: str) -> str:
    return event_source.removesuffix(".amazonaws.com")


def _failure_note(record: CloudTrailRecord) -> str:
    return f" (failed: {record.error_code})" if record.error_code else " (failed)"


# --- tags ---------------------------------------------------------------------------------------


def _outcome(record: CloudTrailRecord) -> Outcome:
    if record.error_code:
        return "failure"
    if record.event_name == CONSOLE_LOGIN and record.response_elements.get("ConsoleLogin") == (
        "Failure"
    ):
        return "failure"
    return "success"


def _mfa_used(record: CloudTrailRecord) -> bool:
    used = record.additional_event_data.get("MFAUsed")
    return isinstance(used, str) and used.strip().lower() == "yes"


def _mfa(record: CloudTrailRecord) -> bool | None:
    if record.event_name == CONSOLE_LOGIN and isinstance(
        record.additional_event_data.get("MFAUsed"), str
    ):
        return _mfa_used(record)
    return record.mfa_authenticated
