"""What every storage backend offers, and the pieces they share.

    StorageError          backend unreachable, not writable, or a read failed
     ├── StorageFull      no space left (disk full, quota): writes only
     └── ObjectMissing    the key is not stored (reads only; delete is idempotent)

Keys are "/"-separated relative names such as ``org_x/doc_y/v1``. The same key rules apply to
every backend, so a file can move between them without renaming.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_SIZE = 64 * 1024


@dataclass(frozen=True)
class StoredObject:
    backend: str  # "local" or "s3": recorded with the file so it can be found after a switch
    key: str
    size: int
    sha256: str  # hex digest of the content
    content_type: str


class StorageError(Exception):
    pass


class StorageFull(StorageError):
    pass


class ObjectMissing(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no stored object with key {key!r}")
        self.key = key


class Storage(ABC):
    name: str

    @abstractmethod
    def put(self, key: str, fileobj: BinaryIO, *, content_type: str) -> StoredObject:
        """Store the stream under ``key`` (replacing it), reading it in chunks."""

    @abstractmethod
    def open(self, key: str, *, start: int = 0, length: int | None = None) -> Chunks:
        """Return the content (from byte ``start``, at most ``length`` bytes: a Range request)
        as chunks; raises ObjectMissing now, not at the first chunk.

        Iterate to the end or call ``close()``: either releases the file or connection.
        """

    @abstractmethod
    def url(
        self, key: str, *, expires_in: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        """A short-lived direct download URL, or None when the app must stream the file itself."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; removing a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def check(self) -> None:
        """Readiness probe: raise StorageError unless the backend is reachable and writable."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative name, else raise ValueError.

    Keys are built by the app, so a bad one is a bug (or an attack through an id): refuse rather
    than normalise, because a silently rewritten key could land on another tenant's file.
    """
    if not key or len(key) > 1024:
        raise ValueError("storage key must be 1 to 1024 characters")
    if "\x00" in key or "\\" in key:
        raise ValueError(f"storage key contains a forbidden character: {key!r}")
    if key.startswith("/"):
        raise ValueError(f"storage key must be relative: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"storage key has an empty, '.' or '..' segment: {key!r}")
    return key


class Chunks(Iterator[bytes]):
    """The chunks of one stored object, holding an open file or connection until done.

    ``open`` returns this rather than a bare generator because a generator that was never started
    ignores ``close()``: a response abandoned before its first chunk would leak the handle.
    """

    def __init__(self, chunks: Iterator[bytes], release: Callable[[], None]) -> None:
        self._chunks = chunks
        self._release = release  # must be safe to call twice

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        self._release()

    def __enter__(self) -> Chunks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class HashingReader:
    """Wraps a stream, hashing and counting what passes through ``read``.

    It deliberately has no ``seek``/``tell``: boto3 then treats it as a one-way stream and reads
    it in order exactly once, so the digest covers exactly the uploaded bytes.
    """

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj
        self._sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        # A caller asking for "everything" (-1/None) gets one chunk instead: never the whole file.
        if size is None or size < 0:
            size = CHUNK_SIZE
        data = self._fileobj.read(size)
        self._sha256.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


# Characters that cannot appear in the quoted ASCII fallback (or that some browsers misread there).
_TOKEN_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\%/]')


def content_disposition(filename: str, *, inline: bool) -> str:
    """A Content-Disposition value that survives any filename (RFC 6266 with an ASCII fallback)."""
    disposition = "inline" if inline else "attachment"
    fallback = _TOKEN_UNSAFE.sub("_", filename) or "download"
    quoted = urllib.parse.quote(filename, safe="")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"
