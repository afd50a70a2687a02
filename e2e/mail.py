"""Reading the mail the app sends: wait for it by recipient, pull out links and codes."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

from tests.harness.smtp import SMTPServer


class Inbox:
    """The mail that arrives during one test, taken one message at a time by recipient."""

    def __init__(self, smtp: SMTPServer) -> None:
        self.smtp = smtp
        self.start = len(smtp.messages)  # mail from earlier tests is not ours
        self.taken: set[int] = set()

    def next_to(self, address: str, timeout: float = 15, subject: str = "") -> EmailMessage:
        """Wait for the next mail to `address` that this test has not looked at yet (with
        `subject` in its subject, when given: grouped mails of earlier tests can arrive late)."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.smtp.messages[:]
            for index in range(self.start, len(messages)):
                if (
                    index not in self.taken
                    and address in messages[index].envelope_to  # type: ignore[attr-defined]
                    and subject in str(messages[index]["Subject"] or "")
                ):
                    self.taken.add(index)
                    return messages[index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no mail to {address} within {timeout}s")
            try:
                self.smtp.wait_for(len(messages) + 1, timeout=remaining)
            except TimeoutError:
                raise TimeoutError(f"no mail to {address} within {timeout}s") from None


def mail_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, f"mail {message['Subject']!r} has no text part"
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage, base_url: str) -> str:
    """The personal link in an invite mail."""
    match = re.search(re.escape(base_url) + r"/i/\S+", mail_text(message))
    assert match, f"no invite link to {base_url} in:\n{mail_text(message)}"
    return match.group(0)


def code_in(message: EmailMessage) -> str:
    """The 6-digit code in a verification mail."""
    match = re.search(r"\b(\d{6})\b", mail_text(message))
    assert match, f"no 6-digit code in:\n{mail_text(message)}"
    return match.group(1)
