"""One settings class for the whole backend: nothing else reads ``os.environ``.

Every field is read from ``LANGUAGEMATE_<FIELD>``. Defaults describe the embedded mode
(SQLite under ``./var``, no servers); setting the service URLs switches each part to the
distributed mode. An unknown ``LANGUAGEMATE_*`` variable is refused at start-up, because a
typo in a deployment (``LANGUAGEMATE_DATABSE_URL``) would otherwise silently fall back to the
embedded default and lose data into a local file.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "LANGUAGEMATE_"
MIB = 1024 * 1024
MULTIPART_ALLOWANCE = 64 * 1024
"""What an upload's body may carry besides its files: boundaries, part headers, fields."""
CHAT_FRAME_HEADROOM = 64 * 1024
"""What a chat SEND carries besides its voice data URL's base64: the ``data:`` prefix,
the JSON around it (a 1,000-character text is 3 kB of UTF-8) and the STOMP headers."""
DEFAULT_CHAT_VOICE_MAX_BYTES = 5 * MIB


def chat_frame_limit(voice_bytes: int) -> int:
    """Largest chat socket frame for a voice message of ``voice_bytes``: the SPA sends it
    as one SEND whose body holds the recording as a base64 data URL (4 bytes per 3)."""
    return 4 * -(-voice_bytes // 3) + CHAT_FRAME_HEADROOM


DEV_ORIGINS = tuple(
    f"http://{host}:{port}" for host in ("localhost", "127.0.0.1") for port in (3000, 4173, 5173)
)
"""Where a developer's SPA runs: ``vite`` (5173), ``vite preview`` (4173) and the SPA's
own dev port (3000), on both names of this machine (``vite --host 127.0.0.1`` prints the
address, and the browser sends that exact origin)."""


API_PROCESS_LOOP_LAG_SECONDS = 0.1
"""``admission_loop_lag_seconds`` of an API-only process when unset. At twice the knee of
the whole topology on the slower of two 2-vCPU machines it halved the p99 (1.48 s ->
0.81 s); on the faster one it made no difference beyond a few early sheds
(docs/reliability.md, "Overload sheds")."""


class SettingsError(Exception):
    """A setting is unknown or malformed; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("var")
    public_url: str = ""
    """Absolute origin of this API as browsers see it (used for file URLs); derived if empty."""

    database_url: str = ""
    """``postgresql://user@host:port/db`` for the event store; empty means SQLite in data_dir."""
    readmodel_database_url: str = ""
    """SQLAlchemy URL of the read-model database; empty means the event-store database."""
    keystore_database_url: str = ""
    """Where per-user data keys live (outside the event store); empty means the event-store
    database (its own table) or, embedded, ``keys.sqlite3`` in data_dir."""
    redis_url: str = ""
    kafka_bootstrap: str = ""
    kafka_topic: str = "languagemate.events"
    kafka_partitions: int = Field(default=4, ge=1, le=1024)
    kafka_group_prefix: str = "languagemate"
    kafka_session_timeout_ms: int = Field(default=10_000, ge=500)
    kafka_heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    policies_from_kafka: bool = False
    """Run policies as Kafka consumer groups (scales out per partition) instead of reading
    the event log (cheaper on a small deployment; see ``Runtime.start_policies``)."""
    kafka_fetch_max_wait_ms: int = Field(default=20, ge=1, le=5_000)

    s3_endpoint: str = ""
    s3_bucket: str = "languagemate"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""

    dev_login: bool = False
    jwt_keys: str = ""
    """Signing keys as ``kid:secret,kid:secret``; the first one signs, all verify. Empty in the
    embedded mode means a key generated once and kept in ``data_dir``."""
    jwt_issuer: str = "languagemate"
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30)
    refresh_token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    identity_pepper: str = ""
    """Secret mixed into e-mail derived account ids; generated into ``data_dir`` if empty."""

    cors_origins: str = ""
    """Browser origins allowed to call the API, comma-separated. Empty means: in the
    embedded mode the usual development origins (``DEV_ORIGINS``), in the distributed mode
    none (a deployment names its SPA's origins)."""

    oauth_redirect_base: str = ""
    """Public origin providers redirect back to (``{base}/login/oauth2/code/{provider}``);
    defaults to ``public_url`` or ``http://{host}:{port}``."""
    oauth_allowed_targets: str = ""
    """SPA origins a login may return to; empty means the CORS origins."""
    oauth_state_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    oauth_google_client_id: str = ""
    oauth_google_client_secret: str = ""
    oauth_google_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    oauth_google_token_url: str = "https://oauth2.googleapis.com/token"
    oauth_google_userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    oauth_naver_client_id: str = ""
    oauth_naver_client_secret: str = ""
    oauth_naver_authorize_url: str = "https://nid.naver.com/oauth2.0/authorize"
    oauth_naver_token_url: str = "https://nid.naver.com/oauth2.0/token"
    oauth_naver_userinfo_url: str = "https://openapi.naver.com/v1/nid/me"

    db_pool_size: int = Field(default=8, ge=1, le=200)
    """Connections per pool (the event store with as many again as overflow, the read
    models twice this, the key store this): a process holds at most five times this, so
    size it so every process of a deployment fits the server's ``max_connections``."""
    projection_groups: str = ""
    """Processing groups beyond the default one, ``name=projection,projection;name=...``:
    each group is one subscription and one transaction per batch (``languagemate projector
    NAME`` runs one, so groups can be spread over processes). Projections not named here
    share the group ``read-models``; one that needs the log's order runs alone."""
    projection_batch_size: int = Field(default=500, ge=1, le=10_000)
    projection_poll_seconds: float = Field(default=0.5, gt=0)
    projection_retry_max_seconds: float = Field(default=30.0, gt=0)
    projection_batch_window_seconds: float = Field(default=0.0, ge=0, le=5)
    """After a transaction, how long a group lets events gather before its next poll.
    A group applies whatever arrived while it worked in one transaction anyway; a window
    only makes batches larger at the price of every read-your-writes wait."""
    history_cache_events: int = Field(default=10_000, ge=0, le=10_000_000)
    """Decoded events a process keeps so a command reads only its aggregate's newest
    events (``eventflow.histories``; 0 keeps none). About 2 kB each (measured with
    tracemalloc on small events), so the default holds at most about 20 MB."""
    read_your_writes_timeout_seconds: float = Field(default=2.0, ge=0)
    """How long a write's answer waits for the read model the SPA reads next; past it the
    write (stored all the same) is answered marked ``X-Read-Your-Writes: late``."""
    schedule_interval_seconds: float = Field(default=60.0, gt=0)
    relay_batch_size: int = Field(default=2_000, ge=1, le=100_000)
    relay_batch_window_seconds: float = Field(default=0.0, ge=0, le=5)
    """After publishing a batch, how long the relay lets appends gather before it reads
    again (an idle relay reads at once). Each batch costs a read, a flush to the broker and
    a position save whatever its size, so under load a window trades that much freshness
    of every Kafka-fed read model for fewer of them."""

    webpush_vapid_private_key: str = ""
    """The VAPID signing key (base64url raw P-256 scalar, or PEM); empty turns Web Push off.
    Its public half must be the SPA's ``VITE_VAPID_PUBLIC_KEY``."""
    webpush_vapid_subject: str = "mailto:push@languagemate.app"
    webpush_endpoint_hosts: str = (
        "fcm.googleapis.com,updates.push.services.mozilla.com,*.notify.windows.com,"
        "web.push.apple.com"
    )
    """Push services a subscription endpoint may point at (shell patterns): the server POSTs
    to the endpoint, so anything else would be a request-forgery hole."""
    webpush_allow_http: bool = False

    stun_urls: str = "stun:stun.l.google.com:19302"
    turn_urls: str = ""
    """``turn:host:3478?transport=udp,turns:host:5349`` of a coturn with
    ``use-auth-secret``; empty offers STUN only."""
    turn_secret: str = ""
    """coturn's ``static-auth-secret``: TURN credentials are HMAC-SHA1 of ``expiry:user``."""
    room_rate_limit: str = "120/minute"
    """Per client IP, over the room routes and signalling sockets (they carry no token)."""
    turn_ttl_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)

    model_cache_dir: Path | None = None
    """Where split model files are assembled (Whisper); empty means ``data_dir/models``."""
    level_test_wait_seconds: float = Field(default=90.0, ge=0, le=300)
    """How long ``analyze`` waits for the assessment before answering "processing". The
    SPA reads the result only a few seconds after ``analyze`` answers, so the wait must
    cover the longest answer it records (3 minutes: about a minute of work on 2 cores)."""
    llm_model: str = "auto"
    """The level test's language model: ``smollm2`` or ``qwen2.5-1.5b`` (packaged, checked
    by sha256), the path of any GGUF file, ``auto`` (SmolLM2 if installed, else Qwen)
    or ``off``."""
    llm_threads: int = Field(default=2, ge=1, le=64)
    warm_models: bool = True
    """A worker process (``serve``, ``worker``) loads the level test's models as it starts,
    in the background, so the first learner's result comes as fast as the next one's
    (workers/warm_up.py); off, the first job loads them."""
    api_drain_seconds: int = Field(default=100, ge=1, le=600)
    """After SIGTERM an API process finishes in-flight requests for up to this long, then
    cancels them; it covers the longest waits (the AI service and level-test analyze).
    Keep the orchestrator's grace period (compose ``stop_grace_period``) above it."""
    job_heartbeat_seconds: float = Field(default=60.0, ge=1)
    """A worker silent this long is taken for dead and its unfinished jobs run again
    elsewhere; longer than any pause a busy worker makes between broker calls."""
    ai_wait_seconds: float = Field(default=30.0, gt=0, le=120)
    """How long the AI service routes wait for a worker before answering 503."""
    ai_rate_limit: str = "30/minute"
    """Per user, over the AI service routes (transcribe, evaluate, realtime feedback)."""

    embedding_delay_seconds: float = Field(default=3.0, ge=0, le=600)
    """How long a profile-embedding job waits after a change: a burst of edits (typing a
    bio, saving onboarding steps) is embedded once, from the latest text, rather than
    once per edit (each run costs tens of milliseconds of CPU)."""

    presence_ttl_seconds: float = Field(default=60.0, ge=1)
    """How long a user stays online after the process holding their socket stops renewing
    it (a crash); a closed socket takes the user offline at once. Socket leases (the caps
    below) last as long."""

    # -- what one client may make the API hold (api/body_limits.py, api/socket_limits.py,
    # -- infra/server_protocols.py; the figures are explained in docs/reliability.md)
    max_body_bytes: int = Field(default=MIB, ge=1024)
    """Largest request body of every route but the uploads (JSON, forms): a declared
    ``Content-Length`` above it is answered 413 before anything is read, a chunked body is
    cut off with 413 as soon as it passes it."""
    recording_max_bytes: int = Field(default=30 * MIB, ge=MIB)
    """Largest recording (level test, AI service transcription); the body of those routes
    may be this plus ``MULTIPART_ALLOWANCE``."""
    image_max_bytes: int = Field(default=10 * MIB, ge=64 * 1024)
    """Largest image (profile picture, each chat picture); a chat upload carries up to five."""
    http_header_max_bytes: int = Field(default=32 * 1024, ge=4096)
    """Largest request line plus headers (a JWT is about 1 kB); past it: 400 and closed."""
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a connection may take to send a request's headers (from connecting, or from
    the end of the previous response); then it is closed."""
    http_keep_alive_seconds: int = Field(default=5, ge=1)
    """How long an idle keep-alive connection stays open."""
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)
    """Longest pause between two pieces of a request body; then 408 and closed."""
    tcp_user_timeout_seconds: int = Field(default=30, ge=1)
    """A connection whose peer acknowledges nothing for this long (a reader that stopped
    reading, a vanished client) is dropped by the kernel (``TCP_USER_TIMEOUT``)."""
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=4096)
    """Largest WebSocket message on the notification and signalling sockets and on the chat
    socket before its CONNECT: larger frames are refused (close 1009) before they are read."""
    chat_voice_max_bytes: int = Field(default=DEFAULT_CHAT_VOICE_MAX_BYTES, ge=64 * 1024)
    """Largest voice message; the chat socket accepts, once signed in, a frame of its base64
    data URL plus ``CHAT_FRAME_HEADROOM`` (see ``chat_frame_max_bytes``)."""
    ws_send_buffer_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    """Frames a socket may have waiting for a client that does not read them; past it the
    socket is closed (1008) instead of buffering more."""
    ws_max_per_user: int = Field(default=24, ge=1)
    """Open sockets per user, over every API process."""
    ws_max_per_ip: int = Field(default=200, ge=1)
    """Open sockets per client address, over every API process."""
    ws_auth_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a STOMP socket may stay open before its CONNECT."""
    ws_idle_seconds: float = Field(default=30.0, gt=0)
    """A STOMP socket silent this long is closed; CONNECTED asks for client heart-beats
    every third of it (10 s by default, what the SPA sends anyway)."""
    signalling_idle_seconds: float = Field(default=3 * 3600.0, gt=0)
    """A signalling socket with no message this long is closed. The SPA sends nothing
    during a call once it is set up, so this is longer than the longest session (2 h);
    WebSocket pings find dead peers much sooner."""
    ws_ping_seconds: float = Field(default=20.0, gt=0)
    """Interval of WebSocket pings, and how long a pong may take before the socket is
    closed (browsers answer pings by themselves)."""

    # -- what one process takes on before it sheds (api/admission.py, docs/reliability.md
    # -- "Overload sheds")
    admission_max_in_flight: int = Field(default=8, ge=1, le=10_000)
    """Requests one API process serves at once; sockets, health, metrics and requests
    waiting on purpose not counted. One process runs Python on one core at a time, so more
    places only make each request slower: past the knee, 32 places kept every request in
    flight for about a second (requests/s per process times the places, Little's law)."""
    admission_max_queued: int = Field(default=64, ge=0, le=100_000)
    """Requests that may wait for a place; past it a request is answered 503 at once."""
    admission_queue_seconds: float = Field(default=0.25, ge=0, le=30)
    """Longest wait for a place; then 503 ``OVERLOADED`` with ``Retry-After``."""
    admission_read_model_lag_seconds: float = Field(default=0.5, gt=0, le=60)
    """While every place is taken and a read-your-writes wait of this process has waited
    longer, writes (POST, PUT, PATCH, DELETE) are answered 503 ``OVERLOADED`` at once
    instead of queueing: a write accepted then would wait as long for its read model."""
    admission_loop_lag_seconds: float | None = Field(default=None, ge=0, le=60)
    """While at least half of a process's places are taken and its event loop ran this
    much later than due at two ticks in a row, requests are answered 503 ``OVERLOADED`` at
    once: the process is
    past what the machine gives it (api/admission.py, LoopLag). 0: off. Unset: 0.1 s in
    ``languagemate api`` (:data:`API_PROCESS_LOOP_LAG_SECONDS`), off in every other process:
    in the embedded server its own projector and worker threads hold the GIL, so its loop
    runs late at loads it still serves in time (docs/reliability.md)."""
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """Longest wait for a read-model or key-store connection from a full pool; then 503
    ``OVERLOADED`` (the event store's pool waits as long, its ``connect_timeout``)."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (empty selects embedded SQLite)")
        return value

    @field_validator("jwt_keys")
    @classmethod
    def _key_ring(cls, value: str) -> str:
        for item in filter(None, value.split(",")):
            kid, _, secret = item.partition(":")
            if not kid or len(secret) < 32:
                raise ValueError("each key must be 'kid:secret' with a secret of 32+ characters")
        return value

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> Settings:
        if self.kafka_heartbeat_interval_ms * 3 > self.kafka_session_timeout_ms:
            raise ValueError(
                f"{PREFIX}KAFKA_HEARTBEAT_INTERVAL_MS must be at most a third of "
                f"{PREFIX}KAFKA_SESSION_TIMEOUT_MS"
            )
        return self

    @cached_property
    def cors_origin_list(self) -> list[str]:
        if not self.cors_origins.strip():
            return [] if self.distributed else list(DEV_ORIGINS)
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @cached_property
    def oauth_target_list(self) -> list[str]:
        if not self.oauth_allowed_targets.strip():
            return self.cors_origin_list
        return [o.strip().rstrip("/") for o in self.oauth_allowed_targets.split(",") if o.strip()]

    @property
    def public_origin(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def for_api_process(self) -> Settings:
        """These settings with the API-only process's defaults filled in where unset."""
        if self.admission_loop_lag_seconds is not None:
            return self
        return self.model_copy(update={"admission_loop_lag_seconds": API_PROCESS_LOOP_LAG_SECONDS})

    @property
    def chat_frame_max_bytes(self) -> int:
        """Largest chat socket frame once signed in (see :func:`chat_frame_limit`)."""
        return chat_frame_limit(self.chat_voice_max_bytes)

    @property
    def distributed(self) -> bool:
        return bool(self.database_url)

    @property
    def model_cache(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def event_store_sqlite_path(self) -> Path:
        return self.data_dir / "events.sqlite3"

    @property
    def readmodel_url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of the read-model database."""
        url = self.readmodel_database_url or self.database_url
        if not url:
            return f"sqlite:///{self.data_dir / 'readmodels.sqlite3'}"
        for scheme in ("postgresql://", "postgres://"):
            if url.startswith(scheme):
                return "postgresql+psycopg://" + url[len(scheme) :]
        return url


def load_settings(**overrides: Any) -> Settings:
    """Build settings, refusing unknown ``LANGUAGEMATE_*`` variables by name."""
    known = {PREFIX + name.upper() for name in Settings.model_fields}
    # pydantic-settings matches names case-insensitively, so the check must too.
    unknown = sorted(
        k for k in os.environ if k.upper().startswith(PREFIX) and k.upper() not in known
    )
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{PREFIX}{'.'.join(str(p) for p in err['loc']).upper() or '(settings)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid setting(s): {problems}") from exc
