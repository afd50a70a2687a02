"""Both storage backends against the same contract: local files and S3 (a real moto server)."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from dealroom.storage import ObjectMissing, Storage, StorageError, StoredObject, make_storage
from dealroom.storage.base import CHUNK_SIZE, content_disposition
from dealroom.storage.local import LocalStorage
from dealroom.storage.s3 import S3Storage
from tests.harness.s3 import moto_server, s3_client

MiB = 1024 * 1024


class PatternStream:
    """A stream that makes its bytes on demand, so the test itself holds none of them.

    It refuses "read everything" (read() / read(-1)) and records the largest read asked for.
    """

    def __init__(self, size: int, *, fail_after: int | None = None) -> None:
        self.size = size
        self.position = 0
        self.fail_after = fail_after
        self.largest_read = 0
        self.reads = 0
        self.digest = hashlib.sha256()

    @staticmethod
    def byte_at(offset: int, count: int) -> bytes:
        pattern = bytes(range(251))  # a prime length, so chunks never line up with it
        start = offset % len(pattern)
        repeated = pattern * (count // len(pattern) + 2)
        return repeated[start : start + count]

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("read() without a size would load the whole file into memory")
        if self.fail_after is not None and self.position >= self.fail_after:
            raise ConnectionResetError("client went away")
        self.reads += 1
        self.largest_read = max(self.largest_read, size)
        count = min(size, self.size - self.position)
        data = self.byte_at(self.position, count)
        self.position += count
        self.digest.update(data)
        return data

    def readable(self) -> bool:
        return True


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint: str) -> Iterator[Any]:
    client = s3_client(moto_endpoint)
    yield client
    client.close()


def _fresh_s3_storage(client: Any, **kwargs: Any) -> S3Storage:
    storage = S3Storage(client, f"test-{uuid.uuid4().hex}", prefix="dealroom/", **kwargs)
    storage.ensure_bucket()
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "files")
    return _fresh_s3_storage(request.getfixturevalue("s3"))


def _read_all(storage: Storage, key: str) -> bytes:
    return b"".join(storage.open(key))


def test_put_then_open_round_trips(storage: Storage) -> None:
    content = b"%PDF-1.7 pretend proposal\n" * 100

    stored = storage.put("org_a/doc_b/v1", io.BytesIO(content), content_type="application/pdf")

    assert stored == StoredObject(
        backend=storage.name,
        key="org_a/doc_b/v1",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content_type="application/pdf",
    )
    assert _read_all(storage, "org_a/doc_b/v1") == content


def test_put_replaces_existing_object(storage: Storage) -> None:
    storage.put("org_a/doc_b/v1", io.BytesIO(b"old"), content_type="text/plain")
    storage.put("org_a/doc_b/v1", io.BytesIO(b"new content"), content_type="text/plain")

    assert _read_all(storage, "org_a/doc_b/v1") == b"new content"


def test_empty_object(storage: Storage) -> None:
    stored = storage.put("org_a/empty", io.BytesIO(b""), content_type="text/plain")

    assert stored.size == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert _read_all(storage, "org_a/empty") == b""


def test_big_object_is_streamed_in_both_directions(storage: Storage) -> None:
    size = 5 * MiB + 123
    stream = PatternStream(size)

    stored = storage.put("org_a/doc_big/v1", stream, content_type="video/mp4")  # type: ignore[arg-type]

    assert stored.size == size
    assert stored.sha256 == stream.digest.hexdigest()
    # boto3 asks for at most one part (8 MiB) at a time; the local backend for one 64 KiB chunk.
    assert stream.largest_read <= 8 * MiB
    chunks = storage.open("org_a/doc_big/v1")
    digest = hashlib.sha256()
    count = 0
    for chunk in chunks:
        assert 0 < len(chunk) <= CHUNK_SIZE
        digest.update(chunk)
        count += 1
    assert count >= size // CHUNK_SIZE
    assert digest.hexdigest() == stored.sha256


def test_local_put_keeps_memory_flat(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    tracemalloc.start()
    try:
        storage.put("org_a/big", PatternStream(5 * MiB), content_type="video/mp4")  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * MiB


def test_s3_multipart_upload_hashes_every_part(s3: Any) -> None:
    storage = _fresh_s3_storage(s3, part_size=5 * MiB)
    size = 11 * MiB + 7  # three parts
    stream = PatternStream(size)

    stored = storage.put("org_a/doc_big/v1", stream, content_type="video/mp4")  # type: ignore[arg-type]

    assert stored.size == size
    assert stored.sha256 == stream.digest.hexdigest()
    assert stream.largest_read <= 5 * MiB
    head = s3.head_object(Bucket=storage.bucket, Key="dealroom/org_a/doc_big/v1")
    assert head["ContentLength"] == size
    assert head["ContentType"] == "video/mp4"
    assert "-" in head["ETag"]  # a multipart ETag: "<md5 of part md5s>-<parts>"
    digest = hashlib.sha256()
    for chunk in storage.open("org_a/doc_big/v1"):
        digest.update(chunk)
    assert digest.hexdigest() == stored.sha256


def test_failed_upload_leaves_previous_version(storage: Storage) -> None:
    storage.put("org_a/doc_b/v1", io.BytesIO(b"good"), content_type="text/plain")

    with pytest.raises(ConnectionResetError):
        storage.put(
            "org_a/doc_b/v1",
            PatternStream(MiB, fail_after=100_000),  # type: ignore[arg-type]
            content_type="text/plain",
        )

    assert _read_all(storage, "org_a/doc_b/v1") == b"good"


def test_failed_local_upload_leaves_no_temp_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(ConnectionResetError):
        storage.put("org_a/doc", PatternStream(MiB, fail_after=100_000), content_type="x/y")  # type: ignore[arg-type]

    assert list((tmp_path / "org_a").iterdir()) == []


def test_exists_and_idempotent_delete(storage: Storage) -> None:
    storage.put("org_a/doc_b/v1", io.BytesIO(b"x"), content_type="text/plain")
    assert storage.exists("org_a/doc_b/v1")
    assert not storage.exists("org_a/doc_b/v2")
    assert not storage.exists("org_a/doc_b")  # a "directory" is not an object

    storage.delete("org_a/doc_b/v1")
    storage.delete("org_a/doc_b/v1")
    storage.delete("org_a/never/stored")

    assert not storage.exists("org_a/doc_b/v1")


def test_open_missing_key_raises_before_iterating(storage: Storage) -> None:
    with pytest.raises(ObjectMissing) as info:
        storage.open("org_a/nope")  # no iteration: callers can answer 404 before streaming
    assert isinstance(info.value, StorageError)
    assert info.value.key == "org_a/nope"


def test_closing_unread_chunks_releases_the_object(storage: Storage) -> None:
    storage.put("org_a/doc", io.BytesIO(b"x" * 200_000), content_type="text/plain")
    fds_before = _open_fds()

    chunks = storage.open("org_a/doc")
    chunks.close()  # an abandoned download, before its first chunk

    assert list(chunks) == []
    assert _open_fds() <= fds_before
    with storage.open("org_a/doc") as again:
        assert next(again) == b"x" * CHUNK_SIZE


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../secret",
        "org_a/../../secret",
        "org_a/..",
        "/etc/passwd",
        "org_a\\..\\secret",
        "org_a/doc\x00.pdf",
        "org_a//doc",
        "./org_a",
        "org_a/",
    ],
)
def test_unsafe_keys_are_rejected(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        storage.put(key, io.BytesIO(b"x"), content_type="text/plain")
    with pytest.raises(ValueError):
        storage.open(key)
    with pytest.raises(ValueError):
        storage.exists(key)
    with pytest.raises(ValueError):
        storage.delete(key)
    with pytest.raises(ValueError):
        storage.url(
            key, expires_in=60, filename="a.pdf", content_type="application/pdf", inline=True
        )


def test_local_rejects_symlink_out_of_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "files"
    root.mkdir()
    os.symlink(outside, root / "org_a")
    storage = LocalStorage(root)

    with pytest.raises(ValueError):
        storage.put("org_a/doc", io.BytesIO(b"x"), content_type="text/plain")
    assert list(outside.iterdir()) == []


def test_local_has_no_direct_url(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("org_a/doc", io.BytesIO(b"x"), content_type="application/pdf")

    url = storage.url(
        "org_a/doc", expires_in=60, filename="a.pdf", content_type="application/pdf", inline=True
    )

    assert url is None


@pytest.mark.parametrize("inline", [True, False])
def test_s3_presigned_url_serves_bytes_with_requested_headers(s3: Any, inline: bool) -> None:
    storage = _fresh_s3_storage(s3)
    content = b"%PDF-1.7 the deck"
    # Stored with a different type: the URL's type is the one the app decided on.
    storage.put("org_a/doc_b/v1", io.BytesIO(content), content_type="application/octet-stream")

    url = storage.url(
        "org_a/doc_b/v1",
        expires_in=60,
        filename='Angebot Müller "final".pdf',
        content_type="application/pdf",
        inline=inline,
    )

    assert url is not None
    assert "Expires=60" in url or "X-Amz-Expires=60" in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition == content_disposition('Angebot Müller "final".pdf', inline=inline)
    assert disposition.startswith("inline;" if inline else "attachment;")
    assert "filename*=UTF-8''Angebot%20M%C3%BCller%20%22final%22.pdf" in disposition


def test_content_disposition_has_ascii_fallback() -> None:
    value = content_disposition('Ré"port/\\ 100%.pdf', inline=False)

    assert value == (
        'attachment; filename="R__port__ 100_.pdf"; '
        "filename*=UTF-8''R%C3%A9%22port%2F%5C%20100%25.pdf"
    )


def test_s3_prefix_is_applied_but_not_recorded(s3: Any) -> None:
    storage = _fresh_s3_storage(s3)

    stored = storage.put("org_a/doc", io.BytesIO(b"x"), content_type="text/plain")

    assert stored.key == "org_a/doc"
    listing = s3.list_objects_v2(Bucket=storage.bucket)
    assert [obj["Key"] for obj in listing["Contents"]] == ["dealroom/org_a/doc"]


def test_check_passes(storage: Storage) -> None:
    storage.check()


def test_local_check_fails_when_root_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")

    with pytest.raises(StorageError):
        LocalStorage(tmp_path / "file").check()


def test_s3_check_fails_for_missing_bucket(s3: Any) -> None:
    storage = S3Storage(s3, f"missing-{uuid.uuid4().hex}")

    with pytest.raises(StorageError):
        storage.check()


def test_s3_check_fails_when_server_unreachable() -> None:
    from tests.harness.ports import free_port

    client = s3_client(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(StorageError):
            S3Storage(client, "dealroom").check()
    finally:
        client.close()


def test_s3_missing_bucket_is_a_storage_error_not_a_missing_object(s3: Any) -> None:
    storage = S3Storage(s3, f"missing-{uuid.uuid4().hex}")

    with pytest.raises(StorageError) as info:
        storage.open("org_a/doc")
    assert not isinstance(info.value, ObjectMissing)
    with pytest.raises(StorageError):
        storage.put("org_a/doc", io.BytesIO(b"x"), content_type="text/plain")


def test_ensure_bucket_is_idempotent(s3: Any) -> None:
    storage = _fresh_s3_storage(s3)
    storage.ensure_bucket()
    storage.check()


def _settings(**overrides: str) -> SimpleNamespace:
    values = {
        "storage": "local",
        "storage_dir": "",
        "s3_endpoint_url": "",
        "s3_bucket": "dealroom",
        "s3_region": "us-east-1",
        "s3_access_key": "",
        "s3_secret_key": "",
        "s3_prefix": "",
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_make_storage_local(tmp_path: Path) -> None:
    storage = make_storage(_settings(storage="local", storage_dir=str(tmp_path)))

    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path


def test_make_storage_s3(moto_endpoint: str) -> None:
    settings = _settings(
        storage="s3",
        s3_endpoint_url=moto_endpoint,
        s3_bucket=f"test-{uuid.uuid4().hex}",
        s3_access_key="test",
        s3_secret_key="test",
        s3_prefix="/tenant-1/",
    )

    storage = make_storage(settings)

    assert isinstance(storage, S3Storage)
    try:
        assert storage.prefix == "tenant-1/"
        storage.ensure_bucket()
        storage.put("org_a/doc", io.BytesIO(b"hello"), content_type="text/plain")
        assert _read_all(storage, "org_a/doc") == b"hello"
    finally:
        storage.client.close()


def test_make_storage_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="ftp"):
        make_storage(_settings(storage="ftp"))


def test_open_reads_a_byte_range(storage):
    data = bytes(range(256)) * 1024  # 256 KiB: several chunks
    storage.put("org_x/ranged", io.BytesIO(data), content_type="application/octet-stream")
    with storage.open("org_x/ranged", start=1000, length=70_000) as chunks:
        assert b"".join(chunks) == data[1000:71_000]
    with storage.open("org_x/ranged", start=len(data) - 5) as chunks:
        assert b"".join(chunks) == data[-5:]
