"""The profile-embedding job: profile document -> MiniLM vector -> ``ProfileEmbedded``.

Sent by the ``matching.embedder`` policy whenever a profile's bio, interests or goals change,
with the profile version of that change, and held back a few seconds
(``EMBEDDING_DELAY_SECONDS``). It reads the profile from the event store (the source of
truth, not a read model that may lag). Encoding is the costly part (tens of ms of CPU), so
a burst of edits is embedded once, at its end: a job whose change was followed by another
change of the document does nothing, since the later change's own job embeds the newer
text. The aggregate drops results that are stale or repeat the text it already has, so
duplicates and reordering are harmless.
"""

from __future__ import annotations

import logging
from uuid import UUID

from commands.base import CommandContext
from commands.matching import RecordProfileEmbedding, record_profile_embedding
from domain.identity import Account
from domain.profile_embeddings import (
    ProfileEmbedding,
    changed_since,
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
def embed_profile(runtime: WorkerServices, user_id: str, changed_at: int | None = None) -> None:
    """Embed the user's current profile document; ``changed_at`` is the profile version
    whose change sent this job (``None``: embed whatever is there, as a resend does)."""
    if not sentence_encoder.available():
        log.warning("profile embeddings are off: the embeddings extra/model is not installed")
        return
    # In a burst of edits most jobs stop here. The later events come from the decoded
    # history the process keeps for loads (in the embedded server the edit's own command
    # has just read it; a worker keeps it after its first job for the profile), so a job
    # decodes only what was appended since: reading every later row afresh made each job's
    # cost grow with the queue's lag, a fifth of a busy server's time.
    if changed_at is not None:
        later = runtime.store.events(profile_id(user_id), after=changed_at)
        if changed_since(later, changed_at):
            return  # not the end of the burst: the later change's job embeds the newer text
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
        RecordProfileEmbedding(
            user_id=user_id,
            profile_version=profile.version,
            model=model,
            digest=digest,
            vector=pack_vector(vector.tolist()),
        ),
    )
