"""Typed boto3 clients by service, over whatever makes and keeps them.

The command line's hub (`cli/hub.Hub`) and the embedded AWS of `rootwatch local`
(`local/server.Endpoint`) each make clients their own way; both hand them out typed through
these accessors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient


class TypedClients(ABC):
    @abstractmethod
    def client(self, service: str) -> Any:
        """A client of any service, made once; prefer the typed accessors."""

    def cloudformation(self) -> CloudFormationClient:
        client: CloudFormationClient = self.client("cloudformation")
        return client

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self.client("dynamodb")
        return client

    def events(self) -> EventBridgeClient:
        client: EventBridgeClient = self.client("events")
        return client

    def secretsmanager(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self.client("secretsmanager")
        return client

    def sesv2(self) -> SESV2Client:
        client: SESV2Client = self.client("sesv2")
        return client

    def sns(self) -> SNSClient:
        client: SNSClient = self.client("sns")
        return client

    def sqs(self) -> SQSClient:
        client: SQSClient = self.client("sqs")
        return client

    def sts(self) -> STSClient:
        client: STSClient = self.client("sts")
        return client
