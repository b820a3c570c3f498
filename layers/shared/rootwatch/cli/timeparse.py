"""Times and durations as people type them on the command line.

A moment is `now`, a duration back from now (`7d`, `24h`, `30m`, `90s`, `2w`, or a sum
such as `1h30m`), or ISO 8601 (`2026-11-28`, `2026-11-28T14:02`, `2026-11-28 14:02:11Z`,
`2026-11-28T16:02:11+02:00`); a time without a zone is UTC. Every result is an aware
UTC datetime.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

_UNITS: Final = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_PART: Final = re.compile(r"(\d+)([smhdw])")
_DURATION: Final = re.compile(r"(?:\d+[smhdw])+")
# Far enough for any retention; keeps arithmetic away from datetime's limits.
MAX_DURATION: Final = timedelta(days=100 * 366)


def parse_duration(text: str) -> timedelta:
    """`2h`, `90m`, `1h30m`, `7d`, `2w`, `45s` (case-insensitive) as a timedelta."""
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.fullmatch(compact):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit s, m, h, d or w, "
            "such as 30m, 24h, 7d or 1h30m"
        )
    seconds = sum(
        int(amount) * int(_UNITS[unit].total_seconds()) for amount, unit in _PART.findall(compact)
    )
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is too long a duration (at most 100 years)")
    return timedelta(seconds=seconds)


def parse_moment(text: str, *, now: datetime) -> datetime:
    """A moment: `now`, a duration back from `now`, or ISO 8601 (no zone means UTC)."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty time: use ISO 8601 (2026-11-28T14:00Z) or a duration (24h)")
    if stripped.lower() == "now":
        return now.astimezone(UTC)
    if _DURATION.fullmatch(stripped.lower().replace(" ", "")):
        return now.astimezone(UTC) - parse_duration(stripped)
    return parse_iso(stripped)


def parse_iso(text: str) -> datetime:
    """ISO 8601 date or date and time, with `Z`, an offset or no zone (UTC)."""
    stripped = text.strip()
    # A lower-case `z` or `t` is still ISO 8601 to a person.
    normal = stripped[:10] + stripped[10:].upper() if len(stripped) > 10 else stripped
    try:
        moment = datetime.fromisoformat(normal)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither ISO 8601 (2026-11-28, 2026-11-28T14:02:11Z) "
            "nor a duration (30m, 24h, 7d)"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


def describe_moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
