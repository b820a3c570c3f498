"""Routing: default destinations for every alert, the account entry's above its minimum."""

from __future__ import annotations

import pytest
from rootwatch.alerts import AccountInfo, Alert, AlertKind
from rootwatch.routing import Destination, RoutingPolicy, route

PREFIX = "rootwatch/slack/"
POLICY = RoutingPolicy(
    slack_secret_prefix=PREFIX,
    default_slack_secrets=("ops",),
    default_emails=("soc@example.com",),
)
ACME = AccountInfo(
    account_id="111122223333",
    name="Acme payer",
    partner="Acme",
    slack_secrets=("acme-alerts",),
    emails=("root-owner@acme.example",),
    min_severity="high",
)


def alert(
    severity: str = "critical", account: AccountInfo = ACME, kind: AlertKind = "first"
) -> Alert:
    return Alert(alert_id="a-1", kind=kind, severity=severity, account=account)


def ids(destinations: tuple[Destination, ...]) -> list[str]:
    return [destination.destination_id for destination in destinations]


def test_every_alert_goes_to_the_defaults() -> None:
    bare = AccountInfo(account_id="444455556666")
    assert ids(route(alert(account=bare), POLICY)) == [
        "slack:rootwatch/slack/ops",
        "email:soc@example.com",
    ]


@pytest.mark.parametrize("severity", ["high", "critical", "HIGH"])
def test_the_account_entry_adds_its_destinations_at_or_above_its_minimum(severity: str) -> None:
    assert ids(route(alert(severity), POLICY)) == [
        "slack:rootwatch/slack/ops",
        "slack:rootwatch/slack/acme-alerts",
        "email:soc@example.com",
        "email:root-owner@acme.example",
    ]


@pytest.mark.parametrize("severity", ["medium", "low", "info"])
def test_below_the_minimum_only_the_defaults_are_told(severity: str) -> None:
    assert ids(route(alert(severity), POLICY)) == [
        "slack:rootwatch/slack/ops",
        "email:soc@example.com",
    ]


def test_an_entry_without_a_minimum_gets_every_alert() -> None:
    entry = AccountInfo(account_id="111122223333", slack_secrets=("acme",), min_severity=None)
    assert "slack:rootwatch/slack/acme" in ids(route(alert("low", entry), POLICY))


def test_an_unreadable_minimum_or_severity_errs_towards_telling() -> None:
    entry = AccountInfo(account_id="111122223333", slack_secrets=("acme",), min_severity="urgent")
    assert "slack:rootwatch/slack/acme" in ids(route(alert("low", entry), POLICY))
    assert "slack:rootwatch/slack/acme-alerts" in ids(route(alert("severe"), POLICY))


def test_test_alerts_reach_every_destination_whatever_the_minimum() -> None:
    destinations = ids(route(alert("info", kind="test"), POLICY))
    assert "slack:rootwatch/slack/acme-alerts" in destinations
    assert "email:root-owner@acme.example" in destinations


def test_secret_names_may_be_given_with_or_without_the_prefix_and_appear_once() -> None:
    entry = AccountInfo(
        account_id="111122223333",
        slack_secrets=("rootwatch/slack/ops", " acme ", "", "rootwatch/slack/acme"),
        emails=("SOC@example.com", "soc@example.com"),
    )
    assert ids(route(alert(account=entry), POLICY)) == [
        "slack:rootwatch/slack/ops",
        "slack:rootwatch/slack/acme",
        "email:soc@example.com",
    ]


def test_without_ses_every_email_folds_into_the_alert_topic() -> None:
    topic = "arn:aws:sns:us-east-1:999999999999:rootwatch-alerts"
    policy = RoutingPolicy(
        slack_secret_prefix=PREFIX,
        default_slack_secrets=("ops",),
        default_emails=("soc@example.com",),
        alert_topic_arn=topic,
    )
    destinations = route(alert(), policy)
    assert ids(destinations) == [
        "slack:rootwatch/slack/ops",
        "slack:rootwatch/slack/acme-alerts",
        f"sns:{topic}",
    ]
    assert [destination.channel for destination in destinations] == ["slack", "slack", "email"]


def test_no_configuration_means_no_destination() -> None:
    assert route(alert(account=AccountInfo("111122223333")), RoutingPolicy(PREFIX)) == ()
