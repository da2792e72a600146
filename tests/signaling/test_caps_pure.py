"""The abuse caps' pure parts: the token bucket, the address key, the address in the visit token,
and the settings that feed them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbranch_server.realtime.wiring import abuse_caps
from vbranch_server.settings import load_settings
from vbranch_signaling.caps import ENGLISH, AbuseCaps
from vbranch_signaling.line_places import address_key
from vbranch_signaling.rate_limit import Rate, SocketBuckets, TokenBucket
from vbranch_signaling.tokens import TokenError, VisitClaims, issue_visit_token, verify_visit_token

SECRET = "s" * 40

# --- the token bucket ---------------------------------------------------------------------------


def test_a_full_bucket_lets_a_burst_through_then_the_rate() -> None:
    bucket = TokenBucket.full(Rate(per_second=2.0, burst=5), now=100.0)
    assert [bucket.take(100.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert bucket.take(100.4) is False  # 0.8 of a token
    assert bucket.take(100.5) is True  # one whole token after half a second
    assert bucket.take(100.5) is False
    # A long pause refills it to the burst, never beyond.
    assert sum(bucket.take(1000.0) for _ in range(20)) == 5


def test_a_clock_that_goes_back_refills_nothing() -> None:
    bucket = TokenBucket.full(Rate(per_second=1.0, burst=1), now=100.0)
    assert bucket.take(100.0)
    assert not bucket.take(50.0)
    assert not bucket.take(100.5)  # and the time "gained" going back is not counted either
    assert bucket.take(101.0)


@given(
    per_second=st.floats(0.1, 100.0),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=300),
)
def test_no_more_than_burst_plus_rate_times_elapsed(
    per_second: float, burst: int, gaps: list[float]
) -> None:
    rate = Rate(per_second, burst)
    bucket, now, passed = TokenBucket.full(rate, 0.0), 0.0, 0
    for gap in gaps:
        now += gap
        passed += bucket.take(now)
    assert passed <= rate.burst + rate.per_second * now + 1e-9
    assert passed <= rate.allowed_within(now + 1e-9)


def test_each_socket_and_event_has_its_own_bucket() -> None:
    buckets = SocketBuckets({"chat": Rate(1.0, 2), "signal": Rate(1.0, 3)})
    assert [buckets.allow("a", "chat", 0.0) for _ in range(3)] == [True, True, False]
    assert [buckets.allow("a", "signal", 0.0) for _ in range(4)] == [True] * 3 + [False]
    assert buckets.allow("b", "chat", 0.0)  # another socket is not held back
    assert all(buckets.allow("a", "join", 0.0) for _ in range(100))  # no rate: never limited
    buckets.forget("a")
    buckets.forget("b")
    assert len(buckets) == 0


# --- the address key ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 peer on an IPv6 socket
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same home
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),  # the next /64: another one
        ("unknown", "unknown"),
        ("", "unknown"),
    ],
)
def test_the_address_key(address: str, key: str) -> None:
    assert address_key(address) == key


# --- the address in the visit token -------------------------------------------------------------


def test_the_visit_token_carries_the_address_signed() -> None:
    claims = VisitClaims("v1", "ar", 1000.0, address="2001:db8:1:2::/64")
    token = issue_visit_token(SECRET, claims)
    assert verify_visit_token(SECRET, token, 999.0) == claims
    # Another address cannot be written into the token without the key.
    other = issue_visit_token("x" * 40, VisitClaims("v1", "ar", 1000.0, address="198.51.100.1"))
    forged = other.split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(TokenError, match="signature"):
        verify_visit_token(SECRET, forged, 999.0)


def test_a_token_from_before_the_address_still_works() -> None:
    token = issue_visit_token(SECRET, VisitClaims("v1", "en", 1000.0))
    assert verify_visit_token(SECRET, token, 999.0).address is None


# --- the settings -------------------------------------------------------------------------------


def test_the_settings_defaults_are_the_caps_defaults(tmp_path: Path) -> None:
    settings = load_settings({"VBRANCH_DATA_DIR": str(tmp_path)})
    assert abuse_caps(settings) == AbuseCaps()
    assert AbuseCaps() == AbuseCaps(3, 3, Rate(2.0, 20), Rate(20.0, 200))


def test_the_english_texts_are_the_catalogs() -> None:
    from vbranch_server.i18n import Catalogs

    catalogs = Catalogs.load()
    for code, text in ENGLISH.items():
        assert catalogs.gettext("en", f"error.{code}") == text
        assert catalogs.messages["ar"][f"error.{code}"] != text  # and it has its Arabic
