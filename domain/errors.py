"""Domain errors carry a stable code; ``api/errors.py`` maps each kind to one HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule was violated. ``code`` is stable and machine-readable; ``details`` is JSON."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    """The request contradicts the current state (duplicate, already done, ...)."""

    code = "CONFLICT"


class ConcurrencyConflict(Conflict):
    """Someone else changed the aggregate since it was read (stale expected version)."""

    code = "CONCURRENT_MODIFICATION"


class RuleViolation(DomainError):
    """Well-formed input that the rules refuse."""

    code = "RULE_VIOLATION"


class Forbidden(DomainError):
    """A real authorisation failure; the SPA logs out on it, so never use it for rules."""

    code = "FORBIDDEN"
