"""Run the real app for browser tests: `python -m dealroom` in a subprocess.

with running_server(smtp=("127.0.0.1", 2525)) as server:
    server.base_url       # http://127.0.0.1:PORT
    server.buyer_link     # the seeded demo room's first personal invite link

A fresh temporary directory holds the SQLite database, the uploaded files and the server log; the
schema is migrated and the demo workspace seeded before the server starts, so the link that
`seed-demo` prints already points at the port the server listens on.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dealroom.settings import PROJECT_ROOT, SETTINGS
from tests.harness.ports import free_port

__all__ = ["Server", "running_server"]

SECRET_KEY = "e2e-secret-key-not-for-production-0123456789"  # noqa: S105 - a throwaway test key
STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Server:
    base_url: str
    buyer_link: str
    workdir: Path
    process: subprocess.Popen[bytes] | None = None  # for tests that stop it themselves


def app_env(workdir: Path, port: int, smtp: tuple[str, int] | None) -> dict[str, str]:
    """Every DEALROOM_* setting spelled out, so neither a developer's shell nor the project's
    `.env` file can point the test server at real storage or a real mail server."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DEALROOM_")}
    env.update({setting.env: setting.default for setting in SETTINGS})
    env.update(
        {
            "DEALROOM_ENV": "development",
            "DEALROOM_SECRET_KEY": SECRET_KEY,
            "DEALROOM_BASE_URL": f"http://127.0.0.1:{port}",
            "DEALROOM_DATABASE_URL": f"sqlite:///{workdir / 'e2e.db'}",
            "DEALROOM_STORAGE": "local",
            "DEALROOM_STORAGE_DIR": str(workdir / "files"),
            "DEALROOM_SMTP_HOST": smtp[0] if smtp else "",
            "DEALROOM_SMTP_PORT": str(smtp[1]) if smtp else "587",
            "DEALROOM_SMTP_STARTTLS": "false",
            "DEALROOM_RUN_JOBS": "true",
            # Journeys expect suggestions; the holdout (seller's order) has its own tests.
            "DEALROOM_SUGGEST_HOLDOUT_PERCENT": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dealroom", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`python -m dealroom {' '.join(args)}` failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}".strip()
        )
    return result.stdout


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            exc.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"{base_url}/healthz did not answer 200 within {STARTUP_TIMEOUT:.0f}s:\n{_tail(log)}"
    )


def _serve(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`python -m dealroom serve *args` in the background, its output in `log`; returns once
    /healthz answers (the process is left running: stop it with _stop or a signal)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dealroom", "serve", "--host", "127.0.0.1", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(env["DEALROOM_BASE_URL"], process, log)
    except BaseException:
        _stop(process)
        raise
    return process


def _tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: uvicorn shuts down and stops the mail scheduler
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_server(
    smtp: tuple[str, int] | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Migrate, seed and serve a fresh app; stop it (SIGTERM, then SIGKILL) on exit.

    Without `smtp` the app runs in development mode and keeps its mail on the outbox page.
    """
    with tempfile.TemporaryDirectory(prefix="dealroom-e2e-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = app_env(workdir, port, smtp)
        env.update(extra_env or {})
        _cli(env, "migrate")
        seeded = _cli(env, "seed-demo")
        match = re.search(r"Buyer link:\s+(\S+)", seeded)
        if match is None:
            raise RuntimeError(f"seed-demo printed no buyer link:\n{seeded}")
        base_url = env["DEALROOM_BASE_URL"]
        process = _serve(env, workdir / "server.log", "--port", str(port))
        try:
            yield Server(
                base_url=base_url,
                buyer_link=match.group(1),
                workdir=workdir,
                process=process,
            )
        finally:
            _stop(process)
