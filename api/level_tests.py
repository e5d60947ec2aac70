"""The speaking level test (contract 4.4): start, upload answers, analyze, result, history.

Recordings are checked here, before anything is stored: empty, undecodable, too short,
too long (10 minutes) or too large (30 MB) gets a clear 4xx and changes nothing. Stored
answers are transcribed and assessed by workers; ``analyze`` waits for the assessment up
to ``LEVEL_TEST_WAIT_SECONDS`` (the SPA expects it to finish there) and otherwise answers
202 "processing", which ``result`` resolves later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.admission import give_back_place
from api.deps import (
    MAX_PAGE,
    BlobsDep,
    CallerDep,
    Int64,
    ReadModelsDep,
    SettingsDep,
    UserContext,
    Writes,
    WritesDep,
)
from api.envelope import ok
from api.errors import ApiError
from api.openapi import error_responses
from api.uploads import read_recording
from commands import level_tests as cmd
from commands.base import CommandContext
from domain.level_practice import suggestions
from domain.level_tests import CEFR_LEVELS, level_test_key
from domain.levels import band, sub_level
from eventflow.readmodels import ReadModels
from infra.blobs import BlobStore
from infra.media.audio import WAV_MEDIA_TYPE
from projections import level_tests as rm

# 413: a recording over 30 MB or 10 minutes.
router = APIRouter(prefix="/api/v1/level-test", tags=["level-test"], responses=error_responses(413))
STILL_RUNNING: dict[int | str, dict[str, Any]] = {
    202: {"description": "The analysis is still running; ask for the result later"}
}


class VoiceStart(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    language: str = Field(default="English", max_length=20, alias="languageCode")
    current_level: str = Field(default="Intermediate", max_length=30, alias="currentLevel")


class StandardStart(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    language: str = Field(default="en", max_length=20, alias="languageCode")


def _test(read_models: ReadModels, test_id: int, user_id: str) -> rm.LevelTestRow:
    row = rm.test_row(read_models, test_id) if 0 < test_id < 2**52 else None
    if row is None or row["user_id"] != user_id:
        raise ApiError(404, "no such level test", "LEVEL_TEST_NOT_FOUND")
    return row


def questions_view(row: rm.LevelTestRow) -> list[dict[str, Any]]:
    return [
        {"id": q["id"], "text": q["prompt"], "questionText": q["prompt"], "duration": q["seconds"]}
        for q in row["questions"]
    ]


def _started(writes: Writes, read_models: ReadModels, outcome: Any, user_id: str) -> dict[str, Any]:
    test_id = outcome.result["test_id"]
    writes.services.wait_applied(rm.level_tests, outcome, level_test_key(test_id))
    row = _test(read_models, test_id, user_id)
    first = row["questions"][0]
    return {
        "testId": test_id,
        "id": test_id,
        "instructions": first["prompt"],
        "estimatedDurationMinutes": max(1, sum(q["seconds"] for q in row["questions"]) // 60),
        "questions": questions_view(row),
        "totalQuestions": len(row["questions"]),
    }


@router.post("/voice/start")
def voice_start(
    body: VoiceStart, caller: CallerDep, ctx: UserContext, writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:  # fmt: skip
    outcome = cmd.start_test(writes.bus, ctx, user_id=caller.user_id, language=body.language,
                             mode="voice", self_reported_level=body.current_level)  # fmt: skip
    return ok(_started(writes, read_models, outcome, caller.user_id))


@router.post("/start")
def standard_start(
    body: StandardStart, caller: CallerDep, ctx: UserContext, writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:  # fmt: skip
    outcome = cmd.start_test(writes.bus, ctx, user_id=caller.user_id, language=body.language,
                             mode="standard")  # fmt: skip
    return ok(_started(writes, read_models, outcome, caller.user_id))


@dataclass(frozen=True)
class Answers:
    """What storing a spoken answer uses: the recording's size limit, the blob store it
    goes to, the test it belongs to (read model) and the command that records it."""

    writes: Writes
    read_models: ReadModels
    blobs: BlobStore
    max_bytes: int


def answers(
    writes: WritesDep, read_models: ReadModelsDep, blobs: BlobsDep, settings: SettingsDep
) -> Answers:
    return Answers(writes, read_models, blobs, settings.recording_max_bytes)


AnswersDep = Annotated[Answers, Depends(answers)]


async def _answer(
    services: Answers, ctx: CommandContext, user_id: str, test_id: int, question_id: int | None,
    audio: UploadFile,
) -> dict[str, Any]:  # fmt: skip
    row = _test(services.read_models, test_id, user_id)
    if row["status"] != "in_progress":
        raise ApiError(409, f"the test is {row['status']}", "LEVEL_TEST_STATE")
    recording = await read_recording(audio, services.max_bytes)
    key = f"level-tests/{test_id}/{uuid4().hex}.wav"
    await run_in_threadpool(services.blobs.put, key, recording.wav, WAV_MEDIA_TYPE)
    duration = recording.seconds
    outcome = await run_in_threadpool(
        lambda: cmd.record_answer(
            services.writes.bus,
            ctx,
            user_id=user_id,
            test_id=test_id,
            question_id=question_id,
            recording=key,
            media_type=WAV_MEDIA_TYPE,
            duration=duration,
            size=len(recording.wav),
        )
    )
    return ok({"testId": test_id, "questionId": outcome.result["question_id"],
               "durationSeconds": round(duration, 2), "status": "recorded"})  # fmt: skip


@router.post("/voice/{test_id}/upload")
async def voice_upload(
    test_id: Int64, caller: CallerDep, ctx: UserContext, services: AnswersDep,
    audio: Annotated[UploadFile, File()],
) -> dict[str, Any]:  # fmt: skip
    return await _answer(services, ctx, caller.user_id, test_id, None, audio)


@router.post("/{test_id}/audio-answer")
async def audio_answer(
    test_id: Int64, caller: CallerDep, ctx: UserContext, services: AnswersDep,
    audio: Annotated[UploadFile, File()], questionId: Annotated[int, Form(ge=1, le=4)],  # noqa: N803
) -> dict[str, Any]:  # fmt: skip
    return await _answer(services, ctx, caller.user_id, test_id, questionId, audio)


def result_view(row: rm.LevelTestRow) -> dict[str, Any]:
    """The normalised result the SPA reads (contract 4.4): the aggregate ``scores`` first,
    since the SPA takes the first occurrence of each score key it finds."""
    result = row["result"] or {}
    completed = row["completed_at"].isoformat() if row["completed_at"] else None
    return {
        "scores": result.get("scores", {}),
        "testId": row["test_id"],
        "id": row["test_id"],
        "status": row["status"],
        "level": row["level"],
        "estimatedLevel": row["level"],
        "cefrLevel": row["level"],
        "overallScore": row["overall"],
        "strengths": result.get("strengths", []),
        "improvements": result.get("improvements", []),
        "feedback": result.get("feedback"),
        "feedbackSummary": result.get("feedback"),
        "feedbackSource": result.get("feedback_source"),
        "confidence": result.get("confidence"),
        "language": row["language"],
        "completedAt": completed,
        "scorerVersion": result.get("scorer_version"),
        "modelVersions": result.get("model_versions"),
    }


def _outcome(row: rm.LevelTestRow) -> dict[str, Any]:
    if row["status"] == "completed":
        return ok(result_view(row))
    if row["status"] == "failed":
        raise ApiError(422, row["failure"] or "the test could not be assessed",
                       row["failure_code"] or "LEVEL_TEST_FAILED")  # fmt: skip
    raise ApiError(404, "the result is not ready yet", "LEVEL_TEST_RESULT_NOT_READY")


@router.post("/voice/{test_id}/analyze", responses=STILL_RUNNING)
def analyze(
    test_id: Int64, caller: CallerDep, ctx: UserContext, writes: WritesDep,
    read_models: ReadModelsDep, settings: SettingsDep,
) -> Any:  # fmt: skip
    _test(read_models, test_id, caller.user_id)
    cmd.request_analysis(writes.bus, ctx, user_id=caller.user_id, test_id=test_id)
    deadline = time.monotonic() + settings.level_test_wait_seconds
    key, seen, finished = level_test_key(test_id), 0, ("completed", "failed")
    give_back_place()  # minutes of waiting for the workers, with no work done here
    while (row := _test(read_models, test_id, caller.user_id))["status"] not in finished:
        if (left := deadline - time.monotonic()) <= 0:
            return JSONResponse(ok({"testId": test_id, "status": "processing"}), status_code=202)
        seen = writes.services.next_applied(rm.level_tests, key, seen, left)  # told, not polled
    return _outcome(row)


@router.post("/{test_id}/complete", responses=STILL_RUNNING)
def complete(
    test_id: Int64, caller: CallerDep, ctx: UserContext, writes: WritesDep,
    read_models: ReadModelsDep, settings: SettingsDep,
) -> Any:  # fmt: skip
    return analyze(test_id, caller, ctx, writes, read_models, settings)


@router.get("/voice/{test_id}/result")
def result(test_id: Int64, caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    return _outcome(_test(read_models, test_id, caller.user_id))


@router.post("/{test_id}/cancel")
def cancel(
    test_id: Int64, caller: CallerDep, ctx: UserContext, writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:  # fmt: skip
    _test(read_models, test_id, caller.user_id)
    outcome = cmd.cancel_test(writes.bus, ctx, user_id=caller.user_id, test_id=test_id)
    writes.services.wait_applied(rm.level_tests, outcome, level_test_key(test_id))
    return ok({"testId": test_id, "status": "cancelled"})


class Restart(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    previous_test_id: int | None = Field(default=None, alias="previousTestId")
    language: str = Field(default="en", max_length=20, alias="targetLanguage")


@router.post("/restart")
def restart(
    body: Restart, caller: CallerDep, ctx: UserContext, writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:  # fmt: skip
    if body.previous_test_id is not None:
        previous = _test(read_models, body.previous_test_id, caller.user_id)
        if previous["status"] in ("in_progress", "analyzing", "failed"):
            cmd.cancel_test(writes.bus, ctx, user_id=caller.user_id, test_id=body.previous_test_id)
    outcome = cmd.start_test(writes.bus, ctx, user_id=caller.user_id, language=body.language,
                             mode="voice")  # fmt: skip
    return ok(_started(writes, read_models, outcome, caller.user_id))


@router.get("/my-tests")
def my_tests(
    caller: CallerDep, read_models: ReadModelsDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    size: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict[str, Any]:  # fmt: skip
    rows, total = rm.tests_of(read_models, caller.user_id, page=page, size=size)
    return ok([result_view(r) for r in rows],
              meta={"page": page, "limit": size, "total": total})  # fmt: skip


@router.get("/summary")
def summary(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    rows, total = rm.tests_of(read_models, caller.user_id, page=1, size=100)
    done = [r for r in rows if r["status"] == "completed"]
    scores = [r["overall"] for r in done if r["overall"] is not None]  # all: LevelAssessed
    latest = done[0]["completed_at"] if done else None
    return ok({
        "totalTests": total,
        "completedTests": len(done),
        "averageScore": round(sum(scores) / len(scores)) if scores else None,
        "latestLevel": done[0]["level"] if done else None,
        "latestCompletedAt": latest.isoformat() if latest else None,
    })  # fmt: skip


def detailed_view(row: rm.LevelTestRow) -> dict[str, Any]:
    """The SPA's "detailed analysis" (contract 4.4) of a completed test: each area with the
    measurements behind its score, a study plan from what was measured, and what the next
    level needs."""
    result = row["result"] or {}
    scores: dict[str, int] = result.get("scores", {})
    f: dict[str, float] = result.get("features", {})
    level, overall = row["level"], row["overall"]
    assert level is not None and overall is not None, "completed: LevelAssessed set both"

    def measured(*names: str) -> dict[str, float | None]:
        return {_camel(n): f.get(n) for n in names}

    weakest = sorted(scores, key=lambda k: scores[k])[:2]
    next_level = CEFR_LEVELS[min(CEFR_LEVELS.index(level) + 1, 5)]
    return {"evaluation": {"comprehensiveData": {
        "overallLevel": level,
        "subLevel": sub_level(level, overall),
        "overallScore": overall,
        "confidenceScore": result.get("confidence"),
        "detailedScores": scores,
        "pronunciationAnalysis": {"score": scores.get("pronunciation"), **measured("clarity")},
        "fluencyAnalysis": {"score": scores.get("fluency"), **measured(
            "speech_rate", "pauses_per_minute", "mean_length_of_run", "mean_pause")},
        "grammarAnalysis": {"score": scores.get("grammar"), **measured(
            "sentence_length", "subordination")},
        "vocabularyAnalysis": {"score": scores.get("vocabulary"), **measured(
            "mattr", "rare_share", "word_length")},
        "coherenceAnalysis": {"score": scores.get("coherence"), **measured("connectives")},
        "studyPlan": [*result.get("improvements", []),
                      *(suggestions(f, row["language"]) if f else [])],
        "nextLevelStrategy": {"targetLevel": next_level, "focusAreas": weakest,
                              "pointsToNextLevel": max(band(level)[1] - overall, 0)},
    }}}  # fmt: skip


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@router.get("/{test_id}/answer/{question_id}/detailed")
def detailed(
    test_id: Int64, question_id: Int64, caller: CallerDep, read_models: ReadModelsDep
) -> dict[str, Any]:
    """The analysis is of the whole test (the SPA always asks for answer 1)."""
    row = _test(read_models, test_id, caller.user_id)
    if not any(q["id"] == question_id for q in row["questions"]):
        raise ApiError(404, "no such question in this test", "QUESTION_NOT_FOUND")
    if row["status"] != "completed":
        _outcome(row)  # the same errors as the result: failed, or not ready yet
    return ok(detailed_view(row))


@router.get("/{test_id}")
def get_test(test_id: Int64, caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    row = _test(read_models, test_id, caller.user_id)
    return ok(result_view(row) | {"questions": questions_view(row), "answered": row["answered"]})
