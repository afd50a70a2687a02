"""Backup and restore of the embedded default: the SQLite database and the local file storage,
in one .tar.gz with a manifest.

    manifest.json       format, app version, schema (Alembic) revision, time, counts, checksums
    database.sqlite3    a consistent copy made with SQLite's online backup API
    files/<key>         every stored file, under its storage key

The backup runs while the app serves: the database copy is one snapshot (readers never block
writers in WAL mode), and stored files are never changed in place (a new version is a new key),
so the files copied after the snapshot include every file it references. One that was deleted
between the snapshot and the copy is listed in the manifest's `missing_files`.

Restore is for a stopped app: it refuses to overwrite a non-empty database or storage directory
unless forced, checks every checksum before anything is replaced, and swaps the new database and
files in only when all of them are good.

PostgreSQL and S3 are backed up with their own tools (pg_dump, a bucket sync): see the README's
"Backups" section. This module refuses them with that pointer.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import make_url

from . import __version__
from .settings import Settings
from .storage.base import CHUNK_SIZE, validate_key

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "database.sqlite3"
FILES = "files/"
# Files that are not stored objects: half-written uploads and readiness probes (storage/local.py).
_TEMPORARY = (".upload-", ".check-")
ELSEWHERE = (
    "`backup` and `restore` handle the embedded default (SQLite and local file storage). "
    "For PostgreSQL use pg_dump/pg_restore, for S3 a bucket sync: see the README's Backups section."
)


class BackupError(Exception):
    """Shown to the operator as is."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    revision: str | None
    files: int
    bytes: int
    missing: list[str]


@dataclass(frozen=True)
class RestoreResult:
    revision: str | None
    files: int
    database: Path
    storage: Path


def database_path(settings: Settings) -> Path:
    url = make_url(settings.sqlalchemy_url)
    if not url.drivername.startswith("sqlite"):
        raise BackupError(f"The database is {url.drivername}, not SQLite. {ELSEWHERE}")
    if not url.database or url.database == ":memory:":
        raise BackupError("The database is in memory: there is nothing to back up.")
    return Path(url.database)


def _storage_dir(settings: Settings) -> Path:
    if settings.storage != "local":
        raise BackupError(f"Files are stored in {settings.storage}, not locally. {ELSEWHERE}")
    return Path(settings.storage_dir)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("select version_num from alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _stored_files(root: Path) -> Iterator[tuple[str, Path]]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.name.startswith(_TEMPORARY):
            yield path.relative_to(root).as_posix(), path


class _Hashing(io.RawIOBase):
    """Reads through to `handle`, hashing what passes (so a file is read once)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _archive_path(target: Path) -> Path:
    if target.name.endswith((".tar.gz", ".tgz")):
        return target
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return target / f"dealroom-backup-{stamp}.tar.gz"


def backup(settings: Settings, target: Path) -> BackupResult:
    """Write a backup archive to `target` (a .tar.gz path, or a directory to put one in)."""
    source = database_path(settings)
    storage = _storage_dir(settings)
    if not source.is_file():
        raise BackupError(f"There is no database at {source}.")
    archive = _archive_path(target)
    archive.parent.mkdir(parents=True, exist_ok=True)
    if archive.exists():
        raise BackupError(f"{archive} already exists.")
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".dealroom-backup-") as tmp:
        snapshot = Path(tmp) / DATABASE
        # The online backup API: one consistent snapshot while the app keeps writing.
        with contextlib.closing(sqlite3.connect(source, timeout=30)) as live:
            with contextlib.closing(sqlite3.connect(snapshot)) as copy:
                live.backup(copy)
                revision = _revision(copy)
                try:
                    referenced = {
                        str(row[0])
                        for row in copy.execute(
                            "select key from stored_file where backend = 'local'"
                        )
                    }
                except sqlite3.Error:
                    referenced = set()
        checksums = {DATABASE: _sha256_file(snapshot)}
        partial = archive.with_name(archive.name + ".partial")
        total = 0
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(snapshot, arcname=DATABASE, recursive=False)
            for key, path in _stored_files(storage):
                try:
                    handle = path.open("rb")
                except FileNotFoundError:
                    continue  # deleted since the listing
                with handle:
                    info = tar.gettarinfo(fileobj=handle, arcname=FILES + key)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    hashing = _Hashing(handle)
                    tar.addfile(info, hashing)
                    checksums[FILES + key] = hashing.digest.hexdigest()
                    total += info.size
            files = {name.removeprefix(FILES) for name in checksums if name.startswith(FILES)}
            missing = sorted(referenced - files)
            manifest = {
                "format": FORMAT,
                "app": "dealroom",
                "version": __version__,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "alembic_revision": revision,
                "database": DATABASE,
                "file_count": len(files),
                "file_bytes": total,
                "missing_files": missing,
                "checksums": checksums,
            }
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
        os.replace(partial, archive)
    return BackupResult(archive, revision, len(files), total, missing)


# ---------------------------------------------------------------- restore


def _existing_data(database: Path, storage: Path) -> list[str]:
    """What is already there (names of the places), for the refusal message."""
    found = []
    if database.exists() and database.stat().st_size > 0:
        found.append(str(database))
    if storage.is_dir() and any(True for _ in _stored_files(storage)):
        found.append(str(storage))
    return found


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        handle = tar.extractfile(member)
    except KeyError:
        raise BackupError(
            "This archive has no manifest.json: it is not a Dealroom backup."
        ) from None
    if handle is None:
        raise BackupError("The manifest is not a file.")
    try:
        manifest = json.load(handle)
    except ValueError:
        raise BackupError("The manifest is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("app") != "dealroom":
        raise BackupError("This archive is not a Dealroom backup.")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unsupported backup format {manifest.get('format')!r}.")
    checksums = manifest.get("checksums")
    if not isinstance(checksums, dict) or DATABASE not in checksums:
        raise BackupError("The manifest lists no database checksum.")
    return manifest


def _member_target(name: str, database: Path, files: Path) -> Path:
    if name == DATABASE:
        return database
    if name.startswith(FILES):
        key = name.removeprefix(FILES)
        try:
            validate_key(key)
        except ValueError as exc:
            raise BackupError(f"Refusing an unsafe name in the archive: {name!r}") from exc
        return files / key
    raise BackupError(f"Unexpected entry in the archive: {name!r}")


def restore(settings: Settings, archive: Path, *, force: bool = False) -> RestoreResult:
    """Replace the database and the stored files with the archive's, after checking it whole."""
    database = database_path(settings)
    storage = _storage_dir(settings)
    if not archive.is_file():
        raise BackupError(f"There is no file at {archive}.")
    present = _existing_data(database, storage)
    if present and not force:
        raise BackupError(
            f"Refusing to overwrite existing data ({', '.join(present)}). Stop the app, and run "
            "restore again with --force to replace it."
        )
    database.parent.mkdir(parents=True, exist_ok=True)
    storage.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        staged_db = (
            Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(dir=database.parent, prefix=".restore-")
                )
            )
            / DATABASE
        )
        staged_files = (
            Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(dir=storage.parent, prefix=".restore-")
                )
            )
            / "files"
        )
        staged_files.mkdir()
        try:
            tar = stack.enter_context(tarfile.open(archive, "r:gz"))
            manifest = read_manifest(tar)
            expected: dict[str, str] = dict(manifest["checksums"])
            seen: set[str] = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if not member.isfile():
                    raise BackupError(f"Unexpected entry in the archive: {member.name!r}")
                if member.name in seen:
                    raise BackupError(f"{member.name!r} appears twice in the archive.")
                if member.name not in expected:
                    raise BackupError(f"{member.name!r} is not listed in the manifest.")
                destination = _member_target(member.name, staged_db, staged_files)
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                digest = hashlib.sha256()
                with destination.open("wb") as out:
                    while chunk := source.read(CHUNK_SIZE):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != expected[member.name]:
                    raise BackupError(
                        f"Checksum mismatch for {member.name!r}: the archive is damaged."
                    )
                seen.add(member.name)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BackupError(f"Cannot read {archive}: {exc}") from exc
        absent = sorted(set(expected) - seen)
        if absent:
            raise BackupError(
                f"The archive lacks {len(absent)} listed file(s), e.g. {absent[0]!r}."
            )
        with contextlib.closing(sqlite3.connect(staged_db)) as check:
            status = check.execute("pragma integrity_check").fetchone()
            revision = _revision(check)
        if not status or status[0] != "ok":
            raise BackupError("The database in the archive fails SQLite's integrity check.")
        if revision != manifest.get("alembic_revision"):
            raise BackupError("The database's schema revision does not match the manifest.")

        # Everything checked: swap in the database (and drop the old one's WAL) and the files.
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{database}{suffix}")
        os.replace(staged_db, database)
        if storage.exists():
            retired = storage.with_name(f".{storage.name}-replaced-{os.getpid()}")
            os.replace(storage, retired)
            os.replace(staged_files, storage)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staged_files, storage)
    return RestoreResult(revision, len(seen) - 1, database, storage)
