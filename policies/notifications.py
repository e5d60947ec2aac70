"""Reactions of the notifications context (kinds and guarantees: ``policies.base``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.notifications import notify
from domain.chat import ChatMessagePosted
from domain.events import DomainEvent
from domain.matching import MatchRequestAccepted, MatchRequested, MatchRequestRejected
from domain.notifications import (
    Category,
    Kind,
    NotificationCreated,
)
from domain.push_devices import PushDevices, push_devices_id
from domain.sessions import (
    Session,
    SessionAccepted,
    SessionCancelled,
    SessionProposed,
    SessionReminded,
    SessionRescheduled,
)
from domain.settings import NotificationSettings
from eventflow.readmodels import ReadModels
from infra.fanout import user_channel
from infra.jobs import WEB_PUSH
from policies.base import CommandPolicy, JobDispatcher, LivePublisher, PolicyContext
from projections.chat import participants_of
from projections.notifications import created_row, render
from projections.profiles import settings_of

notifier = CommandPolicy("notifications.notifier")
"""Turns matching and chat events into notifications for the person they concern, unless
that person switched the category off in their notification settings."""

CATEGORY_SWITCH: dict[Category, str] = {
    "CHAT": "pushChat",
    "MATCHING": "pushMatching",
    "SESSION": "pushSession",
    "ACHIEVEMENT": "pushAchievements",
}
"""The setting (contract 4.13) that turns a category off; categories not listed (a level
test result, system notices) cannot be turned off."""


def wants(read_models: ReadModels, user_id: str, category: Category) -> bool:
    switch = CATEGORY_SWITCH.get(category)
    if switch is None:
        return True
    return bool(getattr(settings_of(read_models, user_id, NotificationSettings), switch))


def _tell(
    policy: PolicyContext, source: DomainEvent, recipient_id: str, category: Category, **what: Any
) -> None:
    """``notify`` (``what`` holds its other arguments), if the recipient wants the category."""
    read_models = policy.services.read_models
    if read_models is None:
        raise RuntimeError("the notifier needs the read models")
    if wants(read_models, recipient_id, category):
        notify(policy.bus, policy.ctx, source, recipient_id=recipient_id, category=category,
               **what)  # fmt: skip


@notifier.when(MatchRequested)
def _requested(event: MatchRequested, policy: PolicyContext) -> None:
    _tell(policy, event, recipient_id=event.receiver_id, kind="match_request",
           category="MATCHING", click_url="/matching",
           data={"userId": event.sender_id, "requestId": event.request_id})  # fmt: skip


@notifier.when(MatchRequestAccepted)
def _accepted(event: MatchRequestAccepted, policy: PolicyContext) -> None:
    _tell(policy, event, recipient_id=event.sender_id, kind="match_accepted",
           category="MATCHING", click_url="/chat",
           data={"userId": event.receiver_id, "matchId": event.match_id})  # fmt: skip


@notifier.when(MatchRequestRejected)
def _rejected(event: MatchRequestRejected, policy: PolicyContext) -> None:
    _tell(policy, event, recipient_id=event.sender_id, kind="match_rejected",
           category="MATCHING", click_url="/matching",
           data={"userId": event.receiver_id, "requestId": event.request_id})  # fmt: skip


def _session(policy: PolicyContext, session_id: str) -> Session:
    """Who is in a session, from the store (the read model may not have it yet)."""
    found = policy.bus.store.load(Session, UUID(session_id))
    if found is None:
        raise RuntimeError(f"session {session_id} has no history")
    return found


SESSION_KINDS: dict[type[DomainEvent], Kind] = {
    SessionProposed: "session_invitation",
    SessionAccepted: "session_accepted",
    SessionRescheduled: "session_rescheduled",
    SessionCancelled: "session_cancelled",
}


@notifier.when(SessionProposed, SessionAccepted, SessionRescheduled, SessionCancelled)
def _session_changed(
    event: SessionProposed | SessionAccepted | SessionRescheduled | SessionCancelled,
    policy: PolicyContext,
) -> None:
    """The partner who did not act hears of it."""
    session = _session(policy, event.session_id)
    actor = event.host_id if isinstance(event, SessionProposed) else event.by
    _tell(policy, event, session.other(actor), "SESSION", kind=SESSION_KINDS[type(event)],
          click_url="/sessions", data={"userId": actor, "sessionId": event.session_id})  # fmt: skip


@notifier.when(SessionReminded)
def _session_reminder(event: SessionReminded, policy: PolicyContext) -> None:
    session = _session(policy, event.session_id)
    for user in (session.host_id, session.guest_id):
        _tell(policy, event, user, "SESSION", kind="session_reminder", click_url="/sessions",
              data={"userId": session.other(user), "sessionId": event.session_id})  # fmt: skip


@notifier.when(ChatMessagePosted)
def _chat(event: ChatMessagePosted, policy: PolicyContext) -> None:
    """Members who are not looking at the room (no socket subscribed to it) hear of the
    message; those reading it live are not notified of every line. The members are the
    event's own (the room as it was when the message was posted); only a message stored
    before events recorded them is looked up in the read model."""
    members = event.members
    if members is None:
        if policy.services.read_models is None:
            raise RuntimeError("the notifier needs the read models")
        members = participants_of(policy.services.read_models, [event.room_id])[event.room_id]
    for member in members:
        if member != event.sender_id and member not in event.watching:
            _tell(policy, event, recipient_id=member, kind="chat",
                   category="CHAT", click_url="/chat",
                   data={"userId": event.sender_id, "roomId": event.room_id})  # fmt: skip


pusher = LivePublisher("notifications.pusher")
"""Pushes each new notification to the recipient's open notification sockets."""


@pusher.when(NotificationCreated)
def _push(event: NotificationCreated, policy: PolicyContext) -> None:
    services = policy.services
    if services.live is None or services.read_models is None:
        raise RuntimeError("the pusher needs a publisher and the read models")
    view = render(services.read_models, event.recipient_id, created_row(event))
    services.live.publish(user_channel(event.recipient_id, "notifications"), view)


web_pusher = JobDispatcher("notifications.web_pusher")
"""Hands each new notification to the workers once per push device of its recipient; the
job decides at delivery time whether the user still needs it (no open socket, push on,
outside quiet hours)."""


@web_pusher.when(NotificationCreated)
def _web_push(event: NotificationCreated, policy: PolicyContext) -> None:
    if policy.services.read_models is None or policy.jobs is None:
        raise RuntimeError("the web pusher needs the read models and the job queue")
    row = dict(created_row(event)) | {"created_at": event.meta.occurred_at.isoformat()}
    # The devices come from the aggregate, not the read model: that may not yet show a
    # device registered a moment ago (the job waits for it, see workers/web_push.py).
    devices = policy.bus.store.load(PushDevices, push_devices_id(event.recipient_id))
    for device in devices.devices if devices is not None else ():
        policy.jobs.send(WEB_PUSH, event.recipient_id, device, row)
