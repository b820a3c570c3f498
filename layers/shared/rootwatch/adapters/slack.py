"""Posting to Slack incoming webhooks over HTTPS, one attempt per call.

Retry policy lives in the notifying service; this client only reports what Slack said.
The webhook URL is a credential: it never appears in a reply, an error or a log line
(exceptions from `requests` name the URL, so only their type is kept). JSON goes through
the standard library: the Lambda layer carries no compiled packages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests

from rootwatch.services.notifying import SlackReply

# Slack answers errors with a short code ("invalid_payload", "channel_is_archived").
_ERROR_LIMIT = 100
_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
CONNECT_TIMEOUT_SECONDS = 3.0


class SlackWebhookClient:
    def __init__(self, timeout_seconds: float, session: requests.Session | None = None) -> None:
        self._timeout = (min(CONNECT_TIMEOUT_SECONDS, timeout_seconds), timeout_seconds)
        self._session = session or requests.Session()

    def post(self, url: str, payload: Mapping[str, Any]) -> SlackReply:
        try:
            response = self._session.post(
                url,
                data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return SlackReply(status=None, error="timed out")
        except requests.RequestException as error:
            return SlackReply(status=None, error=type(error).__name__)
        with response:
            status = response.status_code
            return SlackReply(
                status=status,
                retry_after_seconds=_retry_after(response.headers.get("Retry-After")),
                error=None if 200 <= status < 300 else _error_code(response.text),
            )


def _retry_after(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _error_code(body: str) -> str | None:
    text = _PRINTABLE.sub(" ", body[: 4 * _ERROR_LIMIT]).strip()
    return text[:_ERROR_LIMIT] or None
