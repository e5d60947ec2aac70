"""Model files that ship inside PyPI packages: checked by sha256, and assembled when a
model is split over several packages (PyPI's per-file size limit)."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path


class ModelUnavailable(RuntimeError):
    """An optional extra or model package is missing, or its files are not the expected ones."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> None:
    if sha256_of(path) != expected:
        raise ModelUnavailable(f"{path} does not have the expected sha256; reinstall the model")


def assemble(parts: Sequence[Path], target: Path, sha256: str) -> Path:
    """Concatenate ``parts`` into ``target`` once; a target whose digest does not match (a
    crash mid-write, a tampered cache) is rebuilt, and a wrong result is refused."""
    if target.exists() and sha256_of(target) == sha256:
        return target
    missing = [str(p) for p in parts if not p.exists()]
    if missing:
        raise ModelUnavailable(f"model parts missing: {', '.join(missing)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + f".{os.getpid()}.partial")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 8 << 20)
    if sha256_of(partial) != sha256:
        partial.unlink()
        raise ModelUnavailable(f"the parts of {target.name} do not add up; reinstall them")
    os.replace(partial, target)
    return target
