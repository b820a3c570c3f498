"""moto's server on the loopback interface: the embedded AWS of `rootwatch local`.

moto keeps its state in this process, shared by every server started in it, so one
`MotoServer` at a time is the rule; `reset()` empties it between runs.
"""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass
from functools import cache, cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

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
class Endpoint:
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
        """A client of any service, made once per endpoint; prefer the typed accessors."""
        if service not in self._clients:
            self._clients[service] = self.session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.url
            )
        return self._clients[service]

    def sqs(self) -> SQSClient:
        client: SQSClient = self.client("sqs")
        return client

    def events(self) -> EventBridgeClient:
        client: EventBridgeClient = self.client("events")
        return client

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self.client("dynamodb")
        return client

    def secretsmanager(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self.client("secretsmanager")
        return client

    def sns(self) -> SNSClient:
        client: SNSClient = self.client("sns")
        return client

    def sesv2(self) -> SESV2Client:
        client: SESV2Client = self.client("sesv2")
        return client

    def environment(self) -> dict[str, str]:
        """The variables that point the AWS SDKs and CLIs of a process at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }


class MotoServer:
    """moto's threaded server on 127.0.0.1, on a free port unless one is given."""

    def __init__(self, *, port: int = 0) -> None:
        self._requested_port = port
        self._server: ThreadedMotoServer | None = None
        self._url: str | None = None

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
        # Werkzeug logs every request on stderr; only its errors matter here.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self._requested_port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._url = f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None
        self._url = None

    def reset(self) -> None:
        """Forget every resource and message: moto starts again from nothing."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            response.read()

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
