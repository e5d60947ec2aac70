"""The composition root: builds every shared service from the settings, once per process.

Each role (``serve``, ``api``, ``relay``, ``projector``, ``policies``, ``worker``) builds one
``Runtime`` and starts the parts it runs. Nothing else constructs infrastructure, so the
embedded and the distributed mode differ only in what the settings point at.
"""

from __future__ import annotations

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

from commands.base import CommandBus, Outcome
from commands.policies import POLICIES
from infra.blobs import BlobStore, blob_store_from_settings
from infra.event_store import EventStore, open_event_store, schema_lock
from infra.fanout import Fanout
from infra.kafka import TopicIdentity, partition_for
from infra.log_tail import LogTail
from infra.policies import Policy, PolicyServices
from infra.presence import Presence
from infra.ratelimit import LoginThrottle, RateLimit
from infra.relay import Relay
from infra.revocations import Revocations
from infra.room_registry import RoomRegistry
from infra.runners import ProjectionRunner
from infra.secrets import resolve
from infra.settings import Settings
from infra.sources import EventSource, KafkaSource, LogSource
from infra.tokens import TokenService
from infra.webpush import WebPush
from projections.catalog import PROJECTIONS
from projections.engine import LOG, Projection, ReadModels, create_engine
from projections.notifications import UnreadCounters, notifications
from workers.broker import make_broker
from workers.jobs import JobQueue

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: EventStore
    read_models: ReadModels
    bus: CommandBus
    jobs: JobQueue
    policies: list[Policy] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    crashed_at: dict[str, float] = field(default_factory=dict)
    """Background thread name -> when it last crashed (it restarts a second later)."""
    health_report: tuple[float, dict[str, Any]] | None = field(default=None, repr=False)
    """The last dependency check and when it ran (health probes are cached briefly)."""
    _tail: LogTail | None = field(default=None, init=False, repr=False)
    _tail_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        projections: list[Projection] | None = None,
        policies: list[Policy] | None = None,
    ) -> Runtime:
        store = open_event_store(settings)
        bus = CommandBus(store)
        jobs = JobQueue(make_broker(settings))
        services = PolicyServices(jobs=jobs)
        policies = [p.bound(bus, services) for p in (POLICIES if policies is None else policies)]
        projections = PROJECTIONS if projections is None else projections
        lock = schema_lock(settings.database_url) if settings.distributed else nullcontext()
        with lock:
            read_models = ReadModels(
                create_engine(settings.readmodel_url, settings.db_pool_size),
                [*projections, *policies],
            )
            read_models.ensure_ready()
        runtime = cls(
            settings=settings,
            store=store,
            read_models=read_models,
            bus=bus,
            jobs=jobs,
            policies=policies,
        )
        services.read_models, services.live = read_models, runtime.fanout
        return runtime

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

    # -- projections --------------------------------------------------------------------
    @property
    def uses_kafka(self) -> bool:
        return bool(self.settings.kafka_bootstrap)

    def log_source(self, projection: Projection, _: int, tracking: dict[int, int]) -> EventSource:
        return LogSource(
            self.store,
            after=tracking.get(LOG, 0),
            batch_size=self.settings.projection_batch_size,
            topics=projection.topics,
            tail=self._log_tail(),
        )

    def _log_tail(self) -> LogTail:
        """The newest events of the log, read once for every log follower of this runtime
        (runner threads create their sources concurrently: one tail, one thread)."""
        with self._tail_lock:
            if self._tail is None:
                self._tail = LogTail(self.store, self.settings.projection_batch_size)
                self.spawn("log-tail", self._tail.follow)
            return self._tail

    def kafka_source(
        self, projection: Projection, version: int, tracking: dict[int, int]
    ) -> EventSource:
        group = f"{self.settings.kafka_group_prefix}.projection.{projection.name}.v{version}"
        return KafkaSource(
            self.settings, group, self.store.cipher, applied=tracking, identity=self.topic_identity
        )

    @cached_property
    def topic_identity(self) -> TopicIdentity:
        """One topic-id watcher for every Kafka source of this process."""
        return TopicIdentity(self.settings)

    def projection_runner(self, projection: Projection, *, kafka: bool) -> ProjectionRunner:
        return ProjectionRunner(
            self.read_models,
            projection,
            self.kafka_source if kafka else self.log_source,
            poll_seconds=projection.poll_seconds or self.settings.projection_poll_seconds,
            batch_window_seconds=(
                self.settings.projection_batch_window_seconds
                if projection.batch_window_seconds is None
                else projection.batch_window_seconds
            ),
            retry_max_seconds=self.settings.projection_retry_max_seconds,
            after_commit=self.unread_counters.after_batch if projection is notifications else None,
        )

    def partition_of(self, aggregate_id: UUID) -> int | None:
        if not self.uses_kafka:
            return None
        return partition_for(str(aggregate_id).encode(), self.settings.kafka_partitions)

    def applied_everywhere(self, projections: set[Projection]) -> int:
        """The log position up to which all of ``projections`` have applied every event."""
        partitions = self.settings.kafka_partitions if self.uses_kafka else None
        return min(self.read_models.applied_everywhere(p.name, partitions) for p in projections)

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
        deadline = time.monotonic() + (
            self.settings.read_your_writes_timeout_seconds if timeout is None else timeout
        )
        partition = self.partition_of(aggregate_id)
        delay = 0.002
        while not self.read_models.has_applied(projection.name, position, partition):
            if time.monotonic() >= deadline:
                log.warning(
                    "read-your-writes wait for %s timed out at %d", projection.name, position
                )
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

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
        use_kafka = self.uses_kafka if kafka is None else kafka
        policy_names = {p.name for p in self.policies}
        for name in names or sorted(set(self.read_models.projections) - policy_names):
            projection = self.read_models.projection(name)
            runner = self.projection_runner(projection, kafka=use_kafka and not projection.ordered)
            self.spawn(f"projector:{name}", runner.run)

    def start_policies(self, *, kafka: bool | None = None) -> None:
        """Policies read the event log itself unless ``POLICIES_FROM_KAFKA`` is set: each
        Kafka consumer group costs a busy kafka-python IO thread, and with nine policies
        that was most of the policies role's CPU (measured with the chat bench: 20 msg/s
        went from p50 2.6 s to 67 ms reading the log with LISTEN/NOTIFY wake-ups)."""
        use_kafka = (
            (self.uses_kafka and self.settings.policies_from_kafka) if kafka is None else kafka
        )
        for policy in self.policies:
            runner = self.projection_runner(policy, kafka=use_kafka and not policy.follow_log)
            self.spawn(policy.name, runner.run)

    def start_schedules(self) -> None:
        """Time-driven policies (request expiry), every ``schedule_interval_seconds``."""
        from commands.schedules import run_due

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

    def start_workers(self, threads: int = 2) -> None:
        """Run the background jobs (embeddings, later speech scoring) in this process."""
        self.jobs.start(self, threads)

    def start_relay(self) -> Relay:
        relay = Relay(self.store, self.settings)
        self.spawn("relay", relay.run)
        return relay

    def close(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=15)
        self.jobs.close()
        if "fanout" in self.__dict__:
            self.fanout.close()
        if "topic_identity" in self.__dict__:
            self.topic_identity.close()
        self.store.close()
        self.read_models.engine.dispose()
