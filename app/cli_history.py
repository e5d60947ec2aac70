"""``languagemate events|aggregate|audit|users``: the analyst, auditor and operator tools.

They run against the configured store (the same settings as the server roles) and write
JSON to standard output, so they compose with ``jq`` and friends. Operator actions
(granting a role) are commands like any other and are recorded as events with the actor
``operator:<login>``.
"""

from __future__ import annotations

import getpass
import json
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import click

from infra.progress import Progress, progress
from infra.settings import Settings


def operator_context() -> Any:
    from commands.base import CommandContext

    return CommandContext(actor_id=f"operator:{getpass.getuser()}")


def _settings() -> Settings:
    from app.cli import _settings as load

    return load()


@contextmanager
def _store(settings: Settings) -> Iterator[Any]:
    """Just the event store: the history tools need no projectors, Kafka or Redis."""
    from eventflow.store import open_event_store

    store = open_event_store(settings)
    try:
        yield store
    finally:
        store.close()


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _selection(*, topic: tuple[str, ...], aggregate: str | None, after: int, upto: int | None,
               since: str | None, until: str | None) -> Any:  # fmt: skip
    from app.history import Selection

    try:
        aggregate_id = UUID(aggregate) if aggregate else None
    except ValueError:
        raise click.BadParameter(f"{aggregate!r} is not an aggregate id") from None
    return Selection(topics=topic, aggregate_id=aggregate_id, after=after, upto=upto,
                     since=_time(since), until=_time(until))  # fmt: skip


def _filters(command: Any) -> Any:
    for option in reversed([
        click.option("--topic", multiple=True, help="Only this event type (repeatable)."),
        click.option("--aggregate", help="Only this aggregate's events."),
        click.option("--after", type=int, default=0, help="Positions after this one."),
        click.option("--upto", type=int, help="Positions up to and including this one."),
        click.option("--since", help="Occurred at or after this ISO time (UTC if no zone)."),
        click.option("--until", help="Occurred before this ISO time."),
    ]):  # fmt: skip
        command = option(command)
    return command


@click.group()
def events() -> None:
    """The event history: catalogue, export, import and replay."""


@events.command("catalog")
def events_catalog() -> None:
    """Every event type with its JSON Schema (the analysts' contract)."""
    from domain.catalog import catalog

    click.echo(json.dumps(catalog(), indent=2, ensure_ascii=False))


@events.command("asyncapi")
def events_asyncapi() -> None:
    """The AsyncAPI 3.0 document: the Kafka topic (one message per event type) and the
    chat and notification sockets, as served at /asyncapi.json."""
    from api.asyncapi import document

    settings = _settings()
    host = f"{settings.host}:{settings.port}"
    click.echo(json.dumps(document(settings, host=host), indent=2, ensure_ascii=False))


def _scanned(events: Iterable[Any], bar: Progress, after: int) -> Iterator[Any]:
    """``events`` unchanged, moving ``bar`` to each one's position past ``after``."""
    for event in events:
        bar.reach(event.position - after)
        yield event


def _span(store: Any, selection: Any, after: int) -> int:
    """How many positions a scan from ``after`` to the selection's end covers."""
    head = int(store.max_position())
    end = head if selection.upto is None else min(selection.upto, head)
    return max(end - after, 0)


@events.command("export")
@_filters
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "parquet"]),
    default="jsonl",
    show_default=True,
    help="JSON Lines, or Parquet (typed envelope columns).",
)
def events_export(output: Path | None, fmt: str, **filters: Any) -> None:
    """Stream events as JSON Lines or Parquet (personal fields stay encrypted), in log
    order; progress and the summary go to standard error."""
    from app.history import export, selected
    from app.parquet_export import export_parquet

    write = export_parquet if fmt == "parquet" else export
    if output is None and fmt == "parquet" and sys.stdout.isatty():
        raise click.UsageError("Parquet is binary: give --output FILE or redirect stdout")
    selection = _selection(**filters)
    with (
        _store(_settings()) as store,
        progress("exporting", _span(store, selection, selection.after)) as bar,
    ):
        events = _scanned(selected(store, selection), bar, selection.after)
        if output is None:
            count = write(events, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with output.open("wb") as out:
                count = write(events, out)
        bar.finish(count, err=True, exported=count, format=fmt)


@events.command("import")
@click.argument("source", type=click.File("rb"))
def events_import(source: Any) -> None:
    """Append an export to an EMPTY event store (a fresh database or data directory)."""
    from app.history import ImportRefused, import_lines

    size = _file_size(source)
    with _store(_settings()) as store, progress("importing", size, unit="B") as bar:
        try:
            count = import_lines(store, _read(source, bar))
        except ImportRefused as exc:
            raise click.ClickException(str(exc)) from exc
        bar.finish(count, imported=count)


def _file_size(source: Any) -> int | None:
    """The size of a regular file (the bar's total), ``None`` for a pipe."""
    try:
        status = os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _read(source: Iterable[bytes], bar: Progress) -> Iterator[bytes]:
    for line in source:
        bar.advance(len(line))
        yield line


@events.command("replay")
@_filters
@click.option("--handler", required=True, help="module:function, called as f(event, position).")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Remember progress here; a rerun resumes after it.")  # fmt: skip
def events_replay(handler: str, checkpoint: Path | None, **filters: Any) -> None:
    """Feed the history, in order, to your own Python function."""
    from app.history import load_handler, replay, resume_after

    sys.path.insert(0, str(Path.cwd()))
    try:
        function = load_handler(handler)
    except (ImportError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--handler") from exc
    selection = _selection(**filters)
    start = resume_after(selection, checkpoint)
    with _store(_settings()) as store, progress("replaying", _span(store, selection, start)) as bar:

        def handle(event: Any, position: int) -> Any:
            bar.reach(position - start)
            return function(event, position)

        count = replay(store, handle, selection, checkpoint)
        bar.finish(count, replayed=count)


@click.group()
def aggregate() -> None:
    """Any aggregate's state, now or as it was."""


@aggregate.command("show")
@click.argument("aggregate_id")
@click.option("--version", type=int, help="As of this version.")
@click.option("--at", help="As of this ISO time (UTC if no zone).")
def aggregate_show(aggregate_id: str, version: int | None, at: str | None) -> None:
    from eventflow.time_travel import NoSuchAggregate, state_at

    try:
        key = UUID(aggregate_id)
    except ValueError:
        raise click.BadParameter(f"{aggregate_id!r} is not an aggregate id") from None
    with _store(_settings()) as store:
        try:
            state = state_at(store, key, version=version, at=_time(at))
        except NoSuchAggregate as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(state, indent=2, ensure_ascii=False))


@click.group()
def audit() -> None:
    """Who did what, and whether the log is still what was written."""


@audit.command("trail")
@click.argument("user")
def audit_trail(user: str) -> None:
    """USER (an account id or e-mail address): what they did and what was done to their data,
    one JSON line per event, in order."""
    from app.audit import trail

    settings = _settings()
    with _store(settings) as store:
        user_id = _user_id(store, settings, user)
        for row in trail(store, user_id):
            click.echo(json.dumps(row))


def _user_id(store: Any, settings: Settings, user: str) -> str:
    if "@" not in user:
        return user
    from commands.base import CommandBus
    from commands.identity import current_account_id
    from infra.secrets import resolve

    pepper = resolve(settings, settings.identity_pepper, "identity_pepper")
    return str(current_account_id(CommandBus(store), pepper, user))


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain over the whole log; exit 1 naming each position that was
    altered, removed or inserted out of order (one JSON line)."""
    from app.audit import verify
    from app.cli import _runtime

    with _runtime(_settings()) as rt, progress("verifying", rt.store.max_position()) as bar:
        result = verify(rt.store, rt.read_models, bar.reach)
        bar.finish(result.checked, **result.report())
    sys.exit(0 if result.ok else 1)


@click.group()
def users() -> None:
    """Roles: granted only here, never through the API."""


@users.command("grant-admin")
@click.argument("email")
def users_grant_admin(email: str) -> None:
    _set_admin(email, granted=True)


@users.command("revoke-admin")
@click.argument("email")
def users_revoke_admin(email: str) -> None:
    _set_admin(email, granted=False)


def _set_admin(email: str, *, granted: bool) -> None:
    from app.cli import _runtime
    from commands.identity import set_role
    from domain.errors import DomainError

    with _runtime(_settings()) as rt:
        try:
            outcome = set_role(rt.bus, operator_context(), pepper=rt.pepper, email=email,
                               role="admin", granted=granted)  # fmt: skip
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(outcome.result))


COMMANDS = (events, aggregate, audit, users)
