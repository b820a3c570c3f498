"""Result rows, goals and their plain-text rendering, shared by benchmark sections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """One tool's best run over a set of files."""

    tool: str
    records: int
    files: int
    seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    selected: int | None = None

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class Goal:
    """A target and what was measured against it; `holds` is None when it was not judged."""

    description: str
    holds: bool | None
    measured: str

    @property
    def verdict(self) -> str:
        return {True: "ok", False: "FAILED", None: "not judged"}[self.holds]


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def format_rows(rows: Sequence[Row]) -> str:
    header = ("tool", "records", "files", "seconds", "CPU s", "records/s", "peak RSS", "selected")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.tool,
                f"{row.records:,}",
                f"{row.files:,}",
                f"{row.seconds:.2f}",
                f"{row.cpu_seconds:.2f}",
                f"{row.records_per_second:,.0f}",
                megabytes(row.peak_rss_bytes),
                "" if row.selected is None else f"{row.selected:,}",
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    rendered = []
    for line in lines:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        rendered.append("  ".join(cells).rstrip())
    return "\n".join(rendered)


def format_goals(goals: Sequence[Goal]) -> str:
    described = max((len(goal.description) for goal in goals), default=0)
    measured = max((len(goal.measured) for goal in goals), default=0)
    return "\n".join(
        f"{goal.description.ljust(described)}  {goal.measured.rjust(measured)}  {goal.verdict}"
        for goal in goals
    )


def exit_status(goals: Sequence[Goal]) -> int:
    """1 when a goal failed, else 0 (goals that were not judged do not fail)."""
    return 1 if any(goal.holds is False for goal in goals) else 0
