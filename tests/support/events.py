"""Sample EventBridge events from events/, and variants of them for tests."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rootwatch.keys import iso

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample_event(name: str) -> dict[str, Any]:
    """The EventBridge event of `events/<name>.json`."""
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def variant(
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    at: datetime | None = None,
    source_ip: str | None = None,
    account: str | None = None,
    source: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """A copy of `event` with a new id, time, source IP, account or envelope source.

    Other keyword arguments replace top-level fields of the CloudTrail record (`detail`).
    """
    changed = copy.deepcopy(event)
    record = changed["detail"]
    if event_id is not None:
        record["eventID"] = event_id
        changed["id"] = f"envelope-{event_id}"
    if at is not None:
        record["eventTime"] = changed["time"] = iso(at)
    if source_ip is not None:
        record["sourceIPAddress"] = source_ip
    if account is not None:
        changed["account"] = record["recipientAccountId"] = account
        identity = record.get("userIdentity") or {}
        if identity.get("type") == "Root":
            identity["accountId"] = account
            identity["principalId"] = account
            identity["arn"] = f"arn:aws:iam::{account}:root"
    if source is not None:
        changed["source"] = source
    record.update(detail)
    return changed
