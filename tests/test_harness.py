"""Self-checks for the test harness: throwaway PostgreSQL and the SMTP sink."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from sqlalchemy import create_engine, text

from tests.harness.ports import free_port
from tests.harness.postgres import create_database, drop_database, postgres_cluster
from tests.harness.smtp import smtp_server


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def _scalar(url: str, query: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def test_postgres_cluster_and_extra_database() -> None:
    with postgres_cluster() as url:
        assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
        assert url.endswith("/dealroom_test")
        assert _scalar(url, "select 1") == 1
        assert _scalar(url, "select current_database()") == "dealroom_test"
        assert _scalar(url, "show fsync") == "off"

        extra = create_database(url, "dealroom_extra")
        assert extra.endswith("/dealroom_extra")
        assert _scalar(extra, "select current_database()") == "dealroom_extra"

        drop_database(url, "dealroom_extra")
        assert (
            _scalar(url, "select count(*) from pg_database where datname = 'dealroom_extra'") == 0
        )

    # The server is gone once the block exits.
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with pytest.raises(Exception), engine.connect():  # noqa: B017
            pass
    finally:
        engine.dispose()


def test_smtp_server_collects_mail() -> None:
    with smtp_server() as smtp:
        assert smtp.host == "127.0.0.1"
        msg = EmailMessage()
        msg["From"] = "Dealroom <noreply@dealroom.test>"
        msg["To"] = "buyer@example.com"
        msg["Subject"] = "You're invited to Acme × Globex"
        msg.set_content("Open your deal room: http://localhost/r/abc\n")
        with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
            client.send_message(msg)

        (received,) = smtp.wait_for(1)
        assert received["Subject"] == "You're invited to Acme × Globex"
        assert received["To"] == "buyer@example.com"
        body = received.get_body(preferencelist=("plain",))
        assert body is not None
        assert "http://localhost/r/abc" in body.get_content()
        assert received.envelope_to == ["buyer@example.com"]  # type: ignore[attr-defined]

        smtp.clear()
        assert smtp.messages == []
        with pytest.raises(TimeoutError):
            smtp.wait_for(1, timeout=0.2)
