"""The README's screenshot: the seeded demo room as its first invited buyer sees it.

    .venv/bin/python -m e2e.screenshot docs/room.png

Starts its own throwaway server (see `e2e/server.py`), opens the buyer link `seed-demo` printed in
a fresh 1280x800 browser, and saves the viewport as a PNG.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import ViewportSize, expect, sync_playwright

from .browser import launch_chromium
from .server import running_server

DEMO_ROOM = "Acme Corp · Platform rollout"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


def take(output: Path) -> None:
    with running_server() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            page = context.new_page()
            page.goto(server.buyer_link)
            page.get_by_role("button", name="Enter the room").click()
            # Only shoot once the page is the room itself, not a verification or error page.
            expect(page.get_by_role("heading", level=1, name=DEMO_ROOM)).to_be_visible()
            expect(page.get_by_role("link", name="Proposal")).to_be_visible()
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=output)
            context.close()
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.screenshot", description=__doc__.splitlines()[0]
    )
    parser.add_argument("output", type=Path, help="where to write the PNG, e.g. docs/room.png")
    args = parser.parse_args(argv)
    take(args.output)
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
