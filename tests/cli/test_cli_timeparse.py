"""Times, durations, time ranges and continuation tokens as the command line takes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rootwatch.adapters.queries import months_newest_first
from rootwatch.cli.main import UsageError
from rootwatch.cli.paging import decode_token, encode_token, filters_digest
from rootwatch.cli.target import account_id, page_limit, time_range
from rootwatch.cli.timeparse import parse_duration, parse_iso, parse_moment

NOW = datetime(2026, 11, 28, 16, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 2H ", timedelta(hours=2)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("0m", timedelta(0)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "5", "-5m", "5 minutes", "1.5h", "5y", "m5", "1e3m"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_a_duration_too_long_for_dates_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("999999999w")
    with pytest.raises(ValueError, match="too long"):
        parse_duration("9999999999d")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("30m", NOW - timedelta(minutes=30)),
        ("now", NOW),
        ("NOW", NOW),
        ("2026-11-28", datetime(2026, 11, 28, tzinfo=UTC)),
        ("2026-11-28T14:02", datetime(2026, 11, 28, 14, 2, tzinfo=UTC)),
        ("2026-11-28T14:02:11", datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)),
        ("2026-11-28 14:02:11Z", datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)),
        ("2026-11-28t14:02:11z", datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)),
        ("2026-11-28T16:02:11+02:00", datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)),
        ("2026-11-28T09:02:11-05:00", datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)),
        ("2026-11-28T14:02:11.250Z", datetime(2026, 11, 28, 14, 2, 11, 250000, tzinfo=UTC)),
    ],
)
def test_moments(text: str, expected: datetime) -> None:
    moment = parse_moment(text, now=NOW)
    assert moment == expected
    assert moment.tzinfo == UTC


def test_a_naive_time_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    assert parse_iso("2026-11-28T14:02:11") == datetime(2026, 11, 28, 14, 2, 11, tzinfo=UTC)


def test_now_in_another_zone_is_returned_in_utc() -> None:
    elsewhere = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert parse_moment("1h", now=elsewhere) == NOW - timedelta(hours=1)
    assert parse_moment("1h", now=elsewhere).tzinfo == UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-13-01",
        "2026-11-31",
        "2026-11-28T25:00",
        "28/11/2026",
        "0001-01-01T00:00+01:00",
    ],
)
def test_not_moments(text: str) -> None:
    with pytest.raises(ValueError):
        parse_moment(text, now=NOW)


def test_time_range_orders_its_bounds() -> None:
    assert time_range("7d", "1d", now=NOW) == (NOW - timedelta(days=7), NOW - timedelta(days=1))
    assert time_range(None, None, now=NOW) == (None, None)
    with pytest.raises(UsageError, match="must be before --until"):
        time_range("1d", "7d", now=NOW)
    with pytest.raises(UsageError, match="must be before --until"):
        time_range("2026-11-28T10:00Z", "2026-11-28T10:00Z", now=NOW)
    with pytest.raises(UsageError, match="is neither ISO 8601"):
        time_range("last week", None, now=NOW)


@pytest.mark.parametrize("text", ["11112222333", "1111222233334", "11112222333a", "", " "])
def test_account_ids_are_twelve_digits(text: str) -> None:
    with pytest.raises(UsageError, match="12-digit"):
        account_id(text)


def test_account_id_is_stripped() -> None:
    assert account_id(" 111122223333 ") == "111122223333"


@pytest.mark.parametrize("value", [0, -1, 1001])
def test_page_limit_bounds(value: int) -> None:
    with pytest.raises(UsageError, match="--limit"):
        page_limit(value)


def test_months_are_walked_newest_first_across_a_year() -> None:
    assert months_newest_first(
        datetime(2027, 2, 3, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    ) == ["2027-02", "2027-01", "2026-12", "2026-11"]
    assert months_newest_first(NOW, NOW + timedelta(days=40)) == []
    # Thirty days can touch three months (31 January to 2 March).
    assert (
        len(
            months_newest_first(datetime(2027, 3, 2, tzinfo=UTC), datetime(2027, 1, 31, tzinfo=UTC))
        )
        == 3
    )


def test_tokens_round_trip_and_are_opaque() -> None:
    digest = filters_digest("events", {"account": "111122223333"})
    token = encode_token("2026-11-28T14:02:11Z#event-1", digest)
    assert "2026" not in token and "#" not in token
    assert decode_token(token, digest) == "2026-11-28T14:02:11Z#event-1"


def test_a_token_for_other_filters_is_refused() -> None:
    token = encode_token("2026-11-28T14:02:11Z#event-1", filters_digest("events", {"a": 1}))
    with pytest.raises(UsageError, match="other filters"):
        decode_token(token, filters_digest("events", {"a": 2}))
    with pytest.raises(UsageError, match="other filters"):
        decode_token(token, filters_digest("incidents", {"a": 1}))


@pytest.mark.parametrize("token", ["", "not a token", "eyJ2IjoyfQ", "e30", "W10", "%%%"])
def test_tokens_that_are_not_ours_are_refused(token: str) -> None:
    with pytest.raises(UsageError, match="not a token"):
        decode_token(token, filters_digest("events", {}))
