"""`python -m dealroom backup` / `restore` for the embedded default (SQLite + local files)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import func, select

from dealroom import accounts, backup, content, rooms
from dealroom.app import build_services, create_app
from dealroom.audit import AuditEvent
from dealroom.content import Upload
from dealroom.migrate import current_head, upgrade
from dealroom.pdfgen import simple_pdf
from dealroom.settings import PROJECT_ROOT, load_settings
from tests import factories
from tests.conftest import TEST_SECRET, make_browser

PDF = simple_pdf([["Backed up proposal"]])


def _settings(root: Path, **extra):
    return load_settings(
        environ={},
        dotenv=None,
        secret_key=TEST_SECRET,
        base_url="http://testserver",
        database_url=f"sqlite:///{root / 'db' / 'dealroom.db'}",
        storage_dir=str(root / "files"),
        run_jobs=False,
        **extra,
    )


@pytest.fixture
def live(tmp_path):
    """An installation with a seller, a room and an uploaded PDF, committed."""
    settings = _settings(tmp_path / "live")
    (tmp_path / "live" / "db").mkdir(parents=True)
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    with services.db.session() as session:
        user = factories.seller(session, org="Backup Org")
        room = factories.room(session, user, name="Backed-up deal")
        org = accounts.get_org(session, user.org_id)
        item = content.add_file(
            session,
            storage=services.storage,
            room=room,
            user=user,
            org_public_id=org.public_id,
            upload=Upload(filename="proposal.pdf", file=io.BytesIO(PDF), size=len(PDF)),
            title="Proposal",
        )
        ids = {"email": user.email, "room": room.public_id, "item": item.public_id}
    yield settings, services, ids
    services.db.dispose()


def _count_events(services) -> int:
    with services.db.session(write=False) as session:
        return session.exec(select(func.count()).select_from(AuditEvent)).one()


def test_backup_while_writing_then_restore_into_a_fresh_installation(live, tmp_path):
    settings, services, ids = live
    stop = threading.Event()
    written = []

    def writer() -> None:
        with services.db.session(write=False) as session:
            org_id = session.exec(select(rooms.Room.org_id)).first()
        while not stop.is_set():
            with services.db.session() as session:
                session.add(AuditEvent(org_id=org_id, actor="system", action="test.write"))
            written.append(1)
            time.sleep(0.002)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            time.sleep(0.01)
        before = len(written)
        result = backup.backup(settings, tmp_path / "backups")
        after = len(written)
    finally:
        stop.set()
        thread.join()
    assert after > before, "the writer kept writing during the backup"
    assert result.path.parent == tmp_path / "backups"
    assert result.path.name.startswith("dealroom-backup-") and result.path.name.endswith(".tar.gz")
    assert result.revision == current_head() and result.files == 1 and result.missing == []

    with tarfile.open(result.path) as tar:
        manifest = backup.read_manifest(tar)
        names = sorted(m.name for m in tar.getmembers())
    assert manifest["alembic_revision"] == current_head()
    assert manifest["file_count"] == 1 and manifest["file_bytes"] == len(PDF)
    assert manifest["created_at"] and manifest["version"]
    assert set(manifest["checksums"]) == {n for n in names if n != "manifest.json"}
    assert "database.sqlite3" in names and any(n.startswith("files/") for n in names)

    fresh = _settings(tmp_path / "fresh")
    restored = backup.restore(fresh, result.path)
    assert restored.revision == current_head() and restored.files == 1

    app_services = build_services(fresh)
    try:
        # A consistent snapshot: every event committed before the backup started, none after
        # it ended, and a database that opens and passes the app's own reads.
        events = _count_events(app_services)
        assert before <= events <= after
        app = create_app(services=app_services)
        with make_browser(app, app_services) as browser:
            browser.login(ids["email"], factories.PASSWORD)
            page = browser.get(f"/rooms/{ids['room']}")
            assert page.status_code == 200 and "Backed-up deal" in page.text
            file = browser.get(f"/rooms/{ids['room']}/content/{ids['item']}/file")
            assert file.status_code == 200 and file.content == PDF
            assert browser.get("/readyz").status_code == 200
    finally:
        app_services.db.dispose()


def test_restore_refuses_to_overwrite_unless_forced(live, tmp_path):
    settings, services, ids = live
    archive = backup.backup(settings, tmp_path / "b.tar.gz").path
    assert archive == tmp_path / "b.tar.gz"
    with pytest.raises(backup.BackupError, match="already exists"):
        backup.backup(settings, archive)
    # The live installation is not empty: restoring over it needs --force.
    with pytest.raises(backup.BackupError, match="--force"):
        backup.restore(settings, archive)
    # Make a change, then roll it back with a forced restore.
    with services.db.session() as session:
        room = session.exec(select(rooms.Room)).one()
        room.name = "Changed after the backup"
    services.db.dispose()
    Path(settings.storage_dir, "stray.bin").write_bytes(b"not in the backup")
    backup.restore(settings, archive, force=True)
    restored = build_services(settings)
    try:
        with restored.db.session(write=False) as session:
            assert session.exec(select(rooms.Room.name)).one() == "Backed-up deal"
    finally:
        restored.db.dispose()
    assert not Path(settings.storage_dir, "stray.bin").exists()


def _rewrite_archive(source: Path, target: Path, change) -> None:
    with tarfile.open(source) as tar_in, tarfile.open(target, "w:gz") as tar_out:
        for member in tar_in.getmembers():
            data = tar_in.extractfile(member).read()
            data, member = change(member, data)
            if member is None:
                continue
            member.size = len(data)
            tar_out.addfile(member, io.BytesIO(data))


def _flip_file(member, data):
    return (data[:-1] + bytes([data[-1] ^ 1]) if member.name.startswith("files/") else data), member


def _path_escape(member, data):
    if member.name.startswith("files/"):
        member.name = "files/../../escaped"
    return data, member


def _drop_database(member, data):
    return data, (None if member.name == "database.sqlite3" else member)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_flip_file, "Checksum mismatch"),
        (_path_escape, "not listed in the manifest|unsafe name"),
        (_drop_database, "lacks 1 listed file"),
    ],
    ids=["damaged file", "path escape", "missing database"],
)
def test_a_damaged_archive_changes_nothing(live, tmp_path, change, message):
    settings, _services, _ids = live
    good = backup.backup(settings, tmp_path / "good.tar.gz").path
    bad = tmp_path / "bad.tar.gz"
    _rewrite_archive(good, bad, change)
    target = _settings(tmp_path / "target")
    with pytest.raises(backup.BackupError, match=message):
        backup.restore(target, bad)
    assert not Path(target.sqlalchemy_url.removeprefix("sqlite:///")).exists()
    assert not Path(target.storage_dir).exists() or not any(Path(target.storage_dir).iterdir())
    assert not (tmp_path / "escaped").exists()


def test_not_a_backup_is_refused(live, tmp_path):
    settings, _services, _ids = live
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as tar:
        data = json.dumps({"hello": "world"}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(backup.BackupError, match="not a Dealroom backup"):
        backup.restore(_settings(tmp_path / "t"), other)
    (tmp_path / "junk.tar.gz").write_bytes(b"not gzip at all")
    with pytest.raises(backup.BackupError, match="Cannot read"):
        backup.restore(_settings(tmp_path / "t2"), tmp_path / "junk.tar.gz")


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DEALROOM_")}
    base.update(
        {
            "DEALROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'cli' / 'cli.db'}",
            "DEALROOM_STORAGE_DIR": str(tmp_path / "cli" / "files"),
            "DEALROOM_SECRET_KEY": "cli-test-secret-0123456789-abcdefghijklmnop",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "dealroom", *args],
        cwd=PROJECT_ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_line_backs_up_restores_and_refuses_other_databases(live, tmp_path):
    settings, _services, _ids = live
    (tmp_path / "cli").mkdir()
    env = {
        "DEALROOM_DATABASE_URL": settings.database_url,
        "DEALROOM_STORAGE_DIR": settings.storage_dir,
    }
    made = _cli(tmp_path, "backup", str(tmp_path / "cli-backups"), **env)
    assert made.returncode == 0, made.stderr
    assert "Backup written to" in made.stdout and "1 files" in made.stdout
    [archive] = (tmp_path / "cli-backups").glob("dealroom-backup-*.tar.gz")

    refused = _cli(tmp_path, "restore", str(archive), **env)
    assert refused.returncode == 1 and "--force" in refused.stderr
    into_fresh = _cli(tmp_path, "restore", str(archive))
    assert into_fresh.returncode == 0, into_fresh.stderr
    assert f"schema revision {current_head()}" in into_fresh.stdout

    postgres = _cli(
        tmp_path,
        "backup",
        str(tmp_path / "x"),
        DEALROOM_DATABASE_URL="postgresql+psycopg://u:p@127.0.0.1:1/db",
    )
    assert postgres.returncode == 1
    assert "pg_dump" in postgres.stderr and "Backups" in postgres.stderr
    s3 = _cli(tmp_path, "backup", str(tmp_path / "x"), DEALROOM_STORAGE="s3")
    assert s3.returncode == 1 and "bucket" in s3.stderr
