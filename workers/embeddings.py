"""The profile-embedding job: profile document -> MiniLM vector -> ``ProfileEmbedded``.

Sent by the ``matching.embedder`` policy whenever a profile's bio, interests or goals change.
It reads the profile from the event store (the source of truth, not a read model that may
lag), so a job that runs late embeds the latest text; the aggregate drops results that are
stale or repeat the text it already has, so duplicates and reordering are harmless.
"""

from __future__ import annotations

import logging
from uuid import UUID

from commands.base import CommandContext
from commands.matching import record_profile_embedding
from domain.identity import Account
from domain.profile_embeddings import (
    ProfileEmbedding,
    document_digest,
    embedding_id,
    pack_vector,
    profile_document,
)
from domain.profiles import Profile, profile_id
from infra.jobs import EMBED_PROFILE
from workers import sentence_encoder
from workers.jobs import job
from workers.services import WorkerServices

log = logging.getLogger(__name__)


@job(EMBED_PROFILE, max_retries=3)
def embed_profile(runtime: WorkerServices, user_id: str) -> None:
    if not sentence_encoder.available():
        log.warning("profile embeddings are off: the embeddings extra/model is not installed")
        return
    account = runtime.store.load(Account, UUID(user_id))
    profile = runtime.store.load(Profile, profile_id(user_id))
    if account is None or not account.active or profile is None:
        return  # deleted or deactivated: nothing of theirs is ranked any more
    document = profile_document(profile.items)
    if not document:
        return
    model = sentence_encoder.MODEL_NAME
    digest = document_digest(model, document)
    known = runtime.store.load(ProfileEmbedding, embedding_id(user_id))
    if known is not None and known.digest == digest:
        return  # a burst of changes: an earlier run already embedded this text
    vector = sentence_encoder.shared_encoder().encode([document])[0]
    record_profile_embedding(
        runtime.bus,
        CommandContext(actor_id="worker.embeddings"),
        user_id=user_id,
        profile_version=profile.version,
        model=model,
        digest=digest,
        vector=pack_vector(vector.tolist()),
    )
