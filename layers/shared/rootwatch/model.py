"""Typed values shared by every part of rootwatch: records, severities, classifications."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum
from typing import Any, Literal

from msgspec import Struct, field

Outcome = Literal["success", "failure"]


def repr_without(value: Struct, *left_out: str) -> str:
    """`value`'s repr without the fields that hold a whole event, which must not reach logs."""
    shown = ", ".join(
        f"{name}={getattr(value, name)!r}"
        for name in value.__struct_fields__
        if name not in left_out
    )
    return f"{type(value).__name__}({shown})"


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None

    def lowered(self) -> Severity:
        return Severity(max(self - 1, Severity.INFO))


class CloudTrailRecord(Struct, frozen=True):
    """The fields of one CloudTrail record that rootwatch reasons about.

    `raw` keeps the record as received so the audit log can store it whole.
    `envelope_account` is the `account` of the EventBridge envelope when the record
    arrived inside one (absent for raw CloudTrail files and in moto's deliveries).
    """

    event_id: str
    event_time: datetime
    event_source: str
    event_name: str
    aws_region: str
    account_id: str
    user_identity_type: str | None
    principal_arn: str | None = None
    principal_account_id: str | None = None
    user_name: str | None = None
    session_issuer_type: str | None = None
    session_issuer_arn: str | None = None
    assumed_root: bool = False
    mfa_authenticated: bool | None = None
    invoked_by: str | None = None
    event_type: str | None = None
    read_only: bool | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    additional_event_data: Mapping[str, Any] = field(default_factory=dict)
    request_parameters: Mapping[str, Any] = field(default_factory=dict)
    response_elements: Mapping[str, Any] = field(default_factory=dict)
    envelope_account: str | None = None
    envelope_source: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return repr_without(self, "raw")


class PlannedWindow(Struct, frozen=True):
    """Expected root use declared with `rootwatch expect`."""

    window_id: str
    account_id: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    reason: str

    def covers(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


class Classification(Struct, frozen=True):
    """What rootwatch concludes about one record it keeps (root activity or tamper)."""

    severity: Severity
    rules: tuple[str, ...]
    summary: str
    is_root: bool
    tamper: bool
    outcome: Outcome
    mfa: bool | None
    assumed_root: bool
    invoked_by: str | None
    planned_by: str | None = None
    planned_reason: str | None = None
