"""Printing rows on the command line: JSON lines, JSON, CSV, tables, and a progress bar.

Every command prints rows (mappings of plain values) through these, so `--output` means the
same everywhere. Tables fit the terminal (100 columns when there is none) by shrinking the
columns that allow it; cells are cut with an ellipsis and stripped of control characters,
so text from CloudTrail cannot drive the terminal. CSV cells that a spreadsheet would run
as a formula are quoted with a leading apostrophe.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, TextIO

from rootwatch.keys import iso
from rootwatch.model import Severity

DEFAULT_WIDTH: Final = 100
_GAP: Final = "  "
_ELLIPSIS: Final = "…"
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
# C0 and C1 control characters and DEL, which terminals may interpret.
_CONTROL: Final = {code: "?" for code in (*range(0x20), *range(0x7F, 0xA0))}

_dumps: Callable[[Any], str]
try:
    import orjson

    def _dumps(value: Any) -> str:
        return str(
            orjson.dumps(value, default=_jsonable, option=orjson.OPT_PASSTHROUGH_DATETIME),
            "utf-8",
        )
except ImportError:  # pragma: no cover - orjson is a dependency; the fallback keeps parity

    def _dumps(value: Any) -> str:
        return json.dumps(value, default=_jsonable, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: the row key it shows, its header, and the widest it grows."""

    key: str
    header: str
    max_width: int | None = None


def write_jsonl(rows: Iterable[Mapping[str, Any]], stream: TextIO) -> None:
    for row in rows:
        stream.write(_dumps(_labelled(row)))
        stream.write("\n")


def write_json(rows: Iterable[Mapping[str, Any]], stream: TextIO) -> None:
    """One JSON array, indented for reading."""
    json.dump(
        [_labelled(row) for row in rows], stream, default=_jsonable, ensure_ascii=False, indent=2
    )
    stream.write("\n")


def write_csv(rows: Iterable[Mapping[str, Any]], keys: Sequence[str], stream: TextIO) -> None:
    """A header row of `keys`, then one row each; lists join with `;`, null is empty."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([_csv_cell(row.get(key)) for key in keys])


def write_table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[Column],
    stream: TextIO,
    *,
    shrink: Sequence[tuple[str, int]] = (),
    width: int | None = None,
) -> None:
    lines = table_lines(rows, columns, shrink=shrink, width=width or terminal_width())
    for line in lines:
        stream.write(line)
        stream.write("\n")


def table_lines(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    shrink: Sequence[tuple[str, int]] = (),
    width: int,
) -> list[str]:
    """The table as lines of at most `width` characters, as far as `shrink` allows.

    `shrink` lists (column key, narrowest width) steps, applied in order while the table is
    too wide; a column may appear more than once to give up width in stages. Columns it
    does not name keep their natural width.
    """
    cells = [[table_cell(row.get(column.key)) for column in columns] for row in rows]
    widths = []
    for index, column in enumerate(columns):
        natural = max([len(column.header), *(len(line[index]) for line in cells)])
        widths.append(min(natural, column.max_width) if column.max_width else natural)
    excess = sum(widths) + len(_GAP) * (len(columns) - 1) - width
    positions = {column.key: index for index, column in enumerate(columns)}
    for key, narrowest in shrink:
        if excess <= 0:
            break
        index = positions[key]
        cut = min(excess, max(widths[index] - narrowest, 0))
        widths[index] -= cut
        excess -= cut
    headers = [column.header for column in columns]
    return [_table_line(line, widths) for line in (headers, *cells)]


def table_cell(value: Any) -> str:
    """A value as a table shows it: `-` for null, yes/no, lists joined, times in UTC."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (list, tuple)):
        return ",".join(table_cell(item) for item in value)
    return str(value).translate(_CONTROL)


def terminal_width(default: int = DEFAULT_WIDTH) -> int:
    """The terminal's width (`COLUMNS` first), or `default` when output is not a terminal."""
    return shutil.get_terminal_size((default, 24)).columns


def _table_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    fitted = [_fit(cell, size) for cell, size in zip(cells, widths, strict=True)]
    return _GAP.join(fitted).rstrip()


def _fit(text: str, size: int) -> str:
    if len(text) > size:
        return text[: max(size - 1, 0)] + _ELLIPSIS if size > 0 else ""
    return text.ljust(size)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (list, tuple)):
        return ";".join(_csv_cell(item) for item in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _labelled(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with severities as their labels (JSON encoders write an IntEnum as a number)."""
    return {
        key: value.label if isinstance(value, Severity) else value for key, value in row.items()
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value.astimezone(UTC))
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class ProgressBar:
    """A one-line progress bar over a number of bytes on a terminal stream, redrawn at most
    ten times a second."""

    _REDRAW_SECONDS: Final = 0.1
    _SLOTS: Final = 30

    def __init__(self, total_bytes: int, stream: TextIO) -> None:
        self._total = max(total_bytes, 1)
        self._stream = stream
        self._done = 0
        self._drawn_at = 0.0
        self._visible = False

    def advance(self, amount: int) -> None:
        self._done = min(self._done + amount, self._total)
        now = time.monotonic()
        if now - self._drawn_at >= self._REDRAW_SECONDS or self._done == self._total:
            self._drawn_at = now
            self._draw()

    def clear(self) -> None:
        """Erase the bar, e.g. before printing a message; the next advance redraws it."""
        if self._visible:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._visible = False

    def _draw(self) -> None:
        fraction = self._done / self._total
        filled = round(fraction * self._SLOTS)
        bar = "#" * filled + "." * (self._SLOTS - filled)
        sizes = f"{byte_size(self._done)} of {byte_size(self._total)}"
        self._stream.write(f"\r[{bar}] {fraction:4.0%}  {sizes}")
        self._stream.flush()
        self._visible = True


def byte_size(amount: int) -> str:
    """A byte count for people: 512 B, 12.3 KB, 1.5 GB."""
    if amount < 1024:
        return f"{amount} B"
    size = float(amount)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"
