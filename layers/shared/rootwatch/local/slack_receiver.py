"""A Slack-compatible incoming-webhook receiver on loopback.

It records every POST (path, JSON body, what it answered) and answers as Slack would:
`200 ok` by default, `400 invalid_payload` for a body that is not a JSON object,
`400 no_text` without `text` or `blocks`, `400 invalid_blocks` past Block Kit's limits.
Responses can be scripted per path or for any path (a queue consumed one per POST, and
a standing answer once the queue is empty), e.g. `429` with `Retry-After`, then `200`.

`rootwatch local` captures alerts with it, and the notifier's tests drive it.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MAX_BODY_BYTES = 1_000_000
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
FIELDS_PER_SECTION = 10
BLOCK_LIMIT = 50


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    status: int = 200
    body: str = "ok"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def rate_limited(cls, retry_after_seconds: int = 1) -> ScriptedResponse:
        return cls(429, "rate_limited", {"Retry-After": str(retry_after_seconds)})

    @classmethod
    def server_error(cls) -> ScriptedResponse:
        return cls(500, "internal_error")

    @classmethod
    def rejected(cls, reason: str = "invalid_token") -> ScriptedResponse:
        return cls(400, reason)


OK = ScriptedResponse()


@dataclass(frozen=True, slots=True)
class ReceivedPost:
    path: str
    payload: Any
    status: int

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class SlackReceiver:
    """Start with `with SlackReceiver() as receiver:` or `start()` / `stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._lock = threading.Lock()
        self._posts: list[ReceivedPost] = []
        self._queued: dict[str | None, deque[ScriptedResponse]] = {}
        self._standing: dict[str | None, ScriptedResponse] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> SlackReceiver:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(self._address, _handler_for(self))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="slack-receiver", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> SlackReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ---

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Slack receiver is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def webhook_url(self, path: str = "/services/T0000/B0000/local") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # --- scripting ---

    def script(self, *responses: ScriptedResponse, path: str | None = None) -> None:
        """Answer the next POSTs (to `path`, or to any path) with these, in order."""
        with self._lock:
            self._queued.setdefault(path, deque()).extend(responses)

    def always(self, response: ScriptedResponse, path: str | None = None) -> None:
        """Answer with this whenever no scripted response is queued."""
        with self._lock:
            self._standing[path] = response

    def reset(self) -> None:
        with self._lock:
            self._posts.clear()
            self._queued.clear()
            self._standing.clear()

    # --- what was received ---

    @property
    def posts(self) -> list[ReceivedPost]:
        with self._lock:
            return list(self._posts)

    def accepted(self, path: str | None = None) -> list[ReceivedPost]:
        """The posts answered with 2xx: what Slack would have shown in the channel."""
        return [post for post in self.posts if post.accepted and path in (None, post.path)]

    # --- called by the request handler ---

    def _answer(self, path: str, raw: bytes) -> ScriptedResponse:
        payload: Any
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw.decode("utf-8", "replace")
            rejection = "invalid_payload"
        else:
            rejection = _rejection(payload)
        response = ScriptedResponse(400, rejection) if rejection else self._next_response(path)
        with self._lock:
            self._posts.append(ReceivedPost(path=path, payload=payload, status=response.status))
        return response

    def _next_response(self, path: str) -> ScriptedResponse:
        with self._lock:
            for key in (path, None):
                queue = self._queued.get(key)
                if queue:
                    return queue.popleft()
            return self._standing.get(path) or self._standing.get(None) or OK


def _rejection(payload: Any) -> str:
    """Slack's error code for a payload it would refuse, or "" when it would post it."""
    if not isinstance(payload, dict):
        return "invalid_payload"
    blocks = payload.get("blocks")
    if not payload.get("text") and not blocks:
        return "no_text"
    if blocks is None:
        return ""
    if not isinstance(blocks, list) or len(blocks) > BLOCK_LIMIT:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict) or not _block_fits(block):
            return "invalid_blocks"
    return ""


def _block_fits(block: dict[str, Any]) -> bool:
    text = block.get("text")
    if isinstance(text, dict) and len(str(text.get("text", ""))) > SECTION_TEXT_LIMIT:
        return False
    fields = block.get("fields")
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > FIELDS_PER_SECTION:
            return False
        if any(len(str(item.get("text", ""))) > FIELD_TEXT_LIMIT for item in fields):
            return False
    return True


def _handler_for(receiver: SlackReceiver) -> type[BaseHTTPRequestHandler]:
    class _WebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._reply(ScriptedResponse(413, "payload_too_large"))
                return
            response = receiver._answer(self.path, self.rfile.read(length))
            self._reply(response)

        def do_GET(self) -> None:
            self._reply(ScriptedResponse(405, "method_not_allowed"))

        def _reply(self, response: ScriptedResponse) -> None:
            body = response.body.encode("utf-8")
            self.send_response(response.status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the receiver's record is its posts."""

    return _WebhookHandler
