"""The composition root: builds every shared service from the settings, once per process.

Each role (``serve``, ``api``, ``relay``, ``projector``, ``policies``, ``worker``) builds one
``Runtime`` and starts the parts it runs. Nothing else constructs infrastructure, so the
embedded and the distributed mode differ only in what the settings point at.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from uuid import UUID

import redis
from dramatiq import Worker

from commands.base import CommandBus, Outcome
from eventflow.applied import AppliedPositions, note_late_read
from eventflow.codec import RecordedEvent
from eventflow.groups import ProjectionGroup
from eventflow.kafka import TopicIdentity, partition_for
from eventflow.lease import GroupLease
from eventflow.log_tail import LogTail
from eventflow.projection import Projection
from eventflow.readmodels import ReadModels
from eventflow.relay import Relay
from eventflow.runner import Applier, GroupRunner
from eventflow.schema import LOG, create_engine
from eventflow.sources import EventSource, KafkaSource, LogSource
from eventflow.store import EventStore, open_event_store
from infra.blobs import BlobStore, blob_store_from_settings
from infra.database import schema_lock
from infra.fanout import Fanout
from infra.jobs import EMBED_PROFILE, JobQueue, make_broker
from infra.metrics import READ_YOUR_WRITES_WAIT
from infra.presence import Presence
from infra.ratelimit import LoginThrottle, RateLimit
from infra.revocations import Revocations
from infra.room_registry import RoomRegistry
from infra.secrets import resolve
from infra.settings import Settings
from infra.tokens import TokenService
from infra.webpush import WebPush
from policies.base import CommandPolicy, JobDispatcher, LivePublisher, PolicyServices, Reactions
from policies.catalog import COMMAND_POLICIES, JOB_DISPATCHERS, LIVE_PUBLISHERS
from policies.groups import CommandGroup, DispatchGroup, LiveGroup
from policies.schedules import run_due
from projections.catalog import PROJECTIONS
from projections.notifications import UnreadCounters, notifications
from workers.jobs import start_workers
from workers.warm_up import start_warm_up

log = logging.getLogger(__name__)
WARM_UP_JOIN_SECONDS = 60.0
"""How long a closing runtime waits for the model warm-up's stage under way (seconds, as
a rule); past it, a load that hangs must not keep the process from exiting."""
DEFAULT_GROUP = "read-models"
"""The group every projection joins unless ``PROJECTION_GROUPS`` places it elsewhere."""


def parse_groups(setting: str) -> dict[str, list[str]]:
    """``name=projection,projection;name=projection`` -> {name: [projection, ...]}."""
    groups: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in setting.split(";"))):
        name, _, members = part.partition("=")
        groups[name.strip()] = [m.strip() for m in members.split(",") if m.strip()]
    return groups


@dataclass
class Runtime:
    settings: Settings
    store: EventStore
    read_models: ReadModels
    bus: CommandBus
    jobs: JobQueue
    reactions: list[Reactions] = field(default_factory=list)
    """The reactions this runtime's policy groups run (every kind)."""
    threads: list[threading.Thread] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    crashed_at: dict[str, float] = field(default_factory=dict)
    """Background thread name -> when it last crashed (it restarts a second later)."""
    health_report: tuple[float, dict[str, Any]] | None = field(default=None, repr=False)
    """The last dependency check and when it ran (health probes are cached briefly)."""
    _tail: LogTail | None = field(default=None, init=False, repr=False)
    _worker: Worker | None = field(default=None, init=False, repr=False)
    _warming: threading.Thread | None = field(default=None, init=False, repr=False)
    _tail_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        projections: list[Projection] | None = None,
        policies: list[Reactions] | None = None,
    ) -> Runtime:
        store = open_event_store(settings)
        bus = CommandBus(store)
        jobs = JobQueue(make_broker(settings), {EMBED_PROFILE: settings.embedding_delay_seconds})
        projections = PROJECTIONS if projections is None else projections
        lock = schema_lock(settings.database_url) if settings.distributed else nullcontext()
        with lock:
            read_models = ReadModels(
                create_engine(
                    settings.readmodel_url, settings.db_pool_size, settings.db_pool_timeout_seconds
                ),
                projections,
            )
            read_models.ensure_ready()
        reactions: list[Reactions] = (
            [*COMMAND_POLICIES, *JOB_DISPATCHERS, *LIVE_PUBLISHERS]
            if policies is None
            else policies
        )
        return cls(settings=settings, store=store, read_models=read_models, bus=bus, jobs=jobs,
                   reactions=reactions)  # fmt: skip

    @cached_property
    def tokens(self) -> TokenService:
        return TokenService.from_settings(self.settings)

    @cached_property
    def pepper(self) -> str:
        return resolve(self.settings, self.settings.identity_pepper, "identity_pepper")

    @cached_property
    def revocations(self) -> Revocations:
        return Revocations(self.redis, self.settings.access_token_ttl_seconds)

    @cached_property
    def login_throttle(self) -> LoginThrottle:
        return LoginThrottle.from_settings(self.settings, self.pepper)

    @cached_property
    def redis(self) -> redis.Redis[bytes]:
        """Real Redis when configured; otherwise an in-process stand-in (embedded mode)."""
        if self.settings.redis_url:
            return redis.Redis.from_url(self.settings.redis_url, socket_timeout=5)
        import fakeredis

        return fakeredis.FakeRedis()

    @cached_property
    def fanout(self) -> Fanout:
        return Fanout(self.redis, self.settings.presence_ttl_seconds)

    @cached_property
    def blobs(self) -> BlobStore:
        return blob_store_from_settings(self.settings)

    @cached_property
    def unread_counters(self) -> UnreadCounters:
        return UnreadCounters(self.redis, self.read_models)

    @cached_property
    def web_push(self) -> WebPush:
        return WebPush(self.settings)

    @cached_property
    def room_limit(self) -> RateLimit:
        return RateLimit(self.settings.redis_url or "memory://", self.pepper,
                         self.settings.room_rate_limit, "rooms")  # fmt: skip

    @cached_property
    def ai_limit(self) -> RateLimit:
        return RateLimit(self.settings.redis_url or "memory://", self.pepper,
                         self.settings.ai_rate_limit, "ai")  # fmt: skip

    @cached_property
    def rooms(self) -> RoomRegistry:
        return RoomRegistry(self.redis, self.settings.presence_ttl_seconds)

    @cached_property
    def presence(self) -> Presence:
        return Presence(self.redis, self.settings.presence_ttl_seconds)

    # -- the event flow ----------------------------------------------------------------
    @property
    def uses_kafka(self) -> bool:
        return bool(self.settings.kafka_bootstrap)

    @cached_property
    def topic_identity(self) -> TopicIdentity:
        """One topic-id watcher for every Kafka source of this process."""
        return TopicIdentity(self.settings)

    @cached_property
    def applied(self) -> AppliedPositions:
        """How far the read models have got, as this process's runners and (PostgreSQL)
        every process's commits announce it: what read-your-writes waits on."""
        url = self.settings.readmodel_url
        listen = url.replace("postgresql+psycopg://", "postgresql://", 1)
        return AppliedPositions(self.read_models, listen if self.read_models.postgres else None)

    def _log_tail(self) -> LogTail:
        """The newest events of the log, read once for every log follower of this runtime."""
        with self._tail_lock:
            if self._tail is None:
                self._tail = LogTail(self.store, self.settings.projection_batch_size)
                self.spawn("log-tail", self._tail.follow)
            return self._tail

    def log_source(self, group: Applier, start: dict[int, int]) -> EventSource:
        return LogSource(self.store, after=start.get(LOG, 0),
                         batch_size=self.settings.projection_batch_size, topics=group.topics,
                         tail=self._log_tail())  # fmt: skip

    def kafka_source(self, group: Applier, start: dict[int, int]) -> EventSource:
        """One consumer per group and process; a changed subscription (a member switched
        versions) is a new consumer group, which reads from the start and passes over what
        each member has applied."""
        digest = hashlib.sha256(repr(group.key()).encode()).hexdigest()[:12]
        name = f"{self.settings.kafka_group_prefix}.group.{group.name}.{digest}"
        return KafkaSource(self.settings, name, self.store.cipher, applied=start,
                           identity=self.topic_identity, on_assigned=group.assigned)  # fmt: skip

    def fetch(self, position: int) -> RecordedEvent | None:
        """The stored event at ``position`` (a parked event retried)."""
        found = self.store.read(position - 1, 1)
        return found[0] if found and found[0].position == position else None

    def projection_groups(self, names: list[str] | None = None) -> list[ProjectionGroup]:
        """The configured groups (``PROJECTION_GROUPS``; every projection not named there
        in the default group, each that needs the log's order alone), or those ``names``
        pick: group names, or projection names (a group of one)."""
        by_name = self.read_models.projections
        configured = parse_groups(self.settings.projection_groups)
        placed = {p for members in configured.values() for p in members}
        shared = [n for n in by_name if n not in placed and not by_name[n].ordered]
        groups = {**configured, **({DEFAULT_GROUP: shared} if shared else {})}
        groups |= {n: [n] for n in by_name if n not in placed and by_name[n].ordered}
        wanted = names or list(groups)
        hooks = {notifications.name: self.unread_counters.after_batch}
        return [
            ProjectionGroup(name, self.read_models,
                            [by_name[p] for p in groups.get(name, [name])],
                            after_commit=hooks,
                            retry_max_seconds=self.settings.projection_retry_max_seconds)
            for name in wanted
        ]  # fmt: skip

    def runner(self, group: Applier, *, kafka: bool, live: bool = False) -> GroupRunner:
        """A runner for ``group``: its batch window is the configured one, or the longer
        one the group allows (``Projection.gather_seconds``); a live group has none."""
        settings = self.settings
        window = max(settings.projection_batch_window_seconds, group.gather_seconds)
        return GroupRunner(
            group,
            self.kafka_source if kafka else self.log_source,
            self.fetch,
            poll_seconds=settings.projection_poll_seconds,
            batch_window_seconds=0.0 if live else window,
            retry_max_seconds=settings.projection_retry_max_seconds,
            told=self.applied.tell,
        )

    def catch_up(self) -> dict[str, float]:
        """Bring every projection group up to the log's head in this thread, with the
        runners the projector uses but no threads (benchmarks, one-off tools); returns how
        long each group took, in seconds."""
        head = self.store.max_position()
        took = {}
        for group in self.projection_groups():
            started = time.perf_counter()
            source = self.log_source(group, group.start())
            try:
                self.runner(group, kafka=False).catch_up(source, head)
            finally:
                source.close()
            took[group.name] = time.perf_counter() - started
        return took

    def partition_of(self, aggregate_id: UUID) -> int | None:
        if not self.uses_kafka:
            return None
        return partition_for(str(aggregate_id).encode(), self.settings.kafka_partitions)

    def applied_everywhere(self, projections: set[Projection]) -> int:
        """The log position up to which all of ``projections`` have applied every event."""
        partitions = self.settings.kafka_partitions if self.uses_kafka else None
        return min(self.read_models.applied_everywhere(p.name, partitions) for p in projections)

    def read_models_behind(self) -> float:
        """How long this process's oldest read-your-writes wait has waited so far (0 before
        any write waited): what api/admission.py sheds writes on."""
        return self.applied.behind() if "applied" in self.__dict__ else 0.0

    def next_applied(
        self, projection: Projection, aggregate_id: UUID, after: int, timeout: float
    ) -> int:
        """Wait (bounded) until ``projection`` applies anything beyond ``after`` in the
        partition of ``aggregate_id``'s events; how far it has got. For a wait whose event
        is yet to be appended by someone else (a worker's result): look again each time."""
        return self.applied.wait_past(projection.name, self.partition_of(aggregate_id), after,
                                      timeout)  # fmt: skip

    def wait_applied(
        self,
        projection: Projection,
        outcome: Outcome,
        aggregate_id: UUID,
        timeout: float | None = None,
    ) -> bool:
        """Read-your-writes: wait (bounded) until a projection has applied what ``outcome``
        appended for ``aggregate_id``, in the partition that aggregate's events go to."""
        position = outcome.position_of(aggregate_id)
        if position <= 0:
            return True
        wait = self.settings.read_your_writes_timeout_seconds if timeout is None else timeout
        started = time.perf_counter()
        applied = self.applied.wait(projection.name, self.partition_of(aggregate_id), position,
                                    wait)  # fmt: skip
        READ_YOUR_WRITES_WAIT.labels(projection.name, "applied" if applied else "late").observe(
            time.perf_counter() - started
        )
        if applied:
            return True
        log.warning("read-your-writes wait for %s timed out at %d", projection.name, position)
        note_late_read(projection.name)  # stored all the same: a success, marked late
        return False

    # -- background roles ---------------------------------------------------------------
    def spawn(self, name: str, target: Callable[[threading.Event], Any]) -> None:
        def guarded() -> None:
            while not self.stop_event.is_set():
                try:
                    target(self.stop_event)
                except Exception:
                    self.crashed_at[name] = time.time()
                    log.exception("%s crashed; restarting in 1 s", name)
                    self.stop_event.wait(1.0)
                else:
                    return

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start_projectors(
        self, names: list[str] | None = None, *, kafka: bool | None = None
    ) -> None:
        """Run projection groups (all configured ones, or those ``names`` pick), each on
        one thread: from Kafka when configured, except a group that needs the log's order."""
        use_kafka = self.uses_kafka if kafka is None else kafka
        for group in self.projection_groups(names):
            runner = self.runner(group, kafka=use_kafka and not group.ordered)
            self.spawn(f"projector:{group.name}", runner.run)

    def policy_groups(
        self, *, kafka: bool = False
    ) -> list[CommandGroup | DispatchGroup | LiveGroup]:
        """One group per kind of reaction (``policies.base``)."""
        services = PolicyServices(jobs=self.jobs, live=self.fanout, read_models=self.read_models)
        partitions = self.settings.kafka_partitions if kafka else None
        common: dict[str, Any] = {
            "store": self.store, "read_models": self.read_models, "services": services,
            "partitions": partitions, "clock": self.bus.clock,
            "retry_max_seconds": self.settings.projection_retry_max_seconds,
        }  # fmt: skip
        kinds: list[tuple[type[Reactions], str, Any]] = [
            (CommandPolicy, "policies.commands", CommandGroup),
            (JobDispatcher, "policies.jobs", DispatchGroup),
            (LivePublisher, "policies.live", LiveGroup),
        ]
        return [
            group(name, members, **common)
            for kind, name, group in kinds
            if (members := [r for r in self.reactions if isinstance(r, kind)])
        ]

    def reacted_upto(self, group: str) -> int:
        """The log position up to which the policy group ``group`` (``policies.commands``,
        ``policies.jobs``) has reacted to every event (the least over its partitions when it
        reads Kafka)."""
        if not (self.uses_kafka and self.settings.policies_from_kafka):
            return self.store.tracked(group)
        partitions = range(self.settings.kafka_partitions)
        return min(self.store.tracked(f"{group}#{p}") for p in partitions)

    def policy_status(self, head: int) -> list[dict[str, Any]]:
        """Each policy group's position and lag, and each reaction's parked events."""
        report = []
        for group in self.policy_groups():
            position = self.reacted_upto(group.name) if not isinstance(group, LiveGroup) else None
            report.append({
                "group": group.name,
                "position": position,
                "lag": None if position is None else max(head - position, 0),
                "reactions": [{"name": name, **self.read_models.parked_report((name, 0))}
                              for name in group.members()],
            })  # fmt: skip
        return report

    def start_policies(self, *, kafka: bool | None = None) -> None:
        """Policies read the event log itself unless ``POLICIES_FROM_KAFKA`` is set (a Kafka
        consumer costs a busy IO thread; the log tail is shared with the projectors when
        both run here). In the distributed mode a group on the log holds a lease, so two
        ``policies`` processes never react to the same event."""
        use_kafka = (
            (self.uses_kafka and self.settings.policies_from_kafka) if kafka is None else kafka
        )
        for group in self.policy_groups(kafka=use_kafka):
            runner = self.runner(group, kafka=use_kafka, live=isinstance(group, LiveGroup))
            if self.settings.distributed and not use_kafka:
                lease = GroupLease(self.settings.database_url, group.name)
                self.spawn(group.name, lease.holding(runner.run))
            else:
                self.spawn(group.name, runner.run)

    def start_schedules(self) -> None:
        """Time-driven policies (request expiry), every ``schedule_interval_seconds``."""

        def loop(stop: threading.Event) -> None:
            while not stop.wait(self.settings.schedule_interval_seconds):
                run_due(self.bus, self.read_models)

        self.spawn("schedules", loop)

    def heartbeat(self) -> dict[str, Any]:
        """What a role's health check needs to know about this process right now."""
        return {
            "pid": os.getpid(),
            "at": time.time(),
            "threads": {t.name: t.is_alive() for t in self.threads},
            "crashed_at": dict(self.crashed_at),
        }

    def start_workers(self, threads: int = 2, warm: bool = False) -> None:
        """Run the background jobs (embeddings, speech scoring, push) in this process;
        ``warm`` loads the level test's models meanwhile (workers/warm_up.py)."""
        self._worker = start_workers(self.jobs, self, threads)
        if warm:
            self._warming = start_warm_up(self.settings, self.stop_event)

    def start_relay(self) -> Relay:
        relay = Relay(self.store, self.settings)
        self.spawn("relay", relay.run)
        return relay

    def close(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=15)
        if self._worker is not None:
            self._worker.stop()
        if self._warming is not None:
            self._warming.join(timeout=WARM_UP_JOIN_SECONDS)
            if self._warming.is_alive():
                log.warning("the level-test models were still loading at exit")
        self.jobs.close()
        if "fanout" in self.__dict__:
            self.fanout.close()
        if "topic_identity" in self.__dict__:
            self.topic_identity.close()
        if "applied" in self.__dict__:
            self.applied.close()
        self.store.close()
        self.read_models.engine.dispose()
