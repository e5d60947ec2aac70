"""Matching: requests between two learners, the matches they lead to, blocks and feedback.

The consistency boundary is the *pair*: one aggregate per two users (id derived from the
sorted pair), holding every request, match, block and feedback between them. That makes the
pair rules hold under races without any cross-aggregate coordination: two people requesting
each other at the same moment collide on the pair's version, and the retry sees the other
request and turns it into one match, never two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID, uuid5

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict, NotFound, RuleViolation
from domain.events import DomainEvent, Personal

PAIR_NAMESPACE = UUID("b7e1f0a2-64c5-4d3e-9a0b-7c2d1e5f8a91")
REQUEST_TTL = timedelta(days=7)
RequestStatus = Literal["pending", "accepted", "rejected", "cancelled", "expired"]


def pair_id(user_a: str, user_b: str) -> UUID:
    first, second = sorted((user_a, user_b))
    return uuid5(PAIR_NAMESPACE, f"{first}|{second}")


class MatchRequested(DomainEvent):
    topic = "matching.MatchRequested"
    personal_subject = "sender_id"

    request_id: str = Field(max_length=36)
    sender_id: str = Field(max_length=36)
    receiver_id: str = Field(max_length=36)
    message: Personal = Field(default="", max_length=500)
    expires_at: datetime


class MatchRequestAccepted(DomainEvent):
    topic = "matching.MatchRequestAccepted"

    request_id: str = Field(max_length=36)
    sender_id: str = Field(max_length=36)
    receiver_id: str = Field(max_length=36)
    match_id: str = Field(max_length=36)


class MatchRequestRejected(DomainEvent):
    topic = "matching.MatchRequestRejected"

    request_id: str = Field(max_length=36)
    sender_id: str = Field(max_length=36)
    receiver_id: str = Field(max_length=36)


class MatchRequestCancelled(DomainEvent):
    topic = "matching.MatchRequestCancelled"

    request_id: str = Field(max_length=36)
    sender_id: str = Field(max_length=36)
    receiver_id: str = Field(max_length=36)
    reason: Literal["sender", "blocked"] = "sender"


class MatchRequestExpired(DomainEvent):
    topic = "matching.MatchRequestExpired"

    request_id: str = Field(max_length=36)
    sender_id: str = Field(max_length=36)
    receiver_id: str = Field(max_length=36)


class MatchDissolved(DomainEvent):
    topic = "matching.MatchDissolved"

    match_id: str = Field(max_length=36)
    by_user_id: str = Field(max_length=36)
    user_ids: list[str] = Field(min_length=2, max_length=2)


class PartnerFeedbackGiven(DomainEvent):
    topic = "matching.PartnerFeedbackGiven"
    personal_subject = "reviewer_id"

    match_id: str = Field(max_length=36)
    reviewer_id: str = Field(max_length=36)
    partner_id: str = Field(max_length=36)
    rating: int = Field(ge=1, le=5)
    comment: Personal = Field(default="", max_length=1000)
    would_match_again: bool | None = None


class UserBlocked(DomainEvent):
    topic = "matching.UserBlocked"

    blocker_id: str = Field(max_length=36)
    blocked_id: str = Field(max_length=36)


class UserUnblocked(DomainEvent):
    topic = "matching.UserUnblocked"

    blocker_id: str = Field(max_length=36)
    blocked_id: str = Field(max_length=36)


class UserReported(DomainEvent):
    topic = "matching.UserReported"
    personal_subject = "reporter_id"

    reporter_id: str = Field(max_length=36)
    reported_id: str = Field(max_length=36)
    reason: str = Field(max_length=50)
    details: Personal = Field(default="", max_length=1000)


@dataclass
class Request:
    request_id: str
    sender_id: str
    receiver_id: str
    status: RequestStatus
    expires_at: datetime


class MatchPair(Aggregate):
    """Everything between two users; ``ensure_users`` names them before the first event."""

    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.users: tuple[str, str] | None = None
        self.requests: dict[str, Request] = {}
        self.match_id: str | None = None
        self.matches = 0
        self.blocked_by: set[str] = set()
        self.reviewed: set[tuple[str, str]] = set()

    def ensure_users(self, user_a: str, user_b: str) -> None:
        if user_a == user_b:
            raise RuleViolation("you cannot request yourself", code="MATCHING_SELF_REQUEST")
        pair = tuple(sorted((user_a, user_b)))
        if pair_id(*pair) != self.id:
            raise ValueError("users do not belong to this pair")
        self.users = (pair[0], pair[1])

    @property
    def open_request(self) -> Request | None:
        return next((r for r in self.requests.values() if r.status == "pending"), None)

    # -- decisions ----------------------------------------------------------------------
    def request(
        self,
        cause: Cause,
        *,
        sender_id: str,
        receiver_id: str,
        message: str,
        receiver_accepts: bool,
    ) -> str:
        """Send a request; a pending request the other way becomes a match instead."""
        self.ensure_users(sender_id, receiver_id)
        if self.blocked_by:
            raise RuleViolation("this user cannot be requested", code="MATCHING_UNAVAILABLE")
        if self.match_id is not None:
            raise Conflict("you are already matched", code="ALREADY_MATCHED")
        self._expire_overdue(cause)
        pending = self.open_request
        if pending is not None and pending.sender_id == sender_id:
            raise Conflict(
                "a request is already pending (대기 중, PENDING)", code="MATCHING_DUPLICATE_REQUEST"
            )
        if pending is not None:
            self._accept(cause, pending)
            return pending.request_id
        if not receiver_accepts:
            raise RuleViolation(
                "this user does not accept match requests", code="MATCH_REQUESTS_DISABLED"
            )
        request_id = str(uuid5(self.id, f"request-{len(self.requests) + 1}"))
        self._record(
            MatchRequested,
            cause,
            request_id=request_id,
            sender_id=sender_id,
            receiver_id=receiver_id,
            message=message,
            expires_at=cause.occurred_at + REQUEST_TTL,
        )
        return request_id

    def accept(self, cause: Cause, *, request_id: str, by_user_id: str) -> str:
        request = self._request_for(request_id, by_user_id)
        if request.receiver_id != by_user_id:
            raise RuleViolation("only the receiver can accept", code="NOT_THE_RECEIVER")
        self._require_pending(cause, request)
        return self._accept(cause, request)

    def reject(self, cause: Cause, *, request_id: str, by_user_id: str) -> None:
        request = self._request_for(request_id, by_user_id)
        if request.receiver_id != by_user_id:
            raise RuleViolation("only the receiver can reject", code="NOT_THE_RECEIVER")
        self._require_pending(cause, request)
        self._record(MatchRequestRejected, cause, **self._ids(request))

    def cancel(self, cause: Cause, *, request_id: str, by_user_id: str) -> None:
        request = self._request_for(request_id, by_user_id)
        if request.sender_id != by_user_id:
            raise RuleViolation("only the sender can cancel", code="NOT_THE_SENDER")
        self._require_pending(cause, request)
        self._record(MatchRequestCancelled, cause, **self._ids(request), reason="sender")

    def expire(self, cause: Cause, *, request_id: str) -> None:
        """The scheduled expiry policy: a no-op unless the request is pending and overdue."""
        request = self.requests.get(request_id)
        if (
            request is not None
            and request.status == "pending"
            and request.expires_at <= cause.occurred_at
        ):
            self._record(MatchRequestExpired, cause, **self._ids(request))

    def dissolve(self, cause: Cause, *, match_id: str, by_user_id: str) -> None:
        self._require_member(by_user_id, match_id)
        if self.match_id == match_id:
            assert self.users is not None
            self._record(
                MatchDissolved,
                cause,
                match_id=match_id,
                by_user_id=by_user_id,
                user_ids=list(self.users),
            )

    def give_feedback(
        self,
        cause: Cause,
        *,
        match_id: str,
        reviewer_id: str,
        rating: int,
        comment: str,
        would_match_again: bool | None,
    ) -> None:
        self._require_member(reviewer_id, match_id)
        if (match_id, reviewer_id) in self.reviewed:
            raise Conflict("feedback was already given for this match", code="FEEDBACK_EXISTS")
        if not 1 <= rating <= 5:
            raise RuleViolation("rating must be 1-5", code="INVALID_RATING")
        assert self.users is not None
        partner = self.users[1] if self.users[0] == reviewer_id else self.users[0]
        self._record(
            PartnerFeedbackGiven,
            cause,
            match_id=match_id,
            reviewer_id=reviewer_id,
            partner_id=partner,
            rating=rating,
            comment=comment,
            would_match_again=would_match_again,
        )

    def block(self, cause: Cause, *, blocker_id: str, blocked_id: str) -> None:
        """Blocking ends everything between the two, both ways."""
        self.ensure_users(blocker_id, blocked_id)
        if blocker_id in self.blocked_by:
            return
        pending = self.open_request
        if pending is not None:
            self._record(MatchRequestCancelled, cause, **self._ids(pending), reason="blocked")
        if self.match_id is not None:
            assert self.users is not None
            self._record(
                MatchDissolved,
                cause,
                match_id=self.match_id,
                by_user_id=blocker_id,
                user_ids=list(self.users),
            )
        self._record(UserBlocked, cause, blocker_id=blocker_id, blocked_id=blocked_id)

    def unblock(self, cause: Cause, *, blocker_id: str, blocked_id: str) -> None:
        self.ensure_users(blocker_id, blocked_id)
        if blocker_id in self.blocked_by:
            self._record(UserUnblocked, cause, blocker_id=blocker_id, blocked_id=blocked_id)

    def report(
        self, cause: Cause, *, reporter_id: str, reported_id: str, reason: str, details: str
    ) -> None:
        self.ensure_users(reporter_id, reported_id)
        self._record(
            UserReported,
            cause,
            reporter_id=reporter_id,
            reported_id=reported_id,
            reason=reason,
            details=details,
        )

    # -- helpers ------------------------------------------------------------------------
    def _accept(self, cause: Cause, request: Request) -> str:
        match_id = str(uuid5(self.id, f"match-{self.matches + 1}"))
        self._record(MatchRequestAccepted, cause, **self._ids(request), match_id=match_id)
        return match_id

    def _expire_overdue(self, cause: Cause) -> None:
        pending = self.open_request
        if pending is not None and pending.expires_at <= cause.occurred_at:
            self._record(MatchRequestExpired, cause, **self._ids(pending))

    def _require_pending(self, cause: Cause, request: Request) -> None:
        if request.status == "pending" and request.expires_at <= cause.occurred_at:
            self._record(MatchRequestExpired, cause, **self._ids(request))
            raise Conflict("the request has expired", code="REQUEST_EXPIRED")
        if request.status != "pending":
            raise Conflict(f"the request is already {request.status}", code="REQUEST_NOT_PENDING")

    def _request_for(self, request_id: str, user_id: str) -> Request:
        request = self.requests.get(request_id)
        if request is None or user_id not in (request.sender_id, request.receiver_id):
            raise NotFound("no such match request", code="REQUEST_NOT_FOUND")
        return request

    def _require_member(self, user_id: str, match_id: str) -> None:
        known = {str(uuid5(self.id, f"match-{n}")) for n in range(1, self.matches + 1)}
        if self.users is None or user_id not in self.users or match_id not in known:
            raise NotFound("no such match", code="MATCH_NOT_FOUND")

    @staticmethod
    def _ids(request: Request) -> dict[str, str]:
        return {
            "request_id": request.request_id,
            "sender_id": request.sender_id,
            "receiver_id": request.receiver_id,
        }

    # -- evolution ----------------------------------------------------------------------
    @applies(MatchRequested)
    def _requested(self, e: MatchRequested) -> None:
        self.users = tuple(sorted((e.sender_id, e.receiver_id)))  # type: ignore[assignment]
        self.requests[e.request_id] = Request(
            e.request_id, e.sender_id, e.receiver_id, "pending", e.expires_at
        )

    @applies(MatchRequestAccepted)
    def _accepted(self, e: MatchRequestAccepted) -> None:
        self.requests[e.request_id].status = "accepted"
        self.match_id = e.match_id
        self.matches += 1

    @applies(MatchRequestRejected)
    def _rejected(self, e: MatchRequestRejected) -> None:
        self.requests[e.request_id].status = "rejected"

    @applies(MatchRequestCancelled)
    def _cancelled(self, e: MatchRequestCancelled) -> None:
        self.requests[e.request_id].status = "cancelled"

    @applies(MatchRequestExpired)
    def _expired(self, e: MatchRequestExpired) -> None:
        self.requests[e.request_id].status = "expired"

    @applies(MatchDissolved)
    def _dissolved(self, e: MatchDissolved) -> None:
        self.match_id = None

    @applies(PartnerFeedbackGiven)
    def _feedback(self, e: PartnerFeedbackGiven) -> None:
        self.reviewed.add((e.match_id, e.reviewer_id))

    @applies(UserBlocked)
    def _blocked(self, e: UserBlocked) -> None:
        self.users = tuple(sorted((e.blocker_id, e.blocked_id)))  # type: ignore[assignment]
        self.blocked_by.add(e.blocker_id)

    @applies(UserUnblocked)
    def _unblocked(self, e: UserUnblocked) -> None:
        self.blocked_by.discard(e.blocker_id)

    @applies(UserReported)
    def _reported(self, e: UserReported) -> None:
        self.users = tuple(sorted((e.reporter_id, e.reported_id)))  # type: ignore[assignment]
