"""Posting to Slack incoming webhooks over HTTPS, one attempt per call.

Retry policy lives in the notifying service; this client only reports what Slack said.
The webhook URL is a credential: it never appears in a reply, an error or a log line
(urllib3's exceptions name the URL, so only what kind of failure it was is kept). HTTP goes
through urllib3, which botocore already loads, so the notifier's cold start pays for no
other HTTP library; certificates are checked against the system's trust store. JSON goes
through the standard library: the Lambda layer carries no compiled packages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as HttpTimeoutError

from rootwatch.services.notifying import SlackReply

# Slack answers errors with a short code ("invalid_payload", "channel_is_archived").
_ERROR_LIMIT = 100
_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
CONNECT_TIMEOUT_SECONDS = 3.0
# What a failure that got no HTTP answer is reported as.
CONNECTION_FAILED = "ConnectionError"
TIMED_OUT = "timed out"


class SlackWebhookClient:
    def __init__(self, timeout_seconds: float, pool: urllib3.PoolManager | None = None) -> None:
        self._timeout = urllib3.Timeout(
            connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds), read=timeout_seconds
        )
        self._pool = pool or urllib3.PoolManager()

    def post(self, url: str, payload: Mapping[str, Any]) -> SlackReply:
        try:
            response = self._pool.request(
                "POST",
                url,
                body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        # A refused connection is a ConnectTimeoutError to urllib3: it is told apart first.
        except (NewConnectionError, ProtocolError):
            return SlackReply(status=None, error=CONNECTION_FAILED)
        except HttpTimeoutError:
            return SlackReply(status=None, error=TIMED_OUT)
        except HTTPError as error:
            return SlackReply(status=None, error=type(error).__name__)
        status = response.status
        return SlackReply(
            status=status,
            retry_after_seconds=_retry_after(response.headers.get("Retry-After")),
            error=None
            if 200 <= status < 300
            else _error_code(response.data.decode("utf-8", errors="replace")),
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
