"""``languagemate``: the server roles and the operator and analyst tools."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from app import cli_history
from infra import logs, tracing
from infra.settings import Settings, SettingsError, load_settings


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _runtime(settings: Settings) -> Iterator[Any]:
    from app.runtime import Runtime

    rt = Runtime.build(settings)
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def _serving_runtime(settings: Settings, *, rebuild_stale: bool = False) -> Iterator[Any]:
    """A runtime for a role that serves read models: stale ones (built for another schema)
    are rebuilt first in the embedded mode, and refuse the start in the distributed mode,
    where the rebuild is a deploy step (``languagemate projections rebuild NAME``)."""
    with _runtime(settings) as rt:
        stale = rt.read_models.stale()
        if stale and rebuild_stale:
            from app.rebuild import rebuild

            for name in stale:
                logging.getLogger(__name__).warning("rebuilding %s: tables predate this code", name)
                rebuild(rt, name)
        elif stale:
            names = ", ".join(stale)
            raise click.ClickException(
                f"read models built for another schema: {names}; run "
                f"`languagemate projections rebuild NAME` for each before starting this role"
            )
        yield rt


def _stop_on_signals(rt: Any) -> None:
    """SIGINT and SIGTERM set the runtime's stop event: the role returns from its main loop
    and ``Runtime.close`` finishes or hands back its in-flight work, then the process exits 0."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: rt.stop_event.set())


def _settle_heap() -> None:
    """Collect start-up's garbage, then leave what start-up built out of every later
    collection (``gc.freeze``). The vocabulary and grammar tables, word frequencies, routes
    and table metadata are some 300,000 long-lived objects, and each full collection
    walked them all: a 130 ms pause every few seconds under load, which was the embedded
    server's p99 for a request that does nothing (110 ms; 5 ms frozen, same load)."""
    gc.collect()
    gc.freeze()


def _wait_for_signal(rt: Any, role: str) -> None:
    """Block the main thread until SIGINT/SIGTERM, then let the runtime stop its threads;
    meanwhile write the role's heartbeat file for ``languagemate health --role``. The
    role's start-up heap is settled first, as the API's is (``_settle_heap``)."""
    _stop_on_signals(rt)
    _settle_heap()
    path = heartbeat_path(rt.settings, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(rt.heartbeat()))
        temporary.replace(path)
        if rt.stop_event.wait(HEARTBEAT_SECONDS):
            path.unlink(missing_ok=True)
            return


HEARTBEAT_SECONDS = 5.0
HEARTBEAT_STALE_SECONDS = 30.0
"""A heartbeat older than this means the role's process is gone or its main loop hangs."""
CRASH_WINDOW_SECONDS = 30.0
"""A background thread that crashed this recently counts as failing (it restarts after a
second; one that keeps crashing stays unhealthy)."""


def heartbeat_path(settings: Settings, role: str) -> Path:
    return settings.data_dir / "health" / f"{role}.json"


def role_problems(settings: Settings, role: str) -> list[str]:
    """Why the ``role`` process of this machine or container is not healthy (none: it is)."""
    path = heartbeat_path(settings, role)
    try:
        beat = json.loads(path.read_text())
    except (OSError, ValueError):
        return [f"no heartbeat at {path}: the {role} process is not running"]
    now = time.time()
    problems = []
    if now - beat["at"] > HEARTBEAT_STALE_SECONDS:
        problems.append(f"heartbeat {now - beat['at']:.0f} s old: the {role} process hangs")
    problems += [f"thread {name} is dead" for name, alive in beat["threads"].items() if not alive]
    problems += [
        f"thread {name} crashed {now - at:.0f} s ago"
        for name, at in beat["crashed_at"].items()
        if now - at < CRASH_WINDOW_SECONDS
    ]
    return problems


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """LanguageMate backend: server roles, operator and analyst tools."""
    # libpq names every connection of this process after its command, so PostgreSQL's
    # pg_stat_activity (and its logs) tell which role holds a connection or runs a query.
    os.environ.setdefault("PGAPPNAME", f"languagemate-{ctx.invoked_subcommand}")


def _serve_api(rt: Any, host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from infra.server_protocols import uvicorn_options

    # On SIGTERM uvicorn stops listening, closes idle connections and WebSockets (1012,
    # "service restart": the SPA reconnects elsewhere), lets in-flight requests finish for
    # up to ``api_drain_seconds``, and then re-raises the signal under the handler it found.
    # Ours is that handler, so the signal ends the drain instead of killing the process
    # before ``Runtime.close``.
    _stop_on_signals(rt)
    # Uvicorn's access log prints raw paths and query strings (which can hold personal
    # data); api.app logs each request by route template instead. The protocols are
    # uvicorn's (httptools, websockets-sansio) with the limits of infra.server_protocols.
    app = create_app(rt)
    _settle_heap()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(rt.settings.api_drain_seconds),
        **uvicorn_options(rt.settings),
    )


@main.command()
@click.option("--host", default=None, help="Interface to listen on (LANGUAGEMATE_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (LANGUAGEMATE_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Everything in one process (API, projectors, policies, workers); no servers needed."""
    settings = _settings(host=host, port=port)
    logs.setup(settings.log_level)
    tracing.setup("embedded")
    with _serving_runtime(settings, rebuild_stale=True) as rt:
        rt.start_projectors(kafka=False)
        rt.start_policies(kafka=False)
        rt.start_schedules()
        rt.start_workers(warm=settings.warm_models)
        if settings.kafka_bootstrap:
            rt.start_relay()
        _serve_api(rt, settings.host, settings.port)


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def api(host: str | None, port: int | None) -> None:
    """The HTTP and WebSocket API only (distributed mode; run several behind a balancer)."""
    settings = _settings(host=host, port=port).for_api_process()
    logs.setup(settings.log_level)
    tracing.setup("api")
    with _serving_runtime(settings) as rt:
        _serve_api(rt, settings.host, settings.port)


@main.command()
def relay() -> None:
    """Publish the event log to Kafka, in order, resuming from the stored position."""
    settings = _settings()
    logs.setup(settings.log_level)
    tracing.setup("relay")
    if not settings.kafka_bootstrap:
        raise click.ClickException("LANGUAGEMATE_KAFKA_BOOTSTRAP is not set")
    with _runtime(settings) as rt:
        rt.start_relay()
        _wait_for_signal(rt, "relay")


@main.command()
@click.argument("name")
def projector(name: str) -> None:
    """Run a processing group of projections: ``all`` configured groups, one group by name
    (``read-models``, or one of ``PROJECTION_GROUPS``), or one projection on its own. From
    Kafka when configured (one consumer per group), else from the log."""
    settings = _settings()
    logs.setup(settings.log_level)
    tracing.setup("projector")
    with _serving_runtime(settings) as rt:
        groups = [g.name for g in rt.projection_groups()]
        if name != "all" and name not in groups:
            rt.read_models.projection(name)  # a projection's name, or a clear error
        rt.start_projectors(None if name == "all" else [name])
        _wait_for_signal(rt, "projector")


@main.command()
def policies() -> None:
    """Run the reactions, one group per kind (commands, jobs, live), from the log (or
    Kafka with ``POLICIES_FROM_KAFKA``), and the scheduled ones."""
    settings = _settings()
    logs.setup(settings.log_level)
    tracing.setup("policies")
    with _runtime(settings) as rt:
        rt.start_policies()
        rt.start_schedules()
        _wait_for_signal(rt, "policies")


@main.command()
def worker() -> None:
    """Run the Dramatiq actors (distributed mode: consumes the Redis queues)."""
    settings = _settings()
    logs.setup(settings.log_level)
    tracing.setup("worker")
    with _runtime(settings) as rt:
        rt.start_workers(warm=settings.warm_models)
        _wait_for_signal(rt, "worker")


@main.command()
@click.option("--role", default="api", help="api, relay, projector, policies or worker.")
def health(role: str) -> None:
    """Exit 0 when this role is healthy (container health checks): its process writes a
    fresh heartbeat with every background thread alive and none crashing (all but ``api``,
    which answers /health/ready itself), and its dependencies answer."""
    settings = _settings()
    from api.health_checks import run_checks

    problems = [] if role == "api" else role_problems(settings, role)
    with _runtime(settings) as rt:
        report = run_checks(rt)
    healthy = report["status"] == "UP" and not problems
    click.echo(json.dumps({"role": role, **report, "status": "UP" if healthy else "DOWN",
                           "problems": problems}))  # fmt: skip
    sys.exit(0 if healthy else 1)


@main.group()
def projections() -> None:
    """Read-model lifecycle: status, rebuild, skip a poison event."""


@projections.command("status")
def projections_status() -> None:
    settings = _settings()
    with _runtime(settings) as rt:
        head = rt.store.max_position()
        report = rt.read_models.status(head)
        groups = {g.name: g.members() for g in rt.projection_groups()}
        policies = rt.policy_status(head)
    click.echo(json.dumps({"head": head, "groups": groups, "projections": report,
                           "policies": policies}, indent=2))  # fmt: skip


@projections.command("rebuild")
@click.argument("name")
@click.option("--keep-old", is_flag=True, help="Keep the previous version's tables.")
def projections_rebuild(name: str, keep_old: bool) -> None:
    """Rebuild NAME from position 0 into a new version while the old one serves, then
    switch. NAME ``all`` rebuilds every projection, one process per core at a time."""
    settings = _settings()
    logs.setup(settings.log_level)
    from app.cli_history import operator_context
    from app.rebuild import rebuild, rebuild_all
    from commands.operations import record_rebuild
    from infra.progress import progress
    from projections.catalog import PROJECTIONS

    if name == "all":
        with progress("rebuilding", len(PROJECTIONS), unit="projections") as bar:

            def done(result: dict[str, Any]) -> None:
                bar.note(result["projection"])
                bar.advance()

            try:
                postgres = settings.readmodel_url.startswith("postgresql")
                results = rebuild_all(keep_old=keep_old, parallel=postgres, on_done=done)
            except RuntimeError as exc:
                raise click.ClickException(str(exc)) from exc
            bar.finish(len(results), projections=len(results), rebuilt=results)
        return
    with _runtime(settings) as rt:
        head = rt.store.max_position()
        with progress(f"rebuilding {name}", head, unit="positions") as bar:
            result = rebuild(rt, name, keep_old=keep_old, on_step=bar.reach)
            record_rebuild(rt.bus, operator_context(), projection=name,
                           version=result["version"], previous=result["previous"])  # fmt: skip
            bar.finish(head, **result, positions=head)


@projections.command("skip")
@click.argument("name")
@click.argument("position", type=int)
def projections_skip(name: str, position: int) -> None:
    """Tell the group running NAME (a projection, or a reaction such as
    ``policy.notifications.notifier``) to pass over the parked event at POSITION; the events
    of that aggregate queued behind it are then applied in order."""
    settings = _settings()
    from app.cli_history import operator_context
    from commands.operations import record_skip

    with _runtime(settings) as rt:
        if not rt.read_models.request_skip(name, position):
            raise click.ClickException(f"{name} has no failing event at position {position}")
        record_skip(rt.bus, operator_context(), projection=name, position=position)
    click.echo(f"{name}: position {position} will be skipped by the running projector")


@main.group()
def demo() -> None:
    """A demo platform to look at: ``demo seed`` fills an empty store with learners."""


@demo.command("seed")
@click.option(
    "--users",
    type=click.IntRange(2, 500),
    default=24,
    show_default=True,
    help="How many learners sign up.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 90),
    default=7,
    show_default=True,
    help="Days of simulated history, ending yesterday.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="The same seed gives the same learners, levels and matches.",
)
def demo_seed(users: int, days: int, seed: int) -> None:
    """Learners across language pairs and levels who onboard, take the level test, match,
    chat and meet in 1:1 and group sessions over DAYS of simulated time, all through the
    real commands, with the policies' consequences (rooms, levels, achievements). Seeds an
    empty store only; run it before ``languagemate serve``."""
    settings = _settings()
    logs.setup(settings.log_level)
    if settings.kafka_bootstrap:
        raise click.ClickException(
            "demo seed catches the read models up from the log itself; it runs on a store "
            "whose projectors follow the log (embedded, or PostgreSQL without Kafka)"
        )
    from app.demo.seed import NotEmpty
    from app.demo.seed import seed as seed_platform
    from infra.progress import progress

    with _runtime(settings) as rt, progress("seeding", days, unit="days") as bar:
        try:
            counts = seed_platform(rt, users=users, days=days, seed=seed,
                                   on_day=lambda _: bar.advance())  # fmt: skip
        except NotEmpty as exc:
            raise click.ClickException(
                f"{exc}: `demo seed` builds a platform from nothing; point "
                f"LANGUAGEMATE_DATA_DIR (or the database settings) at an empty store"
            ) from exc
        bar.finish(counts["events"], **counts)


for _group in cli_history.COMMANDS:
    main.add_command(_group)

if __name__ == "__main__":
    threading.current_thread().name = "main"
    main()
