"""The command line, run as a newcomer would: in a subprocess with DEALROOM_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALROOM_")}
    env.update(
        DEALROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        DEALROOM_STORAGE_DIR=str(tmp_path / "files"),
        DEALROOM_SECRET_KEY="cli-test-secret-0123456789-abcdefghijklmnop",
    )
    return subprocess.run(
        [sys.executable, "-m", "dealroom", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_explains_each_command(tmp_path):
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "seed-demo", "create-user", "create-token"):
        assert command in result.stdout


def test_migrate_seed_create_user_and_token(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    seeded = run(tmp_path, "seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert "Demo workspace created." in seeded.stdout
    assert "demo@dealroom.local" in seeded.stdout and "dealroom-demo" in seeded.stdout
    assert "/i/" in seeded.stdout
    again = run(tmp_path, "seed-demo")
    assert "already exists" in again.stdout and "/i/" in again.stdout

    created = run(
        tmp_path,
        "create-user",
        "--email",
        "ops@northwind.example",
        "--password",
        "a-long-password",
        "--org",
        "Northwind Software",
        "--role",
        "manager",
    )
    assert created.returncode == 0, created.stderr
    assert "manager ops@northwind.example" in created.stdout
    duplicate = run(
        tmp_path,
        "create-user",
        "--email",
        "ops@northwind.example",
        "--password",
        "a-long-password",
        "--org",
        "X",
    )
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    weak = run(
        tmp_path,
        "create-user",
        "--email",
        "weak@northwind.example",
        "--password",
        "short",
        "--org",
        "X",
    )
    assert weak.returncode == 1 and "10 characters" in weak.stderr

    token = run(tmp_path, "create-token", "--email", "ops@northwind.example")
    assert token.returncode == 0
    assert token.stdout.strip().startswith("drt_")
    assert run(tmp_path, "create-token", "--email", "nobody@x.example").returncode == 1


def test_production_refuses_a_placeholder_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALROOM_")}
    env.update(DEALROOM_ENV="production", DEALROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}")
    result = subprocess.run(
        [sys.executable, "-m", "dealroom", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Refusing to start in production" in result.stderr


def test_serve_with_two_worker_processes_answers_and_stops_cleanly(tmp_path):
    """`serve --workers 2` (how docker-compose's replicas run, on one host): the port is served
    by two app processes, each with its own startup, and SIGTERM stops them all, exit status 0."""
    import signal

    from e2e.server import _cli, _serve, app_env
    from tests.harness.ports import free_port

    port = free_port()
    env = app_env(tmp_path, port, None)
    _cli(env, "migrate")
    log = tmp_path / "server.log"
    process = _serve(env, log, "--port", str(port), "--workers", "2")
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=60)
    text = log.read_text()
    assert status == 0, text[-3000:]
    assert text.count("Application startup complete") == 2, text[-3000:]
    assert "Traceback" not in text
