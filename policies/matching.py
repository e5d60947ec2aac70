"""Reactions of the matching context (kinds and guarantees: ``policies.base``)."""

from __future__ import annotations

from domain.profile_embeddings import changes_document
from domain.profiles import InterestsChosen, SelfBioSet
from infra.jobs import EMBED_PROFILE
from policies.base import JobDispatcher, PolicyContext

embedder = JobDispatcher("matching.embedder")
"""Sends the embedding job when what the vector is made of (bio, interests, goals) changes."""


@embedder.when(SelfBioSet, InterestsChosen)
def _embed(event: SelfBioSet | InterestsChosen, policy: PolicyContext) -> None:
    if not changes_document(event):
        return
    if policy.jobs is None:
        raise RuntimeError("the embedder policy needs a job queue")
    policy.jobs.send(EMBED_PROFILE, event.user_id, event.version)
