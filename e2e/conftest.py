"""Fixtures for browser journeys: a mail catcher, the real app in a subprocess, and Chromium.

The SMTP server, the app and the browser live for the whole session (starting them is the slow
part); each test gets fresh browser contexts, which are separate profiles with their own
cookies, like separate people's browsers or private windows.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.harness.smtp import SMTPServer, smtp_server

from .browser import NewContext, launch_chromium
from .mail import Inbox
from .server import Server, running_server

ACTION_TIMEOUT_MS = 10_000
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="session")
def smtp() -> Iterator[SMTPServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def server(smtp: SMTPServer) -> Iterator[Server]:
    with running_server(smtp=(smtp.host, smtp.port)) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Browser, server: Server) -> Iterator[NewContext]:
    """Make a fresh browser profile (no cookies) whose relative URLs go to the test server."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(
            base_url=server.base_url,
            viewport={"width": 1280, "height": 800},
            # Headless Chromium says "HeadlessChrome" in its user agent, which the tracking
            # beacon drops as a bot (on purpose): these browsers stand for people.
            user_agent=DESKTOP_CHROME,
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def inbox(smtp: SMTPServer) -> Inbox:
    return Inbox(smtp)
