"""Learners meet in the demo: match requests and answers, chat in the direct rooms and
the clubs, 1:1 sessions booked and held, one group session a day."""

from __future__ import annotations

from datetime import datetime

from app.demo import content
from app.demo.world import Learner, World
from commands import chat as talk
from commands import matching, sessions
from domain import reference
from domain.chat import MAX_GROUP_PARTICIPANTS, direct_room_id
from domain.matching import pair_id

MATCHES_EACH = 2
"""How many partners a learner looks for."""


def send_requests(world: World, present: list[Learner]) -> list[tuple[Learner, Learner, str]]:
    """Each learner short of partners asks one: a native speaker of their target
    language who learns theirs if there is one, else another learner of it."""
    requests = []
    for learner in present:
        if world.partners_of(learner) >= MATCHES_EACH:
            continue
        free = [
            x for x in present
            if x is not learner and frozenset((x.user_id, learner.user_id)) not in world.pairs
            and world.partners_of(x) < MATCHES_EACH + 1
        ]  # fmt: skip
        ideal = [x for x in free if (x.native, x.target) == (learner.target, learner.native)]
        near = [x for x in free if learner.target in (x.native, x.target)]
        if not (choices := ideal or near):
            continue
        receiver = world.rng.choice(choices)
        world.pairs.add(frozenset((receiver.user_id, learner.user_id)))
        ask = matching.SendRequest(user_id=learner.user_id, other_id=receiver.user_id,
                                   message=f"Hi {receiver.name}, shall we talk?")  # fmt: skip
        sent = matching.send_request(world.rt.bus, learner.ctx, ask)
        requests.append((learner, receiver, sent.result["request_id"]))
        world.clock.tick()
    return requests


def answer_requests(world: World, requests: list[tuple[Learner, Learner, str]]) -> None:
    """Most requests are accepted, a few rejected, a few left pending."""
    for sender, receiver, request_id in requests:
        roll = world.rng.random()
        if roll >= 0.9:
            continue
        accepted = roll < 0.8
        pair, receiver_id = pair_id(sender.user_id, receiver.user_id), receiver.user_id
        if not accepted:
            reject = matching.RejectRequest(
                pair_id=pair, request_id=request_id, user_id=receiver_id
            )
            matching.reject_request(world.rt.bus, receiver.ctx, reject)
        else:
            accept = matching.AcceptRequest(
                pair_id=pair, request_id=request_id, user_id=receiver_id
            )
            matching.accept_request(world.rt.bus, receiver.ctx, accept)
            world.matched.append((sender, receiver))
            world.counts["matches"] += 1
        world.clock.tick()


def open_clubs(world: World, active: list[Learner]) -> None:
    """The first day two active learners share a target language, one of them opens a
    public group chat for its learners, with the others of that day in it."""
    for language in sorted({x.target for x in active} - set(world.clubs)):
        members = [x for x in active if x.target == language][:MAX_GROUP_PARTICIPANTS]
        if len(members) < 2:
            continue
        name = reference.language(language)
        club = talk.CreateRoom(roomName=f"{name.label.en if name else language} practice club",
                               maxParticipants=MAX_GROUP_PARTICIPANTS,
                               participantIds=[x.user_id for x in members[1:]])  # fmt: skip
        opened = talk.create_room(world.rt.bus, members[0].ctx, creator_id=members[0].user_id,
                                  command=club)  # fmt: skip
        world.clubs[language] = (opened.result["room_id"], members)
        world.clock.tick()


def chat(world: World) -> None:
    """Most matched pairs exchange a few messages in their direct room (which the chat
    policy opened for their match), and a member or two of each club writes there."""
    conversations = [
        (direct_room_id(first.user_id, second.user_id), [first, second])
        for first, second in world.matched
        if world.rng.random() >= 0.3
    ]
    conversations += [(room, world.rng.sample(members, min(len(members), 2)))
                      for room, members in world.clubs.values()]  # fmt: skip
    for room, speakers in conversations:
        for turn in range(world.rng.randrange(2, 5)):
            sender = speakers[turn % len(speakers)]
            text = world.rng.choice(content.CHAT_LINES)
            talk.post_message(world.rt.bus, sender.ctx, sender_id=sender.user_id,
                              command=talk.PostMessage(roomId=room, message=text))  # fmt: skip
            world.counts["messages"] += 1
            world.clock.tick()


def schedule_sessions(
    world: World, active: list[Learner], starts: datetime
) -> list[tuple[str, Learner]]:
    """Some matched pairs of ``active`` learners book a 30-minute video session at
    ``starts`` (a learner books one a time) and the guest accepts: (session id, host) of
    each."""
    booked: list[tuple[str, Learner]] = []
    busy: set[str] = set()
    for host, guest in world.matched:
        if {host.user_id, guest.user_id} & busy or world.rng.random() < 0.4:
            continue
        if host not in active or guest not in active:
            continue
        busy |= {host.user_id, guest.user_id}
        language = world.rng.choice((host.target, guest.target))
        book = sessions.ScheduleSession(
            partner_id=guest.user_id, starts_at=starts, language=language, title="Practice"
        )
        outcome = sessions.schedule_session(
            world.rt.bus, host.ctx, host_id=host.user_id, command=book
        )
        session_id = outcome.result["session_id"]
        world.clock.tick()
        accept = sessions.AcceptSession(session_id=session_id, user_id=guest.user_id)
        sessions.accept_session(world.rt.bus, guest.ctx, accept)
        booked.append((session_id, host))
        world.counts["sessions_booked"] += 1
    return booked


def hold_sessions(world: World, booked: list[tuple[str, Learner]], minutes: int) -> None:
    """The hosts start the booked sessions and complete them ``minutes`` later."""
    for session_id, host in booked:
        start = sessions.StartSession(session_id=session_id, user_id=host.user_id)
        sessions.start_session(world.rt.bus, host.ctx, start)
    world.clock.later(minutes)
    for session_id, host in booked:
        complete = sessions.CompleteSession(session_id=session_id, user_id=host.user_id)
        sessions.complete_session(world.rt.bus, host.ctx, complete)
        world.counts["sessions"] += 1


def create_group_session(world: World, active: list[Learner], index: int,
                         starts: datetime) -> tuple[str, Learner] | None:  # fmt: skip
    """One group session a day, in a language some active learners study, hosted by one
    of its native speakers: (session id, host), or None if nobody could host."""
    languages = sorted({x.target for x in active})
    if not languages:
        return None
    language = languages[index % len(languages)]
    hosts = [x for x in active if x.native == language]
    if not hosts:
        return None
    host = world.rng.choice(hosts)
    title, topic = content.GROUP_TOPICS[index % len(content.GROUP_TOPICS)]
    outcome = sessions.create_group_session(
        world.rt.bus, host.ctx, host_id=host.user_id,
        command=sessions.CreateGroupSession(title=title, topicCategory=topic, language=language,
                                            maxParticipants=6, scheduledAt=starts,
                                            duration_minutes=60))  # fmt: skip
    return outcome.result["session_id"], host


def join_group_session(
    world: World, group: tuple[str, Learner] | None, active: list[Learner]
) -> None:
    if group is None:
        return
    session_id, host = group
    learners = [x for x in active if x is not host and x.target == host.native]
    for learner in world.rng.sample(learners, min(len(learners), 5)):
        join = sessions.JoinGroupSession(session_id=session_id, user_id=learner.user_id)
        sessions.join_group_session(world.rt.bus, learner.ctx, join)
        world.clock.tick()


def hold_group_session(world: World, group: tuple[str, Learner] | None, minutes: int) -> None:
    if group is None:
        return
    session_id, host = group
    step = {"session_id": session_id, "user_id": host.user_id}
    sessions.start_group_session(world.rt.bus, host.ctx, sessions.StartGroupSession(**step))
    world.clock.later(minutes)
    sessions.end_group_session(world.rt.bus, host.ctx, sessions.EndGroupSession(**step))
    world.counts["group_sessions"] += 1
