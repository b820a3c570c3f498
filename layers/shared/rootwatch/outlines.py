"""CloudTrail log files tested record by record on each record's outline, with msgspec.

A scan keeps about one record in a thousand, and decoding every record into Python objects
only to free them again is most of its work. Here a log file's records are cut out as raw
JSON, each is decoded only as far as its outline (`eventName` and `userIdentity.type`), and
only the records the keep test takes are decoded whole, by orjson as on the plain path.

The result is what decoding the whole file with orjson and testing every record gives.
Where that cannot be promised the result is None, and the file is read the plain way: when
it is not exactly `{"Records": [...]}` or msgspec refuses it, and where msgspec, skipping
what it does not decode, checks less than orjson: invalid UTF-8, and nesting deeper than
orjson allows. One difference is left: a number too large for a double (`1e400`, or an
integer of 309 digits) in a record not kept. orjson refuses the whole file for it; here the
file is read. CloudTrail writes no such number, and finding one would mean scanning every
byte once more, which costs most of what this saves.

A record whose outline has another shape (a number for a name, a string for an identity)
is decoded whole and tested as the plain path tests it.

Only scans import this; the Lambda handlers never do.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import orjson
from msgspec import UNSET, Raw, Struct, UnsetType

from rootwatch.reader import KeepTest, SelectedRecords

# orjson refuses a document nested deeper than this. A record sits inside the log file's
# object and its Records array, so it may itself be nested two levels less.
ORJSON_MAX_DEPTH: Final = 1024
RECORD_MAX_DEPTH: Final = ORJSON_MAX_DEPTH - 2
# Distinct outlines whose answer is remembered; a file of made-up names cannot grow it.
_REMEMBERED_OUTLINES: Final = 4096


class _Identity(Struct, frozen=True, gc=False):
    type: str | UnsetType | None = UNSET


class _Outline(Struct, frozen=True, gc=False):
    """What the keep test reads of a record; UNSET where the record has no such key."""

    eventName: str | UnsetType | None = UNSET
    userIdentity: _Identity | UnsetType | None = UNSET

    def as_mapping(self) -> dict[str, Any]:
        """The record reduced to its outline: the keys it has, with their values."""
        outline: dict[str, Any] = {}
        if self.eventName is not UNSET:
            outline["eventName"] = self.eventName
        identity = self.userIdentity
        if identity is None:
            outline["userIdentity"] = None
        elif isinstance(identity, _Identity):
            outline["userIdentity"] = {} if identity.type is UNSET else {"type": identity.type}
        return outline


class _LogFile(Struct, forbid_unknown_fields=True):
    Records: list[Raw]


_decode_log_file: Final = msgspec.json.Decoder(_LogFile).decode
_decode_outline: Final = msgspec.json.Decoder(_Outline).decode


class OutlineSelector:
    """Selects the records of log files by `keep`, a test of a record's outline alone.

    `keep` must read nothing but the keys of the outline (see `reader.OutlineTest`) and
    give the same answer for the same outline: answers are remembered across files.
    """

    def __init__(self, keep: KeepTest) -> None:
        self._keep = keep
        self._answers: dict[_Outline, bool] = {}

    def __call__(self, data: bytes) -> SelectedRecords | None:
        """The records of the log file `data` that `keep` takes, or that are not objects,
        decoded whole; None when the file must be read the plain way."""
        try:
            return self._select(data)
        except orjson.JSONDecodeError:
            # orjson refused a record msgspec took: the plain way reads the file and says so.
            return None

    def _select(self, data: bytes) -> SelectedRecords | None:
        if not _is_utf8(data):
            return None
        try:
            records = _decode_log_file(data).Records
        except (msgspec.DecodeError, RecursionError):
            return None
        if not _nested_within_orjson_limit(data, records):
            return None
        # Every record is decoded as far as needed before any is tested, so a file sent the
        # plain way has not been half tested this way.
        try:
            outlines = _outlines(records)
        except (msgspec.DecodeError, RecursionError):
            return None
        items: list[tuple[int, Any]] = []
        for index, outline in enumerate(outlines):
            if isinstance(outline, _Outline):
                if self._kept(outline):
                    items.append((index, _decode_whole(records[index])))
            elif not isinstance(outline, dict) or self._keep(outline):
                # A record of another shape, decoded whole, is tested as the plain path does.
                items.append((index, outline))
        return SelectedRecords(count=len(records), items=items)

    def _kept(self, outline: _Outline) -> bool:
        answer = self._answers.get(outline)
        if answer is None:
            answer = self._keep(outline.as_mapping())
            if len(self._answers) >= _REMEMBERED_OUTLINES:
                self._answers.clear()
            self._answers[outline] = answer
        return answer


def _is_utf8(data: bytes) -> bool:
    """msgspec does not check the UTF-8 of what it skips; orjson refuses a file for it."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _nested_within_orjson_limit(data: bytes, records: list[Raw]) -> bool:
    """Whether orjson would find the file nested no deeper than it allows, as far as what
    msgspec skipped can tell: True when it surely would."""
    # Outside the records: the log file's braces, a comma between records, and what msgspec
    # skipped unseen (an earlier Records key repeated). Too few bytes to nest too deep? (A
    # file with spaces between its records, as CloudTrail does not write, soon is not.)
    outside = len(data) - sum(map(len, records)) - max(len(records) - 1, 0)
    if outside > 2 * RECORD_MAX_DEPTH:
        return False
    # A record nested too deep holds more opening brackets than that, each one closed.
    long_records = (raw for raw in records if len(raw) > 2 * RECORD_MAX_DEPTH)
    return all(_openings(raw) <= RECORD_MAX_DEPTH for raw in long_records)


def _outlines(records: list[Raw]) -> list[Any]:
    """Each record's outline, or the record decoded whole when its outline has another shape."""
    try:
        return list(map(_decode_outline, records))
    except msgspec.ValidationError:
        return [_outline_or_whole(raw) for raw in records]


def _outline_or_whole(raw: Raw) -> Any:
    try:
        return _decode_outline(raw)
    except msgspec.ValidationError:
        return _decode_whole(raw)


def _openings(raw: Raw) -> int:
    """Opening brackets in a record, in strings too: at least how deep it is nested."""
    text = bytes(raw)
    return text.count(b"{") + text.count(b"[")


def _decode_whole(raw: Raw) -> Any:
    return orjson.loads(memoryview(raw))
