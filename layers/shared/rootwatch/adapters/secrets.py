"""Slack webhook URLs from Secrets Manager, through powertools' cached secrets provider.

The secret string is the webhook URL. It is checked before use (HTTPS, or plain HTTP only
to this machine, for the local stack) and never logged or put in an error.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.parameters import GetParameterError, SecretsProvider
from botocore.exceptions import ClientError

from rootwatch.services.notifying import DeliveryError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

DEFAULT_MAX_AGE_SECONDS = 300
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Asking again cannot help with these: the secret or the permission has to be fixed first.
_PERMANENT_CODES = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"}
)


class WebhookSecrets:
    def __init__(
        self,
        client: SecretsManagerClient | None = None,
        max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._max_age = max_age_seconds

    def webhook_url(self, secret_name: str) -> str:
        if not _SECRET_NAME.fullmatch(secret_name):
            raise DeliveryError("not a valid secret name", permanent=True)
        try:
            value = self._provider.get(secret_name, max_age=self._max_age)
        except GetParameterError as error:
            code = _client_error_code(error)
            raise DeliveryError(
                f"cannot read the webhook secret ({code or 'error'})",
                permanent=code in _PERMANENT_CODES,
            ) from None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            raise DeliveryError("the webhook secret is not a string", permanent=True)
        url = value.strip()
        if not is_acceptable_webhook_url(url):
            raise DeliveryError(
                "the webhook secret is not an https URL (http only to loopback)", permanent=True
            )
        return url


def is_acceptable_webhook_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.username or parts.password or any(c.isspace() for c in url):
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and host in _LOOPBACK_HOSTS


def _client_error_code(error: GetParameterError) -> str | None:
    cause = error.__cause__ or error.__context__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code") or "") or None
    return type(cause).__name__ if cause else None
