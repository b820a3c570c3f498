"""Properties: the reader fails only with `RecordError`, and classification never fails on
a record the reader accepts, whatever JSON (or bytes) comes in."""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rootwatch.detection import RULES, classify, might_be_kept
from rootwatch.model import Classification, CloudTrailRecord, PlannedWindow, Severity
from rootwatch.reader import Reader, RecordError, parse_event, parse_value

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=5),
    ),
    max_leaves=20,
)


def either(realistic: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly realistic values, sometimes any JSON at all."""
    return st.integers(min_value=0, max_value=3).flatmap(
        lambda draw: json_values if draw == 0 else realistic
    )


def mostly(realistic: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nearly always realistic: for the fields a record cannot do without."""
    return st.integers(min_value=0, max_value=9).flatmap(
        lambda draw: json_values if draw == 0 else realistic
    )


offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
event_times = st.one_of(
    st.text(max_size=30),
    # Offsets at the ends of the calendar overflow when converted to UTC.
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]),
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
    st.datetimes(timezones=offsets).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat()),
)
identity_types = st.sampled_from(
    ["Root", "Root", "Root", "FederatedUser", "IAMUser", "AssumedRole", "AWSAccount", "AWSService"]
)
sources = st.sampled_from(
    [
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
        "account.amazonaws.com",
        "s3.amazonaws.com",
    ]
)
event_names = st.one_of(
    st.sampled_from(
        [
            "ConsoleLogin",
            "CreateAccessKey",
            "DeactivateMFADevice",
            "PasswordUpdated",
            "PasswordRecoveryRequested",
            "PasswordRecoveryCompleted",
            "CreateLoginProfile",
            "StopLogging",
            "DeleteRule",
            "RemoveTargets",
            "PutRolePolicy",
            "DeleteStack",
            "LeaveOrganization",
            "UpdateDetector",
            "DisableSecurityHub",
            "CloseAccount",
            "PutAlternateContact",
            "AssumeRoot",
            "ListBuckets",
        ]
    ),
    st.text(max_size=20),
)
session_contexts = st.fixed_dictionaries(
    {},
    optional={
        "attributes": either(
            st.fixed_dictionaries(
                {}, optional={"mfaAuthenticated": either(st.sampled_from(["true", "false"]))}
            )
        ),
        "sessionIssuer": either(st.fixed_dictionaries({"type": either(identity_types)})),
        "assumedRoot": either(st.sampled_from(["true", "false"])),
    },
)
identities = st.fixed_dictionaries(
    {"type": mostly(identity_types)},
    optional={
        "accountId": either(st.just("111122223333")),
        "arn": either(st.just("arn:aws:iam::111122223333:root")),
        "userName": either(st.just("root")),
        "invokedBy": either(st.just("cloudformation.amazonaws.com")),
        "sessionContext": either(session_contexts),
    },
)
parameters = st.dictionaries(
    st.sampled_from(["name", "rule", "roleName", "stackName", "enable", "userName"]),
    either(st.sampled_from(["rootwatch-root-activity", "rootwatch-delivery-x", "app", False])),
    max_size=3,
)


records = st.fixed_dictionaries(
    {
        "eventID": mostly(st.text(min_size=1, max_size=10)),
        "eventTime": mostly(event_times),
        "eventSource": mostly(sources),
        "eventName": mostly(event_names),
        "awsRegion": mostly(st.sampled_from(["us-east-1", "eu-west-1"])),
        "recipientAccountId": mostly(st.just("111122223333")),
    },
    optional={
        "userIdentity": either(identities),
        "eventType": either(st.sampled_from(["AwsApiCall", "AwsServiceEvent", "AwsConsoleSignIn"])),
        "readOnly": either(st.booleans()),
        "errorCode": either(st.sampled_from(["AccessDenied", ""])),
        "requestParameters": either(parameters),
        "responseElements": either(
            st.fixed_dictionaries({"ConsoleLogin": either(st.sampled_from(["Success", "Failure"]))})
        ),
        "additionalEventData": either(
            st.fixed_dictionaries({"MFAUsed": either(st.sampled_from(["Yes", "No", "yes"]))})
        ),
    },
)
events = st.fixed_dictionaries(
    {"detail": either(records)},
    optional={
        "detail-type": st.just("AWS API Call via CloudTrail"),
        "source": either(st.just("aws.iam")),
        "account": either(st.just("999988887777")),
        "region": either(st.just("eu-west-1")),
    },
)
documents = st.one_of(
    records,
    events,
    st.fixed_dictionaries({"Records": either(st.lists(either(records), max_size=4))}),
    st.lists(st.one_of(records, events), max_size=4),
    json_values,
)
windows = st.builds(
    lambda start, hours: PlannedWindow(
        window_id="w",
        account_id="111122223333",
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        created_by="alice",
        reason="planned",
    ),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(min_value=0, max_value=48),
)


def check_classification(record: CloudTrailRecord, window: PlannedWindow | None) -> None:
    assert record.event_time.tzinfo is UTC
    result = classify(record, window)
    if result is None:
        return
    assert isinstance(result, Classification)
    assert isinstance(result.severity, Severity)
    assert result.rules and set(result.rules) <= set(RULES)
    assert result.is_root or result.tamper
    assert result.outcome in ("success", "failure")
    assert result.summary
    assert might_be_kept(record.raw)


@settings(max_examples=400, deadline=None)
@given(documents, st.one_of(st.none(), windows))
def test_decoded_documents_parse_or_raise_record_error(
    document: Any, window: PlannedWindow | None
) -> None:
    try:
        parsed = parse_value(document)
    except RecordError:
        return
    for record in parsed:
        check_classification(record, window)


@settings(max_examples=200, deadline=None)
@given(st.one_of(events, records, json_values))
def test_queue_messages_parse_or_raise_record_error(message: Any) -> None:
    try:
        record = parse_event(message)
    except RecordError:
        return
    check_classification(record, None)


@st.composite
def file_contents(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["document", "lines", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "lines":
        values = draw(st.lists(documents, max_size=4))
        return "\n".join(json.dumps(value) for value in values).encode()
    value = draw(documents)
    # Python writes NaN and big integers that stricter parsers refuse: the reader must say so.
    return json.dumps(value, allow_nan=True).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    file_contents(),
    st.sampled_from(["in.json", "in.jsonl", "in.ndjson", "in.txt"]),
    st.booleans(),
    st.booleans(),
)
def test_files_read_or_report_record_errors(
    content: bytes, name: str, compress: bool, with_handler: bool
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(content) if compress else content)
        errors: list[RecordError] = []
        reader = Reader(on_error=errors.append if with_handler else None)
        try:
            for record in reader.read([path]):
                check_classification(record, None)
        except RecordError as error:
            assert not with_handler
            assert error.path == str(path)
        assert all(error.path == str(path) for error in errors)
        assert reader.errors == len(errors) or not with_handler
