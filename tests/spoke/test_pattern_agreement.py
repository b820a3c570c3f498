"""The spoke rules forward exactly what detection keeps: routed for real through EventBridge.

The rules are created from spoke/template.yaml on the default bus of a spoke account in
moto, each targeting its own bus in a hub account (so the test knows which rule forwarded
what), and every sample event in events/ and every record of a generated corpus is put on
the spoke bus as CloudTrail would put it. What reaches the hub must be exactly what
`rootwatch.detection` calls root activity or tamper. moto implements `$or`, prefix,
`equals-ignore-case` and wildcard matching but not TestEventPattern, hence real routing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rootwatch import detection, naming
from rootwatch.local.template import Pseudo, StackEvaluation, load_template
from rootwatch.reader import RecordError, parse_event, parse_record
from spoke_corpus import ACCOUNT, Case, detail_type, event_source, generate

ROOT = Path(__file__).resolve().parents[2]
SPOKE_TEMPLATE = ROOT / "spoke" / "template.yaml"
EVENTS = ROOT / "events"
HUB_ACCOUNT = "222222222222"
REGION = "us-east-1"
PUT_EVENTS_BATCH = 10


def _session(account: str) -> boto3.Session:
    """Credentials of `account`: moto picks the account from assumed-role credentials."""
    sts = boto3.client("sts", region_name=REGION)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/pattern-agreement",
        RoleSessionName="pattern-agreement",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def spoke_pattern_rules() -> dict[str, Mapping[str, Any]]:
    """The spoke's event-pattern rules as the template declares them, by rule name."""
    template = load_template(SPOKE_TEMPLATE)
    evaluation = StackEvaluation(
        template,
        Pseudo(region=REGION, account_id=ACCOUNT, stack_name=naming.SPOKE_STACK_PREFIX),
        overrides={
            "HubEventBusArn": f"arn:aws:events:{REGION}:{HUB_ACCOUNT}:event-bus/rootwatch-hub"
        },
    )
    rules = {}
    for logical_id in evaluation.active_resources():
        resource = template.resources[logical_id]
        if resource["Type"] != "AWS::Events::Rule":
            continue
        properties = evaluation.resolve(
            {key: value for key, value in resource["Properties"].items() if key != "Targets"}
        )
        # A schedule rule matches no event in EventBridge; in moto a rule without a pattern
        # matches every event, so only the pattern rules are routed here.
        if "EventPattern" in properties:
            rules[properties["Name"]] = properties
    return rules


@dataclass(frozen=True, slots=True)
class Routed:
    """What reached the hub: event ids delivered through each spoke rule, with counts."""

    by_rule: Mapping[str, Counter[str]]

    def ids(self, rule: str) -> set[str]:
        return set(self.by_rule[rule])

    def all_ids(self) -> set[str]:
        return set().union(*(set(counter) for counter in self.by_rule.values()))


class SpokeAndHub:
    """A spoke account with the template's pattern rules, each forwarding to a hub bus."""

    def __init__(self) -> None:
        self._spoke = _session(ACCOUNT)
        hub = _session(HUB_ACCOUNT)
        self._events = self._spoke.client("events")
        self._hub_sqs = hub.client("sqs")
        hub_events = hub.client("events")
        self._queues: dict[str, str] = {}
        for rule_name, properties in spoke_pattern_rules().items():
            bus_arn = hub_events.create_event_bus(Name=f"hub-{rule_name}")["EventBusArn"]
            queue_url = self._hub_sqs.create_queue(QueueName=f"hub-{rule_name}")["QueueUrl"]
            queue_arn = self._hub_sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            hub_events.put_rule(
                Name="everything",
                EventBusName=f"hub-{rule_name}",
                EventPattern=json.dumps({"source": [{"prefix": ""}]}),
            )
            hub_events.put_targets(
                Rule="everything",
                EventBusName=f"hub-{rule_name}",
                Targets=[{"Id": "queue", "Arn": queue_arn}],
            )
            self._events.put_rule(
                Name=rule_name,
                EventPattern=json.dumps(properties["EventPattern"]),
                State=properties["State"],
            )
            self._events.put_targets(
                Rule=rule_name,
                Targets=[
                    {
                        "Id": "rootwatch-hub",
                        "Arn": bus_arn,
                        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/"
                        f"{naming.DELIVERY_ROLE_PREFIX}{REGION}",
                    }
                ],
            )
            self._queues[rule_name] = queue_url

    def route(self, entries: Sequence[Mapping[str, str]]) -> Routed:
        for start in range(0, len(entries), PUT_EVENTS_BATCH):
            response = self._events.put_events(
                Entries=[dict(entry) for entry in entries[start : start + PUT_EVENTS_BATCH]]
            )
            assert response["FailedEntryCount"] == 0, response
        return Routed({rule: Counter(self._drain(queue)) for rule, queue in self._queues.items()})

    def _drain(self, queue_url: str) -> Iterator[str]:
        while True:
            messages = self._hub_sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not messages:
                return
            for message in messages:
                yield json.loads(message["Body"])["detail"]["eventID"]


def _entry(source: str, kind: str, record: Mapping[str, Any]) -> dict[str, str]:
    return {"Source": source, "DetailType": kind, "Detail": json.dumps(record)}


def _keeps(record: Mapping[str, Any]) -> tuple[bool, bool]:
    """(root activity, tamper) as detection decides for one record."""
    parsed = parse_record(record)
    return detection.is_root_activity(parsed), detection.is_tamper(parsed)


# --- the generated corpus ----------------------------------------------------------------

CORPUS = generate()
FORGED_SOURCE = "custom.rootwatch-test"


@pytest.fixture(scope="module")
def spoke_and_hub() -> Iterator[SpokeAndHub]:
    with mock_aws():
        yield SpokeAndHub()


@pytest.fixture(scope="module")
def routed_corpus(spoke_and_hub: SpokeAndHub) -> tuple[Routed, Routed]:
    """The corpus routed as CloudTrail sends it, and again with a forged source."""
    genuine = spoke_and_hub.route(
        [_entry(event_source(c.record), detail_type(c.record), c.record) for c in CORPUS]
    )
    forged = spoke_and_hub.route(
        [_entry(FORGED_SOURCE, detail_type(c.record), c.record) for c in CORPUS]
    )
    return genuine, forged


def _ids(
    cases: Sequence[Case], *, root: bool | None = None, tamper: bool | None = None
) -> set[str]:
    chosen = set()
    for case in cases:
        is_root, is_tamper = _keeps(case.record)
        if (root is None or is_root == root) and (tamper is None or is_tamper == tamper):
            chosen.add(case.record["eventID"])
    return chosen


def test_corpus_has_every_kind_of_case() -> None:
    """A corpus of only non-root events would agree with any pattern: make sure it cannot."""
    assert len({case.record["eventID"] for case in CORPUS}) == len(CORPUS)
    kinds = Counter(_keeps(case.record) for case in CORPUS)
    assert kinds[(True, False)] >= 100  # root activity
    assert kinds[(False, True)] >= 60  # tamper by others
    assert kinds[(True, True)] >= 15  # root tampering
    assert kinds[(False, False)] >= 300  # look-alikes and ordinary calls
    tamper_names = {c.record["eventName"] for c in CORPUS if _keeps(c.record)[1]}
    expected_names = (
        set(detection.TRAIL_TAMPER_EVENTS)
        | set(detection.RULE_TAMPER_EVENTS)
        | set(detection.TARGET_TAMPER_EVENTS)
        | set(detection.ROLE_TAMPER_EVENTS)
        | set(detection.STACK_TAMPER_EVENTS)
        | set(detection.STACK_SET_TAMPER_EVENTS)
        | set(detection.ORGANIZATION_TAMPER_EVENTS)
        | {event for _, event in detection.ROOT_TAMPER_EVENTS}
    )
    assert expected_names <= tamper_names
    near_misses = {c.record["eventName"] for c in CORPUS if _keeps(c.record) == (False, False)}
    assert expected_names - {event for _, event in detection.ROOT_TAMPER_EVENTS} <= near_misses


def test_root_activity_rule_forwards_exactly_root_activity(
    routed_corpus: tuple[Routed, Routed],
) -> None:
    genuine, _ = routed_corpus
    assert genuine.ids(naming.ROOT_ACTIVITY_RULE) == _ids(CORPUS, root=True)


def test_tamper_rule_forwards_tamper_by_anyone_and_nothing_else(
    routed_corpus: tuple[Routed, Routed],
) -> None:
    genuine, _ = routed_corpus
    forwarded = genuine.ids(naming.TAMPER_RULE)
    assert forwarded <= _ids(CORPUS, tamper=True)
    assert _ids(CORPUS, root=False, tamper=True) <= forwarded
    # Root's own tamper (GuardDuty, Config, Security Hub) travels by the root-activity rule.
    root_only_tamper = _ids(CORPUS, root=True, tamper=True) - forwarded
    names = {c.record["eventName"] for c in CORPUS if c.record["eventID"] in root_only_tamper}
    assert names <= {event for _, event in detection.ROOT_TAMPER_EVENTS}


def test_tamper_guard_forwards_exactly_the_changes_to_rootwatchs_rules(
    routed_corpus: tuple[Routed, Routed],
) -> None:
    genuine, _ = routed_corpus
    rule_tamper = {
        case.record["eventID"]
        for case in CORPUS
        if case.record["eventSource"] == detection.EVENTBRIDGE_SOURCE and _keeps(case.record)[1]
    }
    assert len(rule_tamper) >= 12
    assert genuine.ids(naming.TAMPER_GUARD_RULE) == rule_tamper
    assert rule_tamper <= genuine.ids(naming.TAMPER_RULE)


def test_hub_receives_exactly_what_detection_keeps(routed_corpus: tuple[Routed, Routed]) -> None:
    genuine, _ = routed_corpus
    kept = _ids(CORPUS, root=True) | _ids(CORPUS, tamper=True)
    assert genuine.all_ids() == kept
    for rule, counter in genuine.by_rule.items():
        assert max(counter.values()) == 1, f"{rule} delivered an event twice"


def test_events_with_a_forged_source_are_not_forwarded(
    routed_corpus: tuple[Routed, Routed],
) -> None:
    """PutEvents cannot use an `aws.` source; the hub would reject any other, so the spoke
    does not forward them at all."""
    _, forged = routed_corpus
    assert forged.all_ids() == set()


# --- the sample events -------------------------------------------------------------------


def sample_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(EVENTS.glob("*.json"))
    ]


def _sample_expectation(event: Mapping[str, Any]) -> tuple[bool, bool]:
    if not str(event.get("source", "")).startswith("aws."):
        return False, False
    try:
        record = parse_event(event)
    except RecordError:
        return False, False  # not a CloudTrail record (a heartbeat): no pattern rule takes it
    return detection.is_root_activity(record), detection.is_tamper(record)


def test_sample_events_reach_the_hub_exactly_when_detection_keeps_them(
    spoke_and_hub: SpokeAndHub,
) -> None:
    samples = sample_events()
    assert len(samples) >= 30, "events/ holds the project's sample events"
    routed = spoke_and_hub.route(
        [_entry(event["source"], event["detail-type"], event["detail"]) for _, event in samples]
    )
    mismatches = []
    for name, event in samples:
        event_id = event["detail"].get("eventID")
        is_root, is_tamper = _sample_expectation(event)
        arrived = event_id in routed.all_ids()
        via_root_rule = event_id in routed.ids(naming.ROOT_ACTIVITY_RULE)
        if arrived != (is_root or is_tamper) or via_root_rule != is_root:
            mismatches.append(f"{name}: root={is_root} tamper={is_tamper} arrived={arrived}")
    assert mismatches == []
    kept = [name for name, event in samples if any(_sample_expectation(event))]
    dropped = [name for name, event in samples if not any(_sample_expectation(event))]
    assert kept, "some sample events are root activity or tamper"
    assert dropped, "some sample events are look-alikes that must not be forwarded"
