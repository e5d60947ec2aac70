"""Start-up settings: typos and malformed values are refused by name (environment only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.settings import PREFIX, SettingsError, load_settings

KEY = "k" * 32


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own LANGUAGEMATE_* variables must not decide these tests."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)


def test_unknown_variable_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_DATABSE_URL", "postgresql://db/languagemate")

    with pytest.raises(SettingsError, match="LANGUAGEMATE_DATABSE_URL"):
        load_settings()


def test_every_unknown_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_PROT", "8001")
    monkeypatch.setenv("LANGUAGEMATE_HOTS", "0.0.0.0")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert "LANGUAGEMATE_HOTS" in str(caught.value)
    assert "LANGUAGEMATE_PROT" in str(caught.value)


def test_variables_of_other_programs_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://elsewhere")

    assert load_settings().database_url == ""


def test_known_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_PORT", "8123")
    monkeypatch.setenv("LANGUAGEMATE_DEV_LOGIN", "true")

    settings = load_settings()

    assert settings.port == 8123
    assert settings.dev_login is True


def test_malformed_port_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_PORT", "eighty")

    with pytest.raises(SettingsError, match="LANGUAGEMATE_PORT"):
        load_settings()


def test_port_out_of_range_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_PORT", "70000")

    with pytest.raises(SettingsError, match="LANGUAGEMATE_PORT"):
        load_settings()


@pytest.mark.parametrize(
    "url", ["mysql://db/languagemate", "sqlite:///var/events.sqlite3", "db.internal:5432"]
)
def test_database_url_that_is_not_postgresql_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LANGUAGEMATE_DATABASE_URL", url)

    with pytest.raises(SettingsError, match="LANGUAGEMATE_DATABASE_URL"):
        load_settings()


@pytest.mark.parametrize("ring", ["main:tooshort", f":{KEY}", KEY, f"new:{KEY},old:short"])
def test_jwt_key_ring_with_a_short_or_unnamed_key_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, ring: str
) -> None:
    monkeypatch.setenv("LANGUAGEMATE_JWT_KEYS", ring)

    with pytest.raises(SettingsError, match="LANGUAGEMATE_JWT_KEYS"):
        load_settings()


def test_jwt_key_ring_of_long_named_keys_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_JWT_KEYS", f"new:{KEY},old:{'o' * 40}")

    assert load_settings().jwt_keys.startswith("new:")


def test_malformed_override_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="LANGUAGEMATE_PROJECTION_BATCH_SIZE"):
        load_settings(projection_batch_size=0)


def test_heartbeat_longer_than_a_third_of_the_session_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LANGUAGEMATE_KAFKA_SESSION_TIMEOUT_MS", "6000")
    monkeypatch.setenv("LANGUAGEMATE_KAFKA_HEARTBEAT_INTERVAL_MS", "2001")

    with pytest.raises(SettingsError, match=r"(?i)kafka_heartbeat_interval_ms"):
        load_settings()


def test_heartbeat_of_exactly_a_third_of_the_session_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LANGUAGEMATE_KAFKA_SESSION_TIMEOUT_MS", "6000")
    monkeypatch.setenv("LANGUAGEMATE_KAFKA_HEARTBEAT_INTERVAL_MS", "2000")

    assert load_settings().kafka_heartbeat_interval_ms == 2000


def test_defaults_are_the_embedded_mode_under_the_data_dir() -> None:
    settings = load_settings()

    assert settings.distributed is False
    assert settings.data_dir == Path("var")
    assert settings.event_store_sqlite_path == Path("var") / "events.sqlite3"
    assert settings.readmodel_url == "sqlite:///var/readmodels.sqlite3"
    assert (settings.redis_url, settings.kafka_bootstrap, settings.s3_endpoint) == ("", "", "")
    assert settings.dev_login is False


def test_data_dir_moves_both_embedded_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_DATA_DIR", "/srv/languagemate")

    settings = load_settings()

    assert settings.event_store_sqlite_path == Path("/srv/languagemate/events.sqlite3")
    assert settings.readmodel_url == "sqlite:////srv/languagemate/readmodels.sqlite3"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_event_store_also_holds_the_read_models_through_psycopg(
    monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.setenv("LANGUAGEMATE_DATABASE_URL", f"{scheme}://app@db:5432/languagemate")

    settings = load_settings()

    assert settings.distributed is True
    assert settings.readmodel_url == "postgresql+psycopg://app@db:5432/languagemate"


def test_separate_read_model_database_is_used_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_DATABASE_URL", "postgresql://app@db/events")
    monkeypatch.setenv("LANGUAGEMATE_READMODEL_DATABASE_URL", "postgresql://app@replica/reads")

    assert load_settings().readmodel_url == "postgresql+psycopg://app@replica/reads"


def test_read_model_url_with_an_explicit_driver_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_READMODEL_DATABASE_URL", "sqlite:////tmp/reads.sqlite3")

    assert load_settings().readmodel_url == "sqlite:////tmp/reads.sqlite3"


def test_cors_origins_are_trimmed_without_trailing_slashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LANGUAGEMATE_CORS_ORIGINS", " https://app.example.com/ ,, http://x:1")

    assert load_settings().cors_origin_list == ["https://app.example.com", "http://x:1"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:4173",
        "http://localhost:4173",
        "http://127.0.0.1:5173",
        "http://localhost:3000",
    ],
)
def test_embedded_default_allows_a_local_spa_on_either_host_name(origin: str) -> None:
    """``vite preview --host 127.0.0.1`` serves the SPA at http://127.0.0.1:4173 and the
    browser sends that exact origin: a list of ``localhost`` names alone refused it."""
    assert origin in load_settings().cors_origin_list


def test_distributed_mode_allows_only_the_origins_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LANGUAGEMATE_DATABASE_URL", "postgresql://app@db/events")
    assert load_settings().cors_origin_list == []

    monkeypatch.setenv("LANGUAGEMATE_CORS_ORIGINS", "https://app.example.com")
    assert load_settings().cors_origin_list == ["https://app.example.com"]


def test_unknown_log_level_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGEMATE_LOG_LEVEL", "VERBOSE")

    with pytest.raises(SettingsError, match="LANGUAGEMATE_LOG_LEVEL"):
        load_settings()
