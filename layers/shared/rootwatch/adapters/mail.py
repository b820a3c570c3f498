"""Email delivery: SES v2 to one address at a time, or the alert topic on SNS.

SES gets the subject, the plain-text and the HTML part. SNS email subscriptions show text
only, so the topic gets the plain text, with the ASCII subject SNS requires.
AWS errors become DeliveryError: permanent for a refusal (4xx), passing for throttling,
server errors and network failures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from rootwatch.render.email import RenderedEmail
from rootwatch.services.notifying import DeliveryError

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient

_ADDRESS = re.compile(r"^[^@\s,;:<>()\[\]\"\\]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
_HEADER_VALUE = re.compile(r"[^\x21-\x7e]")
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestLimitExceeded",
    }
)


def is_valid_address(address: str) -> bool:
    return len(address) <= 254 and _ADDRESS.fullmatch(address) is not None


class SesMailer:
    def __init__(self, client: SESV2Client, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, to: str, email: RenderedEmail, alert_id: str) -> None:
        if not is_valid_address(to):
            raise DeliveryError("not a valid email address", permanent=True)
        content: Any = {
            "Simple": {
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": email.text, "Charset": "UTF-8"},
                    "Html": {"Data": email.html, "Charset": "UTF-8"},
                },
                "Headers": [
                    # Keeps auto-responders from answering the alert (RFC 3834).
                    {"Name": "Auto-Submitted", "Value": "auto-generated"},
                    {"Name": "X-Rootwatch-Alert-Id", "Value": _header_value(alert_id)},
                ],
            }
        }
        with _delivery_errors("SES"):
            self._client.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [to]},
                Content=content,
            )


class SnsTopicPublisher:
    def __init__(self, client: SNSClient) -> None:
        self._client = client

    def publish(self, topic_arn: str, email: RenderedEmail) -> None:
        with _delivery_errors("SNS"):
            self._client.publish(
                TopicArn=topic_arn, Subject=email.ascii_subject or "rootwatch", Message=email.text
            )


def _header_value(text: str) -> str:
    return _HEADER_VALUE.sub("-", text)[:200] or "-"


@contextmanager
def _delivery_errors(service: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "error")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        permanent = 400 <= status < 500 and code not in _THROTTLING_CODES
        raise DeliveryError(f"{service} refused: {code}", permanent=permanent) from None
    except BotoCoreError as error:
        raise DeliveryError(
            f"{service} unreachable: {type(error).__name__}", permanent=False
        ) from None
