"""The installed package's version, as the front door and the AsyncAPI document state it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed ``languagemate`` version."""
    try:
        return version("languagemate")
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "0+unknown"
