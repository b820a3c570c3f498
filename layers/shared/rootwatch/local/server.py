"""moto's server on the loopback interface: the embedded AWS of `rootwatch local`.

moto keeps its state in this process, shared by every server started in it, so one
`MotoServer` at a time is the rule; `reset()` empties it between runs.

The server also keeps an outbox of the email sent through SES v2: moto stores only one
body of a message that has both a text and an HTML part, and both matter here.
"""

from __future__ import annotations

import base64
import email
import email.policy
import functools
import io
import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from types import TracebackType
from typing import Any, Final, Self

import boto3
import jsonpath_ng.ext as jsonpath_ext
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from rootwatch.adapters.clients import TypedClients
from rootwatch.local.transactions import back_up_only_the_items_a_transaction_names

LOOPBACK = "127.0.0.1"
# Any key works with moto; these map to its default account (123456789012).
DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"  # noqa: S105 (moto's dummy credentials, not a secret)


@cache
def _session(access_key_id: str, secret_access_key: str, region: str) -> boto3.Session:
    # One session per identity, so service models are loaded once per process.
    return boto3.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
    )


@dataclass(frozen=True)
class Endpoint(TypedClients):
    """Where and how to reach the embedded AWS: what `--endpoint-url` and boto3 need."""

    url: str
    region: str
    access_key_id: str = DUMMY_ACCESS_KEY_ID
    secret_access_key: str = DUMMY_SECRET_ACCESS_KEY

    @property
    def session(self) -> boto3.Session:
        return _session(self.access_key_id, self.secret_access_key, self.region)

    @cached_property
    def _clients(self) -> dict[str, Any]:
        return {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.url
            )
        return self._clients[service]

    def environment(self) -> dict[str, str]:
        """The variables that point the AWS SDKs and CLIs of a process at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }


@dataclass(frozen=True, slots=True)
class SentEmail:
    """One message SES v2 accepted: as the recipient would read it."""

    sender: str
    to: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str] = field(default_factory=dict)


_SES_V2_SEND_PATH = "/v2/email/outbound-emails"
_WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Outbox:
    """WSGI middleware in front of moto: records each SES v2 SendEmail it accepted."""

    def __init__(self, application: _WsgiApp) -> None:
        self._application = application
        self._lock = threading.Lock()
        self.sent: list[SentEmail] = []

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != _SES_V2_SEND_PATH:
            return self._application(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        statuses: list[str] = []

        def recording_start_response(status: str, *args: Any) -> Any:
            statuses.append(status)
            return start_response(status, *args)

        response = self._application(environ, recording_start_response)
        if statuses and statuses[0].startswith("200"):
            message = _sent_email(json.loads(body))
            with self._lock:
                self.sent.append(message)
        return response

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()


def _sent_email(request: dict[str, Any]) -> SentEmail:
    destination = request.get("Destination") or {}
    recipients = tuple(
        address
        for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
        for address in destination.get(kind) or []
    )
    content = request.get("Content") or {}
    sender = str(request.get("FromEmailAddress") or "")
    if "Raw" in content:
        parsed = email.message_from_bytes(
            base64.b64decode(content["Raw"]["Data"]), policy=email.policy.default
        )
        parts: dict[str, str | None] = {"plain": None, "html": None}
        for subtype in parts:
            part = parsed.get_body(preferencelist=(subtype,))
            parts[subtype] = part.get_content() if part is not None else None
        return SentEmail(
            sender=sender or str(parsed["From"] or ""),
            to=recipients,
            subject=str(parsed["Subject"] or ""),
            text=parts["plain"],
            html=parts["html"],
            headers={key: str(value) for key, value in parsed.items()},
        )
    simple = content.get("Simple") or {}
    body = simple.get("Body") or {}
    return SentEmail(
        sender=sender,
        to=recipients,
        subject=str((simple.get("Subject") or {}).get("Data") or ""),
        text=(body.get("Text") or {}).get("Data"),
        html=(body.get("Html") or {}).get("Data"),
        headers={str(h["Name"]): str(h["Value"]) for h in simple.get("Headers") or []},
    )


class _ThreadedMotoServerWithOutbox(ThreadedMotoServer):
    def __init__(self, outbox_holder: list[_Outbox], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._outbox_holder = outbox_holder

    def _server_entry(self) -> None:
        outbox = _Outbox(DomainDispatcherApplication(create_backend_app))
        self._outbox_holder.append(outbox)
        self._server = make_server(
            self._ip_address, self._port, outbox, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


# What moto calls, importing it from jsonpath_ng.ext when it delivers an event.
_JSONPATH_PARSE: Final = "parse"


def _parse_each_json_path_once() -> None:
    """Remember parsed JSONPath expressions.

    moto rebuilds every event it delivers to a rule's target from eight JSONPath
    expressions, and jsonpath_ng builds a new parser for each parse: most of the time of a
    local PutEvents. The expressions never change and a parsed path is used only to read.
    """
    parse = getattr(jsonpath_ext, _JSONPATH_PARSE)
    if not hasattr(parse, "cache_info"):
        setattr(jsonpath_ext, _JSONPATH_PARSE, functools.lru_cache(maxsize=256)(parse))


class MotoServer:
    """moto's threaded server on 127.0.0.1, on a free port unless one is given."""

    def __init__(self, *, port: int = 0) -> None:
        self._requested_port = port
        self._server: ThreadedMotoServer | None = None
        self._url: str | None = None
        self._outboxes: list[_Outbox] = []

    @property
    def sent_emails(self) -> list[SentEmail]:
        """Every email SES v2 accepted since the server started or was last reset."""
        return [message for outbox in self._outboxes for message in list(outbox.sent)]

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the moto server is not running")
        return self._url

    def endpoint(self, region: str) -> Endpoint:
        return Endpoint(url=self.url, region=region)

    def start(self) -> None:
        if self._server is not None:
            return
        back_up_only_the_items_a_transaction_names()
        _parse_each_json_path_once()
        # Werkzeug logs every request on stderr; only its errors matter here.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = _ThreadedMotoServerWithOutbox(
            self._outboxes, ip_address=LOOPBACK, port=self._requested_port, verbose=False
        )
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._url = f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None
        self._url = None
        self._outboxes.clear()

    def reset(self) -> None:
        """Forget every resource and message: moto starts again from nothing."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            response.read()
        for outbox in self._outboxes:
            outbox.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
