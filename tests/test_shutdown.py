"""Graceful shutdown of the real server: SIGTERM while a request is still arriving; that request
is answered and kept, no new connection is accepted, the app's shutdown runs, and the process
exits with status 0."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from e2e.server import _cli, _serve, app_env
from tests.harness.ports import free_port


@pytest.fixture
def server(tmp_path: Path):
    port = free_port()
    env = {**app_env(tmp_path, port, None), "DEALROOM_LOG_FORMAT": "json"}
    _cli(env, "migrate")
    _cli(
        env,
        "create-user",
        "--email",
        "ops@northwind.example",
        "--password",
        "a-long-password",
        "--org",
        "Northwind",
    )
    token = _cli(env, "create-token", "--email", "ops@northwind.example").strip()
    log = tmp_path / "server.log"
    process = _serve(env, log, "--port", str(port))
    try:
        yield process, port, token, log, tmp_path / "e2e.db"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    sock.settimeout(30)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _c, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def test_sigterm_drains_the_request_in_flight_and_exits_zero(server):
    process, port, token, log, database = server
    body = json.dumps({"name": "Arrived during shutdown", "buyer_company": "Acme"}).encode()
    head = (
        "POST /api/v1/rooms HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(head + body[:10])  # the request has begun: the app is waiting for its body
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert process.poll() is None, "the server must wait for the request in flight"
        # It no longer accepts connections...
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # ... but the request that had started is read to its end and answered.
        sock.sendall(body[10:])
        status, headers, answer = _read_response(sock)
    finally:
        sock.close()
    assert status == 201, answer
    room = json.loads(answer)
    assert room["name"] == "Arrived during shutdown"
    assert process.wait(timeout=30) == 0
    text = log.read_text()
    assert "Dealroom stopped cleanly" in text  # the app's shutdown ran (scheduler, hooks)
    assert "Dealroom stopped." in text
    # And it was committed, not lost with the process.
    with sqlite3.connect(database) as db:
        names = [row[0] for row in db.execute("select name from room")]
    assert names == ["Arrived during shutdown"]
    # Its log lines are JSON with the request id the response carried.
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("route") == "api:rooms"]
    assert [a["status"] for a in access] == [201]
    assert access[0]["request_id"] == headers["x-request-id"]
