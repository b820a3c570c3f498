"""The one table test: every sample event in events/ gets the outcome events/outcomes.yaml
states for it (design §2-§3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rootwatch.detection import classify
from rootwatch.reader import parse_value

EVENTS = Path(__file__).resolve().parents[2] / "events"
OUTCOMES = EVENTS / "outcomes.yaml"
FIXTURES = sorted(path.name for path in EVENTS.glob("*.json"))
TAGS = ("severity", "outcome", "mfa", "assumed_root", "invoked_by", "tamper")


def expected_outcomes() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load(OUTCOMES.read_text())
    assert isinstance(loaded, dict), f"{OUTCOMES} must map fixture names to outcomes"
    return loaded


def test_every_fixture_has_an_outcome_and_every_outcome_a_fixture() -> None:
    assert len(FIXTURES) >= 30
    outcomes = expected_outcomes()
    assert sorted(set(FIXTURES) - outcomes.keys()) == [], "fixtures without an outcome"
    assert sorted(outcomes.keys() - set(FIXTURES)) == [], "outcomes without a fixture"


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_gets_its_stated_outcome(name: str) -> None:
    expected = expected_outcomes()[name]
    records = parse_value(json.loads((EVENTS / name).read_text()))
    results = [(record, classify(record)) for record in records]
    kept = [(record, result) for record, result in results if result is not None]

    if not expected["kept"]:
        assert kept == [], f"{name} must not be kept"
        return
    assert len(records) == 1, f"{name} must hold exactly one record"
    ((_record, result),) = kept
    actual = {
        "severity": result.severity.label,
        "outcome": result.outcome,
        "mfa": result.mfa,
        "assumed_root": result.assumed_root,
        "invoked_by": result.invoked_by,
        "tamper": result.tamper,
    }
    assert actual == {tag: expected[tag] for tag in TAGS}, result.summary
    assert sorted(result.rules) == sorted(expected["rules"])
