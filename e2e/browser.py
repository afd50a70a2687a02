"""Launch Debian's Chromium through Playwright, the same way for the tests and the screenshot."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Browser, BrowserContext, Playwright

CHROMIUM = "/usr/bin/chromium"
# Headless and quiet: no sandbox (containers run as root), no GPU, and none of Chromium's own
# network chatter (updates, sync, QUIC probes) so a run only ever talks to the test server.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

# The `new_context` fixture: each call is a fresh profile, i.e. another person's browser.
NewContext = Callable[[], BrowserContext]


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
