"""Suggestions in a real browser: the buyer keeps the room open in one tab, reads a document in
another, and the "Suggested for you" panel in the first tab changes by itself (no reload): the
document just read is gone (read to the end, P2) and a related one has come up, saying why (P4,
P6). The seller's room page lists the next best actions.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from dealroom.pdfgen import simple_pdf

from .browser import NewContext
from .mail import Inbox, link_in
from .server import Server
from .test_content import unfold, watch_console
from .test_journey import create_room, invite, log_in_as_seller, open_invite
from .test_tracking import read_for

pytestmark = pytest.mark.e2e


def add_link(seller: Page, title: str, section: str = "") -> None:
    unfold(seller, "Share a link or a video")
    seller.locator("#link-url").fill(f"https://docs.example/{uuid.uuid4().hex[:8]}")
    seller.locator("#link-title").fill(title)
    if section:
        seller.locator("#link-section").select_option(label=section)
    seller.get_by_role("button", name="Add link").click()
    expect(seller.locator("li[data-item]", has_text=title)).to_be_visible()


def test_reading_a_document_changes_the_panel_without_a_reload(
    new_context: NewContext, inbox: Inbox, server: Server, tmp_path
) -> None:
    seller = log_in_as_seller(new_context)
    deal = f"Suggest {uuid.uuid4().hex[:6]}"
    create_room(seller, deal)
    unfold(seller, "Add a section")
    seller.locator("#section-new-section_title").fill("Security")
    seller.get_by_role("button", name="Add section").click()
    expect(seller.locator("#link-section option", has_text="Security")).to_have_count(1)
    for n in range(1, 6):
        add_link(seller, f"Overview {n}")
    pdf = tmp_path / "security.pdf"
    pdf.write_bytes(simple_pdf([["Security overview"]]))
    unfold(seller, "Upload a file")
    seller.locator("#upload-file").set_input_files(str(pdf))
    seller.locator("#upload-title").fill("Security overview")
    seller.locator("#upload-section").select_option(label="Security")
    seller.get_by_role("button", name="Upload", exact=True).click()
    expect(seller.locator("li[data-item]", has_text="Security overview")).to_be_visible()
    add_link(seller, "SOC 2 report", section="Security")
    invite(seller, "aoki@globex.example", name="Aoki")

    context = new_context()
    room = context.new_page()
    problems = watch_console(room)
    open_invite(room, link_in(inbox.next_to("aoki@globex.example"), server.base_url))
    notice = room.get_by_role("region", name="About your activity in this room")
    notice.get_by_role("button", name="OK").click()
    panel = room.locator("#suggested")
    expect(panel.get_by_role("heading", name="Suggested for you")).to_be_visible()
    expect(panel.locator("li[data-item]")).to_have_count(3)
    expect(panel.locator("li[data-item]", has_text="SOC 2 report")).to_have_count(0)
    first_set = panel.locator("li[data-item] > a").all_inner_texts()
    room_url = room.url

    # The same buyer reads the security overview in a second tab (same browser profile).
    reader = context.new_page()
    reader.goto(room_url)
    reader.get_by_role("link", name="Security overview").first.click()
    expect(reader.locator("#pdf-viewer .pdf-indicator")).to_have_text(re.compile(r"1\s*/\s*1"))
    read_for(reader, 30)
    reader.close(run_before_unload=True)  # the rest of the reading goes out with sendBeacon

    # Back on the first tab, untouched: the panel refreshes itself (every 15 s).
    soc2 = panel.locator("li[data-item]", has_text="SOC 2 report")
    expect(soc2).to_be_visible(timeout=40_000)
    expect(soc2.locator(".reasons")).to_contain_text(
        "Related to “Security overview”, which you read recently."
    )
    expect(panel.get_by_role("link", name="Security overview", exact=True)).to_have_count(0)
    assert panel.locator("li[data-item] > a").all_inner_texts() != first_set
    assert room.url == room_url

    # "Not relevant" takes it away for good, in place.
    soc2.get_by_role("button", name="Not relevant: SOC 2 report").click()
    expect(panel.locator("li[data-item]", has_text="SOC 2 report")).to_have_count(0)
    room.reload()
    expect(room.locator("#suggested li[data-item]", has_text="SOC 2 report")).to_have_count(0)

    # The seller's room page has the next best actions panel.
    seller.reload()
    expect(seller.get_by_role("heading", name="Next best actions")).to_be_visible()
    assert not problems, problems
