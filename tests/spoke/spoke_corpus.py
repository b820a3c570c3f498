"""A generated corpus of CloudTrail records for checking the spoke patterns against detection.

Deterministic for a seed. It walks every identity type CloudTrail writes (and look-alikes
that are not root), the root-only sign-in flows and their look-alikes, AssumeRoot and its
look-alikes, every tamper event of `rootwatch.detection` on rootwatch's names and on
near-miss names, root switching off other detective controls, and random calls in between.
Each record goes to EventBridge as CloudTrail sends it: source `aws.<service>` and the
detail type CloudTrail uses.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rootwatch import detection, naming

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "999999999999"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1")
_START = datetime(2026, 11, 1, tzinfo=UTC)

Identity = dict[str, Any] | None


# --- identities --------------------------------------------------------------------------


def root(*, assumed_root: bool = False, invoked_by: str | None = None) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEROOTKEY01",
    }
    if assumed_root:
        identity["sessionContext"] = {
            "attributes": {"creationDate": "2026-11-01T10:00:00Z", "mfaAuthenticated": "false"},
            "assumedRoot": "true",
        }
    if invoked_by:
        identity["invokedBy"] = invoked_by
    return identity


def iam_user(name: str) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEUSER00001",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "userName": name,
    }


def assumed_role(role: str, session: str, issuer_type: str = "Role") -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEROLE00001:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": issuer_type,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-11-01T10:00:00Z", "mfaAuthenticated": "true"},
        },
    }


def federated(issuer_type: str) -> dict[str, Any]:
    issuer_arn = (
        f"arn:aws:iam::{ACCOUNT}:root"
        if issuer_type == "Root"
        else f"arn:aws:iam::{ACCOUNT}:user/federator"
    )
    return {
        "type": "FederatedUser",
        "principalId": f"{ACCOUNT}:partner-console",
        "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/partner-console",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": issuer_type,
                "principalId": ACCOUNT,
                "arn": issuer_arn,
                "accountId": ACCOUNT,
            },
            "attributes": {"creationDate": "2026-11-01T10:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def identities() -> list[tuple[str, Identity]]:
    """Every identity shape, named; the first few are root, the rest only look like it."""
    return [
        ("root", root()),
        ("root-assumed", root(assumed_root=True)),
        ("root-invoked-by", root(invoked_by="cloudformation.amazonaws.com")),
        ("federated-by-root", federated("Root")),
        ("federated-by-user", federated("IAMUser")),
        ("federated-by-lowercase-root", federated("root")),
        ("iam-user-named-root", iam_user("root")),
        ("iam-user", iam_user("alice")),
        ("role-session-named-root", assumed_role("Admin", "root")),
        ("role-issued-by-root-type", assumed_role("Admin", "ops", issuer_type="Root")),
        (
            "aws-account-root-arn",
            {
                "type": "AWSAccount",
                "principalId": "AIDAEXAMPLEOTHER0001",
                "accountId": OTHER_ACCOUNT,
                "arn": f"arn:aws:iam::{OTHER_ACCOUNT}:root",
            },
        ),
        ("aws-service", {"type": "AWSService", "invokedBy": "config.amazonaws.com"}),
        (
            "identity-center-user",
            {"type": "IdentityCenterUser", "accountId": ACCOUNT, "userId": "root"},
        ),
        ("saml-user", {"type": "SAMLUser", "principalId": "root", "userName": "root"}),
        ("web-identity", {"type": "WebIdentityUser", "userName": "root"}),
        ("unknown", {"type": "Unknown", "principalId": "root"}),
        ("lowercase-root", {"type": "root", "accountId": ACCOUNT}),
        ("uppercase-root", {"type": "ROOT", "accountId": ACCOUNT}),
        ("root-with-space", {"type": "Root ", "accountId": ACCOUNT}),
        ("empty-type", {"type": "", "accountId": ACCOUNT}),
        ("null-type", {"type": None, "accountId": ACCOUNT}),
        ("no-type", {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root"}),
        ("no-identity", None),
    ]


# --- records -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One record and the name of the case it exercises."""

    name: str
    record: dict[str, Any]


class _Factory:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._count = 0

    def record(
        self,
        *,
        identity: Identity,
        source: str,
        name: str,
        parameters: dict[str, Any] | None = None,
        read_only: bool | None = None,
        event_type: str = "AwsApiCall",
        additional: dict[str, Any] | None = None,
        error_code: str | None = None,
    ) -> dict[str, Any]:
        self._count += 1
        moment = _START + timedelta(seconds=37 * self._count)
        region = self._rng.choice(REGIONS)
        record: dict[str, Any] = {
            "eventVersion": "1.09",
            "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": f"203.0.113.{self._rng.randrange(1, 255)}",
            "userAgent": self._rng.choice(
                ("aws-cli/2.22.0", "Mozilla/5.0 (Windows NT 10.0)", "<!channel> *bold*")
            ),
            "requestParameters": parameters,
            "responseElements": None,
            "requestID": str(uuid.UUID(int=self._rng.getrandbits(128))),
            "eventID": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "eventType": event_type,
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        }
        if identity is not None:
            record["userIdentity"] = identity
        if read_only is not None:
            record["readOnly"] = read_only
        if additional is not None:
            record["additionalEventData"] = additional
        if error_code is not None:
            record["errorCode"] = error_code
            record["errorMessage"] = "denied"
        return record


# Names a tamper event may carry: rootwatch's own, case and prefix near-misses, others.
RULE_NAMES = (
    naming.ROOT_ACTIVITY_RULE,
    naming.TAMPER_RULE,
    naming.HEARTBEAT_RULE,
    f"{naming.RULE_NAME_PREFIX}extra",
    "Rootwatch-root-activity",
    "rootwatch",
    "xrootwatch-tamper",
    "team-rule",
)
ROLE_NAMES = (
    f"{naming.DELIVERY_ROLE_PREFIX}us-east-1",
    f"{naming.DELIVERY_ROLE_PREFIX}eu-west-1",
    f"{naming.DELIVERY_ROLE_PREFIX.upper()}AP-SOUTHEAST-2",
    "RootWatch-Delivery-sa-east-1",
    "rootwatch-deliver",
    "rootwatch-delivery",
    "team-role",
)
# A change set's ARN names the change set, not its stack.
CHANGE_SET_ARN = (
    f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:changeSet/{naming.SPOKE_STACK_PREFIX}/"
    "6f0c2d10-aaaa-bbbb-cccc-0123456789ab"
)
STACK_NAMES = (
    naming.SPOKE_STACK_PREFIX,
    f"{naming.SPOKE_STACK_PREFIX}-eu-west-1",
    f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{naming.SPOKE_STACK_PREFIX}/"
    "6f0c2d10-aaaa-bbbb-cccc-0123456789ab",
    f"arn:aws-cn:cloudformation:cn-north-1:{ACCOUNT}:stack/{naming.SPOKE_STACK_PREFIX}/"
    "6f0c2d10-aaaa-bbbb-cccc-0123456789ab",
    f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/team-stack/"
    "6f0c2d10-aaaa-bbbb-cccc-0123456789ab",
    f"{naming.STACK_SET_SPOKE_STACK_PREFIX}-0a1b2c3d-91d3-4f6e-8a5b-2c1d0e9f8a7b",
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/{naming.STACK_SET_SPOKE_STACK_PREFIX}"
    "-partners-0a1b2c3d/6f0c2d10-aaaa-bbbb-cccc-0123456789ab",
    "StackSet-team-baseline-0a1b2c3d",
    f"stackset-{naming.SPOKE_STACK_PREFIX}-0a1b2c3d",
    f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/StackSet-team/"
    f"{naming.STACK_SET_SPOKE_STACK_PREFIX}",
    CHANGE_SET_ARN,
    "Rootwatch-spoke",
    "team-rootwatch-spoke",
)
# Stack sets are named by name or by ID (`<name>:<uuid>`).
STACK_SET_NAMES = (
    naming.SPOKE_STACK_SET_PREFIX,
    f"{naming.SPOKE_STACK_SET_PREFIX}-partners",
    f"{naming.SPOKE_STACK_SET_PREFIX}:6f0c2d10-aaaa-bbbb-cccc-0123456789ab",
    naming.STACK_SET_SPOKE_STACK_PREFIX,
    "Rootwatch-spoke",
    "team-baseline",
)
OTHER_SOURCES = ("s3.amazonaws.com", "ec2.amazonaws.com", "logs.amazonaws.com")
RANDOM_NAMES = (
    "ListBuckets",
    "GetCallerIdentity",
    "DescribeInstances",
    "CreateUser",
    "PutBucketPolicy",
    "ConsoleLogin",
    "CheckMfa",
    "GetAccountSummary",
    "AssumeRole",
    "assumeroot",
    "StartLogging",
    "EnableRule",
    "PutTargets",
    "CreateRole",
    "GetRole",
    "CreateStack",
    "CreateChangeSet",
    "DescribeStacks",
    "CreateAccount",
)
SIGNIN = detection.SIGNIN_SOURCE


def _tamper_cases(make: _Factory, pick_identity: Callable[[], Identity]) -> Iterator[Case]:
    """Every tamper event of detection, on every kind of name, plus look-alike calls."""
    for event in sorted(detection.TRAIL_TAMPER_EVENTS):
        yield Case(
            f"trail-{event}",
            make.record(
                identity=pick_identity(),
                source=detection.CLOUDTRAIL_SOURCE,
                name=event,
                parameters={"name": "management-trail"},
            ),
        )
        yield Case(
            f"trail-{event}-other-source",
            make.record(identity=pick_identity(), source=OTHER_SOURCES[2], name=event),
        )
    for event in ("StartLogging", "CreateTrail", "GetTrailStatus"):
        yield Case(
            f"trail-{event}",
            make.record(identity=pick_identity(), source=detection.CLOUDTRAIL_SOURCE, name=event),
        )
    rule_events = [(event, "name") for event in sorted(detection.RULE_TAMPER_EVENTS)]
    rule_events += [(event, "rule") for event in sorted(detection.TARGET_TAMPER_EVENTS)]
    rule_events += [("EnableRule", "name"), ("DescribeRule", "name"), ("ListTargetsByRule", "rule")]
    for event, key in rule_events:
        other_key = "rule" if key == "name" else "name"
        for rule_name in RULE_NAMES:
            yield Case(
                f"rule-{event}-{rule_name}",
                make.record(
                    identity=pick_identity(),
                    source=detection.EVENTBRIDGE_SOURCE,
                    name=event,
                    parameters={key: rule_name, "eventBusName": "default"},
                ),
            )
        yield Case(
            f"rule-{event}-wrong-key",
            make.record(
                identity=pick_identity(),
                source=detection.EVENTBRIDGE_SOURCE,
                name=event,
                parameters={other_key: naming.ROOT_ACTIVITY_RULE},
            ),
        )
    for event in [*sorted(detection.ROLE_TAMPER_EVENTS), "CreateRole", "GetRole", "PassRole"]:
        for role_name in ROLE_NAMES:
            yield Case(
                f"role-{event}-{role_name}",
                make.record(
                    identity=pick_identity(),
                    source=detection.IAM_SOURCE,
                    name=event,
                    parameters={"roleName": role_name, "policyName": "put-events-on-hub-bus"},
                ),
            )
        yield Case(
            f"role-{event}-no-name",
            make.record(identity=pick_identity(), source=detection.IAM_SOURCE, name=event),
        )
    stack_events = [*sorted(detection.STACK_TAMPER_EVENTS), "CreateStack", "DescribeStacks"]
    for event in stack_events:
        for stack_name in STACK_NAMES:
            yield Case(
                f"stack-{event}-{stack_name}",
                make.record(
                    identity=pick_identity(),
                    source=detection.CLOUDFORMATION_SOURCE,
                    name=event,
                    parameters={"stackName": stack_name},
                ),
            )
        yield Case(
            f"stack-{event}-other-source",
            make.record(
                identity=pick_identity(),
                source=OTHER_SOURCES[0],
                name=event,
                parameters={"stackName": naming.SPOKE_STACK_PREFIX},
            ),
        )
    stack_set_events = [
        *sorted(detection.STACK_SET_TAMPER_EVENTS),
        "CreateStackInstances",
        "CreateStackSet",
        "DescribeStackSet",
    ]
    for event in stack_set_events:
        for stack_set_name in STACK_SET_NAMES:
            yield Case(
                f"stack-set-{event}-{stack_set_name}",
                make.record(
                    identity=pick_identity(),
                    source=detection.CLOUDFORMATION_SOURCE,
                    name=event,
                    parameters={
                        "stackSetName": stack_set_name,
                        "accounts": [OTHER_ACCOUNT],
                        "regions": list(REGIONS),
                    },
                ),
            )
        yield Case(
            f"stack-set-{event}-wrong-key",
            make.record(
                identity=pick_identity(),
                source=detection.CLOUDFORMATION_SOURCE,
                name=event,
                parameters={"stackName": naming.SPOKE_STACK_SET_PREFIX},
            ),
        )
    # An ExecuteChangeSet naming only the change set's ARN does not say which stack it is on.
    yield Case(
        "stack-ExecuteChangeSet-change-set-arn-only",
        make.record(
            identity=pick_identity(),
            source=detection.CLOUDFORMATION_SOURCE,
            name="ExecuteChangeSet",
            parameters={"changeSetName": CHANGE_SET_ARN},
        ),
    )
    for event in [*sorted(detection.ORGANIZATION_TAMPER_EVENTS), "CreateAccount"]:
        yield Case(
            f"organizations-{event}",
            make.record(
                identity=pick_identity(), source=detection.ORGANIZATIONS_SOURCE, name=event
            ),
        )
        yield Case(
            f"organizations-{event}-other-source",
            make.record(identity=pick_identity(), source=OTHER_SOURCES[1], name=event),
        )
    for (source, event), _ in sorted(detection.ROOT_TAMPER_EVENTS.items()):
        parameters = {"detectorId": "12abc34d567e8fa901bc2d34e56789f0", "enable": False}
        for identity_name, identity in (("root", root()), ("role", assumed_role("Ops", "s"))):
            yield Case(
                f"detective-{event}-{identity_name}",
                make.record(identity=identity, source=source, name=event, parameters=parameters),
            )


def _identity_cases(make: _Factory) -> Iterator[Case]:
    """Each identity making a read, a write, a console sign-in and a service event."""
    for identity_name, identity in identities():
        yield Case(
            f"identity-{identity_name}-read",
            make.record(
                identity=identity, source="s3.amazonaws.com", name="ListBuckets", read_only=True
            ),
        )
        yield Case(
            f"identity-{identity_name}-write",
            make.record(
                identity=identity,
                source="iam.amazonaws.com",
                name="CreateAccessKey",
                read_only=False,
            ),
        )
        yield Case(
            f"identity-{identity_name}-console-login",
            make.record(
                identity=identity,
                source=SIGNIN,
                name="ConsoleLogin",
                additional={"MFAUsed": "No"},
            ),
        )
        yield Case(
            f"identity-{identity_name}-service-event",
            make.record(
                identity=identity,
                source="signin.amazonaws.com",
                name="CredentialVerification",
                event_type="AwsServiceEvent",
            ),
        )


def _signin_and_assume_root_cases(make: _Factory) -> Iterator[Case]:
    nobody = {"type": "Unknown", "principalId": ACCOUNT}
    for event in sorted(detection.ROOT_SIGNIN_EVENTS):
        for source in (SIGNIN, "iam.amazonaws.com", "Signin.amazonaws.com"):
            yield Case(
                f"signin-{event}-{source}",
                make.record(identity=nobody, source=source, name=event),
            )
        yield Case(
            f"signin-{event.lower()}",
            make.record(identity=nobody, source=SIGNIN, name=event.lower()),
        )
    for event in ("AssumeRoot", "AssumeRole", "assumeroot", "AssumeRootSession"):
        yield Case(
            f"sts-{event}",
            make.record(
                identity=assumed_role("RootAccessAdmin", "operator"),
                source="sts.amazonaws.com",
                name=event,
                parameters={"targetPrincipal": OTHER_ACCOUNT},
            ),
        )
    yield Case(
        "sts-AssumeRoot-denied",
        make.record(
            identity=iam_user("alice"),
            source="sts.amazonaws.com",
            name="AssumeRoot",
            error_code="AccessDenied",
        ),
    )


def _random_cases(make: _Factory, rng: random.Random, count: int) -> Iterator[Case]:
    """Random calls: any identity, any source, names from every list above."""
    every_identity = identities()
    sources = (
        *OTHER_SOURCES,
        SIGNIN,
        "sts.amazonaws.com",
        detection.CLOUDTRAIL_SOURCE,
        detection.EVENTBRIDGE_SOURCE,
        detection.IAM_SOURCE,
        detection.CLOUDFORMATION_SOURCE,
        detection.ORGANIZATIONS_SOURCE,
        detection.GUARDDUTY_SOURCE,
    )
    names = (
        *RANDOM_NAMES,
        *detection.TRAIL_TAMPER_EVENTS,
        *detection.RULE_TAMPER_EVENTS,
        *detection.TARGET_TAMPER_EVENTS,
        *sorted(detection.ROLE_TAMPER_EVENTS),
        *sorted(detection.STACK_TAMPER_EVENTS),
        *detection.STACK_SET_TAMPER_EVENTS,
        *detection.ORGANIZATION_TAMPER_EVENTS,
        *sorted(detection.ROOT_SIGNIN_EVENTS),
        detection.ASSUME_ROOT_EVENT,
    )
    for index in range(count):
        identity_name, identity = rng.choice(every_identity)
        parameters = rng.choice(
            (
                None,
                {"name": rng.choice(RULE_NAMES)},
                {"rule": rng.choice(RULE_NAMES)},
                {"roleName": rng.choice(ROLE_NAMES)},
                {"stackName": rng.choice(STACK_NAMES)},
                {"stackSetName": rng.choice(STACK_SET_NAMES)},
                {"bucketName": "root"},
            )
        )
        yield Case(
            f"random-{index}-{identity_name}",
            make.record(
                identity=identity,
                source=rng.choice(sources),
                name=rng.choice(names),
                parameters=parameters,
                read_only=rng.choice((True, False, None)),
                event_type=rng.choice(("AwsApiCall", "AwsApiCall", "AwsServiceEvent")),
            ),
        )


def generate(seed: int = 20261128, random_count: int = 400) -> list[Case]:
    rng = random.Random(seed)
    make = _Factory(rng)
    every_identity = [identity for _, identity in identities()]

    def pick_identity() -> Identity:
        return rng.choice(every_identity)

    return [
        *_identity_cases(make),
        *_signin_and_assume_root_cases(make),
        *_tamper_cases(make, pick_identity),
        *_random_cases(make, rng, random_count),
    ]


# --- as EventBridge receives them --------------------------------------------------------

SIGN_IN_DETAIL_TYPE = "AWS Console Sign In via CloudTrail"
API_CALL_DETAIL_TYPE = "AWS API Call via CloudTrail"
SERVICE_EVENT_DETAIL_TYPE = "AWS Service Event via CloudTrail"


def event_source(record: dict[str, Any]) -> str:
    """The EventBridge source CloudTrail gives a record: `aws.` and the service's name."""
    return "aws." + str(record["eventSource"]).split(".", 1)[0].lower()


def detail_type(record: dict[str, Any]) -> str:
    if record.get("eventType") == "AwsServiceEvent":
        return SERVICE_EVENT_DETAIL_TYPE
    if record.get("eventName") == "ConsoleLogin":
        return SIGN_IN_DETAIL_TYPE
    return API_CALL_DETAIL_TYPE
