"""Slack incoming-webhook payloads as text, the way Slack would show them in a channel.

Block Kit blocks become lines (a section's fields in two columns, as Slack lays them out);
mrkdwn becomes what a reader sees: entities decoded, `*bold*`, `_italic_`, `~strike~` and
code spans shown (with terminal styles when `styled`), `<url|label>` as its label, and
`<!channel>`-style control sequences as the mention Slack would make of them, so an
injected mention would be visible here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

WIDTH: Final = 100
_BOLD: Final = ("\x1b[1m", "\x1b[22m")
_ITALIC: Final = ("\x1b[3m", "\x1b[23m")
_STRIKE: Final = ("\x1b[9m", "\x1b[29m")
_CODE: Final = ("\x1b[36m", "\x1b[39m")
_DIM: Final = ("\x1b[2m", "\x1b[22m")
_MENTION: Final = ("\x1b[7m", "\x1b[27m")
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;;[^\x1b]*\x1b\\")
_CONTROL: Final = re.compile(r"<([^<>]*)>")
_PLACEHOLDER: Final = re.compile(r"\x00(\d+)\x00")
_CODE_BLOCK: Final = re.compile(r"```(.*?)```", re.DOTALL)
_CODE_SPAN: Final = re.compile(r"`([^`\n]+)`")
_EMPHASIS: Final = {
    marker: re.compile(
        rf"(?<![\w{re.escape(marker)}]){re.escape(marker)}(?=\S)"
        rf"([^{re.escape(marker)}\n]*?\S){re.escape(marker)}(?![\w{re.escape(marker)}])"
    )
    for marker in "*_~"
}
_STYLES: Final = {"*": _BOLD, "_": _ITALIC, "~": _STRIKE}
_SPECIAL_MENTIONS: Final = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


def render_payload(payload: Any, *, styled: bool = False, width: int = WIDTH) -> str:
    """The message a webhook payload posts, as lines of text."""
    if not isinstance(payload, Mapping):
        return str(payload)
    style = _styler(styled)
    blocks = payload.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return render_mrkdwn(str(payload.get("text") or ""), styled=styled)
    lines: list[str] = []
    for block in blocks:
        lines.extend(_block_lines(block, style, styled, width))
    return "\n".join(lines)


def render_mrkdwn(text: str, *, styled: bool = False) -> str:
    """One mrkdwn string as a reader sees it."""
    style = _styler(styled)
    pieces: list[str] = []
    position = 0
    for match in _CODE_BLOCK.finditer(text):
        pieces.append(_inline(text[position : match.start()], style, styled))
        pieces.append(style(_CODE, _decode_entities(match.group(1).strip("\n"))))
        position = match.end()
    pieces.append(_inline(text[position:], style, styled))
    return "".join(pieces)


def visible_width(text: str) -> int:
    return len(_ANSI.sub("", text))


def _styler(styled: bool) -> Callable[[tuple[str, str], str], str]:
    def style(codes: tuple[str, str], text: str) -> str:
        return f"{codes[0]}{text}{codes[1]}" if styled and text else text

    return style


def _inline(text: str, style: Callable[[tuple[str, str], str], str], styled: bool) -> str:
    pieces: list[str] = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        pieces.append(_formatted(text[position : match.start()], style, styled))
        pieces.append(style(_CODE, _decode_entities(match.group(1))))
        position = match.end()
    pieces.append(_formatted(text[position:], style, styled))
    return "".join(pieces)


def _formatted(text: str, style: Callable[[tuple[str, str], str], str], styled: bool) -> str:
    # Control sequences first, set aside so emphasis markers inside them stay literal.
    controls: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        controls.append(_control(match.group(1), style, styled))
        return f"\x00{len(controls) - 1}\x00"

    text = _CONTROL.sub(set_aside, text)
    for marker, pattern in _EMPHASIS.items():
        text = _emphasize(text, pattern, _STYLES[marker], style)
    text = _decode_entities(text)
    return _PLACEHOLDER.sub(lambda match: controls[int(match.group(1))], text)


def _emphasize(
    text: str,
    pattern: re.Pattern[str],
    codes: tuple[str, str],
    style: Callable[[tuple[str, str], str], str],
) -> str:
    def replace(match: re.Match[str]) -> str:
        return style(codes, match.group(1))

    return pattern.sub(replace, text)


def _control(inner: str, style: Callable[[tuple[str, str], str], str], styled: bool) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("!"):
        name = target[1:].split("^", 1)[0]
        shown = _SPECIAL_MENTIONS.get(name) or f"@{label or name}"
        return style(_MENTION, shown)
    if target.startswith(("@", "#")):
        return style(_MENTION, f"{target[0]}{label or target[1:]}")
    shown = label or target
    if styled:
        return f"\x1b]8;;{target}\x1b\\{style(_BOLD, shown)}\x1b]8;;\x1b\\"
    return shown


def _decode_entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(element: Any, styled: bool) -> str:
    if not isinstance(element, Mapping):
        return ""
    if element.get("type") == "image":
        return str(element.get("alt_text") or "")
    text = element.get("text")
    if isinstance(text, Mapping):
        return _text_of(text, styled)
    if not isinstance(text, str):
        return ""
    if element.get("type") == "mrkdwn":
        return render_mrkdwn(text, styled=styled)
    return text


def _block_lines(
    block: Any, style: Callable[[tuple[str, str], str], str], styled: bool, width: int
) -> list[str]:
    if not isinstance(block, Mapping):
        return []
    kind = block.get("type")
    if kind == "section":
        lines: list[str] = []
        if block.get("text"):
            lines.extend(_text_of(block["text"], styled).split("\n"))
        fields = block.get("fields")
        if isinstance(fields, list) and fields:
            lines.extend(_columns([_text_of(field, styled) for field in fields], width))
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping) and accessory.get("type") == "button":
            lines.append(f"[{_text_of(accessory, styled)}]")
        return lines
    if kind == "context":
        elements = block.get("elements") or []
        parts = [_text_of(element, styled) for element in elements]
        return [style(_DIM, "  ".join(part for part in parts if part))]
    if kind == "header":
        return [style(_BOLD, _text_of(block, styled))]
    if kind == "divider":
        return ["─" * width]
    if kind == "actions":
        buttons = [f"[{_text_of(element, styled)}]" for element in block.get("elements") or []]
        return ["  ".join(buttons)]
    return [f"[{kind} block]"]


def _columns(cells: Iterable[str], width: int) -> list[str]:
    """Fields two by two, as Slack shows them: a left and a right column."""
    column = (width - 2) // 2
    cell_list = list(cells)
    lines: list[str] = []
    for start in range(0, len(cell_list), 2):
        left = cell_list[start].split("\n")
        right = cell_list[start + 1].split("\n") if start + 1 < len(cell_list) else []
        for index in range(max(len(left), len(right))):
            left_text = left[index] if index < len(left) else ""
            right_text = right[index] if index < len(right) else ""
            if not right_text:
                lines.append(left_text)
                continue
            padding = " " * max(column - visible_width(left_text), 1)
            lines.append(f"{left_text}{padding}  {right_text}")
    return lines
