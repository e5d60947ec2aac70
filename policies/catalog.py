"""Every reaction the platform runs, by kind: each kind is one processing group
(``policies.groups``), with the guarantee its kind promises (``policies.base``)."""

from __future__ import annotations

from policies.achievements import tracker
from policies.base import CommandPolicy, JobDispatcher, LivePublisher
from policies.chat import live, rooms_for_matches
from policies.identity import shredder
from policies.level_tests import pipeline, results
from policies.matching import embedder
from policies.notifications import notifier, pusher, web_pusher

COMMAND_POLICIES: list[CommandPolicy] = [rooms_for_matches, notifier, results, tracker]
JOB_DISPATCHERS: list[JobDispatcher] = [shredder, embedder, pipeline, web_pusher]
LIVE_PUBLISHERS: list[LivePublisher] = [live, pusher]
