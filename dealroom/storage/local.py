"""Files in a directory on this machine: for development and single-server installs."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .base import (
    CHUNK_SIZE,
    Chunks,
    ObjectMissing,
    Storage,
    StorageError,
    StorageFull,
    StoredObject,
    validate_key,
)

# A disk or a quota that is full: the uploader is told so, not "cannot write".
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class LocalStorage(Storage):
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = self.root / key
        # The key rules already forbid "..": this also catches a symlink inside root pointing out.
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise ValueError(f"storage key escapes the storage directory: {key!r}")
        return path

    def put(self, key: str, fileobj: BinaryIO, *, content_type: str) -> StoredObject:
        path = self._path(key)
        sha256 = hashlib.sha256()
        size = 0
        with _writing(key):
            path.parent.mkdir(parents=True, exist_ok=True)
            # A temp file in the same directory, then os.replace: readers see the old file or the
            # new one, never half of one, even if the upload dies midway.
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                # Errors from the caller's stream (a client that went away) pass through as they
                # are; only our own disk errors become StorageError.
                while chunk := fileobj.read(CHUNK_SIZE):
                    sha256.update(chunk)
                    size += len(chunk)
                    with _writing(key):
                        out.write(chunk)
                with _writing(key):
                    out.flush()
                    os.fsync(out.fileno())
            with _writing(key):
                os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        return StoredObject(
            backend=self.name,
            key=key,
            size=size,
            sha256=sha256.hexdigest(),
            content_type=content_type,
        )

    def open(self, key: str, *, start: int = 0, length: int | None = None) -> Chunks:
        path = self._path(key)
        try:
            handle = path.open("rb")
            handle.seek(start)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectMissing(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc
        return Chunks(_chunks(handle, key, length), handle.close)

    def url(
        self, key: str, *, expires_in: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        self._path(key)  # same key rules as every other method
        # No direct URL: the app streams the file through its own authorised route.
        return None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # Writing proves more than an existing directory does (read-only mounts, full disks).
            with tempfile.TemporaryFile(dir=self.root, prefix=".check-") as probe:
                probe.write(b"ok")
        except OSError as exc:
            raise StorageError(f"storage directory {self.root} is not writable: {exc}") from exc


def _chunks(handle: BinaryIO, key: str, length: int | None = None) -> Iterator[bytes]:
    left = -1 if length is None else length
    with handle:
        try:
            while left and (
                chunk := handle.read(CHUNK_SIZE if left < 0 else min(CHUNK_SIZE, left))
            ):
                left -= len(chunk) if left > 0 else 0
                yield chunk
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc


@contextlib.contextmanager
def _writing(key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise StorageFull(f"no space left to write {key!r}: {exc}") from exc
        raise StorageError(f"cannot write {key!r}: {exc}") from exc
