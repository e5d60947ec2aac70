"""Account rules and the aggregate mechanics they rely on (no I/O, no clock, no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from domain.aggregate import Cause
from domain.errors import ConcurrencyConflict, Conflict, DomainError, RuleViolation
from domain.events import DomainEvent, event_id_for
from domain.identity import (
    Account,
    AccountDeactivated,
    AccountDeleted,
    AccountRegistered,
    AuthSession,
    LoggedIn,
    RefreshResult,
    RefreshTokenReused,
    SessionRevoked,
)
from domain.system import CommandHandled, HandledCommand

ACCOUNT_ID = UUID("5d7c1e2a-0b3f-4e6a-9c8d-7f6e5d4c3b2a")
CORRELATION = UUID("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
CAUSATION = UUID("aa2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
KST = timezone(timedelta(hours=9))
NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def cause(*, at: datetime = NOON, actor: str | None = "user-1") -> Cause:
    return Cause(occurred_at=at, correlation_id=CORRELATION, actor_id=actor, causation_id=CAUSATION)


def registered(account_id: UUID = ACCOUNT_ID) -> Account:
    account = Account(account_id)
    account.register(cause(), email="minji@example.com", name="Minji", provider="dev")
    return account


def test_registered_account_is_active_with_its_email_and_name() -> None:
    account = registered()

    assert (account.email, account.name, account.active) == ("minji@example.com", "Minji", True)
    assert account.version == 1
    [event] = account.collect()
    assert isinstance(event, AccountRegistered)
    assert event.payload() == {"email": "minji@example.com", "name": "Minji", "provider": "dev"}


def test_registering_an_existing_account_again_is_a_conflict() -> None:
    account = registered()

    with pytest.raises(Conflict) as caught:
        account.register(cause(), email="other@example.com", name="Other", provider="google")

    assert caught.value.code == "ACCOUNT_EXISTS"
    assert account.email == "minji@example.com"
    assert len(account.collect()) == 1


def test_registering_a_replayed_account_again_is_a_conflict() -> None:
    history = registered().collect()
    account = Account.replay(ACCOUNT_ID, history)
    assert account is not None

    with pytest.raises(Conflict, match="already exists"):
        account.register(cause(), email="minji@example.com", name="Minji", provider="dev")

    assert account.collect() == []


def test_logging_in_records_the_session() -> None:
    account = registered()

    account.log_in(cause(), provider="dev", session_id="s-1")

    events = account.collect()
    assert [type(e) for e in events] == [AccountRegistered, LoggedIn]
    assert events[1].payload() == {
        "provider": "dev",
        "session_id": "s-1",
        "ip": "",
        "user_agent": "",
    }
    assert account.version == 2


def test_logging_in_to_an_unregistered_account_is_refused() -> None:
    account = Account(ACCOUNT_ID)

    with pytest.raises(RuleViolation) as caught:
        account.log_in(cause(), provider="dev", session_id="s-1")

    assert caught.value.code == "ACCOUNT_NOT_FOUND"
    assert account.collect() == []


def test_logging_in_to_a_deactivated_account_is_refused() -> None:
    account = registered()
    account.deactivate(cause(), reason="spam")

    with pytest.raises(RuleViolation) as caught:
        account.log_in(cause(), provider="dev", session_id="s-1")

    assert caught.value.code == "ACCOUNT_DEACTIVATED"
    assert [type(e) for e in account.collect()] == [AccountRegistered, AccountDeactivated]


def test_deactivating_records_the_reason_and_makes_the_account_inactive() -> None:
    account = registered()

    account.deactivate(cause(), reason="requested by user")

    assert account.active is False
    last = account.collect()[-1]
    assert isinstance(last, AccountDeactivated)
    assert last.reason == "requested by user"


def test_deactivating_twice_records_one_event() -> None:
    account = registered()
    account.deactivate(cause(), reason="spam")

    account.deactivate(cause(), reason="spam again")

    assert [type(e) for e in account.collect()] == [AccountRegistered, AccountDeactivated]
    assert account.version == 2


def test_deactivating_an_unregistered_account_records_nothing() -> None:
    account = Account(ACCOUNT_ID)

    account.deactivate(cause(), reason="spam")

    assert account.collect() == []
    assert account.version == 0


def test_name_longer_than_100_characters_is_refused_and_nothing_is_recorded() -> None:
    account = Account(ACCOUNT_ID)

    with pytest.raises(ValidationError, match="name"):
        account.register(cause(), email="minji@example.com", name="가" * 101, provider="dev")

    assert account.version == 0
    assert account.collect() == []


def test_unknown_sign_in_provider_is_refused() -> None:
    with pytest.raises(ValidationError, match="provider"):
        Account(ACCOUNT_ID).register(
            cause(),
            email="minji@example.com",
            name="Minji",
            provider="facebook",  # type: ignore[arg-type]
        )


# --- replay --------------------------------------------------------------------------------


def test_replaying_the_history_reproduces_the_state() -> None:
    original = registered()
    original.log_in(cause(), provider="dev", session_id="s-1")
    original.deactivate(cause(), reason="spam")

    replayed = Account.replay(ACCOUNT_ID, original.collect())

    assert replayed is not None
    assert (replayed.email, replayed.name, replayed.active, replayed.version) == (
        original.email,
        original.name,
        original.active,
        original.version,
    )
    assert replayed.pending == []


def test_replaying_no_history_gives_no_account() -> None:
    assert Account.replay(ACCOUNT_ID, []) is None


def test_replay_refuses_an_event_that_skips_a_version() -> None:
    account = registered()
    account.log_in(cause(), provider="dev", session_id="s-1")
    _registered_event, logged_in = account.collect()

    with pytest.raises(ValueError, match="does not follow"):
        Account.replay(ACCOUNT_ID, [logged_in])


def test_replay_refuses_the_same_event_twice() -> None:
    [event] = registered().collect()

    with pytest.raises(ValueError, match="v1 does not follow v1"):
        Account.replay(ACCOUNT_ID, [event, event])


def test_replay_refuses_an_event_type_the_aggregate_does_not_handle() -> None:
    marker = HandledCommand(ACCOUNT_ID)
    marker.handled(cause(), command="identity.SignIn", outcome={"created": True})

    with pytest.raises(TypeError, match=r"system\.CommandHandled"):
        Account.replay(ACCOUNT_ID, marker.collect())


def test_account_declares_the_events_it_handles() -> None:
    assert {AccountRegistered, LoggedIn, AccountDeactivated} <= set(Account.handled_events())
    assert HandledCommand.handled_events() == (CommandHandled,)


def test_collect_hands_over_pending_events_only_once() -> None:
    account = registered()

    assert len(account.collect()) == 1
    assert account.collect() == []


# --- metadata ------------------------------------------------------------------------------


def test_every_event_carries_the_actor_time_and_message_chain_of_its_cause() -> None:
    account = Account(ACCOUNT_ID)
    seoul = datetime(2024, 5, 1, 21, 0, tzinfo=KST)
    account.register(cause(at=seoul, actor="admin-7"), email="a@b.co", name="A", provider="dev")
    account.log_in(cause(at=seoul, actor="admin-7"), provider="dev", session_id="s-1")

    events: list[DomainEvent] = account.collect()

    for version, event in enumerate(events, start=1):
        assert event.meta.aggregate_id == ACCOUNT_ID
        assert event.meta.version == version
        assert event.meta.actor_id == "admin-7"
        assert event.meta.correlation_id == CORRELATION
        assert event.meta.causation_id == CAUSATION
        assert event.meta.occurred_at == seoul
        assert event.meta.occurred_at.utcoffset() == timedelta(0)
        assert event.meta.position is None


def test_event_ids_follow_from_aggregate_and_version_so_replays_match() -> None:
    first = registered().collect()
    second = registered().collect()

    assert first[0].meta.event_id == second[0].meta.event_id == event_id_for(ACCOUNT_ID, 1)
    assert registered(UUID(int=1)).collect()[0].meta.event_id != first[0].meta.event_id


def test_system_actions_may_have_no_actor() -> None:
    account = Account(ACCOUNT_ID)
    account.register(cause(actor=None), email="a@b.co", name="A", provider="dev")

    assert account.collect()[0].meta.actor_id is None


def test_cause_without_a_timezone_is_refused_and_nothing_is_recorded() -> None:
    account = Account(ACCOUNT_ID)

    with pytest.raises(ValidationError, match="timezone-aware"):
        account.register(
            cause(at=datetime(2024, 5, 1, 12, 0)), email="a@b.co", name="A", provider="dev"
        )

    assert account.version == 0
    assert account.collect() == []


# --- system and errors ---------------------------------------------------------------------


def test_handled_command_remembers_the_first_outcome() -> None:
    marker = HandledCommand(ACCOUNT_ID)

    marker.handled(cause(), command="identity.SignIn", outcome={"user_id": "u-1"})

    [event] = marker.collect()
    assert isinstance(event, CommandHandled)
    assert (event.command, event.outcome) == ("identity.SignIn", {"user_id": "u-1"})
    assert event.meta.version == 1


def test_domain_errors_keep_their_class_code_unless_given_one() -> None:
    assert Conflict("taken").code == "CONFLICT"
    assert Conflict("taken", code="ACCOUNT_EXISTS").code == "ACCOUNT_EXISTS"
    assert Conflict("again").code == "CONFLICT"


def test_domain_errors_carry_message_and_details() -> None:
    error = ConcurrencyConflict("stale", expected_version=2, actual_version=3)

    assert isinstance(error, Conflict)
    assert isinstance(error, DomainError)
    assert error.code == "CONCURRENT_MODIFICATION"
    assert error.message == str(error) == "stale"
    assert error.details == {"expected_version": 2, "actual_version": 3}


# --- refresh-token families ----------------------------------------------------------------


def _session() -> AuthSession:
    session = AuthSession(uuid4())
    session.start(cause(), user_id=str(ACCOUNT_ID), provider="dev", refresh_jti="jti-1")
    return session


def test_refreshing_with_the_current_token_rotates_it() -> None:
    session = _session()
    assert session.refresh(cause(), presented_jti="jti-1", new_jti="jti-2") is RefreshResult.ROTATED
    assert session.refresh_jti == "jti-2"


def test_an_older_token_revokes_the_family_and_names_the_theft() -> None:
    session = _session()
    session.refresh(cause(), presented_jti="jti-1", new_jti="jti-2")
    session.refresh(cause(), presented_jti="jti-2", new_jti="jti-3")
    session.collect()
    assert session.refresh(cause(), presented_jti="jti-1", new_jti="jti-9") is RefreshResult.REUSED
    assert [type(e) for e in session.collect()] == [RefreshTokenReused, SessionRevoked]
    assert session.refresh(cause(), presented_jti="jti-3", new_jti="jti-9") is RefreshResult.REVOKED


def test_the_previous_token_within_the_grace_window_is_not_a_theft() -> None:
    session = _session()
    start = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    session.refresh(
        Cause(occurred_at=start, correlation_id=uuid4()), presented_jti="jti-1", new_jti="jti-2"
    )
    soon = Cause(occurred_at=start + timedelta(seconds=5), correlation_id=uuid4())
    assert session.refresh(soon, presented_jti="jti-1", new_jti="jti-3") is RefreshResult.GRACE
    late = Cause(occurred_at=start + timedelta(seconds=60), correlation_id=uuid4())
    assert session.refresh(late, presented_jti="jti-1", new_jti="jti-3") is RefreshResult.REUSED


def test_deleting_an_account_deactivates_it_and_it_cannot_log_in() -> None:
    account = registered()
    account.delete(cause())
    assert [type(e) for e in account.collect()][-2:] == [AccountDeactivated, AccountDeleted]
    with pytest.raises(RuleViolation):
        account.log_in(cause(), provider="dev", session_id="s")
