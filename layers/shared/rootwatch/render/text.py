"""Text helpers shared by the renderers: cleaning and escaping, user agents, times, links.

Everything an alert carries that came from a CloudTrail record (user agent, request
parameters, names, addresses, event names) is attacker-controlled. `clean` makes any such
string one bounded line of visible characters; each channel then escapes it its own way
(`slack_code` for Slack mrkdwn, `html.escape` for email).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

ELLIPSIS = "…"
TIMES = "\u00d7"
# Invisible, so copying the text still reads the same, and it keeps Slack and mail
# clients from turning `https://...`, `www.` or `@channel` into links or mentions.
WORD_JOINER = "\u2060"

_LINE_BREAKS = "\r\n\t\v\f\x85\u2028\u2029"
# Control (Cc), format (Cf: bidi overrides, zero-width characters), surrogate (Cs) and
# private-use (Co) characters can hide or reorder text; none belongs in an alert.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_WHITESPACE_RUN = re.compile(r"\s+")
_URL_SCHEME = re.compile(r"://")
_WWW = re.compile(r"(?i)\bwww\.")
_BROADCAST_MENTION = re.compile(r"(?i)@(?=(?:channel|here|everyone)\b)")
# Slack mrkdwn markup characters, replaced by look-alikes that carry no formatting.
# (asterisk operator, fullwidth low line, tilde operator, modifier letter grave accent)
BACKTICK_LOOKALIKE = "\u02cb"
_MRKDWN_LOOKALIKES = str.maketrans(
    {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": BACKTICK_LOOKALIKE}
)


def clean(value: object, limit: int) -> str:
    """One line of visible characters, at most `limit` long (an ellipsis marks a cut)."""
    text = str(value)
    text = "".join(
        " " if char in _LINE_BREAKS else char
        for char in text
        if char in _LINE_BREAKS or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    text = _WHITESPACE_RUN.sub(" ", text).strip()
    return truncate(text, limit)


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def edge_spaces(text: str) -> tuple[str, str]:
    """The single spaces `clean` strips from the edges of our separators (" · ")."""
    return (" " if text[:1].isspace() else "", " " if text[-1:].isspace() else "")


def defang(text: str) -> str:
    """Keep URL-like text and broadcast mentions from becoming links or notifications."""
    text = _URL_SCHEME.sub(":" + WORD_JOINER + "//", text)
    text = _WWW.sub(lambda match: match.group(0)[:3] + WORD_JOINER + ".", text)
    return _BROADCAST_MENTION.sub("@" + WORD_JOINER, text)


def slack_escape(text: str) -> str:
    """The three characters Slack reserves for its control sequences (`<!here>`, links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_escape_within(text: str, limit: int) -> str:
    """`slack_escape`, cut (with an ellipsis) so the escaped text is at most `limit` long.

    Escaping can make text five times longer; cutting after it could split an entity.
    """
    escaped = slack_escape(text)
    if len(escaped) <= limit:
        return escaped
    pieces: list[str] = []
    length = 0
    for char in text:
        piece = slack_escape(char)
        if length + len(piece) > limit - 1:
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces).rstrip() + ELLIPSIS


def slack_text(value: object, limit: int) -> str:
    """Our own wording (which may quote values) as mrkdwn that cannot carry markup."""
    text = defang(clean(value, limit)).translate(_MRKDWN_LOOKALIKES)
    return slack_escape_within(text, limit)


def slack_code(value: object, limit: int) -> str:
    """An attacker-controlled value as an inline code span: shown verbatim, never formatted.

    `limit` bounds the span as Slack receives it, escaping included.
    """
    text = clean(value, limit)
    if not text:
        return "—"
    return "`" + slack_escape_within(defang(text.replace("`", BACKTICK_LOOKALIKE)), limit) + "`"


def ascii_line(value: object, limit: int) -> str:
    """Printable ASCII only (SNS subjects), at most `limit` long."""
    text = clean(value, 10 * limit)
    for wide, narrow in (("·", "-"), ("—", "-"), ("\u2013", "-"), (TIMES, "x"), (ELLIPSIS, "...")):
        text = text.replace(wide, narrow)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _WHITESPACE_RUN.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 0)].rstrip() + "..."


# --- user agents -------------------------------------------------------------------------

_TOOL_AGENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\baws-cli/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS CLI"),
    (re.compile(r"\bBoto3/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "boto3"),
    (re.compile(r"\bBotocore/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "botocore"),
    (re.compile(r"\bTerraform/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "Terraform"),
    (re.compile(r"\baws-cdk/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS CDK"),
    (re.compile(r"\bPulumi/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "Pulumi"),
    (re.compile(r"\baws-sdk-go-v2/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS SDK for Go v2"),
    (re.compile(r"\baws-sdk-go/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS SDK for Go"),
    (re.compile(r"\baws-sdk-java/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS SDK for Java"),
    (re.compile(r"\baws-sdk-js/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS SDK for JavaScript"),
    (re.compile(r"\baws-sdk-ruby\d?/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS SDK for Ruby"),
    (re.compile(r"\baws-sdk-php/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS SDK for PHP"),
    (re.compile(r"\baws-sdk-dotnet[\w-]*/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS SDK for .NET"),
    (re.compile(r"\baws-sdk-rust/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "AWS SDK for Rust"),
    (re.compile(r"\bPowerShell/(\d{1,3}(?:\.\d{1,4}){0,2})", re.I), "PowerShell"),
)
_CONSOLE_AGENT = re.compile(
    r"(?i)^(?:AWS Internal|signin\.amazonaws\.com|console\.amazonaws\.com|\[\w+Console/)"
)
_BROWSERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bEdg(?:e|A|iOS)?/(\d{1,4})"), "Edge"),
    (re.compile(r"\b(?:OPR|Opera)/(\d{1,4})"), "Opera"),
    (re.compile(r"\b(?:Firefox|FxiOS)/(\d{1,4})"), "Firefox"),
    (re.compile(r"\b(?:Chrome|CriOS)/(\d{1,4})"), "Chrome"),
    (re.compile(r"\bVersion/(\d{1,4})(?:\.\d+)*(?: Mobile/\w+)? Safari/"), "Safari"),
)
_SYSTEMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bWindows NT\b|\bWindows\b"), "Windows"),
    (re.compile(r"\bCrOS\b"), "ChromeOS"),
    (re.compile(r"\bAndroid\b"), "Android"),
    (re.compile(r"\biPhone\b"), "iOS"),
    (re.compile(r"\biPad\b"), "iPadOS"),
    (re.compile(r"\bMac OS X\b|\bMacintosh\b"), "macOS"),
    (re.compile(r"\bLinux\b"), "Linux"),
)


def describe_user_agent(user_agent: str | None) -> str | None:
    """`Chrome 135 on Windows`, `AWS CLI 2.15.0`: words and digits only, or None."""
    if not user_agent:
        return None
    agent = user_agent[:2000]
    for pattern, name in _TOOL_AGENTS:
        match = pattern.search(agent)
        if match:
            return f"{name} {match.group(1)}"
    if _CONSOLE_AGENT.search(agent):
        return "AWS console"
    for pattern, name in _BROWSERS:
        match = pattern.search(agent)
        if match:
            system = next((os for rule, os in _SYSTEMS if rule.search(agent)), None)
            browser = f"{name} {match.group(1)}"
            return f"{browser} on {system}" if system else browser
    return None


# --- times and durations -----------------------------------------------------------------


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime (naive ones are taken as UTC)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_clock(moment: datetime, reference: datetime | None = None) -> str:
    """`14:02 UTC` on the reference's day, else with the date."""
    moment = moment.astimezone(UTC)
    if reference is not None and moment.date() == reference.astimezone(UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def describe_duration(seconds: float) -> str:
    """`45 s`, `47 min`, `2 h 5 min`, `3 d 4 h`."""
    total = max(int(seconds), 0)
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- identifiers and links ---------------------------------------------------------------

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def is_uuid(text: str | None) -> bool:
    return bool(text) and _UUID.fullmatch(text or "") is not None


def is_region(text: str | None) -> bool:
    return bool(text) and _REGION.fullmatch(text or "") is not None


def is_account_id(text: str | None) -> bool:
    return bool(text) and _ACCOUNT_ID.fullmatch(text or "") is not None


def console_domain(region: str) -> str:
    if region.startswith("cn-"):
        return "console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "console.amazonaws-us-gov.com"
    return "console.aws.amazon.com"


def cloudtrail_event_url(region: str | None, event_id: str | None) -> str | None:
    """The CloudTrail console page of one event, or None unless both parts are well formed."""
    if not (region and event_id and is_region(region) and is_uuid(event_id)):
        return None
    return (
        f"https://{region}.{console_domain(region)}/cloudtrailv2/home"
        f"?region={region}#/events/{event_id}"
    )
