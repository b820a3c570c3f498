"""The reader: every input form, the fields it keeps, and the one error it raises."""

from __future__ import annotations

import codecs
import gzip
import json
import pickle
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rootwatch.detection import might_be_kept
from rootwatch.model import CloudTrailRecord
from rootwatch.reader import (
    Reader,
    RecordError,
    find_input_files,
    parse_event,
    parse_record,
    parse_value,
    read_records,
)

ACCOUNT = "111122223333"


def record(event_id: str = "e-1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "Root",
            "principalId": ACCOUNT,
            "arn": f"arn:aws:iam::{ACCOUNT}:root",
            "accountId": ACCOUNT,
            "sessionContext": {
                "attributes": {"creationDate": "2026-11-28T13:55:00Z", "mfaAuthenticated": "true"}
            },
        },
        "eventTime": "2026-11-28T14:02:11Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"Host": "s3.eu-west-1.amazonaws.com"},
        "responseElements": None,
        "eventID": event_id,
        "readOnly": True,
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }
    base.update(fields)
    return base


def non_root(event_id: str) -> dict[str, Any]:
    return record(
        event_id,
        userIdentity={"type": "IAMUser", "userName": "bob", "accountId": ACCOUNT},
    )


def event(detail: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "7e9a2b1c-0000-4000-8000-000000000001",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": "999988887777",
        "time": "2026-11-28T14:02:15Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
        **envelope,
    }


def write(path: Path, value: Any, *, compress: bool = False) -> Path:
    data = json.dumps(value).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_lines(path: Path, values: list[Any], *, compress: bool = False) -> Path:
    data = "".join(json.dumps(value) + "\n" for value in values).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def read_all(*paths: Path, keep: Any = None) -> tuple[list[CloudTrailRecord], list[RecordError]]:
    errors: list[RecordError] = []
    records = list(read_records(paths, keep=keep, on_error=errors.append))
    return records, errors


# --- forms --------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_cloudtrail_log_files_plain_and_gzip(tmp_path: Path, compress: bool) -> None:
    name = "log.json.gz" if compress else "log.json"
    path = write(tmp_path / name, {"Records": [record("a"), record("b")]}, compress=compress)
    records, errors = read_all(path)
    assert errors == []
    assert [r.event_id for r in records] == ["a", "b"]
    first = records[0]
    assert first.event_time == datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)
    assert (first.account_id, first.aws_region) == (ACCOUNT, "eu-west-1")
    assert (first.user_identity_type, first.principal_arn) == (
        "Root",
        f"arn:aws:iam::{ACCOUNT}:root",
    )
    assert (first.read_only, first.mfa_authenticated, first.assumed_root) == (True, True, False)
    assert (first.source_ip, first.user_agent) == ("203.0.113.7", "aws-cli/2.15.0")
    assert first.request_parameters == {"Host": "s3.eu-west-1.amazonaws.com"}
    assert first.response_elements == {}
    assert (first.envelope_account, first.envelope_source) == (None, None)
    assert first.raw["eventID"] == "a"


def test_a_single_record(tmp_path: Path) -> None:
    records, errors = read_all(write(tmp_path / "one.json", record("solo")))
    assert ([r.event_id for r in records], errors) == (["solo"], [])


def test_an_eventbridge_event_keeps_its_envelope_and_takes_its_account(tmp_path: Path) -> None:
    records, _ = read_all(write(tmp_path / "event.json", event(record("ev"))))
    (only,) = records
    assert (only.envelope_account, only.envelope_source) == ("999988887777", "aws.s3")
    assert only.account_id == "999988887777"
    assert only.raw == record("ev")


def test_the_account_falls_back_to_the_recipient_then_the_principal() -> None:
    without_envelope_account = event(record("x"))
    del without_envelope_account["account"]
    assert parse_event(without_envelope_account).account_id == ACCOUNT
    detail = record("y", recipientAccountId=None)
    detail["userIdentity"]["accountId"] = "222233334444"
    assert parse_record(detail).account_id == "222233334444"
    del detail["userIdentity"]["accountId"]
    with pytest.raises(RecordError, match="no account id"):
        parse_record(detail)


def test_the_region_falls_back_to_the_envelope() -> None:
    detail = record("r")
    del detail["awsRegion"]
    assert parse_event(event(detail, region="ap-southeast-2")).aws_region == "ap-southeast-2"
    with pytest.raises(RecordError, match="missing awsRegion"):
        parse_record(detail)


def test_a_json_array_of_records_and_events(tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.json", [record("a"), event(record("b")), record("c")])
    records, errors = read_all(path)
    assert ([r.event_id for r in records], errors) == (["a", "b", "c"], [])
    assert records[1].envelope_account == "999988887777"


@pytest.mark.parametrize("name", ["events.jsonl", "events.ndjson", "events.jsonl.gz", "lines.json"])
def test_json_lines_of_records_and_events(tmp_path: Path, name: str) -> None:
    values = [record("a"), event(record("b")), {"Records": [record("c")]}]
    path = write_lines(tmp_path / name, values, compress=name.endswith(".gz"))
    with path.open("ab") as tail:
        if not name.endswith(".gz"):
            tail.write(b"\n   \n")
    records, errors = read_all(path)
    assert ([r.event_id for r in records], errors) == (["a", "b", "c"], [])


def test_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(codecs.BOM_UTF8 + json.dumps(record("bom")).encode())
    lines = tmp_path / "bom.jsonl"
    lines.write_bytes(codecs.BOM_UTF8 + json.dumps(record("bom2")).encode() + b"\n")
    records, errors = read_all(path, lines)
    assert ([r.event_id for r in records], errors) == (["bom", "bom2"], [])


HEARTBEAT = {
    "version": "0",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2026-11-28T14:15:00Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/rootwatch-heartbeat"],
    "detail": {},
}


def test_events_that_are_not_cloudtrail_are_passed_over(tmp_path: Path) -> None:
    path = write(tmp_path / "events.json", [HEARTBEAT, event(record("ct"))])
    reader = Reader(on_error=lambda error: pytest.fail(str(error)))
    assert [r.event_id for r in reader.read([path])] == ["ct"]
    assert reader.records_read == 1


def test_a_cloudtrail_digest_file_holds_no_events(tmp_path: Path) -> None:
    digest = {"awsAccountId": ACCOUNT, "digestStartTime": "2026-11-28T13:00:00Z", "logFiles": []}
    records, errors = read_all(write(tmp_path / "digest.json.gz", digest, compress=True))
    assert (records, errors) == ([], [])


# --- optional fields ----------------------------------------------------------------------------


def test_missing_and_null_optional_fields_are_tolerated() -> None:
    minimal = {
        "eventID": "m",
        "eventTime": "2026-11-28T14:02:11Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "PasswordRecoveryRequested",
        "awsRegion": "us-east-1",
        "recipientAccountId": ACCOUNT,
        "requestParameters": None,
        "additionalEventData": "not an object",
        "userAgent": None,
    }
    parsed = parse_record(minimal)
    assert parsed.user_identity_type is None
    assert (parsed.read_only, parsed.mfa_authenticated, parsed.user_agent) == (None, None, None)
    assert parsed.request_parameters == {} and parsed.additional_event_data == {}


def test_flags_written_as_strings_or_booleans() -> None:
    detail = record("f", readOnly="false")
    detail["userIdentity"]["sessionContext"] = {
        "attributes": {"mfaAuthenticated": False},
        "assumedRoot": "true",
        "sessionIssuer": {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root"},
    }
    parsed = parse_record(detail)
    assert (parsed.read_only, parsed.mfa_authenticated, parsed.assumed_root) == (False, False, True)
    assert parsed.session_issuer_type == "Root"


def test_event_times_are_utc() -> None:
    assert parse_record(record(eventTime="2026-11-28T15:02:11+01:00")).event_time == datetime(
        2026, 11, 28, 14, 2, 11, tzinfo=UTC
    )
    assert parse_record(record(eventTime="2026-11-28T14:02:11")).event_time.tzinfo is UTC
    with pytest.raises(RecordError, match="not an ISO 8601 time"):
        parse_record(record(eventTime="0001-01-01T00:00:00+05:00"))


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"eventID": None}, "missing eventID"),
        ({"eventName": 7}, "eventName is a number, not a string"),
        ({"eventTime": "yesterday"}, "eventTime 'yesterday' is not an ISO 8601 time"),
        ({"eventTime": None}, "missing eventTime"),
        ({"eventSource": ""}, "missing eventSource"),
    ],
)
def test_a_bad_record_names_file_position_and_reason(
    tmp_path: Path, fields: dict[str, Any], reason: str
) -> None:
    path = write(tmp_path / "log.json", {"Records": [record("ok"), record("bad", **fields)]})
    records, errors = read_all(path)
    assert [r.event_id for r in records] == ["ok"]
    (error,) = errors
    assert (error.path, error.position, error.reason) == (str(path), "Records[1]", reason)
    assert str(error) == f"{path}: Records[1]: {reason}"


def test_bad_json_lines_are_named_by_line_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps(record("a")) + "\n{not json\n" + json.dumps([1]) + "\n" + json.dumps(record("b"))
    )
    records, errors = read_all(path)
    assert [r.event_id for r in records] == ["a", "b"]
    assert [(e.position, e.reason.split(":")[0]) for e in errors] == [
        ("line 2", "not valid JSON"),
        (
            "line 3, [0]",
            "expected a CloudTrail record, log file or EventBridge event, got a number",
        ),
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b'{"Records": [', "not valid JSON"),
        (b"\x1f\x8b\x08\x00garbage", "not a valid gzip file"),
        (b'{"Records": {"eventID": "x"}}', "Records is an object, not an array"),
        (b'{"hello": "world"}', "not a CloudTrail record, log file or EventBridge event"),
        (
            b'{"detail-type": "AWS API Call via CloudTrail", "source": "aws.s3", "detail": 5}',
            "the event's detail is a number, not a CloudTrail record",
        ),
        (b"[[1]]", "expected a CloudTrail record, log file or EventBridge event, got an array"),
        (b'"text"', "expected a CloudTrail record, log file or EventBridge event, got a string"),
    ],
)
def test_unusable_files_are_named_with_the_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    records, errors = read_all(path)
    assert records == []
    (error,) = errors
    assert error.path == str(path)
    assert error.reason.startswith(reason)


def gzip_member(content: bytes, **header: Any) -> bytes:
    """One gzip member; `header` flags: name, comment, extra, header_crc."""
    flags, fields = 0, b""
    if "extra" in header:
        flags |= 4
        fields += len(header["extra"]).to_bytes(2, "little") + header["extra"]
    if "name" in header:
        flags |= 8
        fields += header["name"] + b"\0"
    if "comment" in header:
        flags |= 16
        fields += header["comment"] + b"\0"
    start = b"\x1f\x8b\x08" + bytes([flags | (2 if "header_crc" in header else 0)]) + bytes(6)
    start += fields
    if "header_crc" in header:
        start += (zlib.crc32(start) & 0xFFFF).to_bytes(2, "little")
    deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = deflate.compress(content) + deflate.flush()
    trailer = zlib.crc32(content).to_bytes(4, "little") + len(content).to_bytes(4, "little")
    return start + body + trailer


LOG = json.dumps({"Records": [record("g1")]}).encode()
MORE = json.dumps({"Records": [record("g2")]}).encode()
GZIP_FILES = {
    "one member": gzip.compress(LOG),
    "named, with comment, extra and header CRC": gzip_member(
        LOG, name=b"log.json", comment=b"c", extra=b"xy", header_crc=True
    ),
    "two members": gzip.compress(LOG[:20]) + gzip.compress(LOG[20:]),
    "zero padding": gzip.compress(LOG) + bytes(64),
    "a second log file": gzip.compress(LOG) + gzip.compress(MORE),
    "garbage after": gzip.compress(LOG) + b"garbage",
    "truncated": gzip.compress(LOG)[:-9],
    "wrong CRC": gzip.compress(LOG)[:-8] + bytes(4) + gzip.compress(LOG)[-4:],
    "wrong length": gzip.compress(LOG)[:-4] + bytes(4),
    "unknown method": gzip.compress(LOG)[:2] + b"\x07" + gzip.compress(LOG)[3:],
    "reserved flags": gzip.compress(LOG)[:3] + b"\xe0" + gzip.compress(LOG)[4:],
    "not deflate": b"\x1f\x8b\x08\x00" + bytes(6) + b"\xff" * 40,
}


@pytest.mark.parametrize("name", GZIP_FILES)
def test_gzip_files_read_as_the_gzip_module_reads_them(tmp_path: Path, name: str) -> None:
    content = GZIP_FILES[name]
    path = tmp_path / "log.json.gz"
    path.write_bytes(content)
    records, errors = read_all(path)
    try:
        expected = gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        assert records == []
        assert [e.reason for e in errors] == [f"not a valid gzip file: {error}"]
        return
    plain = tmp_path / "log.json"
    plain.write_bytes(expected)
    expected_records, expected_errors = read_all(plain)
    assert records == expected_records
    assert [e.reason for e in errors] == [e.reason for e in expected_errors]


def test_a_truncated_gzip_of_json_lines_keeps_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    data = gzip.compress(b"".join(json.dumps(record(str(n))).encode() + b"\n" for n in range(50)))
    path.write_bytes(data[: len(data) - 12])
    records, errors = read_all(path)
    (error,) = errors
    assert error.reason.startswith("not a valid gzip file")
    assert len(records) < 50


def test_without_an_error_handler_the_first_error_is_raised(tmp_path: Path) -> None:
    path = write(tmp_path / "log.json", {"Records": [record("a"), "oops", record("c")]})
    reader = Reader()
    seen: list[str] = []
    with pytest.raises(RecordError) as raised:
        seen.extend(r.event_id for r in reader.read([path]))
    assert seen == ["a"]
    assert (raised.value.path, raised.value.position) == (str(path), "Records[1]")
    assert reader.errors == 1


# --- files and directories ------------------------------------------------------------------------


def test_directories_are_read_recursively_in_name_order(tmp_path: Path) -> None:
    root = tmp_path / "AWSLogs"
    write(root / "b" / "2.json.gz", {"Records": [record("b2")]}, compress=True)
    write(root / "a" / "1.json", {"Records": [record("a1")]})
    write(root / "a" / "0.ndjson", [record("a0")])
    write_lines(root / "c.jsonl", [record("c")])
    (root / "outcomes.yaml").write_text("not: json\n")
    (root / "README").write_text("notes")
    write(root / ".hidden" / "x.json", record("hidden"))
    write(root / ".x.json", record("hidden2"))
    explicit = write(tmp_path / "extra.txt", record("txt"))
    files = find_input_files([root, explicit, root / "a" / "1.json"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "AWSLogs/a/0.ndjson",
        "AWSLogs/a/1.json",
        "AWSLogs/b/2.json.gz",
        "AWSLogs/c.jsonl",
        "extra.txt",
    ]
    records, errors = read_all(root, explicit)
    assert ([r.event_id for r in records], errors) == (["a0", "a1", "b2", "c", "txt"], [])


def test_missing_paths_and_empty_directories_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    errors: list[RecordError] = []
    assert find_input_files([tmp_path / "nope", tmp_path / "empty"], on_error=errors.append) == []
    assert [(Path(e.path or "").name, e.reason) for e in errors] == [
        ("nope", "no such file or directory"),
        ("empty", "no CloudTrail files in this directory"),
    ]
    with pytest.raises(RecordError, match="no such file"):
        find_input_files([tmp_path / "nope"])


# --- the keep test and the counts ---------------------------------------------------------------


def test_the_keep_test_skips_records_before_they_are_built_and_counts_them(tmp_path: Path) -> None:
    unusable_but_not_root = {"eventName": "ListBuckets", "userIdentity": {"type": "IAMUser"}}
    log = {"Records": [non_root("n1"), record("r1"), unusable_but_not_root, 42, non_root("n2")]}
    path = write(tmp_path / "log.json", log)
    errors: list[RecordError] = []
    reader = Reader(keep=might_be_kept, on_error=errors.append)
    records = list(reader.read([path, write(tmp_path / "event.json", event(non_root("n3")))]))
    assert [r.event_id for r in records] == ["r1"]
    assert [e.position for e in errors] == ["Records[3]"]
    assert (reader.files_read, reader.records_read, reader.errors) == (2, 6, 1)


# --- decoded values (queue messages) --------------------------------------------------------------


def test_parse_event_takes_an_event_or_a_bare_record() -> None:
    assert parse_event(event(record("e"))).event_id == "e"
    assert parse_event(record("bare")).event_id == "bare"
    for wrong, reason in [
        ({"Records": [record()]}, "got a log file"),
        ([event(record())], "got an array"),
        ("text", "got a string"),
        (HEARTBEAT, "not a CloudTrail event: 'Scheduled Event'"),
    ]:
        with pytest.raises(RecordError, match=reason):
            parse_event(wrong)


def test_parse_value_reads_every_form_of_a_decoded_document() -> None:
    value = [event(record("a")), {"Records": [record("b"), record("c")]}]
    assert [r.event_id for r in parse_value(value)] == ["a", "b", "c"]
    with pytest.raises(RecordError) as raised:
        parse_value([record("a"), {"Records": [record("b"), record("c", eventID=None)]}])
    assert raised.value.position == "[1], Records[1]"
    assert raised.value.path is None


def test_errors_keep_their_place_when_they_cross_processes() -> None:
    error = RecordError("missing eventID", path="logs/a.json.gz", position="Records[4]")
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.reason, copied.path, copied.position) == (
        "missing eventID",
        "logs/a.json.gz",
        "Records[4]",
    )
    assert str(copied) == "logs/a.json.gz: Records[4]: missing eventID"


def test_a_records_repr_leaves_the_whole_event_out() -> None:
    parsed = parse_record(record(tlsDetails={"clientProvidedHostHeader": "marker.example"}))
    shown = repr(parsed)
    assert shown.startswith("CloudTrailRecord(event_id='e-1', ")
    assert "marker.example" in str(parsed.raw)
    assert "raw=" not in shown
    assert "marker.example" not in shown
