"""Tracking accuracy in a real browser, in real wall time: a buyer reads page 1 of a 5-page PDF
for about 12 s and page 3 for about 20 s while interacting, then hides the tab for 30 s. The
recorded time per page must be within 3 s of the truth, and the hidden time must count nothing.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from playwright.sync_api import Page, Route, expect
from sqlmodel import select

from dealroom import analytics, rooms
from dealroom.db import Database
from dealroom.pdfgen import simple_pdf

from .browser import NewContext
from .mail import Inbox, link_in
from .server import Server
from .test_content import unfold, watch_console
from .test_journey import create_room, invite, log_in_as_seller, open_invite

pytestmark = pytest.mark.e2e


def read_for(page: Page, seconds: float) -> None:
    """Stay on the page, moving the mouse now and then like a reader."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        page.mouse.move(300 + (n % 7) * 20, 300 + (n % 5) * 15)
        time.sleep(min(1.5, max(0.0, end - time.monotonic())))


def set_hidden(page: Page, hidden: bool) -> None:
    """What the browser does when the tab goes behind another one (headless Chromium has no
    real tabs to switch): visibilityState changes, then the visibilitychange event fires."""
    page.evaluate(
        """(hidden) => {
            Object.defineProperty(document, "visibilityState",
                {configurable: true, get: () => hidden ? "hidden" : "visible"});
            Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def engagement(server: Server, deal: str) -> analytics.ViewerEngagement:
    db = Database.from_url(f"sqlite:///{server.workdir / 'e2e.db'}")
    try:
        with db.session(write=False) as session:
            room = session.exec(select(rooms.Room).where(rooms.Room.name == deal)).one()
            viewers = analytics.room_engagement(session, room=room).viewers
            return next(v for v in viewers if v.invite.email == "aoki@globex.example")
    finally:
        db.dispose()


def test_page_times_are_accurate_and_hidden_time_counts_nothing(
    new_context: NewContext, inbox: Inbox, server: Server, tmp_path
) -> None:
    seller = log_in_as_seller(new_context)
    deal = f"Tracking {uuid.uuid4().hex[:6]}"
    create_room(seller, deal)
    pdf = tmp_path / "proposal.pdf"
    pdf.write_bytes(simple_pdf([[f"Page {n}"] for n in range(1, 6)]))
    unfold(seller, "Upload a file")
    seller.locator("#upload-file").set_input_files(str(pdf))
    seller.locator("#upload-title").fill("Proposal")
    seller.get_by_role("button", name="Upload", exact=True).click()
    expect(seller.locator("li[data-item]", has_text="Proposal")).to_be_visible()
    invite(seller, "aoki@globex.example", name="Aoki")

    buyer = new_context().new_page()
    problems = watch_console(buyer)
    open_invite(buyer, link_in(inbox.next_to("aoki@globex.example"), server.base_url))
    # The first page tells the buyer what is recorded, before anything is.
    notice = buyer.get_by_role("region", name="About your activity in this room")
    expect(notice).to_be_visible()
    notice.get_by_role("button", name="OK").click()
    expect(notice).to_have_count(0)

    buyer.locator("#room-content").get_by_role("link", name="Proposal").click()
    viewer = buyer.locator("#pdf-viewer")
    expect(viewer.locator(".pdf-indicator")).to_have_text(re.compile(r"1\s*/\s*5"))
    started = time.monotonic()
    read_for(buyer, 12)
    page1 = time.monotonic() - started
    next_page = viewer.get_by_role("button", name="Next page")
    next_page.click()
    next_page.click()
    expect(viewer.locator(".pdf-indicator")).to_have_text(re.compile(r"3\s*/\s*5"))
    started = time.monotonic()
    read_for(buyer, 20)
    page3 = time.monotonic() - started
    set_hidden(buyer, True)
    read_for(buyer, 30)  # the mouse moves, but the tab is behind another: nothing counts
    set_hidden(buyer, False)
    buyer.close(run_before_unload=True)  # pagehide: the rest goes out with sendBeacon

    deadline = time.monotonic() + 10
    while True:
        me = engagement(server, deal)
        pages = me.items[0].pages if me.items else {}
        if pages.get(3, 0) >= page3 - 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert abs(pages.get(1, 0) - page1) <= 3, (pages, page1)
    assert abs(pages.get(3, 0) - page3) <= 3, (pages, page3)
    assert pages.get(2, 0) <= 2  # clicked through
    # Nothing for the 30 hidden seconds: the total is the reading time, not the time open.
    assert me.active_seconds <= page1 + page3 + 2 + 3
    assert me.visits == 1
    assert not problems, problems


def test_a_beat_the_server_could_not_take_is_sent_again_unchanged(
    new_context: NewContext, inbox: Inbox, server: Server
) -> None:
    """A full buffer answers 503: the browser keeps that beat and sends it again, with the same
    sequence number, before anything newer (so the server counts it once, and nothing is lost)."""
    seller = log_in_as_seller(new_context)
    create_room(seller, f"Retry {uuid.uuid4().hex[:6]}")
    invite(seller, "ueda@globex.example", name="Ueda")

    buyer = new_context().new_page()
    buyer.clock.install()  # beats every 10 s of the page's own clock, driven from here
    bodies: list[dict] = []

    def beacon(route: Route) -> None:
        bodies.append(json.loads(route.request.post_data or "{}"))
        if len(bodies) == 1:
            route.fulfill(
                status=503,
                headers={"Retry-After": "10"},
                json={"error": {"code": "busy", "message": "Try again."}},
            )
        else:
            route.continue_()

    buyer.route(re.compile(r"/r/[^/]+/t$"), beacon)
    open_invite(buyer, link_in(inbox.next_to("ueda@globex.example"), server.base_url))
    buyer.get_by_role("region", name="About your activity in this room").get_by_role(
        "button", name="OK"
    ).click()
    for sent in (1, 2, 3):
        buyer.mouse.move(200 + sent * 10, 300)
        buyer.clock.run_for(10_000)
        deadline = time.monotonic() + 10
        while len(bodies) < sent and time.monotonic() < deadline:
            buyer.wait_for_timeout(50)
        assert len(bodies) == sent, bodies
    first, again, after = bodies
    assert first["seq"] == 1 and first["ev"]
    assert again == first  # the refused beat, unchanged, before the newer one
    assert after["seq"] == 2
