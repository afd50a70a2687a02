"""Issue 3's "done means", in Chromium: a seller builds a room from a template, uploads a PDF, adds
a YouTube link and a note; two buyers in separate browsers see them, add and tick tasks, and chat
live with the seller (each sees the other's message without reloading).

One journey, one room: the steps depend on each other, like the people in a real deal.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from dealroom.pdfgen import simple_pdf

from .browser import NewContext
from .mail import Inbox, link_in
from .server import Server
from .test_journey import SELLER_ROOM, expect_in_room, invite, log_in_as_seller, open_invite

pytestmark = pytest.mark.e2e

TEMPLATE = "Enterprise evaluation"  # the room template seed-demo makes from the demo room
TEMPLATE_SECTIONS = ("Proposal", "Security")
TEMPLATE_MILESTONES = ("Kick-off", "Technical validation", "Commercials")
TEMPLATE_VIDEO = "Product tour (video)"  # the template's library document
TEMPLATE_TASKS = 4  # seed.DEMO_TEMPLATE_PLAN
YOUTUBE = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
SELLER_NAME = "Dana Demo"
INTERNAL = "Internal note (only your team sees it)"
LIVE_MS = 10_000  # a live message must arrive within this


# ---------------------------------------------------------------- helpers


def stay_offline(context: BrowserContext, server: Server) -> None:
    """Refuse every request that is not for the test server (the YouTube player, for one): the
    run stays hermetic and fast, and an embed still shows its iframe."""
    own = re.escape(server.base_url)
    context.route(re.compile(rf"^(?!{own}/).+"), lambda route: route.abort())


def form_under(page: Page, summary: str) -> Locator:
    """The <details> (ARIA group) whose summary is `summary`, opened if it was folded."""
    toggle = page.get_by_text(summary, exact=True)
    group = page.get_by_role("group").filter(has=toggle)
    if group.get_attribute("open") is None:
        toggle.click()
    return group


def live_marker(page: Page) -> None:
    """Mark the document: if the page reloads, the marker is gone (see still_same_page)."""
    page.evaluate("window.__e2eNoReload = true")


def still_same_page(page: Page) -> None:
    assert page.evaluate("window.__e2eNoReload === true"), "the page was reloaded"


def chat_log(page: Page) -> Locator:
    return page.get_by_role("log", name="Chat")


def send(page: Page, text: str, *, internal: bool = False) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    if internal:
        page.get_by_label(INTERNAL).check()
    page.get_by_role("button", name="Send message").click()
    # htmx swaps in a fresh, empty form: wait for it so the next message is typed into it.
    expect(page.get_by_label("Message", exact=True)).to_have_value("")


def expect_message(page: Page, text: str, author: str) -> None:
    message = chat_log(page).get_by_role("article").filter(has_text=text)
    expect(message).to_be_visible(timeout=LIVE_MS)
    expect(message).to_contain_text(author)


# ---------------------------------------------------------------- the journey


def test_seller_builds_a_room_and_two_buyers_work_and_chat_in_it_live(
    new_context: NewContext, inbox: Inbox, server: Server, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    deal = f"Globex · Rollout {tag}"
    domain = f"globex-{tag}.example"
    pdf_title = f"Pricing {tag}"
    video_title = f"Kick-off recording {tag}"
    note_title = f"Discovery call {tag}"
    task_title = f"Check SSO with IT {tag}"
    aoki = ("aoki@" + domain, "Aoki Ren")
    baba = ("baba@" + domain, "Baba Mei")

    # The seller makes a room from the demo template: its sections, library video and plan.
    seller = log_in_as_seller(new_context)
    seller.get_by_role("link", name="New room").first.click()
    seller.get_by_label("Template", exact=True).select_option(label=TEMPLATE)
    seller.get_by_label("Deal name").fill(deal)
    seller.get_by_label("Buyer company").fill("Globex")
    seller.get_by_label("Allowed email domains").fill(domain)
    seller.get_by_role("button", name="Create room").click()
    expect(seller).to_have_url(SELLER_ROOM)
    expect(seller.get_by_role("heading", level=1, name=deal)).to_be_visible()
    content = seller.get_by_role("region", name="Content")
    for title in TEMPLATE_SECTIONS:
        expect(content.get_by_role("heading", level=3, name=title)).to_be_visible()
    expect(content.get_by_role("link", name=TEMPLATE_VIDEO)).to_be_visible()
    plan = seller.get_by_role("region", name="Mutual action plan")
    for title in TEMPLATE_MILESTONES:
        expect(plan.get_by_role("heading", level=3, name=title)).to_be_visible()
    expect(plan.get_by_text("Security review", exact=True)).to_be_visible()
    expect(plan.get_by_text(f"0 of {TEMPLATE_TASKS} tasks done (0%)")).to_be_visible()

    # A PDF, uploaded (a plain multipart form: the page comes back with it listed).
    pdf = tmp_path / "pricing.pdf"
    pdf.write_bytes(simple_pdf([["Pricing", tag], ["Terms and signatures"]]))
    upload = form_under(seller, "Upload a file")
    upload.get_by_label("File", exact=True).set_input_files(str(pdf))
    upload.get_by_label("Title (optional)").fill(pdf_title)
    upload.get_by_role("button", name="Upload", exact=True).click()
    pdf_item = content.get_by_role("listitem").filter(
        has=seller.get_by_role("link", name=pdf_title)
    )
    expect(pdf_item).to_contain_text("PDF")
    expect(pdf_item).to_contain_text("2 pages")

    # A YouTube link.
    link = form_under(seller, "Share a link or a video")
    link.get_by_label("Address (URL)").fill(YOUTUBE)
    link.get_by_label("Title (optional)").fill(video_title)
    link.get_by_role("button", name="Add link").click()
    video_item = content.get_by_role("listitem").filter(
        has=seller.get_by_role("link", name=video_title)
    )
    expect(video_item).to_contain_text("YouTube video")

    # A meeting note, shared with the buyer (htmx swaps the notes panel).
    notes = seller.get_by_role("region", name="Meeting notes")
    notes.get_by_text("New note", exact=True).click()
    notes.get_by_label("Title", exact=True).fill(note_title)
    notes.get_by_label("Attendees").fill("Aoki Ren, Dana Demo")
    notes.get_by_label("Notes", exact=True).fill("- Budget approved\n- Pilot starts in May")
    notes.get_by_role("radio", name="Shared with the buyer").check()
    notes.get_by_role("button", name="Add note").click()
    note = notes.get_by_role("article", name=note_title)
    expect(note).to_be_visible()
    expect(note.get_by_text("Shared with the buyer")).to_be_visible()

    # Two buyers, invited; each opens their own personal link in their own browser.
    for email, name in (aoki, baba):
        invite(seller, email, name)
    buyers: list[Page] = []
    for email, name in (aoki, baba):
        context = new_context()
        stay_offline(context, server)
        page = context.new_page()
        open_invite(page, link_in(inbox.next_to(email), server.base_url))
        expect_in_room(page, deal, name)
        documents = page.get_by_role("region", name="Documents")
        for title in (pdf_title, video_title, TEMPLATE_VIDEO):
            expect(documents.get_by_role("link", name=title)).to_be_visible()
        expect(
            page.get_by_role("region", name="Meeting notes").get_by_role("heading", name=note_title)
        ).to_be_visible()
        buyers.append(page)
    a, b = buyers

    # Aoki reads the PDF: pdf.js draws the first page on a canvas, and pages turn.
    a.locator("#room-content").get_by_role("link", name=pdf_title).click()
    expect(a.get_by_role("heading", level=1, name=pdf_title)).to_be_visible()
    expect(a.get_by_role("img", name=f"Page of {pdf_title}")).to_be_visible()
    expect(a.get_by_text(re.compile(r"^Page\s*1\s*/\s*2$"))).to_be_visible()
    a.get_by_role("button", name="Next page").click()
    expect(a.get_by_text(re.compile(r"^Page\s*2\s*/\s*2$"))).to_be_visible()
    a.get_by_role("link", name=f"Back to {deal}").click()
    expect_in_room(a, deal, aoki[1])

    # Baba opens the video: an embedded (privacy-enhanced) YouTube player named after it.
    b.locator("#room-content").get_by_role("link", name=video_title).click()
    player = b.get_by_title(video_title, exact=True)
    expect(player).to_be_visible()
    expect(player).to_have_attribute(
        "src", re.compile(r"^https://www\.youtube-nocookie\.com/embed/dQw4w9WgXcQ")
    )
    b.get_by_role("link", name=f"Back to {deal}").click()
    expect_in_room(b, deal, baba[1])

    # Aoki adds a task of their own and marks it done.
    a_plan = a.get_by_role("region", name="Mutual action plan")
    a_plan.get_by_text("Add a task", exact=True).click()
    a_plan.get_by_label("Milestone").select_option(label="Technical validation")
    a_plan.get_by_label("Task", exact=True).fill(task_title)
    a_plan.get_by_role("button", name="Add task").click()
    task = a_plan.get_by_role("listitem").filter(has_text=task_title)
    expect(task).to_contain_text("Yours")
    expect(task).to_contain_text(f"Owner: {aoki[1]} (buyer)")
    a_plan.get_by_label(f"Status of {task_title}", exact=True).select_option(label="Done")
    a_plan.get_by_role("button", name=f"Update status of {task_title}").click()
    total = TEMPLATE_TASKS + 1
    progress = f"1 of {total} tasks done ({100 // total}%)"
    expect(a_plan.get_by_text(progress)).to_be_visible()
    expect(a_plan.get_by_label(f"Status of {task_title}", exact=True)).to_have_value("done")

    # Baba sees it after a reload (the plan is not live), done, and not theirs to change.
    b.reload()
    b_plan = b.get_by_role("region", name="Mutual action plan")
    b_task = b_plan.get_by_role("listitem").filter(has_text=task_title)
    expect(b_task.get_by_text("Done", exact=True)).to_be_visible()
    expect(b_task).to_contain_text(f"Owner: {aoki[1]} (buyer)")
    expect(b_plan.get_by_text(progress)).to_be_visible()
    expect(b_plan.get_by_label(f"Status of {task_title}", exact=True)).to_have_count(0)

    # Live chat: three open pages, none reloaded from here on.
    expect(chat_log(seller)).to_be_visible()
    for page in (seller, a, b):
        live_marker(page)

    question = f"Does the pilot include SSO? {tag}"
    send(a, question)
    for page in (seller, a, b):
        expect_message(page, question, aoki[1])

    answer = f"Yes, SAML and OIDC are both included. {tag}"
    send(seller, answer)
    for page in (a, b, seller):
        expect_message(page, answer, SELLER_NAME)

    internal = f"Aoki is the champion, push for May. {tag}"
    send(seller, internal, internal=True)
    expect_message(seller, internal, SELLER_NAME)
    internal_msg = chat_log(seller).get_by_role("article").filter(has_text=internal)
    expect(internal_msg.get_by_text("Internal note", exact=True)).to_be_visible()
    # The next public message comes down the same ordered stream after the internal note, so once
    # a buyer has it, the internal note was already passed over for them.
    follow_up = f"I will send the SSO guide today. {tag}"
    send(seller, follow_up)
    for page in (a, b):
        expect_message(page, follow_up, SELLER_NAME)
        expect(chat_log(page).get_by_text(internal)).to_have_count(0)
        assert internal not in page.content()

    for page in (seller, a, b):
        still_same_page(page)
