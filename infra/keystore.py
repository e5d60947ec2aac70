"""Per-user data keys, kept outside the event store, for crypto-shredding.

Personal fields in events are encrypted with their subject's key (AES-256-GCM, the subject id
as associated data so a ciphertext cannot be moved to another user). Deleting an account
destroys the key: the history stays complete and replayable, and the personal fields read as
erased everywhere, including in exports, Kafka and every backup of the event store.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from domain.events import ERASED
from infra.database import schema_lock
from infra.settings import Settings
from infra.spread import spread

PREFIX = "pii:v1:"
CACHE_SECONDS = 30.0
"""The longest a process keeps a key (or its absence) without asking the store again: an
erasure in another process reaches this one within it."""

_metadata = sa.MetaData()
keys_table = sa.Table(
    "personal_data_keys",
    _metadata,
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("key", sa.LargeBinary, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
)


class KeyStore:
    """Subject -> 256-bit key; a destroyed key is gone for good (the row keeps the date)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock
        """What ages cached keys (a test moves it on to see what another process's erasure
        does once this process's cache has lapsed)."""
        _metadata.create_all(engine)
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        """Subject -> (when the entry expires, the key)."""
        self._lock = threading.Lock()

    def _expiry(self, now: float) -> float:
        """When a key fetched at ``now`` leaves the cache: within ``CACHE_SECONDS``, keys
        fetched together expiring apart (``infra.spread``)."""
        return now + spread(CACHE_SECONDS)

    def prefetch(self, subjects: set[str]) -> None:
        """Load many keys in one query (a projection batch decrypts events of many users;
        one query per user would dominate a rebuild)."""
        now = self.clock()
        with self._lock:
            missing = [s for s in subjects if not (c := self._cache.get(s)) or now >= c[0]]
        if not missing:
            return
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(keys_table.c.subject, keys_table.c.key).where(
                    keys_table.c.subject.in_(missing)
                )
            ).all()
        with self._lock:
            for row in rows:
                key = bytes(row.key) if row.key is not None else None
                self._cache[row.subject] = (self._expiry(now), key)

    def key(self, subject: str, *, create: bool) -> bytes | None:
        """The subject's key; ``None`` when destroyed (or absent and not ``create``)."""
        now = self.clock()
        with self._lock:
            cached = self._cache.get(subject)
        if cached and now < cached[0] and (cached[1] is not None or not create):
            return cached[1]
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(keys_table.c.key).where(keys_table.c.subject == subject)
            ).first()
        if row is None:
            key = self._create(subject) if create else None
        else:
            key = bytes(row.key) if row.key is not None else None
        with self._lock:
            self._cache[subject] = (self._expiry(now), key)
        return key

    def _create(self, subject: str) -> bytes | None:
        """Insert a fresh key unless another writer (or an erasure) got there first, and
        return whatever the row holds then: the winner's key, or None if erased."""
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        with self.engine.begin() as conn:
            conn.execute(
                insert(keys_table)
                .values(subject=subject, key=AESGCM.generate_key(256), created_at=datetime.now(UTC))
                .on_conflict_do_nothing()
            )
            value = conn.execute(
                sa.select(keys_table.c.key).where(keys_table.c.subject == subject)
            ).scalar_one_or_none()
        return bytes(value) if value is not None else None

    def destroy(self, subject: str) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(
                keys_table.update()
                .where(keys_table.c.subject == subject)
                .values(key=None, destroyed_at=datetime.now(UTC))
            ).rowcount
            if not updated:
                conn.execute(
                    keys_table.insert().values(
                        subject=subject,
                        key=None,
                        created_at=datetime.now(UTC),
                        destroyed_at=datetime.now(UTC),
                    )
                )
        with self._lock:
            self._cache[subject] = (self._expiry(self.clock()), None)


class PersonalDataCipher:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def encrypt(self, subject: str, value: str) -> str:
        key = self.keys.key(subject, create=True)
        if key is None:
            # The subject was erased: nothing personal may be written for them again.
            return ERASED
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, value.encode(), subject.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def can_decrypt(self, subject: str) -> bool:
        """Whether the subject's key is (as far as this process's key cache knows) still
        there: what anything holding the subject's decrypted data must ask before use."""
        return self.keys.key(subject, create=False) is not None

    def decrypt(self, subject: str, value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        key = self.keys.key(subject, create=False)
        if key is None:
            return ERASED
        raw = base64.b64decode(value[len(PREFIX) :])
        return AESGCM(key).decrypt(raw[:12], raw[12:], subject.encode()).decode()


def open_key_store(settings: Settings) -> KeyStore:
    url = settings.keystore_database_url or settings.database_url
    if not url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return KeyStore(sa.create_engine(f"sqlite:///{settings.data_dir / 'keys.sqlite3'}"))
    if not url.startswith(("postgresql://", "postgres://")):
        return KeyStore(sa.create_engine(url))
    with schema_lock(url):  # every role opens the key store at start-up, all at once
        # Bounded like the other pools (keys are cached, so a busy process rarely needs
        # more): SQLAlchemy's default of 5 + 10 made this the largest pool of a process.
        engine = sa.create_engine(
            "postgresql+psycopg://" + url.split("://", 1)[1],
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        return KeyStore(engine)
