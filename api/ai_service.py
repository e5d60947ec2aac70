"""The AI service routes of the seed architecture: transcribe a recording, evaluate
transcripts on the CEFR scale, give feedback on a conversation message.

Unlike the original (whose AI routes were open to anyone, domain.md "Rate limiting"), each
needs a signed-in user, counts against a per-user rate limit and has size limits. The work
runs on the workers (``workers/ai_service.py``): the route checks the input, hands it over
and waits up to ``AI_WAIT_SECONDS``; no worker in time is a 503 with ``Retry-After``.
Nothing here changes state, so no event is appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import AiLimitDep, BlobsDep, CallerDep, JobsDep, SettingsDep
from api.envelope import ok
from api.errors import ApiError
from api.openapi import error_responses
from api.uploads import read_recording
from commands.level_tests import language_code
from infra.jobs import (
    AI_CONVERSATION_FEEDBACK,
    AI_EVALUATE,
    AI_TRANSCRIBE,
    JobFailed,
    JobQueue,
    JobTimeout,
)
from infra.media.audio import WAV_MEDIA_TYPE
from infra.ratelimit import RateLimit, TooManyAttempts

# 503: no AI worker answered in time.
router = APIRouter(prefix="/api/v1/leveltest", tags=["ai"], responses=error_responses(503))
MAX_TRANSCRIPT = 5_000
MAX_SECONDS = 5 * 60
"""Transcription here is for short clips; a whole level-test answer goes through a test."""


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    question_id: int | None = Field(default=None, alias="questionId")
    question: str = Field(default="", max_length=500)
    transcript: str = Field(min_length=1, max_length=MAX_TRANSCRIPT)


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    language: str = Field(default="en", max_length=20, alias="languageCode")
    responses: list[Response] = Field(min_length=1, max_length=4)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    transcript: str = Field(min_length=1, max_length=MAX_TRANSCRIPT)
    language: str = Field(default="en", max_length=20, alias="languageCode")


@dataclass(frozen=True)
class AiWorkers:
    """The AI workers as a route calls them: under the caller's rate limit, waiting at
    most ``wait_seconds`` (``AI_WAIT_SECONDS``)."""

    jobs: JobQueue
    limit: RateLimit
    wait_seconds: float

    def call(self, user_id: str, name: str, *args: Any) -> Any:
        try:
            self.limit.hit(user_id)
        except TooManyAttempts as exc:
            raise ApiError(429, "too many AI requests", "TOO_MANY_REQUESTS",
                           headers={"Retry-After": str(exc.retry_after)}) from None  # fmt: skip
        try:
            return self.jobs.call(name, *args, timeout=self.wait_seconds)
        except JobTimeout:
            raise ApiError(503, "the AI workers are busy; try again shortly", "AI_BUSY",
                           headers={"Retry-After": "10"}) from None  # fmt: skip
        except JobFailed:
            raise ApiError(503, "the AI workers could not answer", "AI_UNAVAILABLE") from None


def ai_workers(jobs: JobsDep, limit: AiLimitDep, settings: SettingsDep) -> AiWorkers:
    return AiWorkers(jobs, limit, settings.ai_wait_seconds)


AiWorkersDep = Annotated[AiWorkers, Depends(ai_workers)]


@router.post("/voice/transcribe")
async def transcribe(
    caller: CallerDep, ai: AiWorkersDep, blobs: BlobsDep, settings: SettingsDep,
    audio: Annotated[UploadFile, File()],
    language: Annotated[str, Form(max_length=20)] = "en",
    initial_prompt: Annotated[str | None, Form(alias="initialPrompt", max_length=500)] = None,
) -> dict[str, Any]:  # fmt: skip
    """Text with word timings for a recording (checked like a level-test answer, at most
    five minutes)."""
    code = language_code(language)
    recording = await read_recording(audio, settings.recording_max_bytes, max_seconds=MAX_SECONDS)
    key = f"transient/transcribe/{uuid4().hex}.wav"
    await run_in_threadpool(blobs.put, key, recording.wav, WAV_MEDIA_TYPE)
    result = await run_in_threadpool(
        ai.call, caller.user_id, AI_TRANSCRIBE, key, code, initial_prompt
    )
    return ok({
        "userId": caller.user_id,
        "mimeType": recording.uploaded_type,
        "transcription": result["text"],
        "language": result["language"],
        "duration": result["duration"],
        "wordCount": len(result["words"]),
        "words": result["words"],
        "model": result["model"],
    })  # fmt: skip


@router.post("/evaluate")
def evaluate(body: Evaluation, caller: CallerDep, ai: AiWorkersDep) -> dict[str, Any]:
    """The CEFR result for one or more transcribed answers (text only: fluency and
    pronunciation then follow the overall level, as nothing timed them)."""
    rows = [[r.question, r.transcript, []] for r in body.responses]
    result = ai.call(caller.user_id, AI_EVALUATE, language_code(body.language), rows)
    return ok({
        "scores": result["scores"],
        "overallLevel": result["level"],
        "level": result["level"],
        "overallScore": result["overall"],
        "strengths": result["strengths"],
        "improvements": result["improvements"],
        "feedback": result["feedback"],
        "feedbackSource": result["feedback_source"],
        "confidence": result["confidence"],
        "scorerVersion": result["scorer_version"],
    })  # fmt: skip


@router.post("/feedback/realtime")
def realtime_feedback(body: Message, caller: CallerDep, ai: AiWorkersDep) -> dict[str, Any]:
    """Corrections and suggestions for one conversation message."""
    result = ai.call(caller.user_id, AI_CONVERSATION_FEEDBACK, body.transcript,
                     language_code(body.language))  # fmt: skip
    return ok(result)
