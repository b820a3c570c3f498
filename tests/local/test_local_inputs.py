"""Input files become events for the hub bus, as EventBridge would deliver them."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rootwatch.local.inputs import from_record, from_value, read_inputs
from rootwatch.reader import RecordError


def _record(event_id: str, **overrides: Any) -> dict[str, Any]:
    record = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "Root", "accountId": "111122223333"},
        "eventTime": "2026-11-28T14:02:11Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "eventID": event_id,
        "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "111122223333",
    }
    record.update(overrides)
    return record


def _envelope(event_id: str, **overrides: Any) -> dict[str, Any]:
    envelope = {
        "version": "0",
        "id": f"envelope-{event_id}",
        "detail-type": "AWS Console Sign In via CloudTrail",
        "source": "aws.signin",
        "account": "111122223333",
        "time": "2026-11-28T14:02:11Z",
        "region": "us-east-1",
        "resources": [],
        "detail": _record(event_id),
    }
    envelope.update(overrides)
    return envelope


def test_records_are_wrapped_as_eventbridge_wraps_cloudtrail() -> None:
    wrapped = from_record(_record("e1"))
    assert wrapped.source == "aws.signin"
    assert wrapped.detail_type == "AWS Console Sign In via CloudTrail"
    assert wrapped.time == datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)
    assert wrapped.account_id == "111122223333"
    api_call = from_record(_record("e2", eventSource="iam.amazonaws.com", eventType="AwsApiCall"))
    assert (api_call.source, api_call.detail_type) == ("aws.iam", "AWS API Call via CloudTrail")
    service = from_record(_record("e3", eventType="AwsServiceEvent"))
    assert service.detail_type == "AWS Service Event via CloudTrail"


def test_eventbridge_events_are_put_as_they_are() -> None:
    event = from_value(
        _envelope("e1", source="custom.forged", **{"detail-type": "Anything"}, resources=["r"])
    )
    assert (event.source, event.detail_type, event.resources) == (
        "custom.forged",
        "Anything",
        ("r",),
    )
    entry = event.entry("hub")
    assert entry["EventBusName"] == "hub"
    assert json.loads(entry["Detail"])["eventID"] == "e1"
    assert entry["Time"] == datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)


def test_a_value_that_is_neither_is_an_error() -> None:
    with pytest.raises(RecordError):
        from_value(["not", "an", "event"])


def test_every_input_form_is_read(tmp_path: Path) -> None:
    (tmp_path / "a-envelope.json").write_text(json.dumps(_envelope("e1")))
    (tmp_path / "b-envelopes.json").write_text(json.dumps([_envelope("e2"), _envelope("e3")]))
    with gzip.open(tmp_path / "c-log.json.gz", "wt") as log_file:
        json.dump({"Records": [_record("e4"), _record("e5")]}, log_file)
    (tmp_path / "d-lines.jsonl").write_text(
        "\n".join(json.dumps(item) for item in (_record("e6"), _envelope("e7")))
    )
    (tmp_path / "e-record.json").write_text(json.dumps(_record("e8")))
    scheduled = _envelope("e9", source="aws.events", **{"detail-type": "Scheduled Event"})
    scheduled["detail"] = {}
    (tmp_path / "f-heartbeat.json").write_text(json.dumps(scheduled))
    (tmp_path / "g-broken.json").write_text("{not json")
    errors: list[RecordError] = []
    events = list(read_inputs([tmp_path], on_error=errors.append))
    detail_ids = [event.detail.get("eventID") for event in events]
    assert detail_ids == ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", None]
    assert events[-1].detail_type == "Scheduled Event"
    assert events[-1].source == "aws.events"
    assert {event.source for event in events[:-1]} == {"aws.signin"}
    assert events[1].origin.endswith("b-envelopes.json[0]")
    assert len(errors) == 1
    assert "g-broken.json" in str(errors[0])
