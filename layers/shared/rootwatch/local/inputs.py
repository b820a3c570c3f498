"""Input events for the local hub, as EventBridge would put them on the hub bus.

An EventBridge event given whole (a `.json` file holding one, or an array of them) is put
as it is: its source, detail-type, resources, time and detail. Every other input form the
reader accepts (CloudTrail log files, bare records, JSON lines, gzip) yields records, and
each record is wrapped as EventBridge wraps CloudTrail records: detail-type by `eventType`,
source `aws.<service>` from `eventSource`, time from `eventTime`, the record as `detail`.
`account` cannot be set through PutEvents; the record's `recipientAccountId` carries it.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from rootwatch.reader import Reader, RecordError

CLOUDTRAIL_DETAIL_TYPES: Final = {
    "AwsApiCall": "AWS API Call via CloudTrail",
    "AwsConsoleSignIn": "AWS Console Sign In via CloudTrail",
    "AwsConsoleAction": "AWS Console Action via CloudTrail",
    "AwsServiceEvent": "AWS Service Event via CloudTrail",
    "AwsCloudTrailInsight": "AWS Insight via CloudTrail",
}
DEFAULT_DETAIL_TYPE: Final = CLOUDTRAIL_DETAIL_TYPES["AwsApiCall"]
_GZIP_MAGIC: Final = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One event for the hub bus: a PutEvents entry (without the bus) and where it came from."""

    source: str
    detail_type: str
    detail: Any
    time: datetime | None
    resources: tuple[str, ...]
    account_id: str | None
    origin: str

    def entry(self, bus: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail),
            "Resources": list(self.resources),
            "EventBusName": bus,
        }
        if self.time is not None:
            entry["Time"] = self.time
        return entry


def is_eventbridge_event(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and "detail" in value
        and ("detail-type" in value or "source" in value)
    )


def from_event(event: Mapping[str, Any], origin: str = "") -> InputEvent:
    """An EventBridge event, put as it is."""
    detail = event.get("detail")
    return InputEvent(
        source=str(event.get("source") or ""),
        detail_type=str(event.get("detail-type") or ""),
        detail=detail,
        time=_time(event.get("time")),
        resources=tuple(str(item) for item in event.get("resources") or []),
        account_id=_text(event.get("account"))
        or (_text(detail.get("recipientAccountId")) if isinstance(detail, Mapping) else None),
        origin=origin,
    )


def from_record(record: Mapping[str, Any], origin: str = "") -> InputEvent:
    """A CloudTrail record, wrapped as EventBridge wraps the records CloudTrail delivers."""
    event_source = str(record.get("eventSource") or "")
    service = event_source.split(".", 1)[0]
    return InputEvent(
        source=f"aws.{service}" if service else "aws.cloudtrail",
        detail_type=CLOUDTRAIL_DETAIL_TYPES.get(
            str(record.get("eventType") or ""), DEFAULT_DETAIL_TYPE
        ),
        detail=dict(record),
        time=_time(record.get("eventTime")),
        resources=(),
        account_id=_text(record.get("recipientAccountId"))
        or _text((record.get("userIdentity") or {}).get("accountId")),
        origin=origin,
    )


def from_value(value: Any, origin: str = "") -> InputEvent:
    """Either form: an EventBridge event as it is, or a record wrapped."""
    if is_eventbridge_event(value):
        return from_event(value, origin)
    if isinstance(value, Mapping):
        return from_record(value, origin)
    raise RecordError(f"expected an EventBridge event or a CloudTrail record, got {value!r:.60}")


def read_inputs(
    paths: Iterable[str | os.PathLike[str]], *, on_error: Callable[[RecordError], None]
) -> Iterator[InputEvent]:
    """Every input event under `paths`, file after file; errors go to `on_error`."""
    reader = Reader(on_error=on_error)
    for path in reader.input_files(paths):
        events = _whole_events(path)
        if events is not None:
            yield from events
            continue
        for record in reader.read_file(path):
            wrapped = from_record(record.raw, origin=str(path))
            if record.envelope_source:
                wrapped = InputEvent(
                    source=record.envelope_source,
                    detail_type=wrapped.detail_type,
                    detail=wrapped.detail,
                    time=wrapped.time,
                    resources=(),
                    account_id=record.account_id,
                    origin=wrapped.origin,
                )
            yield wrapped


def _whole_events(path: Path) -> list[InputEvent] | None:
    """The events of a JSON document made of EventBridge events only, else None."""
    if not path.name.endswith((".json", ".json.gz")):
        return None
    try:
        data = path.read_bytes()
        if data.startswith(_GZIP_MAGIC):
            data = gzip.decompress(data)
        document = json.loads(data)
    except (OSError, ValueError, EOFError):
        return None
    items = document if isinstance(document, list) else [document]
    if not items or not all(is_eventbridge_event(item) for item in items):
        return None
    if len(items) == 1 and not isinstance(document, list):
        return [from_event(items[0], origin=str(path))]
    return [from_event(item, origin=f"{path}[{index}]") for index, item in enumerate(items)]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
