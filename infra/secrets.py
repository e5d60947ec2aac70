"""Secrets for the embedded mode, generated once and kept (0600) under the data directory.

The distributed mode must be given its secrets explicitly (so every replica shares them);
the embedded mode should just work on a fresh machine without leaking a secret into the repo.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from infra.settings import Settings, SettingsError


def local_secret(data_dir: Path, name: str, nbytes: int = 48) -> str:
    path = data_dir / "secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def resolve(settings: Settings, value: str, name: str) -> str:
    """The configured secret, or in the embedded mode a generated local one."""
    if value:
        return value
    if settings.distributed:
        raise SettingsError(f"LANGUAGEMATE_{name.upper()} must be set in the distributed mode")
    return local_secret(settings.data_dir, name)
