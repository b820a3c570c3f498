"""moto's server on loopback, and its outbox of the email SES v2 accepted."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rootwatch.local.server import Endpoint, MotoServer


def test_the_server_listens_on_loopback_on_a_free_port(moto_server: MotoServer) -> None:
    assert moto_server.url.startswith("http://127.0.0.1:")
    assert not moto_server.url.endswith(":5000")


def test_the_endpoint_environment_points_sdks_at_the_server(endpoint: Endpoint) -> None:
    environment = endpoint.environment()
    assert environment["AWS_ENDPOINT_URL"] == endpoint.url
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "us-east-1"


def test_reset_forgets_every_resource(moto_server: MotoServer, endpoint: Endpoint) -> None:
    endpoint.sqs().create_queue(QueueName="temporary")
    moto_server.reset()
    assert "QueueUrls" not in endpoint.sqs().list_queues()


def test_simple_email_keeps_both_parts(moto_server: MotoServer, endpoint: Endpoint) -> None:
    sesv2 = endpoint.sesv2()
    sesv2.create_email_identity(EmailIdentity="rootwatch@example.com")
    sesv2.send_email(
        FromEmailAddress="rootwatch@example.com",
        Destination={"ToAddresses": ["security@example.com"]},
        Content={
            "Simple": {
                "Subject": {"Data": "Root login"},
                "Body": {"Text": {"Data": "plain words"}, "Html": {"Data": "<p>html</p>"}},
                "Headers": [{"Name": "Auto-Submitted", "Value": "auto-generated"}],
            }
        },
    )
    (sent,) = moto_server.sent_emails
    assert sent.to == ("security@example.com",)
    assert (sent.subject, sent.text, sent.html) == ("Root login", "plain words", "<p>html</p>")
    assert sent.headers == {"Auto-Submitted": "auto-generated"}


def test_raw_email_is_read_from_its_mime_parts(moto_server: MotoServer, endpoint: Endpoint) -> None:
    endpoint.sesv2().create_email_identity(EmailIdentity="rootwatch@example.com")
    message = EmailMessage()
    message["From"] = "rootwatch@example.com"
    message["To"] = "security@example.com"
    message["Subject"] = "Raw alert"
    message.set_content("text part")
    message.add_alternative("<b>html part</b>", subtype="html")
    endpoint.sesv2().send_email(
        Destination={"ToAddresses": ["security@example.com"]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )
    (sent,) = moto_server.sent_emails
    assert sent.subject == "Raw alert"
    assert (sent.text or "").strip() == "text part"
    assert (sent.html or "").strip() == "<b>html part</b>"


def test_refused_email_is_not_in_the_outbox(moto_server: MotoServer, endpoint: Endpoint) -> None:
    with pytest.raises(ClientError):
        endpoint.sesv2().send_email(
            FromEmailAddress="unverified@example.com",
            Destination={"ToAddresses": ["security@example.com"]},
            Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "y"}}}},
        )
    assert moto_server.sent_emails == []


def _transaction_table(endpoint: Endpoint) -> Any:
    dynamodb = endpoint.dynamodb()
    dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for key in ("a", "b"):
        dynamodb.put_item(TableName="ledger", Item={"pk": {"S": key}, "n": {"N": "1"}})
    return dynamodb


def _ledger(dynamodb: Any) -> dict[str, str]:
    items = dynamodb.scan(TableName="ledger")["Items"]
    return {item["pk"]["S"]: item["n"]["N"] for item in items}


def test_a_cancelled_transaction_still_changes_nothing(endpoint: Endpoint) -> None:
    dynamodb = _transaction_table(endpoint)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "ledger",
                        "Key": {"pk": {"S": "a"}},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "c"}, "n": {"N": "1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "ledger",
                        "Key": {"pk": {"S": "b"}},
                        "ConditionExpression": "n = :five",
                        "ExpressionAttributeValues": {":five": {"N": "5"}},
                    }
                },
            ]
        )
    assert _ledger(dynamodb) == {"a": "1", "b": "1"}


def test_a_committed_transaction_changes_every_item(endpoint: Endpoint) -> None:
    dynamodb = _transaction_table(endpoint)
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "ledger",
                    "Key": {"pk": {"S": key}},
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
            for key in ("a", "b")
        ]
    )
    assert _ledger(dynamodb) == {"a": "2", "b": "2"}


def test_a_transaction_naming_an_item_twice_is_refused_and_changes_nothing(
    endpoint: Endpoint,
) -> None:
    dynamodb = endpoint.dynamodb()
    dynamodb.create_table(
        TableName="ranged",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "p"}, "sk": {"S": "1"}})
    new = {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "p"}, "sk": {"S": "2"}}}}
    with pytest.raises(ClientError, match="ValidationException"):
        dynamodb.transact_write_items(TransactItems=[new, new])
    items = dynamodb.scan(TableName="ranged")["Items"]
    assert [(item["pk"]["S"], item["sk"]["S"]) for item in items] == [("p", "1")]
