"""The edge's rules, without a server: bounded instants, strict cursors, the forwarded client address, failure
counting, the trusted-proxies setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from ipaddress import ip_network

import pytest
from pydantic import TypeAdapter, ValidationError

from services.api.deps import forwarded_client
from services.api.ratelimit import RateLimiter
from services.core.errors import InvalidInput
from services.core.instants import ClientInstant, FutureInstant, instant_errors, instant_problem
from services.core.paging import decode_cursor, encode_cursor
from services.core.settings import Settings

NOW = datetime(2026, 1, 14, 22, 40, tzinfo=UTC)
CLIENT_INSTANT: TypeAdapter[datetime] = TypeAdapter(ClientInstant)
FUTURE_INSTANT: TypeAdapter[datetime] = TypeAdapter(FutureInstant)


@pytest.mark.parametrize(
    ("instant", "rule"),
    [
        (datetime(2000, 1, 1, tzinfo=UTC), None),
        (datetime(2000, 1, 1, 0, 59, tzinfo=timezone(timedelta(hours=1))), "too_early"),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), "too_early"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "too_early"),
        (datetime(1, 1, 1, tzinfo=timezone(-timedelta(hours=1))), "too_early"),
        (NOW + timedelta(minutes=10), None),
        (NOW + timedelta(minutes=10, seconds=1), "not_future"),
        (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59))), "not_future"),
    ],
)
def test_instants_lie_between_2000_and_ten_minutes_after_reception(instant: datetime, rule: str | None) -> None:
    found = instant_problem(instant, NOW)
    assert (found[0] if found else None) == rule
    errors = instant_errors("at", instant, NOW)
    assert [(e.field, e.rule) for e in errors] == ([("at", rule)] if rule else [])


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("0001-01-01T00:00:00+01:00", "too_early"),
        ("2999-01-01T00:00:00Z", "not_future"),
        ("2026-01-14T22:40:00", "timezone_aware"),
        ("1700000000", "datetime_parsing"),
        (1700000000, "datetime_type"),
        (1.5, "datetime_type"),
        (None, "datetime_type"),
        ("hier soir", "datetime_parsing"),
    ],
)
def test_the_schema_type_refuses_with_the_rule(value: object, rule: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CLIENT_INSTANT.validate_python(value)
    (error,) = refused.value.errors()
    assert error["type"] == rule
    assert error["msg"] and "Value error" not in error["msg"]


def test_the_schema_type_keeps_a_good_instant_with_its_offset() -> None:
    value = CLIENT_INSTANT.validate_python("2026-01-14T22:40:00+01:00")
    assert value.utcoffset() == timedelta(hours=1)


def test_an_expiry_is_ahead_and_within_ten_years() -> None:
    ahead = datetime.now(UTC) + timedelta(days=30)
    assert FUTURE_INSTANT.validate_python(ahead.isoformat()) == ahead
    for value, rule in (
        ((datetime.now(UTC) - timedelta(seconds=1)).isoformat(), "not_past"),
        ("9999-12-31T23:59:59-05:00", "too_late"),
    ):
        with pytest.raises(ValidationError) as refused:
            FUTURE_INSTANT.validate_python(value)
        assert refused.value.errors()[0]["type"] == rule


def test_a_cursor_round_trips() -> None:
    deadline = datetime(2026, 1, 14, 22, 40, 12, 345000, tzinfo=UTC)
    assert decode_cursor(encode_cursor(deadline, "3b709028-12b8-46b7-a25c-edec5aeb1673")) == (
        deadline,
        "3b709028-12b8-46b7-a25c-edec5aeb1673",
    )
    far = datetime(9999, 12, 31, tzinfo=UTC)
    assert decode_cursor(encode_cursor(far, "x"))[0] == far


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "A" * 201,
        "!!!",
        "e30",  # {}
        encode_cursor(NOW, "a b"),
        encode_cursor(NOW, "é"),
        encode_cursor(NOW, "a" * 65),
    ],
)
def test_a_forged_cursor_names_the_cursor(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_cursor(cursor)
    assert [e.field for e in refused.value.errors] == ["cursor"]


PROXIES = [ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.1", ["203.0.113.9"], "198.51.100.1"),  # the peer is not a proxy: its header is its own
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.9"], "203.0.113.9"),
        ("10.0.0.2", ["198.51.100.1, 203.0.113.9"], "203.0.113.9"),  # left of the first untrusted hop: forgeable
        ("10.0.0.2", ["203.0.113.9, 10.0.0.7"], "203.0.113.9"),  # two trusted proxies in a row
        ("10.0.0.2", ["198.51.100.1", "203.0.113.9"], "203.0.113.9"),  # two headers are one list
        ("10.0.0.2", ["du-texte"], "10.0.0.2"),  # not an address: the last hop known
        ("10.0.0.2", ["203.0.113.9, du-texte"], "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.9:4711"], "203.0.113.9"),
        ("2001:db8::1", ["[2001:db8::2]:443, 2001:0db8:0:0:0:0:0:2"], "2001:db8::2"),
        ("2001:db8::1", ["2606:4700::1"], "2606:4700::1"),
        ("10.0.0.2", ["10.0.0.3, 10.0.0.4"], "10.0.0.3"),  # only proxies: the farthest one
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(peer: str, forwarded: list[str], client: str) -> None:
    assert forwarded_client(peer, forwarded, PROXIES) == client


def test_trusted_proxies_setting_reads_a_comma_separated_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URGENCE_TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.7 ,::1")
    assert [str(n) for n in Settings().trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]
    monkeypatch.setenv("URGENCE_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    assert [str(n) for n in Settings().trusted_proxies] == ["10.0.0.0/8"]
    monkeypatch.setenv("URGENCE_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == []
    monkeypatch.setenv("URGENCE_TRUSTED_PROXIES", "10.0.0.1/8")  # host bits set: a typo, refused at start
    with pytest.raises(ValidationError):
        Settings()


def test_waiting_does_not_count_and_forgetting_clears() -> None:
    limiter = RateLimiter(per_minute=2)
    for _ in range(5):
        assert limiter.wait("k") is None
    limiter.record("k")
    assert limiter.wait("k") is None
    limiter.record("k")
    wait = limiter.wait("k")
    assert wait is not None and wait >= 1
    assert limiter.wait("other") is None
    limiter.forget("k")
    assert limiter.wait("k") is None
    assert limiter.hit("k") is None and limiter.hit("k") is None and limiter.hit("k") is not None
