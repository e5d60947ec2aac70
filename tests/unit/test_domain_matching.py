"""Pair rules without I/O: requests, races, expiry, blocks and feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.aggregate import Cause
from domain.errors import Conflict, NotFound, RuleViolation
from domain.matching import (
    MatchDissolved,
    MatchPair,
    MatchRequestAccepted,
    MatchRequestCancelled,
    MatchRequested,
    MatchRequestExpired,
    UserBlocked,
    pair_id,
)

A, B = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def cause(at: datetime = NOW) -> Cause:
    return Cause(occurred_at=at, correlation_id=uuid4(), actor_id="u")


def pair() -> MatchPair:
    return MatchPair(pair_id(A, B))


def test_pair_id_is_the_same_whoever_asks() -> None:
    assert pair_id(A, B) == pair_id(B, A)


def test_a_request_to_yourself_is_refused() -> None:
    with pytest.raises(RuleViolation) as caught:
        MatchPair(pair_id(A, A)).request(
            cause(), sender_id=A, receiver_id=A, message="", receiver_accepts=True
        )
    assert caught.value.code == "MATCHING_SELF_REQUEST"


def test_a_second_request_from_the_same_sender_is_a_duplicate() -> None:
    p = pair()
    p.request(cause(), sender_id=A, receiver_id=B, message="hi", receiver_accepts=True)
    with pytest.raises(Conflict) as caught:
        p.request(cause(), sender_id=A, receiver_id=B, message="hi", receiver_accepts=True)
    assert caught.value.code == "MATCHING_DUPLICATE_REQUEST"


def test_requesting_back_turns_the_pending_request_into_one_match() -> None:
    p = pair()
    first = p.request(cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=True)
    second = p.request(cause(), sender_id=B, receiver_id=A, message="", receiver_accepts=True)
    assert first == second
    events = p.collect()
    assert [type(e) for e in events] == [MatchRequested, MatchRequestAccepted]
    with pytest.raises(Conflict):
        p.request(cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=True)


def test_only_the_receiver_answers_and_only_while_pending() -> None:
    p = pair()
    request_id = p.request(cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=True)
    with pytest.raises(RuleViolation):
        p.accept(cause(), request_id=request_id, by_user_id=A)
    with pytest.raises(NotFound):
        p.accept(cause(), request_id="nope", by_user_id=B)
    p.reject(cause(), request_id=request_id, by_user_id=B)
    with pytest.raises(Conflict):
        p.accept(cause(), request_id=request_id, by_user_id=B)


def test_a_request_expires_after_seven_days() -> None:
    p = pair()
    request_id = p.request(cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=True)
    p.collect()
    p.expire(cause(NOW + timedelta(days=6)), request_id=request_id)
    assert p.collect() == []
    with pytest.raises(Conflict) as caught:
        p.accept(cause(NOW + timedelta(days=7, seconds=1)), request_id=request_id, by_user_id=B)
    assert caught.value.code == "REQUEST_EXPIRED"
    assert [type(e) for e in p.collect()] == [MatchRequestExpired]
    # An expired request no longer blocks a new one.
    p.request(
        cause(NOW + timedelta(days=8)),
        sender_id=A,
        receiver_id=B,
        message="",
        receiver_accepts=True,
    )


def test_blocking_cancels_the_request_ends_the_match_and_refuses_new_ones() -> None:
    p = pair()
    p.request(cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=True)
    p.block(cause(), blocker_id=B, blocked_id=A)
    assert [type(e) for e in p.collect()][-2:] == [MatchRequestCancelled, UserBlocked]
    with pytest.raises(RuleViolation):
        p.request(cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=True)
    matched = pair()
    request_id = matched.request(
        cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=True
    )
    matched.accept(cause(), request_id=request_id, by_user_id=B)
    matched.block(cause(), blocker_id=A, blocked_id=B)
    assert MatchDissolved in [type(e) for e in matched.collect()]
    assert matched.match_id is None


def test_receiver_who_disallows_requests_cannot_be_requested() -> None:
    with pytest.raises(RuleViolation) as caught:
        pair().request(cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=False)
    assert caught.value.code == "MATCH_REQUESTS_DISABLED"


def test_feedback_once_per_member_per_match_with_a_valid_rating() -> None:
    p = pair()
    request_id = p.request(cause(), sender_id=A, receiver_id=B, message="", receiver_accepts=True)
    match_id = p.accept(cause(), request_id=request_id, by_user_id=B)
    p.give_feedback(
        cause(), match_id=match_id, reviewer_id=A, rating=4, comment="", would_match_again=True
    )
    with pytest.raises(Conflict):
        p.give_feedback(
            cause(), match_id=match_id, reviewer_id=A, rating=4, comment="", would_match_again=True
        )
    with pytest.raises(RuleViolation):
        p.give_feedback(
            cause(), match_id=match_id, reviewer_id=B, rating=0, comment="", would_match_again=None
        )
    with pytest.raises(NotFound):
        p.give_feedback(
            cause(), match_id="other", reviewer_id=B, rating=3, comment="", would_match_again=None
        )
