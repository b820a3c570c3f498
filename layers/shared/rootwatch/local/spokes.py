"""Spokes for the local hub: spoke/template.yaml in each account and region of the input.

For every account and region its input comes from, `rootwatch local` provisions the spoke
stack itself (spoke/template.yaml) in moto, as that account (moto picks the account from
`sts.assume_role` credentials), in that region, targeting the hub bus. Input events are put
on the spoke's default bus as CloudTrail puts them there, and only what the spoke's rules
forward reaches the hub, through moto's cross-account routing.

moto does not fire schedules: `SpokeFleet.beat` delivers what each spoke's heartbeat rule
sends its target, the hub bus: a Scheduled Event naming the rule, at the given time. It is
put on the hub bus directly, because moto's cross-account delivery drops the `resources`
and `time` that the hub's heartbeat rule and function read. `SpokeFleet.play_heartbeats`
delivers the heartbeats of the last few intervals at once, as if that time had passed, so
that a spoke left out of all but the oldest is silent by the hub's own rule.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rootwatch import naming
from rootwatch.local.hub import PUT_EVENTS_LIMIT, PutReport
from rootwatch.local.inputs import InputEvent
from rootwatch.local.provision import ProvisionedStack, ProvisioningError, Schedule, provision
from rootwatch.local.server import Endpoint
from rootwatch.local.template import TemplateError, load_template
from rootwatch.services.heartbeats import silence_policy_from_environment
from rootwatch.spokes import SilencePolicy, spoke_of_heartbeat_rule

if TYPE_CHECKING:
    from rootwatch.local.hub import LocalHub

SPOKE_TEMPLATE: Final = Path("spoke") / "template.yaml"
SPOKE_STACK_NAME: Final = naming.SPOKE_STACK_PREFIX
# The role each spoke account is entered with; moto accepts any role of any account.
LOCAL_ROLE_NAME: Final = "rootwatch-local"
_ACCOUNT_ID: Final = re.compile(r"\d{12}")
_REGION: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")

SpokeId = tuple[str, str]
"""A spoke: (account id, region)."""


class UnknownSpokeError(ValueError):
    """A spoke asked for (to silence) that the input does not come from."""


@dataclass(frozen=True, slots=True)
class SilenceRequest:
    """`ACCOUNT` or `ACCOUNT:REGION`: the spokes to keep from reporting."""

    account_id: str
    region: str | None = None

    @classmethod
    def parse(cls, text: str) -> SilenceRequest:
        account, _, region = text.strip().partition(":")
        if not _ACCOUNT_ID.fullmatch(account):
            raise ValueError(f"{text!r}: expected ACCOUNT or ACCOUNT:REGION (a 12-digit account)")
        if region and not _REGION.fullmatch(region):
            raise ValueError(f"{text!r}: {region!r} is not a region name")
        return cls(account, region or None)

    def matches(self, spoke: SpokeId) -> bool:
        return spoke[0] == self.account_id and self.region in (None, spoke[1])

    def __str__(self) -> str:
        return f"{self.account_id}:{self.region}" if self.region else self.account_id


def spoke_template_for(hub_template: Path) -> Path | None:
    """spoke/template.yaml beside the hub template, if there is one."""
    path = hub_template.parent / SPOKE_TEMPLATE
    return path if path.is_file() else None


def is_heartbeat(event: InputEvent) -> bool:
    return (
        event.source == naming.HEARTBEAT_SOURCE
        and event.detail_type == naming.HEARTBEAT_DETAIL_TYPE
    )


def origin(event: InputEvent, default_region: str) -> SpokeId | None:
    """The spoke an input event comes from; None when its account is not known.

    A heartbeat comes from the spoke its rule ARN names; any other event from its account,
    in the region of its record (`awsRegion`), else in `default_region`.
    """
    if is_heartbeat(event):
        return next(
            (spoke for arn in event.resources if (spoke := spoke_of_heartbeat_rule(arn))), None
        )
    account = event.account_id
    if account is None or not _ACCOUNT_ID.fullmatch(account):
        return None
    detail = event.detail if isinstance(event.detail, Mapping) else {}
    region = detail.get("awsRegion")
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        region = default_region
    return (account, region)


def spokes_of(events: Iterable[InputEvent], default_region: str) -> list[SpokeId]:
    """Every spoke the events come from, by account and region."""
    return sorted({spoke for event in events if (spoke := origin(event, default_region))})


def silenced_spokes(
    spokes: Collection[SpokeId], requests: Sequence[SilenceRequest]
) -> set[SpokeId]:
    """The spokes the requests name; raises `UnknownSpokeError` for a request naming none."""
    chosen: set[SpokeId] = set()
    for request in requests:
        matched = {spoke for spoke in spokes if request.matches(spoke)}
        if not matched:
            known = ", ".join(f"{account}:{region}" for account, region in sorted(spokes))
            raise UnknownSpokeError(
                f"--silence {request}: the input comes from no such spoke "
                f"(its spokes: {known or 'none'})"
            )
        chosen |= matched
    return chosen


@dataclass(frozen=True, slots=True)
class LocalSpoke:
    """The spoke stack of one account and region, provisioned in moto."""

    account_id: str
    region: str
    stack: ProvisionedStack

    @property
    def spoke_id(self) -> SpokeId:
        return (self.account_id, self.region)

    @property
    def heartbeat_rule(self) -> Schedule:
        for schedule in self.stack.schedules:
            if schedule.name == naming.HEARTBEAT_RULE:
                return schedule
        raise ProvisioningError(f"the spoke stack has no {naming.HEARTBEAT_RULE} schedule")

    def put_events(self, events: Sequence[InputEvent]) -> list[tuple[InputEvent, str]]:
        """Put events on the spoke's default bus; returns those PutEvents refused, and why."""
        client = self.stack.endpoint.events()
        refused: list[tuple[InputEvent, str]] = []
        for start in range(0, len(events), PUT_EVENTS_LIMIT):
            chunk = events[start : start + PUT_EVENTS_LIMIT]
            response = client.put_events(
                Entries=[event.entry("default") for event in chunk]  # type: ignore[misc]
            )
            for event, entry in zip(chunk, response["Entries"], strict=True):
                if entry.get("ErrorCode"):
                    refused.append((event, f"{entry['ErrorCode']}: {entry.get('ErrorMessage')}"))
        return refused


class SpokeFleet:
    """The spokes of a local hub, provisioned as their input first needs them."""

    def __init__(self, hub: LocalHub, template: Path) -> None:
        self._hub = hub
        self._template = load_template(template)
        self._spokes: dict[SpokeId, LocalSpoke] = {}

    @classmethod
    def for_hub(cls, hub: LocalHub) -> SpokeFleet | None:
        """The fleet of spoke/template.yaml beside the hub's template; None without one."""
        template = spoke_template_for(hub.template_path)
        return cls(hub, template) if template else None

    @property
    def spokes(self) -> list[LocalSpoke]:
        return [self._spokes[spoke_id] for spoke_id in sorted(self._spokes)]

    @property
    def policy(self) -> SilencePolicy:
        """When the hub's watchdog calls a spoke silent (from its function's environment)."""
        for function in self._hub.stack.functions.values():
            if "SILENT_AFTER_INTERVALS" in function.environment:
                return silence_policy_from_environment(function.environment)
        raise ProvisioningError("the hub has no watchdog function (SILENT_AFTER_INTERVALS)")

    def spoke(self, account_id: str, region: str) -> LocalSpoke:
        """The spoke of an account and region, provisioned on first use."""
        spoke_id = (account_id, region)
        if spoke_id not in self._spokes:
            self._spokes[spoke_id] = self._provision(account_id, region)
        return self._spokes[spoke_id]

    def _provision(self, account_id: str, region: str) -> LocalSpoke:
        hub = self._hub
        credentials = hub.endpoint.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{LOCAL_ROLE_NAME}",
            RoleSessionName=LOCAL_ROLE_NAME,
        )["Credentials"]
        endpoint = Endpoint(
            url=hub.endpoint.url,
            region=region,
            access_key_id=credentials["AccessKeyId"],
            secret_access_key=credentials["SecretAccessKey"],
        )
        parameters = {
            "HubEventBusArn": str(hub.stack.outputs["EventBusArn"]),
            "HeartbeatRateMinutes": str(self.policy.interval_minutes),
        }
        try:
            stack = provision(
                self._template,
                endpoint,
                stack_name=SPOKE_STACK_NAME,
                account_id=account_id,
                parameters=parameters,
            )
        except (TemplateError, ProvisioningError) as error:
            raise ProvisioningError(f"spoke {account_id} {region}: {error}") from error
        return LocalSpoke(account_id=account_id, region=region, stack=stack)

    def put_events(self, events: Iterable[InputEvent]) -> PutReport:
        """Each event on the default bus of the spoke it comes from; heartbeats, and events
        of no known account, on the hub bus (where a spoke's heartbeat rule sends them)."""
        direct: list[InputEvent] = []
        by_spoke: dict[SpokeId, list[InputEvent]] = {}
        for event in events:
            spoke_id = origin(event, self._hub.region)
            if spoke_id is not None:
                # A heartbeat's spoke exists too, and sends heartbeats from then on.
                self.spoke(*spoke_id)
            if spoke_id is None or is_heartbeat(event):
                direct.append(event)
            else:
                by_spoke.setdefault(spoke_id, []).append(event)
        report = self._hub.put_events(direct)
        refused = list(report.failed)
        for spoke_id, spoke_events in by_spoke.items():
            refused.extend(self._spokes[spoke_id].put_events(spoke_events))
        total = len(direct) + sum(len(spoke_events) for spoke_events in by_spoke.values())
        return PutReport(put=total - len(refused), failed=tuple(refused))

    def beat(self, at: datetime, *, skip: Collection[SpokeId] = ()) -> int:
        """Deliver each spoke's heartbeat at `at` (except those skipped) to the hub bus."""
        entries: list[Any] = [
            {
                "Source": naming.HEARTBEAT_SOURCE,
                "DetailType": naming.HEARTBEAT_DETAIL_TYPE,
                "Detail": "{}",
                "Resources": [spoke.heartbeat_rule.arn],
                "Time": at.astimezone(UTC),
                "EventBusName": self._hub.bus_name,
            }
            for spoke in self.spokes
            if spoke.spoke_id not in skip
        ]
        events = self._hub.endpoint.events()
        for start in range(0, len(entries), PUT_EVENTS_LIMIT):
            response = events.put_events(Entries=entries[start : start + PUT_EVENTS_LIMIT])
            if response.get("FailedEntryCount"):
                raise ProvisioningError(f"the hub bus refused heartbeats: {response['Entries']}")
        return len(entries)

    def play_heartbeats(self, now: datetime, *, silenced: Collection[SpokeId] = ()) -> int:
        """The heartbeats of the last intervals up to `now`, oldest first, as if that time
        had passed: one more interval than the hub allows to be missed, so a silenced
        spoke, which sends only the oldest, is silent when the watchdog runs at `now`."""
        policy = self.policy
        rounds = policy.intervals_allowed + 1
        delivered = 0
        for back in range(rounds, -1, -1):
            at = now - policy.interval * back
            delivered += self.beat(at, skip=silenced if back < rounds else ())
        return delivered
