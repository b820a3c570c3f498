"""Stacks for tests that need a hub without deploying one."""

from __future__ import annotations

# A hub stack reduced to what spoke deployment reads of it: its bus, named by the
# `EventBusArn` output.
HUB_BUS_STACK = """
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: rootwatch-hub
Outputs:
  EventBusArn:
    Value: !GetAtt Bus.Arn
"""
