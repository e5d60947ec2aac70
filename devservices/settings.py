"""Settings of a throwaway deployment (tests, benchmarks): a fixed signing key and
pepper, quick polls and Kafka timeouts, and one model cache per machine."""

from __future__ import annotations

import tempfile
from pathlib import Path

from infra.settings import Settings

TEST_JWT_KEYS = "test-key:" + "k" * 48
MODEL_CACHE = Path(tempfile.gettempdir()) / "languagemate-test-models"
"""Shared by every test runtime: Whisper is assembled (145 MB) once per machine."""


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": data_dir,
        "dev_login": True,
        "jwt_keys": TEST_JWT_KEYS,
        "identity_pepper": "test-pepper",
        "projection_poll_seconds": 0.05,
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 500,
        "model_cache_dir": MODEL_CACHE,
        "llm_model": "smollm2",  # small and quick; `auto` would take Qwen when installed
        "embedding_delay_seconds": 0,  # the tests that wait for a vector need it at once
    }
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]
