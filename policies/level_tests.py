"""Reactions of the level tests context (kinds and guarantees: ``policies.base``)."""

from __future__ import annotations

from commands.notifications import notify
from commands.profiles import RecordAssessedLevel, record_assessed_level
from domain import reference
from domain.level_tests import (
    AnalysisRequested,
    AnswerRecorded,
    AnswerTranscribed,
    LevelAssessed,
    LevelTest,
    level_test_key,
)
from infra.jobs import ASSESS_TEST, TRANSCRIBE_ANSWER
from policies.base import CommandPolicy, JobDispatcher, PolicyContext

pipeline = JobDispatcher("leveltest.pipeline")
"""Recorded answer -> transcription job; transcribed and requested -> assessment job."""


@pipeline.when(AnswerRecorded)
def _transcribe(event: AnswerRecorded, policy: PolicyContext) -> None:
    if policy.jobs is None:
        raise RuntimeError("the level-test pipeline needs the job queue")
    policy.jobs.send(TRANSCRIBE_ANSWER, event.test_id, event.question_id, event.recording)


@pipeline.when(AnswerTranscribed, AnalysisRequested)
def _assess(event: AnswerTranscribed | AnalysisRequested, policy: PolicyContext) -> None:
    if policy.jobs is None:
        raise RuntimeError("the level-test pipeline needs the job queue")
    test = policy.bus.store.load(LevelTest, level_test_key(event.test_id))
    if test is not None and test.status == "analyzing" and test.transcribed:
        policy.jobs.send(ASSESS_TEST, event.test_id)


results = CommandPolicy("leveltest.results")
"""An assessment becomes the learner's assessed level and a notification."""


@results.when(LevelAssessed)
def _assessed(event: LevelAssessed, policy: PolicyContext) -> None:
    language = reference.language_by_code(event.language)
    if language is not None:
        record_assessed_level(policy.bus, policy.ctx, RecordAssessedLevel(
            user_id=event.user_id, language_id=language.id, level=event.level,
            test_id=event.test_id))  # fmt: skip
    notify(policy.bus, policy.ctx, event, recipient_id=event.user_id, kind="level_test_result",
           category="LEVEL_TEST", click_url="/level-test/result",
           data={"testId": event.test_id, "level": event.level})  # fmt: skip
