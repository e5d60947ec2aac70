"""Blob storage: one small interface, a local-disk and an S3 implementation.

Uploaded media (profile images, chat attachments, level-test audio, recordings) are not
events: they are large, opaque and only ever written whole. Events carry the *key* of a blob
(``ProfileImageChanged {objectKey, contentType}``) and the bytes live here.

The embedded mode keeps blobs on local disk so that a single process needs no servers; the
distributed mode uses any S3-compatible store so that several API processes share them. Both
implementations obey the same contract, checked by one shared test suite
(``tests/integration/test_blobs.py``), so code written against :class:`BlobStore` cannot tell
them apart:

* keys are validated by the one function :func:`validate_key`, so a key accepted by one
  backend is accepted by the other;
* ``put`` replaces the whole object atomically (a reader sees the old or the new blob, never
  a mixture);
* ``get`` of a missing key raises :class:`BlobNotFound`; ``delete`` of a missing key is a no-op;
* a key and a key below it (``a`` and ``a/b``) are independent objects, as in S3.
"""

from __future__ import annotations

import os
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType

    from infra.settings import Settings

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_KEY_LENGTH",
    "MAX_SEGMENT_BYTES",
    "Blob",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreUnavailable",
    "InvalidBlobKey",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_store_from_settings",
    "validate_content_type",
    "validate_key",
]

MAX_KEY_LENGTH = 512
"""Longest key in characters; keys are built by the application, so this is generous."""
MAX_KEY_BYTES = 1024
"""S3's own limit on a key's UTF-8 length; checked so both backends refuse the same keys."""
MAX_SEGMENT_BYTES = 200
"""Longest path segment in UTF-8 bytes: it must still fit a file name (255 bytes on common
file systems) once :class:`LocalBlobStore` has added its suffix."""
MAX_CONTENT_TYPE_LENGTH = 255

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Blob:
    """The stored bytes together with the media type they were stored with."""

    data: bytes
    content_type: str


class BlobNotFound(KeyError):
    """No blob is stored under the key (a ``KeyError`` so mapping-style code works)."""


class InvalidBlobKey(ValueError):
    """The key is not a safe relative path; nothing was read or written."""


class BlobStoreUnavailable(RuntimeError):
    """The backend cannot be reached or used (network down, disk not writable).

    Raised by ``check()`` for the health endpoint, and by the S3 store's operations when the
    request never got an answer, so callers can answer 503 rather than 500.
    """


class BlobStore(Protocol):
    """Whole-object storage addressed by relative slash-separated keys.

    Keys look like ``profile-images/<uuid>/512.webp`` and must pass :func:`validate_key`;
    every method raises :class:`InvalidBlobKey` for a bad key before touching the backend.
    Implementations are safe to share between threads.
    """

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, atomically replacing any previous blob."""
        ...

    def get(self, key: str) -> Blob:
        """Return the blob under ``key``; raise :class:`BlobNotFound` if there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob under ``key``; removing a missing blob is not an error."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key``."""
        ...

    def check(self) -> None:
        """Raise :class:`BlobStoreUnavailable` unless the backend is reachable and usable."""
        ...


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative key, else raise InvalidBlobKey.

    Shared by both stores so that they accept exactly the same keys. The rules keep keys
    canonical (one spelling per object: no empty, ``.`` or ``..`` segments, no leading or
    trailing slash) and harmless when used as file paths or in URLs and logs (no backslashes,
    no control characters, bounded length).
    """
    if not isinstance(key, str):
        raise InvalidBlobKey(f"blob key must be a string, not {type(key).__name__}")
    if not key:
        raise InvalidBlobKey("blob key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidBlobKey(f"blob key is longer than {MAX_KEY_LENGTH} characters")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidBlobKey("blob key is not valid Unicode text") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidBlobKey(f"blob key is longer than {MAX_KEY_BYTES} bytes in UTF-8")
    if key.startswith("/"):
        raise InvalidBlobKey(f"blob key must be relative: {key!r}")
    if "\\" in key:
        raise InvalidBlobKey(f"blob key contains a backslash: {key!r}")
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        raise InvalidBlobKey(f"blob key contains a control character: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidBlobKey(f"blob key has an empty, '.' or '..' segment: {key!r}")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidBlobKey(f"blob key segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def validate_content_type(content_type: str) -> str:
    """Return ``content_type`` if it is safe to store and echo as an HTTP header.

    Only printable ASCII is allowed, so a stored value can never inject a header line when
    the blob is served back.
    """
    if not isinstance(content_type, str) or not content_type:
        raise ValueError("content type must be a non-empty string")
    if len(content_type) > MAX_CONTENT_TYPE_LENGTH:
        raise ValueError(f"content type is longer than {MAX_CONTENT_TYPE_LENGTH} characters")
    if not all(" " <= ch <= "~" for ch in content_type):
        raise ValueError(f"content type must be printable ASCII: {content_type!r}")
    return content_type


class LocalBlobStore:
    """Blobs as files under ``root``, for the embedded (single-process) mode.

    Layout: key ``profile-images/<uuid>/512.webp`` is the file
    ``root/profile-images.d/<uuid>.d/512.webp.blob``. Every directory name ends in ``.d`` and
    every blob file name in ``.blob`` (temporary files in ``.tmp``), so no key can collide
    with another key's directory (``a`` and ``a/b`` coexist, as in S3) and stray files never
    look like blobs.

    Content type: stored *inside* the blob file as a one-line header (``LMBLOB1 <type>\\n``)
    followed by the raw bytes, rather than in a sidecar. One file means one atomic
    ``os.replace``: a reader can never pair new bytes with an old content type, and a crash
    can never leave bytes without their type. The header is printable ASCII by construction
    (:func:`validate_content_type`), so it cannot be confused with the data after it.

    Writes go to a temporary file in the target directory, are fsynced, then renamed over
    the old file. Delete leaves empty directories behind: they cost nothing, and removing
    them would race with a concurrent ``put`` into the same prefix.

    Keys never escape ``root``: besides :func:`validate_key`, the final path is resolved
    (following any symlinks) and must still lie under the resolved root.
    """

    _MAGIC = b"LMBLOB1 "
    _DIR_SUFFIX = ".d"
    _BLOB_SUFFIX = ".blob"
    _TMP_SUFFIX = ".tmp"

    def __init__(self, root: Path) -> None:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self._root = root.resolve()

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self._root)!r})"

    def _path(self, key: str) -> Path:
        *dirs, name = validate_key(key).split("/")
        path = self._root.joinpath(*(d + self._DIR_SUFFIX for d in dirs), name + self._BLOB_SUFFIX)
        if not path.resolve().is_relative_to(self._root):
            raise InvalidBlobKey(f"blob key resolves outside the store: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        header = self._MAGIC + validate_content_type(content_type).encode("ascii") + b"\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=self._TMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(header)
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> Blob:
        path = self._path(key)
        try:
            with path.open("rb") as f:
                header = f.readline(len(self._MAGIC) + MAX_CONTENT_TYPE_LENGTH + 1)
                data = f.read()
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        if not (header.startswith(self._MAGIC) and header.endswith(b"\n")):
            raise ValueError(f"{path} is not a blob file (missing header)")
        content_type = header[len(self._MAGIC) : -1].decode("ascii")
        return Blob(data=data, content_type=content_type)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def check(self) -> None:
        """Prove the root is a writable directory by creating and removing a probe file."""
        try:
            if not self._root.is_dir():
                raise NotADirectoryError(str(self._root))
            fd, probe = tempfile.mkstemp(dir=self._root, prefix=".check-", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise BlobStoreUnavailable(f"blob directory {self._root} is not usable: {exc}") from exc


class S3BlobStore:
    """Blobs in an S3-compatible bucket, for the distributed mode.

    Uses path-style addressing (``endpoint/bucket/key``) because self-hosted S3 clones and
    the moto test server do not serve virtual-host buckets. The bucket is created on first
    use if it is missing, not in the constructor: the application must be able to start
    while S3 is briefly down and report it through ``check()`` instead of crashing.
    ``access_key``/``secret_key`` of ``None`` fall back to boto3's usual credential chain
    (environment, instance role). A boto3 *client* is thread-safe, so one store can be
    shared by all request handlers.
    """

    def __init__(
        self,
        endpoint_url: str | None,
        bucket: str,
        region: str,
        access_key: str | None,
        secret_key: str | None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self._bucket = bucket
        self._region = region
        self._endpoint_url = endpoint_url
        common: dict[str, Any] = {
            "endpoint_url": endpoint_url or None,
            "region_name": region,
            "aws_access_key_id": access_key or None,
            "aws_secret_access_key": secret_key or None,
        }
        self._client: S3Client = boto3.client(
            "s3",
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
            ),
            **common,
        )
        # The health probe must answer fast and say "down" rather than retry for seconds.
        self._probe_client: S3Client = boto3.client(
            "s3",
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=5,
                retries={"mode": "standard", "total_max_attempts": 1},
            ),
            **common,
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    def __repr__(self) -> str:
        return f"S3BlobStore(endpoint_url={self._endpoint_url!r}, bucket={self._bucket!r})"

    @staticmethod
    def _error_code(exc: Exception) -> str:
        response = getattr(exc, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    def _ensure_bucket(self, client: S3Client) -> None:
        """Create the bucket once if it does not exist yet.

        ``head_bucket`` first, so that a deployment whose credentials may not create buckets
        still works against a pre-provisioned bucket.
        """
        from botocore.exceptions import ClientError

        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            try:
                client.head_bucket(Bucket=self._bucket)
            except ClientError as exc:
                if self._error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                    raise
                self._create_bucket(client)
            self._bucket_ready = True

    def _create_bucket(self, client: S3Client) -> None:
        from botocore.exceptions import ClientError

        try:
            if self._region == "us-east-1":
                # us-east-1 is the default location and rejects an explicit constraint.
                client.create_bucket(Bucket=self._bucket)
            else:
                location = cast("BucketLocationConstraintType", self._region)
                client.create_bucket(
                    Bucket=self._bucket,
                    CreateBucketConfiguration={"LocationConstraint": location},
                )
        except ClientError as exc:
            # Another process created it between our head and create: that is fine.
            if self._error_code(exc) != "BucketAlreadyOwnedByYou":
                raise

    def _ready_client(self) -> S3Client:
        from botocore.exceptions import BotoCoreError

        try:
            self._ensure_bucket(self._client)
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"S3 endpoint unreachable: {exc}") from exc
        return self._client

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError

        validate_key(key)
        validate_content_type(content_type)
        client = self._ready_client()
        try:
            client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"S3 put failed: {exc}") from exc

    def get(self, key: str) -> Blob:
        from botocore.exceptions import BotoCoreError, ClientError

        validate_key(key)
        client = self._ready_client()
        try:
            response = client.get_object(Bucket=self._bucket, Key=key)
            with response["Body"] as body:
                data = body.read()
        except ClientError as exc:
            if self._error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise BlobNotFound(key) from None
            raise
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"S3 get failed: {exc}") from exc
        return Blob(data=data, content_type=response.get("ContentType") or DEFAULT_CONTENT_TYPE)

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError

        validate_key(key)
        client = self._ready_client()
        try:
            # S3 DeleteObject already succeeds for a missing key.
            client.delete_object(Bucket=self._bucket, Key=key)
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"S3 delete failed: {exc}") from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        validate_key(key)
        client = self._ready_client()
        try:
            client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if self._error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        except BotoCoreError as exc:
            raise BlobStoreUnavailable(f"S3 head failed: {exc}") from exc
        return True

    def check(self) -> None:
        """One fast ``HeadBucket`` (creating the bucket if needed), no retries."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._ensure_bucket(self._probe_client)
            self._probe_client.head_bucket(Bucket=self._bucket)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreUnavailable(
                f"S3 bucket {self._bucket!r} at {self._endpoint_url or 'AWS'} is not usable: {exc}"
            ) from exc


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """S3 when ``s3_endpoint`` is configured (distributed mode), else files in data_dir.

    Empty credential settings mean "use boto3's default credential chain".
    """
    if settings.s3_endpoint:
        return S3BlobStore(
            endpoint_url=settings.s3_endpoint,
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
        )
    return LocalBlobStore(settings.data_dir / "blobs")
