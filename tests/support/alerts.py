"""Sample alerts of every kind, and the attacker-controlled strings used against renderers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

from msgspec.structs import replace
from rootwatch.alerts import (
    AccountInfo,
    Alert,
    EventFacts,
    IncidentFacts,
    SpokeFacts,
    TimelineEntry,
    UpdateFacts,
)

EVENT_ID = "3f9c2a7e-5b1d-4c8e-9a0f-1d2e3f4a5b6c"
CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/135.0.0.0 Safari/537.36"
)

ACME = AccountInfo(
    account_id="111122223333",
    name="Acme payer",
    partner="Acme",
    slack_secrets=("acme",),
    emails=("root-owner@acme.example",),
    min_severity="high",
)

LOGIN_WITHOUT_MFA = EventFacts(
    event_id=EVENT_ID,
    event_time="2026-11-28T14:02:11Z",
    region="us-east-1",
    event_source="signin.amazonaws.com",
    event_name="ConsoleLogin",
    summary="Root console login without MFA",
    severity="critical",
    rules=("login-no-mfa",),
    outcome="success",
    mfa=False,
    source_ip="203.0.113.7",
    user_agent=CHROME_ON_WINDOWS,
    first_seen_ip=True,
)

INCIDENT = IncidentFacts(
    incident_id="3f9c2a7e",
    severity="critical",
    opened_at="2026-11-28T14:02:11Z",
    last_seen="2026-11-28T14:02:11Z",
    event_count=1,
    event_names={"ConsoleLogin": 1},
    regions=("us-east-1",),
    timeline=(
        TimelineEntry(
            event_time="2026-11-28T14:02:11Z",
            event_name="ConsoleLogin",
            severity="critical",
            region="us-east-1",
            source_ip="203.0.113.7",
            outcome="success",
            event_id=EVENT_ID,
        ),
    ),
)

FIRST = Alert(
    alert_id="3f9c2a7e#1",
    kind="first",
    severity="critical",
    account=ACME,
    incident=INCIDENT,
    event=LOGIN_WITHOUT_MFA,
)

ESCALATION = Alert(
    alert_id="3f9c2a7e#2",
    kind="escalation",
    severity="critical",
    previous_severity="high",
    account=ACME,
    incident=replace(INCIDENT, event_count=3, event_names={"ConsoleLogin": 1, "ListBuckets": 1}),
    event=replace(
        LOGIN_WITHOUT_MFA,
        event_id="7d3e1c2b-0a9f-4e8d-b7c6-5a4b3c2d1e0f",
        event_time="2026-11-28T14:09:40Z",
        event_source="iam.amazonaws.com",
        event_name="CreateAccessKey",
        summary="root created an access key",
        rules=("root-access-key",),
        mfa=None,
        first_seen_ip=False,
    ),
)

UPDATE = Alert(
    alert_id="3f9c2a7e#3",
    kind="update",
    severity="critical",
    account=ACME,
    incident=replace(
        INCIDENT,
        event_count=15,
        event_names={"ConsoleLogin": 1, "CreateAccessKey": 1, "ListBuckets": 9},
        last_seen="2026-11-28T14:20:00Z",
    ),
    update=UpdateFacts(new_events=12, event_names={"ListBuckets": 8, "DescribeInstances": 4}),
)

SILENT_SPOKE = Alert(
    alert_id="spoke#111122223333#eu-west-1#2026-11-28T14:02Z",
    kind="silent-spoke",
    severity="critical",
    account=ACME,
    spoke=SpokeFacts(region="eu-west-1", last_heartbeat="2026-11-28T13:15:00Z", interval_minutes=5),
    raised_at="2026-11-28T14:02:00Z",
)

SPOKE_RECOVERED = Alert(
    alert_id="recovered:silent:111122223333:eu-west-1:2026-11-28T13:15:00Z",
    kind="spoke-recovered",
    severity="critical",
    account=ACME,
    spoke=SpokeFacts(
        region="eu-west-1",
        last_heartbeat="2026-11-28T13:15:00Z",
        reported_at="2026-11-28T15:20:00Z",
    ),
    raised_at="2026-11-28T15:20:04Z",
)

TEST = Alert(
    alert_id="test#2026-11-28T14:02:00Z",
    kind="test",
    severity="info",
    account=ACME,
    detail="sent by rootwatch verify",
    raised_at="2026-11-28T14:02:00Z",
)

EVERY_KIND = {
    "first": FIRST,
    "escalation": ESCALATION,
    "update": UPDATE,
    "silent-spoke": SILENT_SPOKE,
    "spoke-recovered": SPOKE_RECOVERED,
    "test": TEST,
}

INJECTIONS = (
    "<!channel>",
    "<!here> wake up",
    "<@U123>",
    "<https://evil.example|click>",
    "https://evil.example/login",
    "www.evil.example",
    "@channel @here @everyone",
    "*bold* _italic_ ~strike~",
    "```code block```",
    "`inline` and ``double``",
    "> quoted line",
    "&lt;!channel&gt;",
    "line one\nSource IP   10.0.0.1\r\nMFA   used",
    "admin\u202egnp.exe",
    "zero\u200bwidth\ufeffjoined",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "Subject: x\r\nBcc: victim@example.com",
    ":rotating_light: CRITICAL",
    "&amp; &#60; &#x3C;",
)


def with_attacker_text(text: str, kind: str = "first") -> Alert:
    """The alert of `kind` with `text` in every attacker-controlled field it carries."""
    base = EVERY_KIND[kind]
    account = replace(base.account, name=text, partner=text)
    event = (
        replace(
            base.event,
            event_name=text,
            event_source=text,
            source_ip=text,
            user_agent=text,
            assumed_root_caller=text,
            invoked_by=text,
            planned_by=text,
            planned_reason=text,
            error_code=text,
            request_summary=text,
            rules=(text,),
        )
        if base.event
        else None
    )
    incident = (
        replace(
            base.incident,
            incident_id=text,
            actor=text,
            event_names={text: 2, "ListBuckets": 1},
            regions=(text, "us-east-1"),
            timeline=tuple(
                replace(entry, event_name=text, source_ip=text, region=text)
                for entry in base.incident.timeline
            ),
        )
        if base.incident
        else None
    )
    update = replace(base.update, event_names={text: 3}) if base.update else None
    spoke = replace(base.spoke, region=text) if base.spoke else None
    return replace(
        base,
        account=account,
        event=event,
        incident=incident,
        update=update,
        spoke=spoke,
        detail=text,
    )


def with_benign_text(kind: str = "first") -> Alert:
    """The same alert with a harmless word wherever `with_attacker_text` puts its text."""
    return with_attacker_text("benign", kind)


# --- checks that rendered messages are inert -----------------------------------------------

CODE_SPAN = re.compile(r"`[^`]*`")
# The one `<...>` sequence a Slack payload may hold: a link built from validated parts.
OUR_SLACK_LINK = re.compile(
    r"<https://[a-z0-9-]+\.console\.aws\.amazon\.com/cloudtrailv2/home\?region=[a-z0-9-]+"
    r"#/events/[0-9a-f-]{36}\|Open in CloudTrail>"
)
OUR_URL = re.compile(
    r"https://[a-z0-9-]+\.console\.aws\.amazon\.com/cloudtrailv2/home\?region=[a-z0-9-]+"
    r"#/events/[0-9a-f-]{36}"
)
ALLOWED_TAGS = frozenset(
    {"html", "head", "meta", "title", "body", "p", "strong", "code", "table", "tr", "th", "td"}
    | {"a", "h3"}
)
ALLOWED_ATTRIBUTES = frozenset({"style", "charset", "href", "colspan"})


def mrkdwn_texts(payload: dict[str, Any]) -> Iterator[str]:
    """Every string Slack parses as mrkdwn in a payload."""
    yield payload["text"]
    for block in payload["blocks"]:
        if "text" in block:
            assert block["text"]["type"] == "mrkdwn"
            yield block["text"]["text"]
        for item in block.get("fields", []) + block.get("elements", []):
            assert item["type"] == "mrkdwn"
            yield item["text"]


def assert_slack_payload_inert(payload: dict[str, Any]) -> None:
    """No mention, link or markup can come from attacker text in this payload."""
    for text in mrkdwn_texts(payload):
        outside_link = OUR_SLACK_LINK.sub("", text)
        assert "<" not in outside_link and ">" not in outside_link, text
        assert re.search(r"&(?!amp;|lt;|gt;)", text) is None, text
        for span in CODE_SPAN.findall(text):
            assert "://" not in span, span
            assert re.search(r"(?i)@(channel|here|everyone)", span) is None, span
        assert "\n\n" not in text and "\r" not in text, text
        assert "\u202e" not in text and "\u200b" not in text and "\ufeff" not in text


class HtmlStructure(HTMLParser):
    """The tags, attributes, link targets and text of an HTML document."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name == "href":
                self.hrefs.append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_html_inert(document: str) -> None:
    """Only our own tags and attributes, only our own link, no attacker URL left whole."""
    structure = HtmlStructure(document)
    assert structure.tags <= ALLOWED_TAGS, structure.tags
    assert structure.attributes <= ALLOWED_ATTRIBUTES, structure.attributes
    assert all(OUR_URL.fullmatch(href) for href in structure.hrefs), structure.hrefs
    assert "://" not in OUR_URL.sub("", document)
