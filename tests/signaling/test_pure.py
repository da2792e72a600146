"""The signaling layer's pure parts: visit tokens, TURN credentials, event schemas, call states."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbranch_signaling.calls import (
    CONNECT_TIMEOUT_SECONDS,
    CallEnd,
    CallSession,
    CallState,
    TransitionRefused,
    accepted,
    connected,
    customer_returns_to_front,
    ended_early,
    hung_up,
    wrapped_up,
)
from vbranch_signaling.hub import _as_shown
from vbranch_signaling.ice import ice_servers, turn_credentials
from vbranch_signaling.schemas import (
    MAX_PAYLOAD_BYTES,
    Chat,
    EventError,
    Join,
    Signal,
    Transfer,
    parse,
)
from vbranch_signaling.tokens import TokenError, VisitClaims, issue_visit_token, verify_visit_token

SECRET = "s" * 40

# --- visit tokens ------------------------------------------------------------------------------


def test_a_visit_token_round_trips() -> None:
    token = issue_visit_token(SECRET, VisitClaims("v123", "ar", 1000.0))
    assert verify_visit_token(SECRET, token, 999.0) == VisitClaims("v123", "ar", 1000.0)


@pytest.mark.parametrize(
    ("token", "now", "message"),
    [
        (issue_visit_token(SECRET, VisitClaims("v", "en", 100.0)), 100.0, "expired"),
        (issue_visit_token("x" * 40, VisitClaims("v", "en", 100.0)), 1.0, "signature"),
        ("no-dot", 1.0, "malformed"),
        (None, 1.0, "malformed"),
        (12, 1.0, "malformed"),
        ("a.b.c", 1.0, "malformed"),
        ("x" * 600 + ".y", 1.0, "malformed"),
        ("é.é", 1.0, "signature"),  # non-ASCII: refused, never a crash
    ],
)
def test_bad_visit_tokens_are_refused(token: object, now: float, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        verify_visit_token(SECRET, token, now)


def test_a_tampered_token_is_refused() -> None:
    token = issue_visit_token(SECRET, VisitClaims("v1", "en", 100.0))
    _, mac = token.split(".")
    forged_body = base64.urlsafe_b64encode(b'{"v":"v2","l":"en","e":100.0}').rstrip(b"=").decode()
    with pytest.raises(TokenError):
        verify_visit_token(SECRET, f"{forged_body}.{mac}", 1.0)


# --- TURN --------------------------------------------------------------------------------------


def test_turn_credentials_follow_coturn_use_auth_secret() -> None:
    username, password = turn_credentials("turnsecret", "agent-7", now=1000, ttl_seconds=3600)
    assert username == "4600:agent-7"
    expected = base64.b64encode(hmac.new(b"turnsecret", b"4600:agent-7", hashlib.sha1).digest())
    assert password == expected.decode()


def test_ice_servers_list_stun_then_turn() -> None:
    servers = ice_servers(["stun:s:3478"], ["turn:t:3478"], "sec", "u", 0, 60)
    assert servers[0] == {"urls": ["stun:s:3478"]}
    assert servers[1]["urls"] == ["turn:t:3478"] and servers[1]["username"] == "60:u"
    assert ice_servers([], [], None, "u", 0, 60) == []


# --- event schemas -----------------------------------------------------------------------------


def test_valid_events_parse() -> None:
    join = parse(Join, {"category": "pensions", "language": "ar", "sign_language": True})
    assert join.sign_language and join.display_name is None
    end_of_candidates = parse(Signal, {"call_id": "c1", "candidate": None})
    assert end_of_candidates.candidate is None and end_of_candidates.description is None
    offer = parse(Signal, {"call_id": "c1", "description": {"type": "offer", "sdp": "v=0"}})
    assert offer.description is not None and offer.description.type == "offer"


@pytest.mark.parametrize(
    ("schema", "payload", "code"),
    [
        (Join, {"category": "pensions", "language": "fr"}, "invalid_payload"),
        (Join, {"category": "Pensions!", "language": "ar"}, "invalid_payload"),
        (Join, {"category": "pensions", "language": "ar", "admin": True}, "invalid_payload"),
        (Join, ["pensions"], "invalid_payload"),
        (Join, "pensions", "invalid_payload"),
        (Signal, {"call_id": "c1"}, "invalid_payload"),
        (
            Signal,
            {"call_id": "c1", "description": {"type": "rollback", "sdp": "x"}},
            "invalid_payload",
        ),
        (Signal, {"call_id": "../etc", "candidate": None}, "invalid_payload"),
        (Chat, {"call_id": "c1", "text": "   "}, "invalid_payload"),
        (Chat, {"call_id": "c1", "text": "x" * 2001}, "invalid_payload"),
        (Chat, {"call_id": "c1", "text": "x" * (MAX_PAYLOAD_BYTES + 1)}, "payload_too_large"),
        (Transfer, {"call_id": "c1"}, "invalid_payload"),
    ],
)
def test_bad_events_are_refused_with_a_code(schema: type, payload: object, code: str) -> None:
    with pytest.raises(EventError) as refused:
        parse(schema, payload)
    assert refused.value.code == code


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_json_is_either_a_valid_signal_or_a_clean_refusal(payload: object) -> None:
    try:
        parse(Signal, payload)
    except EventError as refused:
        assert refused.code in {"invalid_payload", "payload_too_large"}


# --- the call state machine --------------------------------------------------------------------

OFFERED = CallSession("k1", "cust", "agent", "o1", "pensions|ar|-", enqueued_at=100, offered_at=110)


def test_a_whole_call() -> None:
    call = accepted(OFFERED, 115, "VB-2026-000001")
    assert call.state is CallState.CONNECTING and call.wait_seconds == 15
    assert call.connect_deadline() == 115 + CONNECT_TIMEOUT_SECONDS
    call = connected(call, 118)
    assert connected(call, 119) == call  # the second peer's report changes nothing
    call = hung_up(call, 300)
    assert (call.state, call.end, call.talk_seconds) == (CallState.WRAP_UP, CallEnd.COMPLETED, 182)
    assert wrapped_up(call, 320).state is CallState.DONE


def test_early_ends() -> None:
    assert ended_early(OFFERED, 130, CallEnd.NOT_ANSWERED).end is CallEnd.NOT_ANSWERED
    connecting = accepted(OFFERED, 115, "VB-2026-000001")
    failed = hung_up(connecting, 146, CallEnd.CONNECT_FAILED)
    # The agent still wraps up after a failed connection or a transfer; the customer goes on.
    assert failed.state is CallState.WRAP_UP and customer_returns_to_front(failed.end)
    in_call = connected(connecting, 118)
    lost = ended_early(in_call, 200, CallEnd.AGENT_LOST)
    assert lost.state is CallState.DONE and customer_returns_to_front(lost.end)
    transferred = hung_up(in_call, 200, CallEnd.TRANSFERRED)
    assert transferred.state is CallState.WRAP_UP and customer_returns_to_front(transferred.end)
    assert not customer_returns_to_front(CallEnd.COMPLETED)
    # Hanging up before media connected counts as the customer giving up.
    assert hung_up(connecting, 120).end is CallEnd.ABANDONED


@pytest.mark.parametrize(
    "step",
    [
        lambda: connected(OFFERED, 1),
        lambda: hung_up(OFFERED, 1),
        lambda: wrapped_up(OFFERED, 1),
        lambda: accepted(accepted(OFFERED, 1, "r"), 2, "r"),
        lambda: ended_early(OFFERED, 1, CallEnd.CONNECT_FAILED),
        lambda: hung_up(connected(accepted(OFFERED, 1), 2), 3, CallEnd.CONNECT_FAILED),
        lambda: hung_up(accepted(OFFERED, 1), 2, CallEnd.NOT_ANSWERED),
        lambda: ended_early(OFFERED, 1, CallEnd.COMPLETED),
        lambda: ended_early(
            wrapped_up(hung_up(connected(accepted(OFFERED, 1, "r"), 2), 3), 4),
            5,
            CallEnd.AGENT_LOST,
        ),
    ],
)
def test_refused_transitions(step) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransitionRefused):
        step()


def test_a_waiting_customer_hears_only_of_changes_their_page_shows() -> None:
    at = {"position": 3, "estimated_wait_seconds": 400.0}
    # The estimate drifts by seconds with every call in the line: the page still says 7 minutes.
    assert _as_shown(at) == _as_shown({"position": 3, "estimated_wait_seconds": 417.9})
    assert _as_shown(at) != _as_shown({"position": 3, "estimated_wait_seconds": 460.0})
    assert _as_shown(at) != _as_shown({"position": 2, "estimated_wait_seconds": 400.0})
    # Under a minute is "about 1 minute"; no agent working is "unknown".
    assert _as_shown({"position": 1, "estimated_wait_seconds": 5}) == (1, 1)
    assert _as_shown({"position": 1, "estimated_wait_seconds": None}) == (1, None)
