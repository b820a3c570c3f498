"""The hub a command talks to, resolved through its CloudFormation stack.

A deployed hub is found through its stack (`--stack-name`, default rootwatch-hub): the
stack's outputs name the table, queues and bus, and its parameters give the retention and
heartbeat settings. `--endpoint-url` points every call, DescribeStacks included, at another
endpoint, such as the local stack of `rootwatch local --serve`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ProfileNotFound

from rootwatch.adapters.admin import AuditAdmin
from rootwatch.adapters.clients import TypedClients
from rootwatch.adapters.queries import AuditReader
from rootwatch.cli.main import UsageError
from rootwatch.cli.target import (
    DEFAULT_REGION,
    DEFAULT_RETENTION_DAYS,
    TABLE_OUTPUT,
    CommandFailure,
    option,
)
from rootwatch.spokes import DEFAULT_INTERVAL_MINUTES, DEFAULT_SILENT_AFTER_INTERVALS, SilencePolicy

# What `rootwatch local` accepts (any key does); used for a loopback endpoint when no
# credentials are configured.
LOCAL_ACCESS_KEY_ID: Final = "testing"
LOCAL_SECRET_ACCESS_KEY: Final = "testing"  # noqa: S105 (the local stack's dummy key)
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
# A person waits for the command: fail within seconds rather than retry for a minute.
_CLIENT_CONFIG: Final = Config(
    connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3}
)


def open_session(profile: str | None, region: str | None) -> boto3.Session:
    """The AWS session of a command (the one place sessions are made)."""
    return boto3.Session(profile_name=profile, region_name=region)


@dataclass
class Hub(TypedClients):
    """A hub stack as resolved through CloudFormation, and clients for its resources."""

    session: boto3.Session
    region: str
    endpoint_url: str | None
    stack_name: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(  # type: ignore[call-overload]
                service,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=_CLIENT_CONFIG,
            )
        return self._clients[service]

    def output(self, name: str) -> str:
        value = self.outputs.get(name)
        if not value:
            raise CommandFailure(
                f"stack {self.stack_name} in {self.region} has no output {name}: is it the "
                "rootwatch hub? Update it (sam deploy --config-env hub) or pass --stack-name"
            )
        return value

    @property
    def table_name(self) -> str:
        return self.output(TABLE_OUTPUT)

    def reader(self) -> AuditReader:
        """The audit table, as the listings read it."""
        return AuditReader(self.dynamodb(), self.table_name)

    def admin(self) -> AuditAdmin:
        """The audit table, as the commands that change entries and plans write it."""
        return AuditAdmin(self.dynamodb(), self.table_name)

    def number_parameter(self, name: str, default: int) -> int:
        text = self.parameters.get(name, "").strip()
        return int(text) if text.isdigit() and int(text) > 0 else default

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.number_parameter("RetentionDays", DEFAULT_RETENTION_DAYS))

    def silence_policy(self) -> SilencePolicy:
        """The hub's own rule for silence, from its stack's parameters (as the watchdog's)."""
        return SilencePolicy(
            interval=timedelta(
                minutes=self.number_parameter("HeartbeatIntervalMinutes", DEFAULT_INTERVAL_MINUTES)
            ),
            intervals_allowed=self.number_parameter(
                "SilentAfterIntervals", DEFAULT_SILENT_AFTER_INTERVALS
            ),
        )

    def caller_arn(self) -> str:
        """Who runs the command (STS GetCallerIdentity), recorded on what it writes."""
        return self.sts().get_caller_identity()["Arn"]

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"stack {self.stack_name} in {self.region}{where}"


def connect(args: argparse.Namespace) -> Hub:
    """The hub of the command line's target options (one DescribeStacks call)."""
    profile = option(args, "profile")
    try:
        session = open_session(profile, option(args, "region"))
    except ProfileNotFound as error:
        raise UsageError(f"{error}: pass an existing --profile") from None
    region = session.region_name or DEFAULT_REGION
    stack_name = option(args, "stack_name")
    endpoint_url = option(args, "endpoint_url")
    if endpoint_url and _is_loopback(endpoint_url) and session.get_credentials() is None:
        # The local stack accepts any key; a newcomer should not have to invent one.
        session = boto3.Session(
            aws_access_key_id=LOCAL_ACCESS_KEY_ID,
            aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
            region_name=region,
        )
    hub = Hub(
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        stack_name=stack_name,
        outputs={},
        parameters={},
    )
    try:
        stacks = hub.cloudformation().describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if "does not exist" in message:
            where = f" at {endpoint_url}" if endpoint_url else ""
            raise CommandFailure(
                f"no stack {stack_name} in region {region}{where}: deploy the hub or pass "
                "--stack-name/--region"
            ) from None
        raise
    stack = stacks[0]
    hub.outputs = {
        str(entry["OutputKey"]): str(entry.get("OutputValue", ""))
        for entry in stack.get("Outputs", [])
        if "OutputKey" in entry
    }
    hub.parameters = {
        str(entry["ParameterKey"]): str(entry.get("ParameterValue", ""))
        for entry in stack.get("Parameters", [])
        if "ParameterKey" in entry
    }
    return hub


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOOPBACK_HOSTS
