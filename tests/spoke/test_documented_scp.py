"""The SCP in docs/deploy.md denies every change tamper detection watches on spoke resources.

The SCP is the organisation's counterpart of the protection boundary: whatever detection
reports as tamper on rootwatch's rules, delivery roles, spoke stacks and spoke stack set,
the SCP forbids to every principal but the exempted deployers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from rootwatch import detection, naming

DEPLOY_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
ACCOUNT = "444455556666"
MANAGEMENT_ACCOUNT = "111122223333"
STACK_ID = "6f0c2d10-aaaa-bbbb-cccc-0123456789ab"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/PartnerAdmin"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/rootwatch-admin"
STACK_SET_EXECUTION = f"arn:aws:iam::{ACCOUNT}:role/stacksets-exec-0123456789abcdef"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def documented_scp() -> Mapping[str, Any]:
    """The JSON block of the guide that holds the SCP's ProtectRootwatchSpokes statement."""
    blocks = re.findall(r"```json\n(.*?)```", DEPLOY_GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    found = [json.loads(block) for block in blocks if '"ProtectRootwatchSpokes"' in block]
    assert len(found) == 1, "docs/deploy.md shows one SCP"
    policy: Mapping[str, Any] = found[0]
    return policy


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class ServiceControlPolicy:
    """The SCP's Deny statements, evaluated for a principal's action on a resource."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.statements: Sequence[Mapping[str, Any]] = as_list(document["Statement"])

    def denies(self, principal: str, action: str, resource: str) -> bool:
        for statement in self.statements:
            assert statement["Effect"] == "Deny", "an SCP that only denies"
            actions = as_list(statement["Action"])
            if not any(fnmatchcase(action.lower(), a.lower()) for a in actions):
                continue
            if not any(fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
                continue
            if self._condition_holds(statement.get("Condition", {}), principal):
                return True
        return False

    @staticmethod
    def _condition_holds(condition: Mapping[str, Any], principal: str) -> bool:
        for operator, keys in condition.items():
            assert operator == "ArnNotLike", f"no evaluation for {operator}"
            assert set(keys) == {"aws:PrincipalArn"}
            if any(fnmatchcase(principal, pattern) for pattern in keys["aws:PrincipalArn"]):
                return False
        return True


@pytest.fixture(scope="module")
def scp() -> ServiceControlPolicy:
    return ServiceControlPolicy(documented_scp())


def watched_changes() -> list[tuple[str, str]]:
    """(action, resource ARN) for every tamper event detection watches on spoke resources."""
    changes = []
    for region in REGIONS:
        for rule in (naming.ROOT_ACTIVITY_RULE, naming.TAMPER_RULE, naming.TAMPER_GUARD_RULE):
            arn = f"arn:aws:events:{region}:{ACCOUNT}:rule/{rule}"
            for event in [*detection.RULE_TAMPER_EVENTS, *detection.TARGET_TAMPER_EVENTS]:
                changes.append((f"events:{event}", arn))
        role = f"arn:aws:iam::{ACCOUNT}:role/{naming.DELIVERY_ROLE_PREFIX}{region}"
        changes.extend((f"iam:{event}", role) for event in detection.ROLE_TAMPER_EVENTS)
        for stack_name in (
            naming.SPOKE_STACK_PREFIX,
            f"{naming.STACK_SET_SPOKE_STACK_PREFIX}-0a1b2c3d-91d3-4f6e-8a5b-2c1d0e9f8a7b",
        ):
            stack = f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{stack_name}/{STACK_ID}"
            changes.extend(
                (f"cloudformation:{event}", stack) for event in detection.STACK_TAMPER_EVENTS
            )
        stack_set = (
            f"arn:aws:cloudformation:{region}:{MANAGEMENT_ACCOUNT}:stackset/"
            f"{naming.SPOKE_STACK_SET_PREFIX}:{STACK_ID}"
        )
        changes.extend(
            (f"cloudformation:{event}", stack_set) for event in detection.STACK_SET_TAMPER_EVENTS
        )
    return changes


def test_the_scp_denies_every_watched_change_to_an_administrator(
    scp: ServiceControlPolicy,
) -> None:
    changes = watched_changes()
    assert len(changes) > 100
    allowed = [change for change in changes if not scp.denies(ADMIN, *change)]
    assert allowed == []


def test_the_scp_denies_the_watched_changes_to_cloudtrail_and_the_organization(
    scp: ServiceControlPolicy,
) -> None:
    trail = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/management"
    for event in detection.TRAIL_TAMPER_EVENTS:
        assert scp.denies(ADMIN, f"cloudtrail:{event}", trail), event
    for event in detection.ORGANIZATION_TAMPER_EVENTS:
        assert scp.denies(ADMIN, f"organizations:{event}", "*"), event


def test_the_scp_lets_the_deployers_deploy_and_everyone_work_elsewhere(
    scp: ServiceControlPolicy,
) -> None:
    for principal in (DEPLOYER, STACK_SET_EXECUTION):
        stack = (
            f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/"
            f"{naming.STACK_SET_SPOKE_STACK_PREFIX}-0a1b2c3d/{STACK_ID}"
        )
        assert not scp.denies(principal, "cloudformation:UpdateStack", stack)
        rule = f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/{naming.TAMPER_RULE}"
        assert not scp.denies(principal, "events:PutTargets", rule)
    other_stack = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/payments-api/{STACK_ID}"
    assert not scp.denies(ADMIN, "cloudformation:CreateChangeSet", other_stack)
    other_rule = f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/nightly-backup-trigger"
    assert not scp.denies(ADMIN, "events:PutTargets", other_rule)
    other_set = f"arn:aws:cloudformation:us-east-1:{MANAGEMENT_ACCOUNT}:stackset/team:{STACK_ID}"
    assert not scp.denies(ADMIN, "cloudformation:DeleteStackSet", other_set)
