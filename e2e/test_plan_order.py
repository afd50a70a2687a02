"""Issue 3's finishing touches, in Chromium: the seller reorders the mutual action plan from the
keyboard and by drag and drop (no page reload; the order survives one), and an @mention of the
reader stands out in the live chat."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from .browser import NewContext
from .test_deal_room import TEMPLATE, chat_log, live_marker, send, still_same_page
from .test_journey import SELLER_ROOM, log_in_as_seller

pytestmark = pytest.mark.e2e

INTRO = "Introductory call with the champion"
REQUIREMENTS = "Share requirements and success criteria"
SECURITY = "Security review"
ORDER_FORM = "Send the order form"


def milestone(plan: Locator, title: str) -> Locator:
    return plan.get_by_role("region", name=title)


def tasks_of(plan: Locator, title: str) -> list[str]:
    return milestone(plan, title).locator("li[data-task] .task-title").all_inner_texts()


def new_room(seller: Page) -> str:
    deal = f"Initech · Pilot {uuid.uuid4().hex[:6]}"
    seller.get_by_role("link", name="New room").first.click()
    seller.get_by_label("Template", exact=True).select_option(label=TEMPLATE)
    seller.get_by_label("Deal name").fill(deal)
    seller.get_by_label("Buyer company").fill("Initech")
    seller.get_by_role("button", name="Create room").click()
    expect(seller).to_have_url(SELLER_ROOM)
    return deal


def test_a_seller_reorders_the_plan_by_keyboard_and_by_dragging(new_context: NewContext) -> None:
    seller = log_in_as_seller(new_context)
    new_room(seller)
    plan = seller.get_by_role("region", name="Mutual action plan")
    expect(milestone(plan, "Kick-off")).to_be_visible()
    assert tasks_of(plan, "Kick-off") == [INTRO, REQUIREMENTS]
    live_marker(seller)

    # Keyboard only: file the security review under Kick-off, then move it up one step.
    move_to = plan.get_by_label(f"Move “{SECURITY}” to milestone")
    move_to.select_option(label="Kick-off")
    move_to.press("Tab")
    seller.keyboard.press("Enter")
    expect(milestone(plan, "Kick-off").get_by_text(SECURITY, exact=True)).to_be_visible()
    assert tasks_of(plan, "Kick-off") == [INTRO, REQUIREMENTS, SECURITY]
    up = plan.get_by_role("button", name=f"Move {SECURITY} up")
    up_id = up.get_attribute("id")
    up.focus()
    seller.keyboard.press("Enter")
    expect(milestone(plan, "Kick-off").locator("li[data-task]").nth(1)).to_contain_text(SECURITY)
    # The plan was swapped, and focus is back on the same button, ready for another step.
    expect(seller.locator(f"#{up_id}")).to_be_focused()

    # A milestone moves too.
    plan.get_by_role("button", name="Move milestone Commercials up").click()
    expect(plan.locator("section.milestone h3").first).to_have_text("Kick-off")
    expect(plan.locator("section.milestone h3").nth(1)).to_have_text("Commercials")

    # Drag and drop: the order form goes to the top of Kick-off. (A window tall enough to show
    # both ends: Playwright's drag does not scroll the page the way a person's drag does.)
    seller.set_viewport_size({"width": 1280, "height": 2400})
    handle = plan.locator("li[data-task]").filter(has_text=ORDER_FORM).locator(".drag-handle")
    handle.drag_to(milestone(plan, "Kick-off").locator("li[data-task]").first)
    expect(milestone(plan, "Kick-off").locator("li[data-task]").first).to_contain_text(ORDER_FORM)
    expect(plan.get_by_role("status")).to_have_text("New order saved.")
    still_same_page(seller)

    seller.reload()
    plan = seller.get_by_role("region", name="Mutual action plan")
    expect(milestone(plan, "Kick-off")).to_be_visible()
    assert tasks_of(plan, "Kick-off") == [ORDER_FORM, INTRO, SECURITY, REQUIREMENTS]
    assert tasks_of(plan, "Commercials") == []
    assert plan.locator("section.milestone h3").all_inner_texts() == [
        "Kick-off",
        "Commercials",
        "Technical validation",
    ]


def test_a_mention_of_the_reader_stands_out_in_the_live_chat(new_context: NewContext) -> None:
    seller = log_in_as_seller(new_context)
    new_room(seller)
    live_marker(seller)
    text = f"@dana.demo please send the pilot scope {uuid.uuid4().hex[:6]}"

    send(seller, text)

    message = chat_log(seller).get_by_role("article").filter(has_text=text[-6:])
    expect(message.locator("span.mention.mention--me")).to_have_text("@dana.demo")
    still_same_page(seller)
