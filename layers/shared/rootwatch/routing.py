"""Where an alert goes: the default destinations plus those of the alert's account entry.

Every alert goes to the defaults. The account entry adds its Slack secrets and email
addresses when the alert's severity reaches the entry's minimum (no minimum: always);
test alerts go everywhere, whatever the minimum, since they exist to prove each route.

Email goes by SES to each address when a sender is configured. Without one it goes to the
alert topic, whose subscriptions decide who reads it: every routed address then folds into
the one topic destination.

Destination ids are stable strings (`slack:<secret name>`, `email:<address>`,
`sns:<topic arn>`): delivery records are keyed by them, so a retried message recognises the
destinations that already have the alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from msgspec import Struct

from rootwatch.alerts import Alert
from rootwatch.model import Severity

DestinationKind = Literal["slack", "email", "sns"]


class Destination(Struct, frozen=True):
    kind: DestinationKind
    target: str

    @property
    def destination_id(self) -> str:
        return f"{self.kind}:{self.target}"

    @property
    def channel(self) -> Literal["slack", "email"]:
        """What a person receives: SES and the SNS topic both deliver email."""
        return "slack" if self.kind == "slack" else "email"


class RoutingPolicy(Struct, frozen=True):
    slack_secret_prefix: str
    default_slack_secrets: tuple[str, ...] = ()
    default_emails: tuple[str, ...] = ()
    # When set, email goes to this topic instead of to each address through SES.
    alert_topic_arn: str | None = None

    def slack_secret_name(self, name: str) -> str:
        """The full secret name: entries may name a secret with or without the prefix."""
        name = name.strip()
        return (
            name if name.startswith(self.slack_secret_prefix) else self.slack_secret_prefix + name
        )


def route(alert: Alert, policy: RoutingPolicy) -> tuple[Destination, ...]:
    slack_secrets: list[str] = list(policy.default_slack_secrets)
    emails: list[str] = list(policy.default_emails)
    if _account_entry_applies(alert):
        slack_secrets.extend(alert.account.slack_secrets)
        emails.extend(alert.account.emails)

    destinations = [
        Destination("slack", policy.slack_secret_name(name)) for name in _present(slack_secrets)
    ]
    if policy.alert_topic_arn:
        destinations.append(Destination("sns", policy.alert_topic_arn))
    else:
        destinations.extend(Destination("email", address) for address in _present(emails))
    return tuple(_unique(destinations))


def _account_entry_applies(alert: Alert) -> bool:
    if alert.kind == "test":
        return True
    minimum = _severity_or_none(alert.account.min_severity)
    if minimum is None:
        return True
    severity = _severity_or_none(alert.severity)
    # An alert whose severity cannot be read is routed as if it were critical: a routing
    # mistake must cost an extra message, never a missed one.
    return severity is None or severity >= minimum


def _severity_or_none(text: str | None) -> Severity | None:
    if not text:
        return None
    try:
        return Severity.parse(text)
    except ValueError:
        return None


def _present(values: Iterable[str]) -> list[str]:
    return [value.strip() for value in values if value and value.strip()]


def _unique(destinations: Iterable[Destination]) -> list[Destination]:
    seen: set[str] = set()
    unique: list[Destination] = []
    for destination in destinations:
        # Addresses differ only in case for the same mailbox in practice.
        key = destination.destination_id
        key = key.casefold() if destination.kind == "email" else key
        if key not in seen:
            seen.add(key)
            unique.append(destination)
    return unique
