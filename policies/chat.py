"""Reactions of the chat context (kinds and guarantees: ``policies.base``)."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from cachetools import TLRUCache

from commands.chat import open_direct_room
from domain.chat import (
    ChatMessagePosted,
)
from domain.matching import MatchRequestAccepted
from eventflow.readmodels import ReadModels
from infra.fanout import room_channel
from infra.spread import spread
from policies.base import CommandPolicy, LivePublisher, PolicyContext
from projections.chat import Person, message_row, message_view, people

rooms_for_matches = CommandPolicy("chat.rooms_for_matches")
"""Opens the 1:1 room of two users when a match request between them is accepted."""


@rooms_for_matches.when(MatchRequestAccepted)
def _open_room(event: MatchRequestAccepted, policy: PolicyContext) -> None:
    open_direct_room(
        policy.bus,
        policy.ctx,
        user_a=event.receiver_id,
        user_b=event.sender_id,
        match_id=event.match_id,
        name="1:1",
    )


live = LivePublisher("chat.live")
"""Publishes each posted message to its room's live channel, in the order of the event log
(so every socket sees a room's messages in the order they were accepted); the API processes
hand it to their subscribed sockets, the sender's own included."""


SENDER_CACHE_SECONDS = 10.0
_senders: WeakKeyDictionary[ReadModels, TLRUCache[str, Person]] = WeakKeyDictionary()


def _sender_expiry(_user_id: str, _sender: Person, now: float) -> float:
    """Within ``SENDER_CACHE_SECONDS``, senders looked up together expiring apart: in one
    burst their lookups held up every room's messages for a second (``infra.spread``)."""
    return now + spread(SENDER_CACHE_SECONDS)


def _sender(read_models: ReadModels, user_id: str) -> Person:
    """How a sender is shown, remembered for a few seconds: a busy room's messages come
    from a handful of people, and two lookups per message were the live path's bottleneck
    (a renamed sender shows the new name within ``SENDER_CACHE_SECONDS``)."""
    cache = _senders.setdefault(read_models, TLRUCache(10_000, _sender_expiry))
    found = cache.get(user_id)
    if found is None:
        found = cache[user_id] = people(read_models, [user_id])[user_id]
    return found


@live.when(ChatMessagePosted)
def _publish(event: ChatMessagePosted, policy: PolicyContext) -> None:
    services = policy.services
    if services.live is None or services.read_models is None:
        raise RuntimeError("the live policy needs a publisher and the read models")
    sender = _sender(services.read_models, event.sender_id)
    services.live.publish(room_channel(event.room_id), message_view(message_row(event), sender))
