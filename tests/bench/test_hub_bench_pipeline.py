"""The hub benchmark's pipeline pass on the real local stack, with a small burst."""

from __future__ import annotations

import pytest

from bench import hub
from bench.burst import BurstSpec, generate_burst

pytestmark = pytest.mark.e2e


def test_pipeline_counts_the_processors_calls_and_checks_the_replay() -> None:
    burst = generate_burst(BurstSpec(events=40, seed=2, accounts=2, sessions=3))
    warm_up = generate_burst(BurstSpec(events=6, seed=3, accounts=1, sessions=1, account_offset=2))
    measured = hub.measure(burst, warm_up, pipeline=True, imports=False, runs=1)

    pipeline = measured.pipeline
    assert pipeline is not None
    assert measured.imports is None
    assert pipeline.stored == 40
    assert pipeline.incidents == 3
    calls = pipeline.burst.calls_of(hub.PROCESSOR).by_operation
    # One claim per event; reads and writes per account and actor come on top.
    assert calls["DynamoDB PutItem"] == 40
    assert calls["DynamoDB Query"] >= 2
    assert calls["DynamoDB TransactWriteItems"] >= 3
    assert pipeline.burst.calls_of(hub.NOTIFIER).total > 0
    assert pipeline.burst.slack_posts > 0
    # Every duplicate costs its claim, and nothing else happens.
    assert pipeline.replay.calls_of(hub.PROCESSOR).by_operation == {"DynamoDB PutItem": 40}
    assert pipeline.replay.calls_of(hub.NOTIFIER).total == 0
    assert pipeline.burst.invocations[hub.PROCESSOR] >= 4
    goals = hub.evaluate(pipeline, None)
    assert [goal.holds for goal in goals] == [True, True]
