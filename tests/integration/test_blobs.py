"""One contract for every BlobStore, run against local disk and against a real S3 server.

:class:`BlobStoreContract` holds the tests; each concrete ``Test…`` subclass supplies a
``store`` fixture and a ``stored_objects`` fixture (everything physically present in the
backend, so that "nothing was written" can be asserted). A new backend gets the whole suite
by adding one subclass. The S3 variant runs against the session moto server from
``tests/conftest.py`` (fixture ``s3_endpoint``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from devservices import free_port, unique_name
from infra.blobs import (
    MAX_KEY_LENGTH,
    Blob,
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    InvalidBlobKey,
    LocalBlobStore,
    S3BlobStore,
    blob_store_from_settings,
)
from infra.settings import Settings

Listing = Callable[[], list[str]]

KEY = "profile-images/3f1c8f0e-2b7a-4a51-9d0e-2f5b8f1a7c11/512.webp"

INVALID_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("../escape", id="dotdot-first"),
    pytest.param("a/../../escape", id="dotdot-middle"),
    pytest.param("a/..", id="dotdot-last"),
    pytest.param("..", id="dotdot-only"),
    pytest.param("./a", id="dot-segment"),
    pytest.param("a//b", id="empty-segment"),
    pytest.param("a/", id="trailing-slash"),
    pytest.param("a\\..\\b", id="backslash"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\x7fb", id="del"),
    pytest.param("a\x85b", id="c1-control"),
    pytest.param("a\ud800b", id="lone-surrogate"),
    pytest.param("x" * (MAX_KEY_LENGTH + 1), id="too-long"),
    pytest.param("x" * 201, id="segment-too-long"),
]


class BlobStoreContract:
    """Behaviour every BlobStore must have. Not collected itself (no ``Test`` prefix)."""

    @pytest.fixture
    def store(self) -> BlobStore:
        raise NotImplementedError

    @pytest.fixture
    def stored_objects(self) -> Listing:
        raise NotImplementedError

    def test_round_trip_keeps_bytes_and_content_type(self, store: BlobStore) -> None:
        store.put(KEY, b"RIFF....WEBPVP8 ", "image/webp")
        assert store.get(KEY) == Blob(data=b"RIFF....WEBPVP8 ", content_type="image/webp")

    def test_overwrite_replaces_bytes_and_content_type(self, store: BlobStore) -> None:
        store.put(KEY, b"first version, longer than the second", "image/png")
        store.put(KEY, b"second", "image/webp")
        assert store.get(KEY) == Blob(data=b"second", content_type="image/webp")

    def test_missing_key_raises_blob_not_found(self, store: BlobStore) -> None:
        with pytest.raises(BlobNotFound):
            store.get("never/written.bin")
        with pytest.raises(KeyError):  # BlobNotFound is a KeyError
            store.get("never/written.bin")

    def test_delete_removes_and_is_idempotent(self, store: BlobStore) -> None:
        store.delete("never/written.bin")
        store.put(KEY, b"data", "application/octet-stream")
        store.delete(KEY)
        assert not store.exists(KEY)
        with pytest.raises(BlobNotFound):
            store.get(KEY)
        store.delete(KEY)

    def test_exists(self, store: BlobStore) -> None:
        assert not store.exists(KEY)
        store.put(KEY, b"x", "text/plain")
        assert store.exists(KEY)
        assert not store.exists(KEY + ".other")
        assert not store.exists(KEY.rsplit("/", 1)[0])  # a "directory" is not a blob

    def test_binary_data_with_nul_and_newlines(self, store: BlobStore) -> None:
        data = b"\n\x00LMBLOB1 text/plain\n" + bytes(range(256)) * 4 + b"\x00\r\n"
        store.put("bin/all-bytes", data, "application/octet-stream")
        assert store.get("bin/all-bytes") == Blob(data, "application/octet-stream")

    def test_empty_blob(self, store: BlobStore) -> None:
        store.put("empty", b"", "text/plain")
        assert store.exists("empty")
        assert store.get("empty") == Blob(b"", "text/plain")

    def test_six_megabyte_blob(self, store: BlobStore) -> None:
        data = os.urandom(6 * 1024 * 1024)
        store.put("recordings/room/user/big.webm", data, "audio/webm")
        blob = store.get("recordings/room/user/big.webm")
        assert blob.content_type == "audio/webm"
        assert len(blob.data) == len(data)
        assert blob.data == data

    def test_key_and_key_below_it_are_independent(self, store: BlobStore) -> None:
        store.put("a", b"parent", "text/plain")
        store.put("a/b", b"child", "text/plain")
        store.put("a.d/b.blob", b"lookalike", "text/plain")
        assert store.get("a").data == b"parent"
        assert store.get("a/b").data == b"child"
        assert store.get("a.d/b.blob").data == b"lookalike"
        store.delete("a")
        assert store.get("a/b").data == b"child"

    def test_unicode_and_spaces_in_keys(self, store: BlobStore) -> None:
        key = "chat/room 7/images/1700000000-사진 ünïcode (1).jpg"
        store.put(key, b"jpeg", "image/jpeg")
        assert store.get(key) == Blob(b"jpeg", "image/jpeg")

    def test_maximum_length_key(self, store: BlobStore) -> None:
        key = "/".join(["s" * 100] * 5) + "/" + "x" * (MAX_KEY_LENGTH - 505)
        assert len(key) == MAX_KEY_LENGTH
        store.put(key, b"long", "text/plain")
        assert store.get(key).data == b"long"

    @pytest.mark.parametrize("key", INVALID_KEYS)
    def test_invalid_keys_are_rejected_and_nothing_is_written(
        self, store: BlobStore, stored_objects: Listing, key: str
    ) -> None:
        with pytest.raises(InvalidBlobKey):
            store.put(key, b"evil", "text/plain")
        with pytest.raises(InvalidBlobKey):
            store.get(key)
        with pytest.raises(InvalidBlobKey):
            store.exists(key)
        with pytest.raises(InvalidBlobKey):
            store.delete(key)
        assert stored_objects() == []

    @pytest.mark.parametrize(
        "content_type", ["", "text/plain\r\nX-Injected: 1", "image/\x00png", "ü/x", "a" * 256]
    )
    def test_unsafe_content_type_is_rejected_and_nothing_is_written(
        self, store: BlobStore, stored_objects: Listing, content_type: str
    ) -> None:
        with pytest.raises(ValueError, match="content type"):
            store.put(KEY, b"data", content_type)
        assert stored_objects() == []

    def test_content_type_with_parameters(self, store: BlobStore) -> None:
        store.put("notes.txt", b"hi", "text/plain; charset=utf-8")
        assert store.get("notes.txt").content_type == "text/plain; charset=utf-8"

    def test_check_passes(self, store: BlobStore) -> None:
        store.check()
        store.put(KEY, b"x", "text/plain")
        store.check()


class TestLocalBlobStore(BlobStoreContract):
    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        return tmp_path / "blobs"

    @pytest.fixture
    def store(self, root: Path) -> LocalBlobStore:
        return LocalBlobStore(root)

    @pytest.fixture
    def stored_objects(self, tmp_path: Path) -> Listing:
        # Everything under tmp_path, not just the root: an escaping key would land outside it.
        def listing() -> list[str]:
            return sorted(
                str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.is_dir()
            )

        return listing

    def test_layout_is_browsable_and_leaves_no_temp_files(
        self, store: LocalBlobStore, root: Path
    ) -> None:
        store.put(KEY, b"x", "image/webp")
        store.put(KEY, b"y", "image/webp")
        files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
        assert files == [
            Path("profile-images.d/3f1c8f0e-2b7a-4a51-9d0e-2f5b8f1a7c11.d/512.webp.blob")
        ]

    def test_symlink_out_of_root_is_refused(
        self, store: LocalBlobStore, root: Path, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (root / "evil.d").symlink_to(outside, target_is_directory=True)
        with pytest.raises(InvalidBlobKey):
            store.put("evil/x", b"data", "text/plain")
        assert list(outside.iterdir()) == []

    def test_root_is_created(self, tmp_path: Path) -> None:
        LocalBlobStore(tmp_path / "deep" / "new" / "root").check()
        assert (tmp_path / "deep" / "new" / "root").is_dir()

    def test_check_fails_when_root_is_gone(self, store: LocalBlobStore, root: Path) -> None:
        root.rmdir()
        root.write_bytes(b"not a directory")
        with pytest.raises(BlobStoreUnavailable):
            store.check()

    def test_persists_across_instances(self, root: Path) -> None:
        LocalBlobStore(root).put(KEY, b"kept", "image/webp")
        assert LocalBlobStore(root).get(KEY) == Blob(b"kept", "image/webp")


def _s3_store(endpoint: str, bucket: str, region: str = "us-east-1") -> S3BlobStore:
    return S3BlobStore(
        endpoint_url=endpoint,
        bucket=bucket,
        region=region,
        access_key="test",
        secret_key="test",
    )


class TestS3BlobStore(BlobStoreContract):
    @pytest.fixture
    def bucket(self) -> str:
        return unique_name("blobs")  # a fresh bucket per test isolates tests

    @pytest.fixture
    def store(self, s3_endpoint: str, bucket: str) -> S3BlobStore:
        return _s3_store(s3_endpoint, bucket)

    @pytest.fixture
    def stored_objects(self, s3_endpoint: str, bucket: str) -> Listing:
        client = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

        def listing() -> list[str]:
            names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if bucket not in names:
                return []
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

        return listing

    def test_bucket_is_created_on_first_use_and_shared(self, s3_endpoint: str, bucket: str) -> None:
        first = _s3_store(s3_endpoint, bucket)
        second = _s3_store(s3_endpoint, bucket)
        first.put(KEY, b"x", "image/webp")
        second.check()
        assert second.get(KEY) == Blob(b"x", "image/webp")

    def test_bucket_outside_us_east_1(self, s3_endpoint: str, bucket: str) -> None:
        store = _s3_store(s3_endpoint, bucket, region="eu-central-1")
        store.check()
        store.put(KEY, b"x", "image/webp")
        assert store.get(KEY).data == b"x"

    def test_check_raises_against_closed_port(self) -> None:
        store = _s3_store(f"http://127.0.0.1:{free_port()}", "unreachable")
        with pytest.raises(BlobStoreUnavailable):
            store.check()
        with pytest.raises(BlobStoreUnavailable):
            store.put(KEY, b"x", "text/plain")


def test_settings_select_local_store_without_s3_endpoint(tmp_path: Path) -> None:
    store = blob_store_from_settings(Settings(data_dir=tmp_path, s3_endpoint=""))
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "blobs").resolve()


def test_settings_select_s3_store_with_endpoint(s3_endpoint: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        s3_endpoint=s3_endpoint,
        s3_bucket=unique_name("settings"),
        s3_access_key="test",
        s3_secret_key="test",
    )
    store = blob_store_from_settings(settings)
    assert isinstance(store, S3BlobStore)
    assert store.bucket == settings.s3_bucket
    store.put(KEY, b"x", "image/webp")
    assert store.get(KEY) == Blob(b"x", "image/webp")
