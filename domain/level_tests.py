"""The speaking level test: a learner answers spoken prompts, workers transcribe and rate
the answers, and the CEFR result comes back as an event.

``LevelTest`` keeps the prompts, each prompt's current recording and transcript, and the
outcome. Re-recording an answer replaces it: a transcript of the replaced recording that
arrives late is ignored (it names the recording it came from), so jobs may run late, twice
or out of order without mixing answers. Analysis is requested once the learner is done;
the assessment is accepted only while it is pending and only for the current transcripts.

Test ids are numbers (the SPA calls ``Number(testId)``), random below 2^52 so that they
stay exact in JavaScript and cannot be enumerated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict, NotFound, RuleViolation
from domain.events import DomainEvent, Personal

LEVEL_TEST_NAMESPACE = UUID("8a3c5e71-2b9d-4f60-a1e4-7c2d9b3f5a18")
TEST_ID_LIMIT = 2**52
CEFR_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
SUBSCORES = ("pronunciation", "fluency", "grammar", "vocabulary", "coherence", "interaction")
Mode = Literal["voice", "standard"]
Status = Literal["in_progress", "analyzing", "completed", "failed", "cancelled"]


class Question(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int = Field(ge=1)
    prompt: str = Field(max_length=300)
    seconds: int = Field(ge=10, le=600)
    band: str = Field(max_length=10)


QUESTIONS = (
    Question(id=1, seconds=60, band="A1-A2",
             prompt="Introduce yourself. Tell me about your name, where you're from, and what "
                    "you do."),
    Question(id=2, seconds=90, band="A2-B1",
             prompt="Describe your typical day. What do you usually do from morning to evening?"),
    Question(id=3, seconds=120, band="B1-B2",
             prompt="Talk about a memorable experience you had recently. What happened and how "
                    "did you feel?"),
    Question(id=4, seconds=180, band="B2-C1",
             prompt="What are your thoughts on technology's impact on education? Discuss both "
                    "positive and negative aspects."),
)  # fmt: skip
"""The four graded prompts of the multi-question test (domain.md 1.12)."""


def voice_question(self_reported: str) -> Question:
    """The voice test's single prompt, pitched at the level the learner says they have."""
    index = {"beginner": 0, "elementary": 1, "intermediate": 2, "advanced": 3}.get(
        self_reported.strip().lower(), 2
    )
    return QUESTIONS[index].model_copy(update={"id": 1, "seconds": 180})


def level_test_key(test_id: int) -> UUID:
    return uuid5(LEVEL_TEST_NAMESPACE, f"level-test-{test_id}")


class LevelTestStarted(DomainEvent):
    topic = "leveltest.LevelTestStarted"

    test_id: int = Field(ge=1, lt=TEST_ID_LIMIT)
    user_id: str = Field(max_length=36)
    language: str = Field(max_length=5)
    mode: Mode
    questions: list[Question] = Field(min_length=1, max_length=4)
    self_reported_level: str = Field(default="", max_length=30)


class AnswerRecorded(DomainEvent):
    """A recording of one answer was stored (it replaces an earlier one)."""

    topic = "leveltest.AnswerRecorded"

    test_id: int = Field(ge=1, lt=TEST_ID_LIMIT)
    question_id: int = Field(ge=1)
    recording: str = Field(max_length=200)
    """The blob key; also how a transcript names the recording it belongs to."""
    media_type: str = Field(max_length=100)
    duration_seconds: float = Field(ge=0)
    size_bytes: int = Field(ge=1)


class AnswerTranscribed(DomainEvent):
    topic = "leveltest.AnswerTranscribed"
    personal_subject = "user_id"

    test_id: int = Field(ge=1, lt=TEST_ID_LIMIT)
    user_id: str = Field(max_length=36)
    question_id: int = Field(ge=1)
    recording: str = Field(max_length=200)
    text: Personal = Field(max_length=40_000)
    words: Personal = Field(max_length=400_000)
    """JSON list of ``[word, start, end, probability]``: timings for fluency measures."""
    language: str = Field(max_length=5)
    duration_seconds: float = Field(ge=0)
    model: str = Field(max_length=100)
    model_version: str = Field(max_length=100)


class AnalysisRequested(DomainEvent):
    topic = "leveltest.AnalysisRequested"

    test_id: int = Field(ge=1, lt=TEST_ID_LIMIT)


class LevelAssessed(DomainEvent):
    """The CEFR result: level, overall 0-100, the six sub-scores, what went well and what to
    work on, feedback, confidence, and which scorer and models produced it."""

    topic = "leveltest.LevelAssessed"
    personal_subject = "user_id"

    test_id: int = Field(ge=1, lt=TEST_ID_LIMIT)
    user_id: str = Field(max_length=36)
    language: str = Field(max_length=5)
    level: str = Field(pattern="^(A1|A2|B1|B2|C1|C2)$")
    overall: int = Field(ge=0, le=100)
    scores: dict[str, int] = Field(max_length=6)
    strengths: list[str] = Field(max_length=6)
    improvements: list[str] = Field(max_length=6)
    feedback: Personal = Field(max_length=4_000)
    feedback_source: str = Field(default="measured", pattern="^(measured|llm)$")
    """``llm`` when a language model's wording (checked against the facts) was added."""
    confidence: int = Field(ge=0, le=100)
    features: dict[str, float] = Field(max_length=30)
    scorer_version: str = Field(max_length=60)
    model_versions: dict[str, str] = Field(max_length=5)


class LevelTestFailed(DomainEvent):
    topic = "leveltest.LevelTestFailed"

    test_id: int = Field(ge=1, lt=TEST_ID_LIMIT)
    reason: str = Field(max_length=300)
    code: str = Field(default="LEVEL_TEST_FAILED", pattern="^[A-Z_]{1,40}$")
    """What the API answers with, so the SPA can tell a recording without speech
    (``LEVEL_TEST_NO_SPEECH``) from a test that could not be processed."""


class LevelTestCancelled(DomainEvent):
    topic = "leveltest.LevelTestCancelled"

    test_id: int = Field(ge=1, lt=TEST_ID_LIMIT)


class Answer(BaseModel):
    recording: str
    transcript: str | None = None
    words: str | None = None
    transcribed_recording: str | None = None


class LevelTest(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.test_id = 0
        self.user_id = ""
        self.language = "en"
        self.status: Status = "in_progress"
        self.questions: dict[int, Question] = {}
        self.answers: dict[int, Answer] = {}
        self.started_at: datetime | None = None

    @property
    def transcribed(self) -> bool:
        """Every recorded answer has the transcript of its current recording."""
        return bool(self.answers) and all(
            a.transcribed_recording == a.recording for a in self.answers.values()
        )

    def start(self, cause: Cause, *, test_id: int, user_id: str, language: str, mode: Mode,
              self_reported_level: str = "") -> None:  # fmt: skip
        if self.version:
            raise Conflict("the test exists already", code="LEVEL_TEST_EXISTS")
        questions = [voice_question(self_reported_level)] if mode == "voice" else list(QUESTIONS)
        self._record(LevelTestStarted, cause, test_id=test_id, user_id=user_id, language=language,
                     mode=mode, questions=questions,
                     self_reported_level=self_reported_level[:30])  # fmt: skip

    def next_question(self) -> int:
        """The first prompt without an answer (the voice upload names none), else the last."""
        return next((q for q in self.questions if q not in self.answers), max(self.questions))

    def record_answer(self, cause: Cause, user_id: str, *, question_id: int, recording: str,
                      media_type: str, duration: float, size: int) -> None:  # fmt: skip
        self.require_owner(user_id)
        self._require("in_progress")
        if question_id not in self.questions:
            raise RuleViolation("no such question in this test", code="LEVEL_TEST_QUESTION")
        self._record(AnswerRecorded, cause, test_id=self.test_id, question_id=question_id,
                     recording=recording, media_type=media_type[:100],
                     duration_seconds=round(duration, 2), size_bytes=size)  # fmt: skip

    def record_transcript(self, cause: Cause, *, question_id: int, recording: str, text: str,
                          words: str, language: str, duration: float, model: str,
                          model_version: str) -> bool:  # fmt: skip
        """False (nothing recorded) for a replaced recording or a repeated job."""
        answer = self.answers.get(question_id)
        if answer is None or answer.recording != recording:
            return False
        if answer.transcribed_recording == recording or self.status in ("completed", "cancelled"):
            return False
        self._record(AnswerTranscribed, cause, test_id=self.test_id, user_id=self.user_id,
                     question_id=question_id, recording=recording, text=text, words=words,
                     language=language, duration_seconds=round(duration, 2), model=model,
                     model_version=model_version)  # fmt: skip
        return True

    def request_analysis(self, cause: Cause, user_id: str) -> None:
        """Idempotent while analysing or done: the SPA may call ``analyze`` again."""
        self.require_owner(user_id)
        if self.status in ("analyzing", "completed"):
            return
        self._require("in_progress")
        if not self.answers:
            raise RuleViolation("record an answer first", code="LEVEL_TEST_NO_ANSWERS")
        self._record(AnalysisRequested, cause, test_id=self.test_id)

    def assess(self, cause: Cause, result: dict[str, object]) -> bool:
        """Keep the assessment if one is pending and every answer is transcribed."""
        if self.status != "analyzing" or not self.transcribed:
            return False
        self._record(LevelAssessed, cause, test_id=self.test_id, user_id=self.user_id,
                     language=self.language, **result)  # fmt: skip
        return True

    def fail(self, cause: Cause, reason: str, code: str = "LEVEL_TEST_FAILED") -> None:
        if self.status in ("in_progress", "analyzing"):
            self._record(LevelTestFailed, cause, test_id=self.test_id, reason=reason[:300],
                         code=code)  # fmt: skip

    def cancel(self, cause: Cause, user_id: str) -> None:
        self.require_owner(user_id)
        if self.status == "cancelled":
            return
        self._require("in_progress", "analyzing", "failed")
        self._record(LevelTestCancelled, cause, test_id=self.test_id)

    def require_owner(self, user_id: str) -> None:
        """Someone else's test reads as missing."""
        if not self.version or user_id != self.user_id:
            raise NotFound("no such level test", code="LEVEL_TEST_NOT_FOUND")

    def _require(self, *allowed: Status) -> None:
        if self.status not in allowed:
            raise Conflict(f"the test is {self.status}", code="LEVEL_TEST_STATE")

    @applies(LevelTestStarted)
    def _started(self, e: LevelTestStarted) -> None:
        self.test_id, self.user_id, self.language = e.test_id, e.user_id, e.language
        self.questions = {q.id: q for q in e.questions}
        self.started_at = e.meta.occurred_at

    @applies(AnswerRecorded)
    def _answered(self, e: AnswerRecorded) -> None:
        self.answers[e.question_id] = Answer(recording=e.recording)

    @applies(AnswerTranscribed)
    def _transcribed(self, e: AnswerTranscribed) -> None:
        answer = self.answers[e.question_id]
        answer.transcript, answer.words, answer.transcribed_recording = e.text, e.words, e.recording

    @applies(AnalysisRequested)
    def _requested(self, e: AnalysisRequested) -> None:
        self.status = "analyzing"

    @applies(LevelAssessed)
    def _assessed(self, e: LevelAssessed) -> None:
        self.status = "completed"

    @applies(LevelTestFailed)
    def _failed(self, e: LevelTestFailed) -> None:
        self.status = "failed"

    @applies(LevelTestCancelled)
    def _cancelled(self, e: LevelTestCancelled) -> None:
        self.status = "cancelled"
