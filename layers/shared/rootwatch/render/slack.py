"""Alerts as Slack incoming-webhook payloads (Block Kit, mrkdwn).

Our wording goes through `slack_text` (no markup, `& < >` escaped); every
attacker-controlled value goes into an inline code span through `slack_code`, so it is
shown verbatim and can form no mention, link or formatting. The only `<...>` sequence in
a payload is the CloudTrail link, built from a validated region and event id.
"""

from __future__ import annotations

from typing import Any

from rootwatch.alerts import Alert
from rootwatch.render.facts import Fact, Line, Link, Value, Words, build_message
from rootwatch.render.text import ELLIPSIS, edge_spaces, slack_code, slack_text

# Block Kit limits: section text 3000 characters, 10 fields of 2000, 50 blocks.
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
FIELDS_PER_SECTION = 10
BLOCK_LIMIT = 50
# Bound on one piece of our own wording (summaries are short; this only guards).
WORDS_LIMIT = 500
# The notification text shown where blocks are not (push notifications, previews).
FALLBACK_LIMIT = 600


def render_slack(alert: Alert) -> dict[str, Any]:
    message = build_message(alert)
    headline = f"{message.icon} {render_line(message.headline)}"
    context = render_line(message.context)
    blocks: list[dict[str, Any]] = [_section(headline)]
    if message.compact:
        context_parts = [context, *(_note(note) for note in message.notes)]
        if message.links:
            context_parts.append(render_line(message.links))
        blocks.append(_context(" · ".join(part for part in context_parts if part)))
    else:
        if context:
            blocks.append(_section(context))
        fields = [_field(fact) for fact in message.facts if not fact.detail_only]
        for start in range(0, len(fields), FIELDS_PER_SECTION):
            blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
        blocks.extend(_section(_note(note)) for note in message.notes)
        if message.links:
            blocks.append(_section(render_line(message.links)))
    return {
        "text": _cap(f"{headline} · {context}" if context else headline, FALLBACK_LIMIT),
        "blocks": blocks[:BLOCK_LIMIT],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def render_line(line: Line) -> str:
    return "".join(_segment(segment) for segment in line)


def _segment(segment: Words | Value | Link) -> str:
    if isinstance(segment, Value):
        return slack_code(segment.text, segment.limit)
    if isinstance(segment, Link):
        return f"<{segment.url}|{slack_text(segment.label, WORDS_LIMIT)}>"
    leading, trailing = edge_spaces(segment.text)
    text = slack_text(segment.text, WORDS_LIMIT)
    if segment.strong and text:
        # Bold only binds when no space sits just inside the asterisks.
        text = f"*{text}*"
    return f"{leading}{text}{trailing}"


def _note(note: Fact) -> str:
    return f"*{slack_text(note.label, WORDS_LIMIT)}*  {render_line(note.line)}"


def _field(fact: Fact) -> dict[str, str]:
    text = f"*{slack_text(fact.label, WORDS_LIMIT)}*\n{render_line(fact.line)}"
    return {"type": "mrkdwn", "text": _cap(text, FIELD_TEXT_LIMIT)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cap(text, SECTION_TEXT_LIMIT)}}


def _context(text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _cap(text, SECTION_TEXT_LIMIT)}],
    }


def _cap(text: str, limit: int) -> str:
    """A last guard on Block Kit limits; values are bounded well below them already.

    The text is already escaped, so a cut cannot create markup; it never splits an entity.
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    ampersand = cut.rfind("&")
    if ampersand >= 0 and ";" not in cut[ampersand:]:
        cut = cut[:ampersand]
    return cut.rstrip() + ELLIPSIS
