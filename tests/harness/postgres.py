"""Throwaway PostgreSQL clusters for tests.

``postgres_cluster()`` runs ``initdb`` in a fresh temporary directory, starts a
server that listens only on 127.0.0.1 (on a free port, with its unix socket
inside the temporary directory), creates the ``dealroom_test`` database and
yields its SQLAlchemy URL. On exit the server is stopped with
``pg_ctl stop -m immediate`` and the directory is removed.

PostgreSQL refuses to run as root, so when the tests run as root every server
binary is run as the ``postgres`` system user through ``runuser``, and the
temporary directory is handed to that user.

Binaries are looked up in this order: ``$DEALROOM_PG_BINDIR``,
``pg_config --bindir``, the highest ``/usr/lib/postgresql/*/bin`` and ``PATH``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from .ports import free_port

__all__ = [
    "PostgresNotFound",
    "create_database",
    "drop_database",
    "find_pg_bindir",
    "postgres_cluster",
]

TEST_DATABASE = "dealroom_test"
SUPERUSER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. "
    "Install them with `apt-get install -y postgresql` (Debian/Ubuntu; `make test-deps` "
    "does this when run as root), or point DEALROOM_PG_BINDIR at the directory "
    "that holds initdb and pg_ctl."
)
_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_START_ATTEMPTS = 3


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def _has_server_binaries(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(Path(bindir) / name, os.X_OK) for name in _SERVER_BINARIES)


def _version_key(path: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); non-numeric versions sort first
    name = Path(path).parent.name
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return (-1,)


def find_pg_bindir() -> Path:
    """Return the directory holding ``initdb``/``pg_ctl``/``postgres``.

    Raises ``PostgresNotFound`` (a ``RuntimeError``) with an install hint when
    no usable installation is found.
    """
    override = os.environ.get("DEALROOM_PG_BINDIR")
    if override:
        if _has_server_binaries(override):
            return Path(override)
        raise PostgresNotFound(
            f"DEALROOM_PG_BINDIR={override!r} does not contain {', '.join(_SERVER_BINARIES)}. "
            + INSTALL_HINT
        )

    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            if out and _has_server_binaries(out):
                return Path(out)

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if _has_server_binaries(candidate):
            return Path(candidate)

    initdb = shutil.which("initdb")
    if initdb:
        # Follow symlinks so that `postgres` is looked up next to the real initdb.
        for bindir in (Path(initdb).parent, Path(os.path.realpath(initdb)).parent):
            if _has_server_binaries(bindir):
                return bindir
        if shutil.which("pg_ctl") and shutil.which("postgres"):
            return Path(initdb).parent

    raise PostgresNotFound(INSTALL_HINT)


def _world_traversable(path: Path) -> bool:
    """True when every directory from / down to ``path`` has the o+x bit."""
    path = path.resolve()
    for part in [path, *path.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def _make_tempdir(as_root: bool) -> Path:
    base = Path(tempfile.gettempdir())
    if as_root and not _world_traversable(base):
        # The postgres user must be able to reach the directory.
        base = Path("/tmp")  # noqa: S108
    return Path(tempfile.mkdtemp(prefix="dealroom-pg-", dir=base))


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class _Runner:
    """Runs PostgreSQL binaries, as the ``postgres`` user when we are root."""

    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.as_root = os.geteuid() == 0
        self.prefix: list[str] = []
        if self.as_root:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            if not os.access(runuser, os.X_OK):
                raise RuntimeError("running the tests as root needs `runuser` (util-linux)")
            self.prefix = [runuser, "-u", SUPERUSER, "--"]

    def run(
        self, binary: str, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.prefix, str(self.bindir / binary), *args]
        env = dict(os.environ)
        # Make sure no outer PG* settings leak into the throwaway cluster.
        for key in list(env):
            if key.startswith("PG"):
                del env[key]
        env["LC_ALL"] = "C"
        return subprocess.run(
            cmd,
            cwd=self.workdir,  # postgres must be able to read its cwd
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _start(runner: _Runner, datadir: Path, sockdir: Path, logfile: Path) -> int:
    last_error = ""
    for _ in range(_START_ATTEMPTS):
        port = free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {port}",
                f"-c unix_socket_directories={sockdir}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        result = runner.run(
            "pg_ctl",
            "start",
            "-D",
            str(datadir),
            "-l",
            str(logfile),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            timeout=90,
        )
        if result.returncode == 0:
            return port
        last_error = f"{result.stdout}\n{result.stderr}\n--- server log ---\n{_tail(logfile)}"
        # Possibly lost the race for the port: make sure nothing is left, retry.
        runner.run("pg_ctl", "stop", "-D", str(datadir), "-m", "immediate", "-w", timeout=30)
    raise RuntimeError(f"could not start PostgreSQL:\n{last_error.strip()}")


def _connect_admin(host: str, port: int, user: str, password: str | None) -> psycopg.Connection:
    return psycopg.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    )


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster and yield the ``dealroom_test`` URL.

    The URL looks like ``postgresql+psycopg://postgres@127.0.0.1:PORT/dealroom_test``.
    """
    bindir = find_pg_bindir()
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pw = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresNotFound(
                f"running as root, but there is no {SUPERUSER!r} system user to run "
                "PostgreSQL as. " + INSTALL_HINT
            ) from None

    tmp = _make_tempdir(as_root)
    datadir = tmp / "data"
    sockdir = tmp / "sock"
    logfile = tmp / "postgres.log"
    started = False
    runner: _Runner | None = None
    try:
        sockdir.mkdir()
        if as_root:
            for path in (tmp, sockdir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        runner = _Runner(bindir, tmp)

        result = runner.run(
            "initdb",
            "-D",
            str(datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",  # local socket + 127.0.0.1/::1 host lines: trust
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}".strip())

        port = _start(runner, datadir, sockdir, logfile)
        started = True

        with _connect_admin("127.0.0.1", port, SUPERUSER, None) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEST_DATABASE)))

        yield f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{TEST_DATABASE}"
    finally:
        if started and runner is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                runner.run(
                    "pg_ctl", "stop", "-D", str(datadir), "-m", "immediate", "-w", timeout=60
                )
        shutil.rmtree(tmp, ignore_errors=True)


def _admin_for(url: str) -> psycopg.Connection:
    """Autocommit connection to the ``postgres`` database of ``url``'s cluster."""
    parsed = make_url(url)
    return _connect_admin(
        parsed.host or "127.0.0.1",
        parsed.port or 5432,
        parsed.username or SUPERUSER,
        parsed.password,
    )


def create_database(url: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` on the cluster that ``url`` points at; return its URL.

    ``template`` optionally names a database to copy (it must have no other
    connections open), e.g. an already-migrated database.
    """
    parsed = make_url(url)
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    with _admin_for(url) as conn:
        conn.execute(query)
    return parsed.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` (if it exists) on the cluster ``url`` points at.

    Open connections to it are terminated (``WITH (FORCE)``).
    """
    with _admin_for(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
