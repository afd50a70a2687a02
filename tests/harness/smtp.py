"""An in-process SMTP server that collects the mail it receives.

with smtp_server() as smtp:
    app_settings.smtp_host, app_settings.smtp_port = smtp.host, smtp.port
    ...
    (msg,) = smtp.wait_for(1)
    assert msg["Subject"] == "You're invited"
"""

from __future__ import annotations

import contextlib
import email
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller

from .ports import free_port

__all__ = ["SMTPServer", "smtp_server"]


class SMTPServer:
    """Collected mail plus the address to send it to.

    ``messages`` is a plain list that only the server thread appends to (under a
    lock); read it directly, or use ``wait_for`` to block until mail arrives.
    Each message also carries its SMTP envelope as the extra attributes
    ``envelope_from`` (str) and ``envelope_to`` (list of str).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.messages: list[EmailMessage] = []
        self._cond = threading.Condition()

    # Called from the aiosmtpd thread.
    def _add(self, message: EmailMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5) -> list[EmailMessage]:
        """Wait until at least ``count`` messages arrived; return a snapshot of them all.

        Raises ``TimeoutError`` (listing the subjects received so far) when fewer
        than ``count`` messages arrive within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    subjects = [m["Subject"] for m in self.messages]
                    raise TimeoutError(
                        f"expected {count} message(s) within {timeout}s, "
                        f"got {len(self.messages)}: {subjects!r}"
                    )
                self._cond.wait(remaining)
            return list(self.messages)

    def clear(self) -> None:
        """Forget every message received so far."""
        with self._cond:
            self.messages.clear()


class _CollectingHandler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        message = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(message, EmailMessage)
        message.envelope_from = envelope.mail_from  # type: ignore[attr-defined]
        message.envelope_to = list(envelope.rcpt_tos)  # type: ignore[attr-defined]
        self.server._add(message)
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server(host: str = "127.0.0.1") -> Iterator[SMTPServer]:
    """Run an SMTP server on ``host`` and a free port for the duration of the block."""
    port = free_port()
    server = SMTPServer(host, port)
    controller = Controller(
        _CollectingHandler(server),
        hostname=host,
        port=port,
        ready_timeout=10,
        # Keep the raw bytes (8BITMIME/SMTPUTF8 mail arrives unmangled).
        decode_data=False,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
