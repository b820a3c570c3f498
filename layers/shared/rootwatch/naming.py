"""Names of the resources a spoke deploys, shared by the templates and tamper detection.

The spoke template names its rules and delivery role with these, and the deploy command its
stack or stack set, so tamper rules can narrow EventBridge, IAM and CloudFormation events to
rootwatch's own resources.
"""

from __future__ import annotations

RULE_NAME_PREFIX = "rootwatch-"
ROOT_ACTIVITY_RULE = "rootwatch-root-activity"
TAMPER_RULE = "rootwatch-tamper"
# Watches changes to rootwatch's rules like the tamper rule does: a disabled or deleted rule
# cannot report its own change, so each of the two reports the other's.
TAMPER_GUARD_RULE = "rootwatch-tamper-guard"
HEARTBEAT_RULE = "rootwatch-heartbeat"
DELIVERY_ROLE_PREFIX = "rootwatch-delivery-"
SPOKE_STACK_PREFIX = "rootwatch-spoke"
# A spoke StackSet is named like a spoke stack (the deploy command refuses other names), and
# CloudFormation names each stack it creates `StackSet-<stack set name>-<id>`.
SPOKE_STACK_SET_PREFIX = SPOKE_STACK_PREFIX
STACK_SET_SPOKE_STACK_PREFIX = f"StackSet-{SPOKE_STACK_SET_PREFIX}"
PROTECTION_POLICY_PREFIX = "rootwatch-protection-"
# Heartbeats are the scheduled events of the spoke's heartbeat rule: EventBridge stamps
# them `aws.events` / `Scheduled Event`, which PutEvents cannot forge.
HEARTBEAT_SOURCE = "aws.events"
HEARTBEAT_DETAIL_TYPE = "Scheduled Event"
