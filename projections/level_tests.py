"""Level-test read model: each test's state, its answers' progress and its result."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa

from domain.identity import AccountDeleted
from domain.level_tests import (
    AnalysisRequested,
    AnswerRecorded,
    AnswerTranscribed,
    LevelAssessed,
    LevelTestCancelled,
    LevelTestFailed,
    LevelTestStarted,
)
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import first_row, page_of
from eventflow.readmodels import ReadModels

level_tests = Projection("level_tests")


class LevelTestRow(TypedDict):
    """A ``level_tests`` row. ``questions`` are the dumped ``domain.level_tests`` questions,
    ``answered`` each answered question's state by question id; ``result`` (the scores,
    feedback and versions of ``LevelAssessed``) is set once the test is completed."""

    test_id: int
    user_id: str
    language: str
    mode: str
    status: str
    questions: list[dict[str, Any]]
    answered: dict[str, str]
    started_at: datetime
    completed_at: datetime | None
    level: str | None
    overall: int | None
    result: dict[str, Any] | None
    failure: str | None
    failure_code: str | None


@level_tests.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    table = sa.Table(
        name("level_tests"),
        metadata,
        sa.Column("test_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("questions", sa.JSON, nullable=False),
        sa.Column("answered", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("level", sa.String(2)),
        sa.Column("overall", sa.Integer),
        sa.Column("result", sa.JSON),
        sa.Column("failure", sa.String(300)),
        sa.Column("failure_code", sa.String(40)),
    )
    sa.Index(name("ix_level_tests_user_started"), table.c.user_id, table.c.started_at)


@level_tests.on(LevelTestStarted)
def _started(e: LevelTestStarted, tx: ProjectionTx) -> None:
    tx.insert("level_tests", {
        "test_id": e.test_id, "user_id": e.user_id, "language": e.language, "mode": e.mode,
        "status": "in_progress", "questions": [q.model_dump() for q in e.questions],
        "answered": {}, "started_at": e.meta.occurred_at, "completed_at": None, "level": None,
        "overall": None, "result": None, "failure": None,
        "failure_code": None})  # fmt: skip


def _answer(e: AnswerRecorded | AnswerTranscribed, tx: ProjectionTx, state: str) -> None:
    table = tx.table("level_tests")
    row = tx.execute(sa.select(table.c.answered).where(table.c.test_id == e.test_id)).first()
    if row is not None:
        answered = {**row.answered, str(e.question_id): state}
        tx.update("level_tests", {"test_id": e.test_id}, {"answered": answered})


@level_tests.on(AnswerRecorded)
def _recorded(e: AnswerRecorded, tx: ProjectionTx) -> None:
    _answer(e, tx, "recorded")


@level_tests.on(AnswerTranscribed)
def _transcribed(e: AnswerTranscribed, tx: ProjectionTx) -> None:
    _answer(e, tx, "transcribed")


@level_tests.on(AnalysisRequested)
def _requested(e: AnalysisRequested, tx: ProjectionTx) -> None:
    tx.update("level_tests", {"test_id": e.test_id}, {"status": "analyzing"})


@level_tests.on(LevelAssessed)
def _assessed(e: LevelAssessed, tx: ProjectionTx) -> None:
    result = e.model_dump(include={"scores", "strengths", "improvements", "feedback",
                                   "feedback_source", "confidence", "scorer_version",
                                   "model_versions", "features"})  # fmt: skip
    tx.update("level_tests", {"test_id": e.test_id}, {
        "status": "completed", "completed_at": e.meta.occurred_at, "level": e.level,
        "overall": e.overall, "result": result})  # fmt: skip


@level_tests.on(LevelTestFailed)
def _failed(e: LevelTestFailed, tx: ProjectionTx) -> None:
    tx.update("level_tests", {"test_id": e.test_id},
              {"status": "failed", "failure": e.reason, "failure_code": e.code})  # fmt: skip


@level_tests.on(LevelTestCancelled)
def _cancelled(e: LevelTestCancelled, tx: ProjectionTx) -> None:
    tx.update("level_tests", {"test_id": e.test_id}, {"status": "cancelled"})


@level_tests.on(AccountDeleted)
def _account_deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    """The results hold decrypted feedback: they go with the account (the events keep only
    ciphertext whose key is destroyed)."""
    tx.delete("level_tests", {"user_id": str(e.aggregate_id)})


# -- queries ----------------------------------------------------------------------------
def test_row(read_models: ReadModels, test_id: int) -> LevelTestRow | None:
    table = read_models.table(level_tests, "level_tests")
    query = sa.select(table).where(table.c.test_id == test_id)
    return first_row(read_models, query, LevelTestRow)


def tests_of(
    read_models: ReadModels, user_id: str, *, page: int, size: int
) -> tuple[list[LevelTestRow], int]:
    table = read_models.table(level_tests, "level_tests")
    return page_of(read_models, table, [table.c.user_id == user_id], LevelTestRow,
                   order_by=table.c.started_at.desc(), page=page, size=size)  # fmt: skip
