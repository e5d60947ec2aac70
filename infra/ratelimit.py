"""Login throttling per account and per client IP, on the ``limits`` library.

Failed attempts are counted in a moving window (Redis in the distributed mode, so every API
replica shares the counters; process memory in the embedded mode). A success clears the
account's counter. Keys are hashed: no e-mail address or IP ends up in Redis in clear.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from infra.settings import Settings

PER_ACCOUNT = "5/15minutes"
PER_IP = "30/15minutes"


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; retry after {retry_after} s")
        self.retry_after = retry_after


class LoginThrottle:
    def __init__(self, storage_uri: str, secret: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.secret = secret
        self.per_account: RateLimitItem = parse(PER_ACCOUNT)
        self.per_ip: RateLimitItem = parse(PER_IP)

    @classmethod
    def from_settings(cls, settings: Settings, secret: str) -> LoginThrottle:
        return cls(settings.redis_url or "memory://", secret)

    def _key(self, kind: str, value: str) -> str:
        return hashlib.sha256(f"{self.secret}:{kind}:{value}".encode()).hexdigest()[:32]

    def _checks(self, email: str, ip: str) -> list[tuple[RateLimitItem, str]]:
        return [(self.per_account, self._key("account", email)), (self.per_ip, self._key("ip", ip))]

    def check(self, email: str, ip: str) -> None:
        """Raise ``TooManyAttempts`` when either window is exhausted."""
        for item, key in self._checks(email, ip):
            if not self.limiter.test(item, "login", key):
                reset_at = self.limiter.get_window_stats(item, "login", key).reset_time
                raise TooManyAttempts(max(1, math.ceil(reset_at - time.time())))

    def failed(self, email: str, ip: str) -> None:
        for item, key in self._checks(email, ip):
            self.limiter.hit(item, "login", key)

    def succeeded(self, email: str) -> None:
        self.limiter.clear(self.per_account, "login", self._key("account", email))


class RateLimit:
    """A moving-window limit per client on one kind of request: per IP on the room routes
    (the SPA calls them without a token), per user on the AI service routes."""

    def __init__(self, storage_uri: str, secret: str, rate: str, namespace: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.item: RateLimitItem = parse(rate)
        self.secret, self.namespace = secret, namespace

    def hit(self, client: str) -> None:
        """Count one request; raise ``TooManyAttempts`` once the window is used up."""
        key = hashlib.sha256(f"{self.secret}:{self.namespace}:{client}".encode()).hexdigest()[:32]
        if not self.limiter.hit(self.item, self.namespace, key):
            reset_at = self.limiter.get_window_stats(self.item, self.namespace, key).reset_time
            raise TooManyAttempts(max(1, math.ceil(reset_at - time.time())))
