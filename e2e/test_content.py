"""Room content in a real browser: a seller uploads a PDF into a section, reorders by drag and
drop, and a buyer reads the PDF page by page with pdf.js under the app's strict CSP."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from dealroom.pdfgen import simple_pdf

from .browser import NewContext
from .mail import Inbox, link_in
from .server import Server
from .test_journey import create_room, invite, log_in_as_seller, open_invite

pytestmark = pytest.mark.e2e


def watch_console(page: Page) -> list[str]:
    """Console errors, CSP violations included ("Refused to load ...")."""
    problems: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon" not in (message.location or {}).get("url", ""):
            problems.append(message.text)

    page.on("console", seen)
    return problems


def unfold(page: Page, summary: str) -> None:
    """Open a <details> by its summary (a click would close one that is already open)."""
    details = page.locator("details", has=page.locator("summary", has_text=summary)).first
    if details.get_attribute("open") is None:
        details.locator("summary").click()


def test_seller_arranges_a_pdf_and_a_buyer_reads_it_page_by_page(
    new_context: NewContext, inbox: Inbox, server: Server, tmp_path
) -> None:
    seller = log_in_as_seller(new_context)
    deal = f"Content {uuid.uuid4().hex[:6]}"
    create_room(seller, deal)
    problems = watch_console(seller)

    unfold(seller, "Add a section")
    seller.get_by_label("Section title").fill("Proposal")
    seller.get_by_role("button", name="Add section").click()
    expect(seller.get_by_role("heading", level=3, name="Proposal")).to_be_visible()

    pdf = tmp_path / "pricing.pdf"
    pdf.write_bytes(simple_pdf([["Pricing"], ["Terms"], ["Signatures"]]))
    unfold(seller, "Upload a file")
    seller.locator("#upload-file").set_input_files(str(pdf))
    seller.locator("#upload-title").fill("Pricing")
    seller.get_by_role("button", name="Upload", exact=True).click()
    item = seller.locator("li[data-item]", has_text="Pricing")
    expect(item).to_be_visible()

    # Drag the unsectioned PDF into the "Proposal" section; the order is saved at once.
    target = seller.locator('ul.sortable[data-section^="sec_"]')
    item.locator(".drag-handle").drag_to(target)
    expect(seller.locator("#content-status")).to_have_text(re.compile(r"\S"))
    seller.reload()
    expect(seller.locator('ul.sortable[data-section^="sec_"] li[data-item]')).to_have_count(1)

    invite(seller, "kim@globex.example", name="Kim")
    buyer = new_context().new_page()
    buyer_problems = watch_console(buyer)
    open_invite(buyer, link_in(inbox.next_to("kim@globex.example"), server.base_url))
    expect(buyer.get_by_role("heading", level=3, name="Proposal")).to_be_visible()
    # Hold pdf.js back: until the viewer has the document, page turning is disabled (a click
    # then would do nothing, so it must wait rather than be lost).
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    buyer.route(re.compile(r"/pdf\.min\.mjs$"), hold)
    buyer.locator("#room-content").get_by_role("link", name="Pricing").click()
    viewer = buyer.locator("#pdf-viewer")
    expect(viewer.locator(".pdf-indicator")).to_have_text(re.compile(r"1\s*/\s*3"))
    for _ in range(200):  # pdf.js is asked for once viewer.js runs
        if held:
            break
        buyer.wait_for_timeout(50)
    assert held, "the viewer never asked for pdf.js"
    expect(viewer.get_by_role("button", name="Next page")).to_be_disabled()
    expect(viewer.get_by_role("button", name="Previous page")).to_be_disabled()
    expect(viewer.get_by_text("Loading the document…")).to_be_visible()
    held[0].continue_()
    buyer.unroute(re.compile(r"/pdf\.min\.mjs$"), hold)

    expect(viewer.locator("canvas.pdf-ready")).to_be_visible()
    expect(viewer.get_by_role("button", name="Next page")).to_be_enabled()
    expect(viewer.locator(".pdf-indicator")).to_have_text(re.compile(r"1\s*/\s*3"))
    viewer.get_by_role("button", name="Next page").click()
    expect(viewer.locator(".pdf-indicator")).to_have_text(re.compile(r"2\s*/\s*3"))
    viewer.focus()
    buyer.keyboard.press("End")
    expect(viewer.locator(".pdf-indicator")).to_have_text(re.compile(r"3\s*/\s*3"))
    expect(viewer.get_by_role("button", name="Next page")).to_be_disabled()
    assert not problems and not buyer_problems, problems + buyer_problems
