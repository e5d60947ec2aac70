"""Profile embeddings: the sentence vector of what a learner wrote and chose about themselves.

Part of matching (the advanced ranking's semantic similarity). One aggregate per user keeps
the latest vector; a worker computes it off the request path whenever the profile's
*document* (bio, interests, goals) may have changed. Results can arrive late, twice, or out
of order (retries, redelivered jobs, two workers), so the aggregate keeps only news: a
vector computed from an older profile version than the one it holds, or from the same text
with the same model, records nothing.

The vector derives from the bio, so it is personal data: it is stored encrypted under the
user's key and disappears with it when the account is deleted.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid5

from pydantic import Field

from domain import reference
from domain.aggregate import Aggregate, Cause, applies
from domain.events import DomainEvent, Personal
from domain.profiles import InterestsChosen, SelfBioSet

EMBEDDING_NAMESPACE = UUID("4f0c2a9e-5d1b-4c7e-8a36-2b9d7e1f6c40")
VECTOR_B64_MAX = 4096
"""Room for 384 (or up to 768) float32 components, base64-encoded."""

DOCUMENT_SOURCES: tuple[tuple[str, reference.OptionCatalog, str], ...] = (
    ("topics", "topics", "Interests"),
    ("motivations", "motivations", "Goals"),
    ("learningExpectations", "learning_expectations", "Hopes for a partner"),
)
"""The profile items the document is made of after the bio: (item, catalogue, heading)."""


def changes_document(event: DomainEvent) -> bool:
    """Whether this profile event changes what the vector is made of (the bio, interests
    and goals; learning styles are not in the document)."""
    if isinstance(event, InterestsChosen):
        return event.kind != "learning_styles"
    return isinstance(event, SelfBioSet)


def changed_since(history: Sequence[DomainEvent], version: int) -> bool:
    """Whether the document changed after profile ``version``: then the job sent for that
    later change will embed the newer text, and a job for ``version`` has nothing to add.
    ``history`` is in version order; it is read from its end, where the answer is."""
    for event in reversed(history):
        if event.version <= version:
            return False
        if changes_document(event):
            return True
    return False


def embedding_id(user_id: str) -> UUID:
    return uuid5(EMBEDDING_NAMESPACE, user_id)


def profile_document(items: Mapping[str, Any]) -> str:
    """The text the vector is computed from: the bio and the English labels of the learner's
    interests and goals, one line each (labels, not ids, so the model reads meaning).

    Empty when the learner has written and chosen nothing yet.
    """
    lines = []
    bio = str(items.get("bio") or "").strip()
    if bio:
        lines.append(bio)
    for item, catalogue, heading in DOCUMENT_SOURCES:
        found = (reference.entry(catalogue, i) for i in items.get(item, []))
        labels = [reference.label(entry, "en") for entry in found if entry is not None]
        if labels:
            lines.append(f"{heading}: {', '.join(labels)}.")
    return "\n".join(lines)


def document_digest(model: str, document: str) -> str:
    """Identifies a (model, text) pair without keeping the text: equal digests mean an equal
    vector, so recomputing it is pointless."""
    return hashlib.sha256(f"{model}\n{document}".encode()).hexdigest()[:32]


def pack_vector(components: Sequence[float]) -> str:
    """Little-endian float32, base64 (compact and exact enough for cosine similarity)."""
    packed = array("f", components)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def unpack_vector(raw: bytes) -> array[float]:
    """The components from :func:`pack_vector`'s bytes (after base64 decoding)."""
    components = array("f")
    components.frombytes(raw)
    if sys.byteorder == "big":
        components.byteswap()
    return components


class ProfileEmbedded(DomainEvent):
    """A learner's profile document was embedded; the vector replaces any earlier one."""

    topic = "matching.ProfileEmbedded"
    personal_subject = "user_id"

    user_id: str = Field(max_length=36)
    profile_version: int = Field(ge=1)
    model: str = Field(max_length=100)
    digest: str = Field(max_length=64)
    vector: Personal = Field(max_length=VECTOR_B64_MAX)
    """Little-endian float32 components, base64; ``[erased]`` once the key is destroyed."""


class ProfileEmbedding(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.profile_version = 0
        self.digest: str | None = None

    def record(
        self,
        cause: Cause,
        *,
        user_id: str,
        profile_version: int,
        model: str,
        digest: str,
        vector: str,
    ) -> bool:
        """Keep the vector unless it is stale or a repeat; True when an event was recorded."""
        if embedding_id(user_id) != self.id:
            raise ValueError("embedding recorded on another user's aggregate")
        if profile_version <= self.profile_version or digest == self.digest:
            return False
        self._record(
            ProfileEmbedded,
            cause,
            user_id=user_id,
            profile_version=profile_version,
            model=model,
            digest=digest,
            vector=vector,
        )
        return True

    @applies(ProfileEmbedded)
    def _embedded(self, e: ProfileEmbedded) -> None:
        self.profile_version = e.profile_version
        self.digest = e.digest
