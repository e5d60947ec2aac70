"""Matching commands on their own: given the history of two learners' pair, when a
command, then the events it records or the error it refuses with (and nothing recorded)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from commands import matching as cmd
from domain.aggregate import Cause
from domain.errors import Conflict, NotFound, RuleViolation
from domain.events import DomainEvent
from domain.identity import Account
from domain.matching import (
    REQUEST_TTL,
    MatchDissolved,
    MatchPair,
    MatchRequestAccepted,
    MatchRequestCancelled,
    MatchRequested,
    MatchRequestExpired,
    MatchRequestRejected,
    PartnerFeedbackGiven,
    UserBlocked,
    UserReported,
    UserUnblocked,
    pair_id,
)
from domain.profiles import Profile, profile_id
from tests.scenarios import NOW, Scenario, history

SENDER, RECEIVER = sorted(str(uuid4()) for _ in range(2))
PAIR = pair_id(SENDER, RECEIVER)


def _account(user: str) -> list[DomainEvent]:
    return history(Account, UUID(user),
                   lambda a, c: a.register(c, email=f"{user}@example.com", name="Min",
                                           provider="dev"))  # fmt: skip


def _pair(*steps: Callable[[MatchPair, Cause], None]) -> list[DomainEvent]:
    return history(MatchPair, PAIR, *steps)


def _requested(pair: MatchPair, cause: Cause) -> None:
    pair.request(cause, sender_id=SENDER, receiver_id=RECEIVER, message="hi",
                 receiver_accepts=True)  # fmt: skip


def _request_id(scenario: Scenario) -> str:
    pair = scenario.load(MatchPair, PAIR)
    assert pair is not None
    return next(iter(pair.requests))


def _matched(scenario: Scenario) -> str:
    scenario.given(_pair(_requested))
    request = _request_id(scenario)
    accept = cmd.AcceptRequest(pair_id=PAIR, request_id=request, user_id=RECEIVER)
    return str(scenario.result(cmd.accept_request, accept)["match_id"])


def test_a_request_to_an_active_learner_is_recorded(scenario: Scenario) -> None:
    scenario.given(_account(RECEIVER))
    send = cmd.SendRequest(user_id=SENDER, other_id=RECEIVER, message="let's talk")

    events = scenario.when(cmd.send_request, send)

    assert [type(e) for e in events] == [MatchRequested]
    assert events[0].expires_at == NOW + REQUEST_TTL  # type: ignore[attr-defined]


def test_a_request_the_other_way_becomes_the_match(scenario: Scenario) -> None:
    scenario.given(_account(SENDER), _pair(_requested))

    back = cmd.SendRequest(user_id=RECEIVER, other_id=SENDER)
    result = scenario.result(cmd.send_request, back)

    assert result["matched"] is True
    assert scenario.store.max_position() == 3  # the account, the request, its acceptance


def test_a_learner_who_refuses_requests_cannot_be_requested(scenario: Scenario) -> None:
    closed = history(Profile, profile_id(RECEIVER),
                     lambda p, c: p.change_settings(c, "matching",
                                                    {"allowMatchRequests": False}))  # fmt: skip
    scenario.given(_account(RECEIVER), closed)
    send = cmd.SendRequest(user_id=SENDER, other_id=RECEIVER)

    code = scenario.refused(RuleViolation, cmd.send_request, send)

    assert code == "MATCH_REQUESTS_DISABLED"


def test_a_request_to_nobody_is_not_found(scenario: Scenario) -> None:
    send = cmd.SendRequest(user_id=SENDER, other_id=RECEIVER)

    code = scenario.refused(NotFound, cmd.send_request, send)

    assert code == "USER_NOT_FOUND"


def test_the_receiver_accepts_and_the_answer_names_the_match(scenario: Scenario) -> None:
    scenario.given(_pair(_requested))
    request = _request_id(scenario)

    accept = cmd.AcceptRequest(pair_id=PAIR, request_id=request, user_id=RECEIVER)
    events = scenario.when(cmd.accept_request, accept)

    assert [type(e) for e in events] == [MatchRequestAccepted]
    pair = scenario.load(MatchPair, PAIR)
    assert pair is not None and pair.match_id == events[0].match_id  # type: ignore[attr-defined]


def test_the_sender_cannot_accept_their_own_request(scenario: Scenario) -> None:
    scenario.given(_pair(_requested))
    accept = cmd.AcceptRequest(pair_id=PAIR, request_id=_request_id(scenario), user_id=SENDER)

    code = scenario.refused(RuleViolation, cmd.accept_request, accept)

    assert code == "NOT_THE_RECEIVER"


def test_the_receiver_rejects_and_the_sender_cancels(scenario: Scenario) -> None:
    scenario.given(_pair(_requested))
    request = _request_id(scenario)
    reject = cmd.RejectRequest(pair_id=PAIR, request_id=request, user_id=RECEIVER)
    assert [type(e) for e in scenario.when(cmd.reject_request, reject)] == [MatchRequestRejected]

    again = cmd.CancelRequest(pair_id=PAIR, request_id=request, user_id=SENDER)
    code = scenario.refused(Conflict, cmd.cancel_request, again)
    assert code == "REQUEST_NOT_PENDING"


def test_the_sender_withdraws_a_pending_request(scenario: Scenario) -> None:
    scenario.given(_pair(_requested))
    cancel = cmd.CancelRequest(pair_id=PAIR, request_id=_request_id(scenario), user_id=SENDER)

    events = scenario.when(cmd.cancel_request, cancel)

    assert [type(e) for e in events] == [MatchRequestCancelled]
    assert events[0].reason == "sender"  # type: ignore[attr-defined]


def test_a_command_on_a_pair_without_history_is_not_found(scenario: Scenario) -> None:
    accept = cmd.AcceptRequest(pair_id=PAIR, request_id=str(uuid4()), user_id=RECEIVER)

    code = scenario.refused(NotFound, cmd.accept_request, accept)

    assert code == "NOT_FOUND"


def test_expiry_records_an_overdue_request_once(scenario: Scenario) -> None:
    scenario.given(_pair(_requested))
    expire = cmd.ExpireRequest(pair_id=PAIR, request_id=_request_id(scenario))
    assert scenario.when(cmd.expire_request, expire) == []  # not due yet

    scenario.bus.clock = lambda: NOW + REQUEST_TTL + timedelta(seconds=1)
    assert [type(e) for e in scenario.when(cmd.expire_request, expire)] == [MatchRequestExpired]
    assert scenario.when(cmd.expire_request, expire) == []


def test_either_member_dissolves_a_match_once(scenario: Scenario) -> None:
    match = _matched(scenario)
    dissolve = cmd.DissolveMatch(pair_id=PAIR, match_id=match, user_id=SENDER)

    events = scenario.when(cmd.dissolve_match, dissolve)

    assert [type(e) for e in events] == [MatchDissolved]
    assert events[0].user_ids == [SENDER, RECEIVER]  # type: ignore[attr-defined]
    assert scenario.when(cmd.dissolve_match, dissolve) == []  # already over


def test_someone_else_cannot_dissolve_a_match(scenario: Scenario) -> None:
    match = _matched(scenario)
    dissolve = cmd.DissolveMatch(pair_id=PAIR, match_id=match, user_id=str(uuid4()))

    code = scenario.refused(NotFound, cmd.dissolve_match, dissolve)

    assert code == "MATCH_NOT_FOUND"


def test_feedback_names_the_partner_and_is_given_once(scenario: Scenario) -> None:
    match = _matched(scenario)
    feedback = cmd.GiveFeedback(pair_id=PAIR, match_id=match, reviewer_id=RECEIVER, rating=5,
                                comment="great", would_match_again=True)  # fmt: skip

    events = scenario.when(cmd.give_feedback, feedback)

    assert [type(e) for e in events] == [PartnerFeedbackGiven]
    assert events[0].partner_id == SENDER  # type: ignore[attr-defined]
    code = scenario.refused(Conflict, cmd.give_feedback, feedback)
    assert code == "FEEDBACK_EXISTS"


def test_a_rating_outside_one_to_five_is_refused_before_anything_loads() -> None:
    with pytest.raises(RuleViolation) as refused:
        cmd.GiveFeedback(pair_id=PAIR, match_id=str(uuid4()), reviewer_id=SENDER, rating=6)
    assert refused.value.details == {"fields": ["rating"]}


def test_blocking_ends_the_match_and_unblocking_only_the_block(scenario: Scenario) -> None:
    _matched(scenario)
    block = cmd.BlockUser(user_id=RECEIVER, other_id=SENDER)

    events = scenario.when(cmd.block_user, block)

    assert [type(e) for e in events] == [MatchDissolved, UserBlocked]
    assert scenario.when(cmd.block_user, block) == []  # already blocked
    unblock = cmd.UnblockUser(user_id=RECEIVER, other_id=SENDER)
    assert [type(e) for e in scenario.when(cmd.unblock_user, unblock)] == [UserUnblocked]
    assert scenario.when(cmd.unblock_user, unblock) == []


def test_a_blocked_learner_cannot_be_requested(scenario: Scenario) -> None:
    scenario.given(_account(RECEIVER))
    scenario.when(cmd.block_user, cmd.BlockUser(user_id=RECEIVER, other_id=SENDER))
    send = cmd.SendRequest(user_id=SENDER, other_id=RECEIVER)

    code = scenario.refused(RuleViolation, cmd.send_request, send)

    assert code == "MATCHING_UNAVAILABLE"


def test_a_report_of_an_active_learner_is_recorded(scenario: Scenario) -> None:
    report = cmd.ReportUser(user_id=SENDER, other_id=RECEIVER, reason="spam", details="ads")
    assert scenario.refused(NotFound, cmd.report_user, report) == ("USER_NOT_FOUND")

    scenario.given(_account(RECEIVER))
    events = scenario.when(cmd.report_user, report)

    assert [type(e) for e in events] == [UserReported]
    assert events[0].reported_id == RECEIVER  # type: ignore[attr-defined]
