"""Every input form a user has, read into `CloudTrailRecord`s.

Forms: CloudTrail log files (`{"Records": [...]}`, plain or gzip), a single CloudTrail record,
an EventBridge event whose `detail` is a record, a JSON array of these, and JSON lines of
these (`.jsonl`, `.ndjson`, or a `.json` file that turns out to hold lines), given as files
or directories (read recursively, in name order). EventBridge events that are not CloudTrail
(a scheduled heartbeat) hold no record and are passed over. Anything unusable is one
`RecordError` naming the file, the position in it and the reason.

A file is read whole (JSON lines are streamed), so memory is bounded by the largest file.
A `keep` test on the raw record dicts of a log file lets a caller skip the records it does
not want before any of them is validated or built: for a scan, that is nearly all of them.
When the test reads only a record's outline (`OutlineTest`) and msgspec is installed, the
records of a log file are not even decoded whole unless kept (`rootwatch.outlines`); what is
read, counted and reported is the same either way, but for one odd case named there.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from msgspec import Struct

from rootwatch.model import CloudTrailRecord

_loads: Callable[[bytes], Any]
try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency; the fallback keeps parity
    _loads = json.loads

INPUT_SUFFIXES: Final = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_LINE_SUFFIXES: Final = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_GZIP_MAGIC: Final = b"\x1f\x8b"
# zlib's window size, with a gzip header and trailer around the deflate stream.
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
# Keys any CloudTrail record has; a JSON object with none of them is something else.
_RECORD_KEYS: Final = ("eventID", "eventName", "eventSource", "eventTime", "eventVersion")
# "AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", ...
_CLOUDTRAIL_DETAIL_TYPE_END: Final = " via CloudTrail"


class RecordError(ValueError):
    """An input rootwatch cannot use: which file, where in it (None: the whole file), why."""

    def __init__(self, reason: str, *, path: str | None = None, position: str | None = None):
        self.reason = reason
        self.path = path
        self.position = position
        super().__init__(reason)

    def __str__(self) -> str:
        return ": ".join(part for part in (self.path, self.position, self.reason) if part)

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (a parallel scan): keep the path and position.
        return (_record_error, (self.reason, self.path, self.position))

    def located(self, path: str | None, position: str | None) -> RecordError:
        """The same error, placed in a file and under an outer position."""
        inner = self.position
        joined = ", ".join(part for part in (position, inner) if part) or None
        return RecordError(self.reason, path=path or self.path, position=joined)


def _record_error(reason: str, path: str | None, position: str | None) -> RecordError:
    return RecordError(reason, path=path, position=position)


KeepTest = Callable[[Mapping[str, Any]], bool]
ErrorHandler = Callable[[RecordError], None]


class OutlineTest(Struct, frozen=True):
    """A keep test that reads nothing of a record but its outline, `eventName` and
    `userIdentity.type` (whether each is there, and its value), and always gives the same
    answer for the same outline. Given one, a reader tests each record of a log file on its
    outline and decodes whole only the records kept."""

    test: KeepTest

    def __call__(self, raw: Mapping[str, Any]) -> bool:
        return self.test(raw)


class SelectedRecords(Struct, frozen=True):
    """Of a log file's `count` records, those a keep test took and those that are not objects
    (each an error to report), decoded, with their index in the file."""

    count: int
    items: list[tuple[int, Any]]


LogFileSelector = Callable[[bytes], SelectedRecords | None]


class _BadLine(Struct, frozen=True):
    reason: str


class Reader:
    """Reads files into records, counting what it reads.

    `keep` is a test on each raw record dict (for a scan, `detection.might_be_kept`):
    the records of a log file it rejects are counted but neither validated nor built.
    `on_error` receives every `RecordError`, and reading goes on with the next record or
    file; without it, the first error is raised.
    """

    def __init__(
        self, *, keep: KeepTest | None = None, on_error: ErrorHandler | None = None
    ) -> None:
        self._keep = keep
        self._on_error = on_error
        self._select_log_file = _outline_selector(keep)
        self.files_read = 0
        self.records_read = 0
        self.errors = 0

    def read(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[CloudTrailRecord]:
        """The records of every input file under `paths`, file after file."""
        for path in self.input_files(paths):
            yield from self.read_file(path)

    def input_files(self, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
        """The files to read, in order: directories expanded recursively, each file once."""
        return find_input_files(paths, on_error=self._fail)

    def read_file(self, path: str | os.PathLike[str]) -> Iterator[CloudTrailRecord]:
        """The records of one file; a file-level error ends this file only."""
        name = os.fspath(path)
        self.files_read += 1
        documents = _documents(Path(path), self._select_log_file)
        while True:
            try:
                position, document = next(documents)
            except StopIteration:
                return
            except RecordError as error:
                self._fail(error.located(name, None))
                return
            if isinstance(document, _BadLine):
                self._fail(RecordError(document.reason, path=name, position=position))
            elif isinstance(document, SelectedRecords):
                yield from self._selected_records(document, name, position)
            else:
                yield from self._records_in(document, name, position, nested=False)

    def records_in_value(
        self, value: Any, *, path: str | None = None, position: str | None = None
    ) -> Iterator[CloudTrailRecord]:
        """The records of one decoded JSON document (any form but JSON lines)."""
        return self._records_in(value, path, position, nested=False)

    def _records_in(
        self, document: Any, path: str | None, position: str | None, *, nested: bool
    ) -> Iterator[CloudTrailRecord]:
        if isinstance(document, list) and not nested:
            for index, item in enumerate(document):
                yield from self._records_in(item, path, _at(position, f"[{index}]"), nested=True)
            return
        if not isinstance(document, dict):
            kind = "an array inside an array" if isinstance(document, list) else _kind(document)
            self._fail(
                RecordError(
                    f"expected a CloudTrail record, log file or EventBridge event, got {kind}",
                    path=path,
                    position=position,
                )
            )
            return
        if "Records" in document:
            yield from self._log_file_records(document["Records"], path, position)
            return
        if _is_event(document):
            record, envelope = document["detail"], document
            if not _is_cloudtrail_event(document):
                return
            if not isinstance(record, dict):
                self._fail(
                    RecordError(
                        f"the event's detail is {_kind(record)}, not a CloudTrail record",
                        path=path,
                        position=position,
                    )
                )
                return
        elif _looks_like_record(document):
            record, envelope = document, None
        elif _is_digest(document):
            return
        else:
            self._fail(
                RecordError(
                    "not a CloudTrail record, log file or EventBridge event "
                    "(no eventName, Records or detail)",
                    path=path,
                    position=position,
                )
            )
            return
        self.records_read += 1
        if self._keep is not None and not self._keep(record):
            return
        try:
            yield parse_record(record, envelope=envelope)
        except RecordError as error:
            self._fail(error.located(path, position))

    def _log_file_records(
        self, records: Any, path: str | None, position: str | None
    ) -> Iterator[CloudTrailRecord]:
        if not isinstance(records, list):
            self._fail(
                RecordError(
                    f"Records is {_kind(records)}, not an array", path=path, position=position
                )
            )
            return
        keep = self._keep
        if keep is None:
            items = list(enumerate(records))
        else:
            items = [
                (index, raw)
                for index, raw in enumerate(records)
                if not isinstance(raw, dict) or keep(raw)
            ]
        selected = SelectedRecords(count=len(records), items=items)
        yield from self._selected_records(selected, path, position)

    def _selected_records(
        self, selected: SelectedRecords, path: str | None, position: str | None
    ) -> Iterator[CloudTrailRecord]:
        self.records_read += selected.count
        for index, raw in selected.items:
            where = _at(position, f"Records[{index}]")
            if not isinstance(raw, dict):
                self._fail(
                    RecordError(
                        f"expected a CloudTrail record, got {_kind(raw)}", path=path, position=where
                    )
                )
                continue
            try:
                yield parse_record(raw)
            except RecordError as error:
                self._fail(error.located(path, where))

    def _fail(self, error: RecordError) -> None:
        self.errors += 1
        if self._on_error is None:
            raise error
        self._on_error(error)


def read_records(
    paths: Iterable[str | os.PathLike[str]],
    *,
    keep: KeepTest | None = None,
    on_error: ErrorHandler | None = None,
) -> Iterator[CloudTrailRecord]:
    """The records of every input file under `paths` (see `Reader`)."""
    return Reader(keep=keep, on_error=on_error).read(paths)


def parse_value(value: Any) -> list[CloudTrailRecord]:
    """Every record of one decoded JSON document; raises `RecordError` on the first problem."""
    return list(Reader().records_in_value(value))


def parse_event(value: Any) -> CloudTrailRecord:
    """The one record of an EventBridge event (an ingest queue message) or a bare record."""
    expected = "expected an EventBridge event or one CloudTrail record"
    if not isinstance(value, dict):
        raise RecordError(f"{expected}, got {_kind(value)}")
    if "Records" in value:
        raise RecordError(f"{expected}, got a log file")
    if _is_event(value) and not _is_cloudtrail_event(value):
        raise RecordError(f"not a CloudTrail event: {str(value.get('detail-type'))[:60]!r}")
    records = parse_value(value)
    if len(records) != 1:
        raise RecordError(f"{expected}, got {_kind(value)} holding no record")
    return records[0]


def parse_record(
    raw: Mapping[str, Any], *, envelope: Mapping[str, Any] | None = None
) -> CloudTrailRecord:
    """One CloudTrail record dict (and the EventBridge envelope it came in, if any).

    The fields rootwatch keys on must be there; optional fields that are missing, null or
    of an unexpected shape read as absent (the record itself is kept whole in `raw`).
    """
    if not isinstance(raw, Mapping):
        raise RecordError(f"expected a CloudTrail record, got {_kind(raw)}")
    envelope = envelope or {}
    identity = _mapping(raw.get("userIdentity"))
    session = _mapping(identity.get("sessionContext"))
    issuer = _mapping(session.get("sessionIssuer"))
    attributes = _mapping(session.get("attributes"))

    region = _text(raw.get("awsRegion")) or _text(envelope.get("region"))
    if not region:
        raise RecordError("missing awsRegion")
    envelope_account = _text(envelope.get("account"))
    account = (
        envelope_account or _text(raw.get("recipientAccountId")) or _text(identity.get("accountId"))
    )
    if not account:
        raise RecordError("no account id (account, recipientAccountId or userIdentity.accountId)")

    return CloudTrailRecord(
        event_id=_required(raw, "eventID"),
        event_time=_event_time(raw.get("eventTime")),
        event_source=_required(raw, "eventSource"),
        event_name=_required(raw, "eventName"),
        aws_region=region,
        account_id=account,
        user_identity_type=_text(identity.get("type")),
        principal_arn=_text(identity.get("arn")),
        principal_account_id=_text(identity.get("accountId")),
        user_name=_text(identity.get("userName")),
        session_issuer_type=_text(issuer.get("type")),
        session_issuer_arn=_text(issuer.get("arn")),
        assumed_root=_flag(session.get("assumedRoot")) is True,
        mfa_authenticated=_flag(attributes.get("mfaAuthenticated")),
        invoked_by=_text(identity.get("invokedBy")),
        event_type=_text(raw.get("eventType")),
        read_only=_flag(raw.get("readOnly")),
        source_ip=_text(raw.get("sourceIPAddress")),
        user_agent=_text(raw.get("userAgent")),
        error_code=_text(raw.get("errorCode")),
        error_message=_text(raw.get("errorMessage")),
        additional_event_data=_mapping(raw.get("additionalEventData")),
        request_parameters=_mapping(raw.get("requestParameters")),
        response_elements=_mapping(raw.get("responseElements")),
        envelope_account=envelope_account,
        envelope_source=_text(envelope.get("source")),
        raw=raw,
    )


def find_input_files(
    paths: Iterable[str | os.PathLike[str]], *, on_error: ErrorHandler | None = None
) -> list[Path]:
    """Files given by name, and the input files under directories (recursively, sorted).

    Inside directories only names ending in `INPUT_SUFFIXES` are read, and hidden entries
    are skipped; a file named on its own is read whatever its name. A path that does not
    exist, and a directory with no input file, are errors.
    """

    def fail(error: RecordError) -> None:
        if on_error is None:
            raise error
        on_error(error)

    files: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = _files_under(path, fail)
            if not found:
                fail(RecordError("no CloudTrail files in this directory", path=str(path)))
        elif path.is_file():
            found = [path]
        elif path.exists():
            fail(RecordError("not a regular file or directory", path=str(path)))
            continue
        else:
            fail(RecordError("no such file or directory", path=str(path)))
            continue
        for file in found:
            identity = file.resolve()
            if identity not in seen:
                seen.add(identity)
                files.append(file)
    return files


def _files_under(directory: Path, fail: ErrorHandler) -> list[Path]:
    def unreadable(error: OSError) -> None:
        fail(RecordError(f"cannot read: {error.strerror or error}", path=error.filename))

    found: list[Path] = []
    for folder, subfolders, names in os.walk(directory, onerror=unreadable):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found.extend(
            Path(folder, name)
            for name in names
            if not name.startswith(".") and name.lower().endswith(INPUT_SUFFIXES)
        )
    return sorted(found)


# --- files to documents -----------------------------------------------------------------------


def _documents(
    path: Path, select_log_file: LogFileSelector | None = None
) -> Iterator[tuple[str | None, Any]]:
    """The JSON documents of a file with their positions (None: the whole file); a log file
    that `select_log_file` reads is its `SelectedRecords` instead."""
    if path.name.lower().endswith(_LINE_SUFFIXES):
        yield from _streamed_lines(path)
        return
    data = _read_bytes(path)
    if not data.strip():
        raise RecordError("empty file")
    if select_log_file is not None:
        selected = select_log_file(data)
        if selected is not None:
            yield None, selected
            return
    try:
        document = _loads(data)
    except (ValueError, RecursionError) as whole_file_error:
        yield from _lines_of(data, whole_file_error)
        return
    yield None, document


def _outline_selector(keep: KeepTest | None) -> LogFileSelector | None:
    """What selects a log file's records on their outlines for `keep`, if anything can."""
    if not isinstance(keep, OutlineTest):
        return None
    # Only scans read log files: the handlers never pay for this import.
    from rootwatch.outlines import OutlineSelector  # noqa: PLC0415

    return OutlineSelector(keep.test)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RecordError(f"cannot read: {error.strerror or error}") from None
    if data.startswith(_GZIP_MAGIC):
        try:
            data = _gunzip(data)
        except (OSError, EOFError, zlib.error) as error:
            raise RecordError(f"not a valid gzip file: {error}") from None
    return data.removeprefix(codecs.BOM_UTF8)


def _gunzip(data: bytes) -> bytes:
    """`gzip.decompress`, without its copies for the usual file of one whole member."""
    member = zlib.decompressobj(wbits=_GZIP_WBITS)
    try:
        content = member.decompress(data)
    except zlib.error:
        content = None
    if content is not None and member.eof and not member.unused_data:
        return content
    # Several members, padding or damage: gzip reads them, and says what is wrong.
    return gzip.decompress(data)


def _lines_of(data: bytes, whole_file_error: Exception) -> Iterator[tuple[str | None, Any]]:
    """A `.json` file that is not one JSON document may be JSON lines: it is when its first
    line is JSON on its own; otherwise it is malformed JSON."""
    lines = data.split(b"\n")
    first = next(index for index, line in enumerate(lines) if line.strip())
    try:
        _loads(lines[first])
    except (ValueError, RecursionError):
        raise RecordError(f"not valid JSON: {whole_file_error}") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield _parsed_line(number, line)


def _streamed_lines(path: Path) -> Iterator[tuple[str | None, Any]]:
    number = 0
    try:
        with path.open("rb") as probe:
            compressed = probe.read(2) == _GZIP_MAGIC
        with gzip.open(path, "rb") if compressed else path.open("rb") as stream:
            for number, line in enumerate(stream, start=1):
                text = line.removeprefix(codecs.BOM_UTF8) if number == 1 else line
                if text.strip():
                    yield _parsed_line(number, text)
    except OSError as error:
        reason = error.strerror or str(error)
        raise RecordError(f"cannot read: {reason}", position=_line(number)) from None
    except (EOFError, zlib.error) as error:
        raise RecordError(f"not a valid gzip file: {error}", position=_line(number)) from None
    if number == 0:
        raise RecordError("empty file")


def _parsed_line(number: int, line: bytes) -> tuple[str | None, Any]:
    try:
        return _line(number), _loads(line)
    except (ValueError, RecursionError) as error:
        return _line(number), _BadLine(f"not valid JSON: {error}")


def _line(number: int) -> str | None:
    return f"line {number}" if number else None


# --- values -----------------------------------------------------------------------------------


def _looks_like_record(document: Mapping[str, Any]) -> bool:
    return any(key in document for key in _RECORD_KEYS)


def _is_event(document: Mapping[str, Any]) -> bool:
    return "detail" in document and ("detail-type" in document or "source" in document)


def _is_cloudtrail_event(event: Mapping[str, Any]) -> bool:
    """An EventBridge event that carries, or says it carries, a CloudTrail record. Other
    events (schedules, service notifications) hold no record and are passed over."""
    detail = event.get("detail")
    if isinstance(detail, dict) and _looks_like_record(detail):
        return True
    detail_type = event.get("detail-type")
    return isinstance(detail_type, str) and detail_type.endswith(_CLOUDTRAIL_DETAIL_TYPE_END)


def _is_digest(document: Mapping[str, Any]) -> bool:
    """A CloudTrail digest file: it sits beside the logs and holds no events."""
    return "digestStartTime" in document and "logFiles" in document


def _required(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None or value == "":
        raise RecordError(f"missing {key}")
    if not isinstance(value, str):
        raise RecordError(f"{key} is {_kind(value)}, not a string")
    return value


def _event_time(value: Any) -> datetime:
    if value is None or value == "":
        raise RecordError("missing eventTime")
    if not isinstance(value, str):
        raise RecordError(f"eventTime is {_kind(value)}, not a string")
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise RecordError(f"eventTime {value[:40]!r} is not an ISO 8601 time") from None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _flag(value: Any) -> bool | None:
    """CloudTrail writes some booleans as JSON booleans and others as "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _at(outer: str | None, inner: str) -> str:
    return f"{outer}, {inner}" if outer else inner
