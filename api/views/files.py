"""Where stored files are found: absolute URLs (the SPA puts them in ``<img>`` and
``<audio>`` tags, which resolve relative paths against the SPA's own origin) and the
prefixes served without a token."""

from __future__ import annotations

from projections.profiles import image_path

CHAT_AUDIO_PREFIX = "chat-audio/"
CHAT_IMAGE_PREFIX = "chat-images/"
PUBLIC_BLOB_PREFIXES = ("profile-images/", CHAT_AUDIO_PREFIX, CHAT_IMAGE_PREFIX)
"""Blobs served without authentication (``<img src>`` sends no token); everything else
(voice answers, exports) stays private."""


def file_url(origin: str, key: str | None, size: int = 512) -> str | None:
    """The absolute URL of a stored image (``origin``: this API as browsers see it)."""
    if not key:
        return None
    return f"{origin}{image_path(key, size)}"
