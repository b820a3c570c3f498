"""A burst of root activity as the hub receives it: a few root sessions in several accounts.

Each session is root at work from one source IP: a console session starts with its
sign-in (with MFA, or without: critical), an access-key session just calls APIs. Sessions
are read-heavy (describe, list and get calls in several regions), write now and then, and
some do something critical midway (a root access key, an MFA device removed, logging
stopped), which escalates their incident. The sessions overlap in time and their events
arrive interleaved, oldest first, as CloudTrail records (the hub wraps them as EventBridge
does). Every value comes from one `random.Random` seeded by the spec.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

Record = dict[str, Any]
# (event source, event name, request parameters)
Call = tuple[str, str, Record | None]

BURST_START: Final = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
REGIONS: Final = ("us-east-1", "eu-west-1", "us-west-2", "eu-central-1")
READ_SHARE: Final = 0.85
# Seconds between two calls of one session: a person clicking through the console, or
# a script.
CONSOLE_PACE: Final = (0.5, 4.0)
SCRIPT_PACE: Final = (0.05, 0.6)
_BROWSER: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/135.0.0.0 Safari/537.36"
)
_CLI: Final = (
    "aws-cli/2.22.35 md/awscrt#0.23.8 ua/2.1 os/linux#6.8.0-1024-aws md/arch#x86_64 "
    "lang/python#3.12.9 md/pyimpl#CPython cfg/retry-mode#standard"
)
# IAM calls land in us-east-1 only.
_READS: Final[tuple[Call, ...]] = (
    ("ec2.amazonaws.com", "DescribeInstances", {"instancesSet": {}, "filterSet": {}}),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", {"securityGroupSet": {}}),
    ("ec2.amazonaws.com", "DescribeVpcs", {"vpcSet": {}, "filterSet": {}}),
    ("s3.amazonaws.com", "ListBuckets", {"Host": "s3.amazonaws.com"}),
    ("s3.amazonaws.com", "GetBucketPolicy", {"bucketName": "data-lake-raw", "policy": ""}),
    ("cloudtrail.amazonaws.com", "LookupEvents", {"maxResults": 50}),
    ("rds.amazonaws.com", "DescribeDBInstances", {}),
    ("lambda.amazonaws.com", "ListFunctions20150331", {}),
    ("kms.amazonaws.com", "ListKeys", {}),
)
_IAM_READS: Final[tuple[Call, ...]] = (
    ("iam.amazonaws.com", "GetAccountSummary", None),
    ("iam.amazonaws.com", "ListUsers", None),
    ("iam.amazonaws.com", "ListRoles", None),
    ("iam.amazonaws.com", "ListMFADevices", None),
)
_WRITES: Final[tuple[Call, ...]] = (
    ("ec2.amazonaws.com", "StopInstances", {"instancesSet": {"items": [{"instanceId": "i-0f3"}]}}),
    ("ec2.amazonaws.com", "CreateTags", {"resourcesSet": {}, "tagSet": {}}),
    ("s3.amazonaws.com", "PutBucketPolicy", {"bucketName": "data-lake-raw"}),
    ("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", {"functionName": "api"}),
)
# The critical actions a session may take midway, each a rule of its own.
_CRITICAL: Final[tuple[Call, ...]] = (
    ("iam.amazonaws.com", "CreateAccessKey", None),
    (
        "iam.amazonaws.com",
        "DeactivateMFADevice",
        {"serialNumber": "arn:aws:iam::{account}:mfa/root"},
    ),
    ("cloudtrail.amazonaws.com", "StopLogging", {"name": "org-audit-trail"}),
)


@dataclass(frozen=True, slots=True)
class BurstSpec:
    events: int
    seed: int = 1
    accounts: int = 4
    sessions: int = 6
    # Bursts with different offsets have no account in common.
    account_offset: int = 0


@dataclass(frozen=True, slots=True)
class Session:
    account_id: str
    source_ip: str
    console: bool  # a console session (signs in first), else a root access key
    mfa: bool
    started: datetime


@dataclass(frozen=True, slots=True)
class Burst:
    """The records in arrival order, and what the mix is made of."""

    records: tuple[Record, ...]
    accounts: tuple[str, ...]
    sessions: tuple[Session, ...]
    kinds: Counter[str]

    @property
    def critical(self) -> int:
        return self.kinds["critical"]


def generate_burst(spec: BurstSpec) -> Burst:
    """`spec.events` root events from `spec.sessions` sessions over `spec.accounts` accounts."""
    if spec.events < spec.sessions:
        raise ValueError(f"{spec.events} events cannot make {spec.sessions} sessions")
    rng = random.Random(spec.seed)
    accounts = tuple(
        str(111100000000 + 111111 * (spec.account_offset + index + 1))
        for index in range(spec.accounts)
    )
    sessions = tuple(_session(rng, index, accounts) for index in range(spec.sessions))
    # Every session gets a share of the events; the busiest do several times the work.
    weights = [rng.uniform(0.5, 2.0) for _ in sessions]
    shares = [max(1, int(spec.events * weight / sum(weights))) for weight in weights]
    shares[0] += spec.events - sum(shares)
    kinds: Counter[str] = Counter()
    timed: list[tuple[datetime, int, Record]] = []
    for session, share in zip(sessions, shares, strict=True):
        for moment, kind, record in _session_events(rng, session, share):
            kinds[kind] += 1
            timed.append((moment, len(timed), record))
    timed.sort(key=lambda item: (item[0], item[1]))
    return Burst(
        records=tuple(record for _, _, record in timed),
        accounts=accounts,
        sessions=sessions,
        kinds=kinds,
    )


def _session(rng: random.Random, index: int, accounts: tuple[str, ...]) -> Session:
    # The first sessions cover every account; a console session is the common case, and
    # one of them signs in without MFA.
    account_id = accounts[index % len(accounts)]
    console = index % 3 != 2
    return Session(
        account_id=account_id,
        source_ip=f"203.0.113.{10 + index}",
        console=console,
        mfa=not (console and index == 1),
        started=BURST_START + timedelta(seconds=rng.uniform(0, 120)),
    )


def _session_events(
    rng: random.Random, session: Session, count: int
) -> list[tuple[datetime, str, Record]]:
    events: list[tuple[datetime, str, Record]] = []
    moment = session.started
    access_key = _key_id(rng, "ASIA" if session.console else "AKIA")
    if session.console:
        kind = "login-mfa" if session.mfa else "critical"
        events.append((moment, kind, _console_login(rng, session, moment)))
    # Half the sessions do one critical thing, somewhere in their middle half.
    critical_at = rng.randrange(count // 4, max(count // 4 + 1, 3 * count // 4))
    does_critical = rng.random() < 0.5
    pace = CONSOLE_PACE if session.console else SCRIPT_PACE
    while len(events) < count:
        moment += timedelta(seconds=rng.uniform(*pace))
        region = rng.choice(REGIONS)
        if does_critical and len(events) >= critical_at:
            source, name, request = rng.choice(_CRITICAL)
            request = _filled(request, session.account_id)
            kind, read_only, region = "critical", False, "us-east-1"
            does_critical = False
        elif rng.random() < READ_SHARE:
            if region == "us-east-1" and rng.random() < 0.3:
                source, name, request = rng.choice(_IAM_READS)
            else:
                source, name, request = rng.choice(_READS)
            kind, read_only = "read", True
        else:
            source, name, request = rng.choice(_WRITES)
            kind, read_only = "write", False
        record = _api_call(
            rng,
            session,
            moment=moment,
            region=region,
            access_key=access_key,
            source=source,
            name=name,
            request=request,
        )
        record["readOnly"] = read_only
        events.append((moment, kind, record))
    return events


def _console_login(rng: random.Random, session: Session, moment: datetime) -> Record:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "Root",
            "principalId": session.account_id,
            "arn": f"arn:aws:iam::{session.account_id}:root",
            "accountId": session.account_id,
            "accessKeyId": "",
        },
        "eventTime": _iso(moment),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": session.source_ip,
        "userAgent": _BROWSER,
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "Yes" if session.mfa else "No",
        },
        "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": session.account_id,
        "eventCategory": "Management",
    }


def _api_call(
    rng: random.Random,
    session: Session,
    *,
    moment: datetime,
    region: str,
    access_key: str,
    source: str,
    name: str,
    request: Record | None,
) -> Record:
    if source == "iam.amazonaws.com":
        region = "us-east-1"
    identity: Record = {
        "type": "Root",
        "principalId": session.account_id,
        "arn": f"arn:aws:iam::{session.account_id}:root",
        "accountId": session.account_id,
        "accessKeyId": access_key,
    }
    if session.console:
        identity["sessionContext"] = {
            "attributes": {
                "creationDate": _iso(session.started),
                "mfaAuthenticated": "true" if session.mfa else "false",
            }
        }
    record: Record = {
        "eventVersion": "1.10",
        "userIdentity": identity,
        "eventTime": _iso(moment),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": session.source_ip,
        "userAgent": _BROWSER if session.console else _CLI,
        "requestParameters": request,
        "responseElements": None,
        "requestID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": session.account_id,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": source.replace(
                ".amazonaws.com", f".{region}.amazonaws.com"
            ),
        },
    }
    if session.console:
        record["sessionCredentialFromConsole"] = "true"
    return record


def _filled(request: Record | None, account_id: str) -> Record | None:
    if request is None:
        return None
    return {
        name: value.format(account=account_id) if isinstance(value, str) else value
        for name, value in request.items()
    }


def _key_id(rng: random.Random, prefix: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return prefix + "".join(rng.choice(alphabet) for _ in range(16))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
