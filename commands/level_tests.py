"""Level-test commands, and the policy that drives the pipeline: a recorded answer becomes
a transcription job, a fully transcribed test whose analysis was asked for becomes an
assessment job, and an assessment updates the learner's profile and notifies them."""

from __future__ import annotations

import secrets
from typing import Any, TypedDict

from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain import reference
from domain.errors import RuleViolation
from domain.level_tests import (
    TEST_ID_LIMIT,
    LevelTest,
    Mode,
    level_test_key,
)

LANGUAGE_NAMES = {"english": "en", "korean": "ko", "japanese": "ja", "chinese": "zh",
                  "spanish": "es", "french": "fr", "german": "de"}  # fmt: skip


def language_code(value: str) -> str:
    """``"English"`` (what the SPA sends), ``"en"`` or ``"EN"`` -> ``"en"``."""
    cleaned = value.strip().lower()
    code = LANGUAGE_NAMES.get(cleaned, cleaned)
    if reference.language_by_code(code) is None:
        raise RuleViolation("unknown test language", code="UNKNOWN_LANGUAGE")
    return code


class TestStarted(TypedDict):
    test_id: int


def start_test(bus: CommandBus, ctx: CommandContext, *, user_id: str, language: str, mode: Mode,
               self_reported_level: str = "") -> Outcome[TestStarted]:  # fmt: skip
    def decide(uow: UnitOfWork) -> TestStarted:
        # A clash with an existing id is a version conflict; the bus retries with another.
        test_id = secrets.randbelow(TEST_ID_LIMIT - 1) + 1
        test = uow.create(LevelTest, level_test_key(test_id))
        test.start(uow.cause, test_id=test_id, user_id=user_id, language=language_code(language),
                   mode=mode, self_reported_level=self_reported_level)  # fmt: skip
        return {"test_id": test_id}

    return bus.run("leveltest.StartTest", ctx, decide)


def record_answer(bus: CommandBus, ctx: CommandContext, *, user_id: str, test_id: int,
                  question_id: int | None, recording: str, media_type: str, duration: float,
                  size: int) -> Outcome:  # fmt: skip
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        test = _test(uow, test_id)
        test.require_owner(user_id)
        question = question_id or test.next_question()
        test.record_answer(uow.cause, user_id, question_id=question, recording=recording,
                           media_type=media_type, duration=duration, size=size)  # fmt: skip
        return {"test_id": test_id, "question_id": question}

    return bus.run("leveltest.RecordAnswer", ctx, decide)


def record_transcript(bus: CommandBus, ctx: CommandContext, test_id: int, **fields: Any) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        return {"recorded": _test(uow, test_id).record_transcript(uow.cause, **fields)}

    return bus.run("leveltest.RecordTranscript", ctx, decide)


def request_analysis(
    bus: CommandBus, ctx: CommandContext, *, user_id: str, test_id: int
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        _test(uow, test_id).request_analysis(uow.cause, user_id)
        return {"test_id": test_id}

    return bus.run("leveltest.RequestAnalysis", ctx, decide)


def record_assessment(
    bus: CommandBus, ctx: CommandContext, test_id: int, result: dict[str, Any]
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        return {"recorded": _test(uow, test_id).assess(uow.cause, result)}

    return bus.run("leveltest.RecordAssessment", ctx, decide)


def fail_test(
    bus: CommandBus, ctx: CommandContext, test_id: int, reason: str,
    code: str = "LEVEL_TEST_FAILED",
) -> Outcome:  # fmt: skip
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        _test(uow, test_id).fail(uow.cause, reason, code)
        return {"test_id": test_id}

    return bus.run("leveltest.FailTest", ctx, decide)


def cancel_test(bus: CommandBus, ctx: CommandContext, *, user_id: str, test_id: int) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        _test(uow, test_id).cancel(uow.cause, user_id)
        return {"test_id": test_id}

    return bus.run("leveltest.CancelTest", ctx, decide)


def _test(uow: UnitOfWork, test_id: int) -> LevelTest:
    if not 1 <= test_id < TEST_ID_LIMIT:
        raise RuleViolation("no such level test", code="LEVEL_TEST_NOT_FOUND")
    return uow.load(LevelTest, level_test_key(test_id))
