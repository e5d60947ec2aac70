"""Revoked sign-ins, so logout and account deletion also stop still-valid access tokens.

Access tokens are stateless for 15 minutes; a revocation marker per session (logout, token
reuse) or per user (deletion) lives in Redis exactly that long, and every authenticated
request checks it with one round trip.
"""

from __future__ import annotations

import redis


class Revocations:
    def __init__(self, client: redis.Redis[bytes], ttl_seconds: int) -> None:
        self.client = client
        self.ttl = ttl_seconds

    def revoke_session(self, session_id: str) -> None:
        self.client.set(f"revoked:session:{session_id}", 1, ex=self.ttl)

    def revoke_user(self, user_id: str) -> None:
        self.client.set(f"revoked:user:{user_id}", 1, ex=self.ttl)

    def is_revoked(self, user_id: str, session_id: str) -> bool:
        return bool(self.client.exists(f"revoked:session:{session_id}", f"revoked:user:{user_id}"))
