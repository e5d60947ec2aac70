"""Profile embeddings without I/O: the document, the vector codec, and which results count."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain import reference
from domain.aggregate import Cause
from domain.compatibility import explain_factors, semantic_similarity
from domain.profile_embeddings import (
    ProfileEmbedded,
    ProfileEmbedding,
    changed_since,
    changes_document,
    document_digest,
    embedding_id,
    pack_vector,
    profile_document,
    unpack_vector,
)
from domain.profiles import Profile, profile_id

USER = "00000000-0000-0000-0000-0000000000aa"
CAUSE = Cause(occurred_at=datetime(2026, 11, 26, tzinfo=UTC), correlation_id=uuid4())


def test_document_is_the_bio_then_labelled_interests_and_goals() -> None:
    items = {
        "bio": "  I cook every weekend. ",
        "topics": [1, 3],
        "motivations": [4],
        "learningExpectations": [2],
        "learningStyles": [1],  # not part of what a profile *says*
        "englishName": "Mina",
    }
    assert profile_document(items) == (
        "I cook every weekend.\n"
        "Interests: Travel, Food.\n"
        "Goals: Travel and cultural exchange.\n"
        "Hopes for a partner: The confidence to speak up in conversation."
    )


def test_document_skips_unknown_ids_and_is_empty_without_content() -> None:
    assert profile_document({"topics": [999_999]}) == ""
    assert profile_document({}) == ""


def test_digest_changes_with_the_text_and_with_the_model() -> None:
    assert document_digest("m", "a") == document_digest("m", "a")
    assert document_digest("m", "a") != document_digest("m", "b")
    assert document_digest("m", "a") != document_digest("n", "a")


def test_vector_codec_round_trips_float32() -> None:
    components = [0.5, -0.25, 1e-3, 0.0]
    packed = pack_vector(components)
    assert list(unpack_vector(base64.b64decode(packed))) == pytest.approx(components, rel=1e-6)
    assert len(base64.b64decode(packed)) == 16  # four little-endian float32


def _record(embedding: ProfileEmbedding, version: int, digest: str) -> bool:
    return embedding.record(
        CAUSE, user_id=USER, profile_version=version, model="m", digest=digest, vector="AAAA"
    )


def test_only_news_is_recorded_stale_and_repeated_results_are_dropped() -> None:
    embedding = ProfileEmbedding(embedding_id(USER))
    assert _record(embedding, 5, "d1")
    assert not _record(embedding, 5, "d1")  # the same job delivered twice
    assert not _record(embedding, 4, "d0")  # an older profile's result arriving late
    assert not _record(embedding, 6, "d1")  # newer profile, same text: same vector
    assert _record(embedding, 7, "d2")
    events = embedding.collect()
    assert [type(e) for e in events] == [ProfileEmbedded, ProfileEmbedded]
    assert [e.profile_version for e in events] == [5, 7]  # type: ignore[attr-defined]


def test_an_embedding_belongs_to_its_own_user() -> None:
    with pytest.raises(ValueError, match="another user"):
        _record(ProfileEmbedding(embedding_id("someone-else")), 1, "d")


def test_semantic_similarity_is_the_clipped_cosine_in_percent() -> None:
    # cos((1,0),(0.6,0.8)) = 0.6 -> 60.0; opposite vectors clip to 0; half-up rounding.
    assert semantic_similarity([1.0, 0.0], [0.6, 0.8]) == 60.0
    assert semantic_similarity([1.0, 0.0], [-1.0, 0.0]) == 0.0
    assert semantic_similarity([1.0, 0.0], [0.12345, 0.99235]) == pytest.approx(12.3, abs=0.05)
    assert semantic_similarity(None, [1.0]) is None
    with pytest.raises(ValueError, match="lengths differ"):
        semantic_similarity([1.0], [1.0, 0.0])


def test_factor_explanations_say_what_each_number_means() -> None:
    scores = {"levelCompatibility": 80.0, "scheduleCompatibility": 25.0, "semanticSimilarity": None}
    notes = explain_factors(scores, "en")
    assert notes["levelCompatibility"].endswith("differ by 1.0 steps on average.")
    assert "25.0% of your weekly availability overlaps" in notes["scheduleCompatibility"]
    assert "left out" in notes["semanticSimilarity"]
    korean = explain_factors({**scores, "semanticSimilarity": 71.5}, "ko")
    assert "71.5점" in korean["semanticSimilarity"]
    assert explain_factors({"levelCompatibility": 50.0}, "en")["levelCompatibility"] == (
        "No CEFR levels to compare yet."
    )


def test_only_a_later_change_of_the_document_makes_a_job_redundant() -> None:
    profile = Profile(profile_id(USER))
    profile.set_bio(CAUSE, "first")
    styles = [reference.options("learning_styles")[0].id]
    profile.choose_interests(CAUSE, "learning_styles", styles)
    history = profile.collect()
    assert [changes_document(e) for e in history] == [True, False]
    assert not changed_since(history, 1)  # learning styles are not in the document
    profile.set_bio(CAUSE, "second")
    history += profile.collect()
    assert changed_since(history, 1) and not changed_since(history, 3)
