"""Which spoke each input event comes from, and which spokes `--silence` names."""

from __future__ import annotations

import pytest
from rootwatch.local.inputs import from_value
from rootwatch.local.spokes import (
    SilenceRequest,
    UnknownSpokeError,
    origin,
    silenced_spokes,
    spokes_of,
)

from tests.support.events import sample_event, variant

ACME = "111122223333"
GLOBEX = "444455556666"


def test_an_event_comes_from_its_account_in_its_records_region() -> None:
    event = from_value(variant(sample_event("root-api-key-list-buckets"), account=ACME))
    region = event.detail["awsRegion"]
    assert origin(event, "us-east-1") == (ACME, region)
    moved = from_value(
        variant(sample_event("root-api-key-list-buckets"), account=ACME, awsRegion="ap-south-1")
    )
    assert origin(moved, "us-east-1") == (ACME, "ap-south-1")


def test_a_region_that_is_not_one_falls_back_to_the_hubs() -> None:
    event = from_value(variant(sample_event("root-api-key-list-buckets"), awsRegion="../x"))
    assert origin(event, "eu-west-1") == (event.account_id, "eu-west-1")


def test_a_heartbeat_comes_from_the_spoke_its_rule_names() -> None:
    event = from_value(sample_event("heartbeat-scheduled-event"))
    assert origin(event, "eu-west-1") == (ACME, "us-east-1")


def test_an_event_without_an_account_comes_from_no_spoke() -> None:
    record = dict(sample_event("root-api-key-list-buckets")["detail"])
    record.pop("recipientAccountId")
    record["userIdentity"] = {"type": "Root"}
    assert origin(from_value(record), "us-east-1") is None


def test_spokes_of_the_input_once_each_in_order() -> None:
    events = [
        from_value(variant(sample_event("console-login-no-mfa"), account=GLOBEX)),
        from_value(variant(sample_event("console-login-no-mfa"), account=ACME)),
        from_value(variant(sample_event("console-login-with-mfa"), account=ACME)),
    ]
    assert spokes_of(events, "us-east-1") == [(ACME, "us-east-1"), (GLOBEX, "us-east-1")]


def test_silence_requests_name_an_account_or_one_of_its_regions() -> None:
    spokes = [(ACME, "us-east-1"), (ACME, "eu-west-1"), (GLOBEX, "us-east-1")]
    whole = SilenceRequest.parse(ACME)
    one = SilenceRequest.parse(f"{GLOBEX}:us-east-1")
    assert (str(whole), str(one)) == (ACME, f"{GLOBEX}:us-east-1")
    assert silenced_spokes(spokes, [whole]) == {(ACME, "us-east-1"), (ACME, "eu-west-1")}
    assert silenced_spokes(spokes, [one]) == {(GLOBEX, "us-east-1")}
    assert silenced_spokes(spokes, []) == set()
    with pytest.raises(UnknownSpokeError, match=rf"{GLOBEX}:eu-west-1: the input comes from no"):
        silenced_spokes(spokes, [whole, SilenceRequest.parse(f"{GLOBEX}:eu-west-1")])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1111", "12-digit"),
        ("", "12-digit"),
        (f"{ACME}:mars", "'mars' is not a region name"),
        (f"{ACME}:us-east-1:x", "is not a region name"),
    ],
)
def test_malformed_silence_requests(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        SilenceRequest.parse(text)
