"""Log files read on their records' outlines (msgspec) read exactly as the plain way reads
them: the same records, errors, positions and counts, on the sample events, a generated
corpus and malformed files."""

from __future__ import annotations

import codecs
import gzip
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rootwatch import reader as reader_module
from rootwatch.detection import might_be_kept
from rootwatch.model import CloudTrailRecord
from rootwatch.outlines import RECORD_MAX_DEPTH as DEEPEST
from rootwatch.outlines import OutlineSelector
from rootwatch.reader import KeepTest, OutlineTest, Reader

from bench.corpus import CorpusSpec, ensure_corpus

EVENTS = Path(__file__).resolve().parents[2] / "events"
OUTLINE_KEYS = {"eventName", "userIdentity", "userIdentity.type"}
ACCOUNT = "111122223333"


@dataclass(frozen=True)
class Outcome:
    """All a reader gives for some files: what a scan reports is made of these."""

    records: list[CloudTrailRecord]
    errors: list[tuple[str | None, str | None, str]]
    counts: tuple[int, int, int]
    raised: tuple[str, str] | None


def read(paths: Sequence[Path], keep: KeepTest) -> Outcome:
    errors: list[Any] = []
    reader = Reader(keep=keep, on_error=errors.append)
    records: list[CloudTrailRecord] = []
    raised = None
    try:
        records.extend(reader.read(paths))
    except Exception as error:  # a keep test may fail on odd values: both ways alike
        raised = (type(error).__name__, str(error))
    return Outcome(
        records=records,
        errors=[(error.path, error.position, error.reason) for error in errors],
        counts=(reader.files_read, reader.records_read, reader.errors),
        raised=raised,
    )


def read_both_ways(*paths: Path) -> Outcome:
    """What both ways read, asserted to be the same."""
    on_outlines = read(paths, OutlineTest(might_be_kept))
    plain = read(paths, might_be_kept)
    assert on_outlines == plain
    return on_outlines


@pytest.fixture
def whole_file_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every document the plain way decodes whole: none for a log file read on
    its outlines."""
    loads = reader_module._loads
    sizes: list[int] = []

    def counted(data: bytes) -> Any:
        sizes.append(len(data))
        return loads(data)

    monkeypatch.setattr(reader_module, "_loads", counted)
    return sizes


def record(event_id: str, event_name: str = "ListBuckets", **fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.10",
        "userIdentity": {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root"},
        "eventTime": "2026-11-28T14:02:11Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "requestParameters": {"bucketName": "logs", "max": 1000, "ratio": 0.5},
        "eventID": event_id,
        "readOnly": True,
        "recipientAccountId": ACCOUNT,
        **fields,
    }


def other(event_id: str, **fields: Any) -> dict[str, Any]:
    role = {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/i-1"}
    return record(event_id, "GetObject", userIdentity=role, **fields)


def log_file(*records: Any) -> bytes:
    return json.dumps({"Records": list(records)}, separators=(",", ":")).encode()


def deepened(content: bytes, depth: int) -> bytes:
    """`content` with its "DEEP" string replaced by an array nested `depth` levels deep."""
    return content.replace(b'"DEEP"', b"[" * depth + b"]" * depth)


def write(directory: Path, name: str, content: bytes) -> Path:
    path = directory / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    return path


# --- the outline -------------------------------------------------------------------------------


class Traced(dict[str, Any]):
    """A record that notes every key read from it, nested objects included."""

    def __init__(self, value: Mapping[str, Any], seen: set[str], prefix: str = "") -> None:
        super().__init__(value)
        self._seen, self._prefix = seen, prefix

    def _traced(self, key: str, value: Any) -> Any:
        self._seen.add(self._prefix + key)
        if isinstance(value, dict):
            return Traced(value, self._seen, f"{self._prefix}{key}.")
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self._traced(key, super().get(key, default))

    def __getitem__(self, key: str) -> Any:
        return self._traced(key, super().__getitem__(key))

    def __contains__(self, key: object) -> bool:
        self._seen.add(f"{self._prefix}{key}")
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self._seen.add(f"{self._prefix}*")
        return super().__iter__()

    def keys(self) -> Any:
        self._seen.add(f"{self._prefix}*")
        return super().keys()

    def items(self) -> Any:
        self._seen.add(f"{self._prefix}*")
        return super().items()

    def values(self) -> Any:
        self._seen.add(f"{self._prefix}*")
        return super().values()


def sample_records() -> list[dict[str, Any]]:
    details = [json.loads(path.read_text())["detail"] for path in sorted(EVENTS.glob("*.json"))]
    return [detail for detail in details if isinstance(detail, dict) and "eventName" in detail]


def test_the_scan_keep_test_reads_nothing_but_the_outline() -> None:
    assert len(sample_records()) >= 30
    for raw in sample_records():
        seen: set[str] = set()
        might_be_kept(Traced(raw, seen))
        assert seen <= OUTLINE_KEYS, raw["eventID"]


IDENTITIES: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(
                st.none(), st.sampled_from(["Root", "FederatedUser", "IAMUser", "AWSAccount"])
            ),
            "sessionContext": st.just({"sessionIssuer": {"type": "Root"}}),
        },
    ),
)
NAMES = st.one_of(
    st.none(), st.sampled_from(["AssumeRoot", "StopLogging", "ConsoleLogin", "PutRule"]), st.text()
)
OUTLINED = st.fixed_dictionaries(
    {}, optional={"eventName": NAMES, "userIdentity": IDENTITIES, "eventSource": st.text()}
)


@settings(max_examples=300, deadline=None)
@given(OUTLINED)
def test_the_keep_test_sees_the_record_reduced_to_its_outline(raw: dict[str, Any]) -> None:
    seen: list[Mapping[str, Any]] = []

    def noting(outline: Mapping[str, Any]) -> bool:
        seen.append(outline)
        return True

    selected = OutlineSelector(noting)(log_file(raw))
    assert selected is not None
    assert [value for _, value in selected.items] == [raw]
    expected: dict[str, Any] = {}
    if "eventName" in raw:
        expected["eventName"] = raw["eventName"]
    if "userIdentity" in raw:
        identity = raw["userIdentity"]
        expected["userIdentity"] = (
            None if identity is None else {k: v for k, v in identity.items() if k == "type"}
        )
    assert seen == [expected]
    seen_keys: set[str] = set()
    assert might_be_kept(Traced(expected, seen_keys)) == might_be_kept(raw)


def test_answers_are_remembered_per_outline() -> None:
    asked: list[Mapping[str, Any]] = []

    def keep(outline: Mapping[str, Any]) -> bool:
        asked.append(outline)
        return might_be_kept(outline)

    select = OutlineSelector(keep)
    content = log_file(other("a"), other("b"), record("c"), other("d"), record("e"))
    for _ in range(2):
        selected = select(content)
        assert selected is not None
        assert [index for index, _ in selected.items] == [2, 4]
    assert len(asked) == 2


# --- the same records, errors and counts --------------------------------------------------------


def test_sample_events_in_log_files_read_the_same(
    tmp_path: Path, whole_file_loads: list[int]
) -> None:
    details = sample_records()
    files = [
        write(tmp_path, "all.json", log_file(*details)),
        write(tmp_path, "all.json.gz", log_file(*reversed(details))),
        *(write(tmp_path, f"one-{n}.json", log_file(detail)) for n, detail in enumerate(details)),
    ]
    outcome = read(files, OutlineTest(might_be_kept))
    assert whole_file_loads == []
    assert outcome == read(files, might_be_kept)
    assert outcome.errors == [] and outcome.raised is None
    assert len(outcome.records) > len(details)


def test_a_generated_corpus_reads_the_same(tmp_path: Path, whole_file_loads: list[int]) -> None:
    spec = CorpusSpec(
        records=4_000,
        seed=11,
        root_fraction=0.01,
        tamper_fraction=0.002,
        lookalike_fraction=0.005,
        min_file_records=300,
        max_file_records=900,
    )
    corpus = ensure_corpus(spec, tmp_path)
    outcome = read(corpus.files, OutlineTest(might_be_kept))
    assert whole_file_loads == []
    assert outcome == read(corpus.files, might_be_kept)
    assert outcome.counts == (len(corpus.files), corpus.records, 0)
    root = [r for r in outcome.records if r.user_identity_type == "Root"]
    assert len(root) == corpus.root_records


def records_of(content: bytes) -> bytes:
    """The records of a compact log file, without the brackets around them."""
    return content.removeprefix(b'{"Records":[').removesuffix(b"]}")


def with_agent(agent: bytes, *, root: bool = False) -> bytes:
    """A log file whose first record's user agent is `agent`, as written."""
    first = (record if root else other)("a", userAgent="AGENT")
    return log_file(first, record("b")).replace(b'"AGENT"', b'"' + agent + b'"')


def with_number(number: bytes, *, root: bool = False) -> bytes:
    first = (record if root else other)("a", requestParameters={"n": 1})
    return log_file(first, record("b")).replace(b'"n":1', b'"n":' + number)


SHALLOW = b'{"eventName":"GetObject","x":"DEEP"}'  # nested as deep as "DEEP" plus one
B = records_of(log_file(record("b")))

# Each file is read both ways; the third item says whether the plain way reads it even with
# msgspec installed (it decodes the file whole).
FILES = [
    ("compact.json", log_file(other("a"), record("b"), other("c")), False),
    ("compressed.json.gz", log_file(record("a"), other("b")), False),
    ("indented.json", json.dumps({"Records": [record("a"), other("b")]}, indent=2).encode(), False),
    (
        "indented-many.json",
        json.dumps({"Records": [other(str(n)) for n in range(400)]}, indent=4).encode(),
        True,
    ),
    ("bom.json", codecs.BOM_UTF8 + log_file(record("a")), False),
    ("empty-records.json", b'{"Records": []}', False),
    (
        "escaped-keys.json",
        b'{"Rec\\u006frds":[{"event\\u004eame":"AssumeRoot","eventID":"x"}]}',
        False,
    ),
    ("unicode.json", with_agent("caf\u00e9 \u2603 \U0001f600".encode()), False),
    ("numbers.json", with_number(b"[1e308,-0.0,12345678901234567890123,-1e-400,0.5e-3]"), False),
    ("not-objects.json", log_file(42, "text", None, [record("a")], record("b"), True), False),
    ("name-a-number.json", log_file(record("a", eventName=7), other("b", eventName=8)), False),
    (
        "identity-odd.json",
        log_file(record("a", userIdentity="Root"), record("b", userIdentity={"type": 5})),
        False,
    ),
    (
        "names-not-root.json",
        log_file(other("a", eventName="StopLogging"), other("b", eventName="AssumeRoot")),
        False,
    ),
    (
        "missing-fields.json",
        log_file({"eventName": "AssumeRoot"}, {"userIdentity": {"type": "Root"}}),
        False,
    ),
    (
        "repeated-records.json",
        b'{"Records":[' + records_of(log_file(record("a"))) + b'],"Records":[' + B + b"]}",
        False,
    ),
    (
        "repeated-records-deep.json",
        deepened(b'{"Records":"DEEP","Records":[' + B + b"]}", DEEPEST + 2),
        True,
    ),
    (
        "deepest-other.json",
        deepened(b'{"Records":[' + SHALLOW + b"," + B + b"]}", DEEPEST - 1),
        False,
    ),
    ("too-deep-other.json", deepened(b'{"Records":[' + SHALLOW + b"," + B + b"]}", DEEPEST), True),
    (
        "deep-enough-to-count.json",
        deepened(log_file(other("a", requestParameters="DEEP"), record("b")), DEEPEST - 1),
        True,
    ),
    (
        "too-deep-root.json",
        deepened(log_file(record("a", requestParameters="DEEP")), DEEPEST),
        True,
    ),
    ("far-too-deep.json", deepened(log_file(other("a", requestParameters="DEEP")), 30_000), True),
    ("brackets-in-strings.json", with_agent(b"[" * 3000), True),
    ("extra-key.json", b'{"Records":[' + B + b'],"digest":1}', True),
    ("records-null.json", b'{"Records": null}', True),
    ("records-object.json", b'{"Records": {"eventName": "AssumeRoot"}}', True),
    ("records-text.json", b'{"Records": "AssumeRoot"}', True),
    ("invalid-utf8-other.json", with_agent(b"\xff\xfe"), True),
    ("invalid-utf8-root.json", with_agent(b"\xc0\xaf", root=True), True),
    ("utf8-surrogate.json", with_agent(b"\xed\xa0\x80"), True),
    ("lone-surrogate.json", with_agent(b"\\ud800"), True),
    ("control-character.json", with_agent(b"\x01"), True),
    ("nan.json", with_number(b"NaN"), True),
    ("truncated.json", log_file(record("a"), other("b"))[:-30], True),
    ("trailing-comma.json", log_file(record("a"))[:-2] + b",]}", True),
    ("trailing-text.json", log_file(record("a")) + b" and more", True),
    ("two-log-files.json", log_file(record("a")) + b"\n" + log_file(record("b")) + b"\n", True),
    ("whitespace.json", b" \n\t ", False),
    ("a-record.json", json.dumps(record("a")).encode(), True),
    ("an-event.json", json.dumps({"source": "aws.s3", "detail": record("a")}).encode(), True),
    ("an-array.json", json.dumps([{"Records": [record("a")]}, record("b")]).encode(), True),
]


@pytest.mark.parametrize(("name", "content", "plain_way"), FILES, ids=[f[0] for f in FILES])
def test_malformed_and_unusual_files_read_the_same(
    tmp_path: Path,
    whole_file_loads: list[int],
    name: str,
    content: bytes,
    plain_way: bool,
) -> None:
    path = write(tmp_path, name, content)
    outcome = read([path], OutlineTest(might_be_kept))
    assert bool(whole_file_loads) is plain_way
    assert outcome == read([path], might_be_kept)


def test_what_an_odd_file_reads_is_what_the_plain_way_reads(tmp_path: Path) -> None:
    """A few of the files above, with what both ways must say of them."""
    files = {name: write(tmp_path, name, content) for name, content, _ in FILES}
    outcome = read_both_ways(files["not-objects.json"], files["name-a-number.json"])
    assert [r.event_id for r in outcome.records] == ["b"]
    named = [(Path(path or "").name, position, reason) for path, position, reason in outcome.errors]
    assert named == [
        ("not-objects.json", "Records[0]", "expected a CloudTrail record, got a number"),
        ("not-objects.json", "Records[1]", "expected a CloudTrail record, got a string"),
        ("not-objects.json", "Records[2]", "expected a CloudTrail record, got null"),
        ("not-objects.json", "Records[3]", "expected a CloudTrail record, got an array"),
        ("not-objects.json", "Records[5]", "expected a CloudTrail record, got a boolean"),
        ("name-a-number.json", "Records[0]", "eventName is a number, not a string"),
        ("name-a-number.json", "Records[1]", "eventName is a number, not a string"),
    ]  # fmt: skip
    assert outcome.counts == (2, 8, 7)
    (error,) = read_both_ways(files["too-deep-other.json"]).errors
    assert error[2].startswith("not valid JSON")
    (error,) = read_both_ways(files["invalid-utf8-other.json"]).errors
    assert error[2].startswith("not valid JSON")


def test_a_number_too_large_for_a_double_outside_the_kept_records_does_not_stop_the_file(
    tmp_path: Path,
) -> None:
    """The one difference: orjson refuses the whole file, the outline way reads it."""
    path = write(tmp_path, "huge.json", with_number(b"1e400"))
    on_outlines = read([path], OutlineTest(might_be_kept))
    plain = read([path], might_be_kept)
    assert [r.event_id for r in on_outlines.records] == ["b"]
    assert on_outlines.errors == []
    assert plain.records == []
    assert [reason.split(":")[0] for _, _, reason in plain.errors] == ["not valid JSON"]
    kept = write(
        tmp_path,
        "huge-root.json",
        log_file(record("b", requestParameters={"n": 1})).replace(b'"n":1', b'"n":1e400'),
    )
    read_both_ways(kept)  # fmt: skip


# --- any log file -------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
identity_values = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["Root", "FederatedUser", "IAMUser", "AssumedRole"])},
        optional={"sessionContext": values},
    ),
    values,
)
generated_records = st.fixed_dictionaries(
    {
        "eventID": st.one_of(st.text(min_size=1, max_size=6), values),
        "eventTime": st.sampled_from(["2026-11-28T14:02:11Z", "yesterday"]),
        "eventSource": st.sampled_from(["signin.amazonaws.com", "cloudtrail.amazonaws.com"]),
        "awsRegion": st.just("us-east-1"),
        "recipientAccountId": st.just(ACCOUNT),
    },
    optional={
        "eventName": st.one_of(
            st.sampled_from(["AssumeRoot", "StopLogging", "ConsoleLogin", "ListBuckets"]), values
        ),
        "userIdentity": identity_values,
        "requestParameters": values,
    },
)


@st.composite
def log_file_bytes(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(st.one_of(generated_records, values), max_size=6))
    content = json.dumps({"Records": items}, ensure_ascii=draw(st.booleans())).encode()
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        position = draw(st.integers(min_value=0, max_value=len(content)))
        change = draw(st.binary(min_size=0, max_size=3))
        cut = draw(st.integers(min_value=0, max_value=3))
        content = content[:position] + change + content[position + cut :]
    return content


def refused_for_a_number_too_large(content: bytes) -> bool:
    try:
        orjson.loads(content)
    except orjson.JSONDecodeError as error:
        return "infinity" in str(error)
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_file_bytes(), st.booleans())
def test_any_log_file_reads_the_same(content: bytes, compress: bool) -> None:
    assume(not refused_for_a_number_too_large(content))
    with tempfile.TemporaryDirectory() as directory:
        read_both_ways(write(Path(directory), "log.json.gz" if compress else "log.json", content))
