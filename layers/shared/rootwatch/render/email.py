"""Alerts as email: a subject line, a plain-text part and an HTML part with the same facts.

Every value is cleaned to one bounded line (no CR/LF can reach a header), defanged so mail
clients do not turn it into a link, and HTML-escaped (quotes included) in the HTML part.
The incident's timeline, when the alert carries it, is a table in both parts.
"""

from __future__ import annotations

import html

from msgspec import Struct

from rootwatch.alerts import Alert, TimelineEntry
from rootwatch.render.facts import Fact, Line, Link, Message, Value, Words, build_message
from rootwatch.render.text import (
    ascii_line,
    clean,
    defang,
    edge_spaces,
    format_time,
    parse_time,
    plural,
    truncate,
)

SUBJECT_LIMIT = 200
# SNS rejects subjects of 100 characters or more, and anything but ASCII.
SNS_SUBJECT_LIMIT = 99
WORDS_LIMIT = 500
TIMELINE_ROWS = 500
_TIMELINE_COLUMNS = ("Time (UTC)", "Event", "Severity", "Region", "Source IP", "Result")
# Longest shown: event names are API action names; source IPs may be IPv6 or a service.
_TIMELINE_LIMITS = (19, 64, 8, 20, 64, 7)


class RenderedEmail(Struct, frozen=True):
    subject: str
    ascii_subject: str
    text: str
    html: str


def render_email(alert: Alert) -> RenderedEmail:
    message = build_message(alert)
    subject = _subject(alert, message)
    return RenderedEmail(
        subject=subject,
        ascii_subject=ascii_line(subject, SNS_SUBJECT_LIMIT),
        text=_text_body(message),
        html=_html_body(message, subject),
    )


def _subject(alert: Alert, message: Message) -> str:
    account = defang(clean(alert.account.name or "", 80))
    account_id = defang(clean(alert.account.account_id, 40))
    who = f"{account} ({account_id})" if account else account_id
    prefix = "[rootwatch TEST]" if message.is_test else "[rootwatch]"
    return truncate(f"{prefix} {plain_line(message.headline)} · {who}", SUBJECT_LIMIT)


# --- plain text ----------------------------------------------------------------------------


def plain_line(line: Line) -> str:
    return "".join(_plain_segment(segment) for segment in line)


def _plain_segment(segment: Words | Value | Link) -> str:
    if isinstance(segment, Value):
        return defang(clean(segment.text, segment.limit)) or "—"
    if isinstance(segment, Link):
        return f"{clean(segment.label, WORDS_LIMIT)}: {segment.url}"
    leading, trailing = edge_spaces(segment.text)
    return f"{leading}{defang(clean(segment.text, WORDS_LIMIT))}{trailing}"


def _text_body(message: Message) -> str:
    lines = [f"{message.icon} {plain_line(message.headline)}", plain_line(message.context), ""]
    facts = (*message.facts, *message.notes)
    width = max((len(fact.label) for fact in facts), default=0) + 2
    lines += [f"{fact.label:<{width}}{plain_line(fact.line)}" for fact in facts]
    if message.links:
        lines.append("")
        lines += [plain_line((link,)) for link in message.links if not _is_spacing(link)]
    if message.timeline:
        lines += ["", "Timeline", *_text_timeline(message.timeline)]
        if message.timeline_omitted:
            lines.append(_omission(message.timeline_omitted))
    return "\n".join(lines).strip() + "\n"


def _omission(count: int) -> str:
    return f"... and {plural(count, 'more event')} between the first and the latest listed"


def _is_spacing(segment: Words | Value | Link) -> bool:
    return isinstance(segment, Words) and not segment.text.strip()


def _text_timeline(entries: tuple[TimelineEntry, ...]) -> list[str]:
    rows = [_TIMELINE_COLUMNS, *(_timeline_cells(entry) for entry in entries[:TIMELINE_ROWS])]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_TIMELINE_COLUMNS))]
    lines = [
        "  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    hidden = len(entries) - TIMELINE_ROWS
    if hidden > 0:
        lines.append(f"... and {plural(hidden, 'more event')}")
    return lines


def _timeline_cells(entry: TimelineEntry) -> tuple[str, ...]:
    moment = parse_time(entry.event_time)
    when = format_time(moment).removesuffix(" UTC") if moment else clean(entry.event_time, 19)
    limits = iter(_TIMELINE_LIMITS[1:])
    values = (entry.event_name, entry.severity, entry.region, entry.source_ip, entry.outcome)
    return (when, *(defang(clean(value or "", next(limits))) for value in values))


# --- HTML -----------------------------------------------------------------------------------


def html_line(line: Line) -> str:
    return "".join(_html_segment(segment) for segment in line)


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _html_segment(segment: Words | Value | Link) -> str:
    if isinstance(segment, Value):
        text = defang(clean(segment.text, segment.limit))
        return f"<code>{_escape(text)}</code>" if text else "—"
    if isinstance(segment, Link):
        return f'<a href="{_escape(segment.url)}">{_escape(clean(segment.label, WORDS_LIMIT))}</a>'
    leading, trailing = edge_spaces(segment.text)
    text = _escape(defang(clean(segment.text, WORDS_LIMIT)))
    if segment.strong and text:
        text = f"<strong>{text}</strong>"
    return f"{leading}{text}{trailing}"


_CELL = 'style="padding:2px 12px 2px 0;text-align:left;vertical-align:top"'


def _html_fact(fact: Fact) -> str:
    return f"<tr><th {_CELL}>{_escape(fact.label)}</th><td {_CELL}>{html_line(fact.line)}</td></tr>"


def _html_body(message: Message, subject: str) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{_escape(subject)}</title></head>",
        '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;'
        'font-size:14px;color:#1d1c1d">',
    ]
    if message.is_test:
        parts.append(
            '<p style="background:#fff4ce;padding:6px 10px"><strong>TEST</strong> '
            "· this message only proves that alerts reach you; no action needed</p>"
        )
    parts += [
        f'<p style="font-size:17px">{_escape(message.icon)} {html_line(message.headline)}</p>',
        f"<p>{html_line(message.context)}</p>",
        '<table style="border-collapse:collapse">',
        *(_html_fact(fact) for fact in (*message.facts, *message.notes)),
        "</table>",
    ]
    if message.links:
        parts.append(f"<p>{html_line(message.links)}</p>")
    if message.timeline:
        parts += ["<h3>Timeline</h3>", _html_timeline(message.timeline)]
        if message.timeline_omitted:
            parts.append(f"<p>{_escape(_omission(message.timeline_omitted))}</p>")
    parts += ['<p style="color:#616061;font-size:12px">Sent by rootwatch.</p>', "</body></html>"]
    return "\n".join(parts) + "\n"


def _html_timeline(entries: tuple[TimelineEntry, ...]) -> str:
    header = "".join(f"<th {_CELL}>{_escape(title)}</th>" for title in _TIMELINE_COLUMNS)
    rows = [f"<tr>{header}</tr>"]
    for entry in entries[:TIMELINE_ROWS]:
        cells = "".join(f"<td {_CELL}>{_escape(cell)}</td>" for cell in _timeline_cells(entry))
        rows.append(f"<tr>{cells}</tr>")
    hidden = len(entries) - TIMELINE_ROWS
    if hidden > 0:
        rows.append(f'<tr><td colspan="6">… and {plural(hidden, "more event")}</td></tr>')
    return '<table style="border-collapse:collapse">' + "\n".join(rows) + "</table>"
