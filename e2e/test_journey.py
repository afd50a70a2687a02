"""The issue's "done means": a seller invites a buying committee and each person gets in, or not.

Every test drives Chromium against the real server (see conftest.py) and reads the real mail the
server sent over SMTP. Each test builds its own room, so the tests do not depend on each other.
Browser contexts stand for different people's browsers.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, Response, expect

from .browser import NewContext
from .mail import Inbox, code_in, link_in
from .server import Server

pytestmark = pytest.mark.e2e

DEMO_EMAIL = "demo@dealroom.local"
DEMO_PASSWORD = "dealroom-demo"  # noqa: S105 - the published demo login seed-demo creates
BUYER_ROOM = re.compile(r"/r/room_[A-Za-z0-9_-]+$")
SELLER_ROOM = re.compile(r"/rooms/room_[A-Za-z0-9_-]+$")


# ---------------------------------------------------------------- steps


def log_in_as_seller(new_context: NewContext) -> Page:
    page = new_context().new_page()
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(DEMO_EMAIL)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/rooms$"))
    return page


def create_room(
    seller: Page, deal: str, company: str = "Globex", domains: str = "globex.example"
) -> None:
    seller.goto("/rooms")
    seller.get_by_role("link", name="New room").first.click()
    seller.get_by_label("Deal name").fill(deal)
    seller.get_by_label("Buyer company").fill(company)
    seller.get_by_label("Allowed email domains").fill(domains)
    seller.get_by_role("button", name="Create room").click()
    expect(seller).to_have_url(SELLER_ROOM)
    expect(seller.get_by_role("heading", level=1, name=deal)).to_be_visible()


def invite(seller: Page, email: str, name: str = "", role: str = "") -> None:
    seller.get_by_label("Buyer email").fill(email)
    seller.get_by_label("Buyer name (optional)").fill(name)
    if role:
        seller.get_by_label("Committee role (optional)").select_option(role)
    seller.get_by_role("button", name="Send invite", exact=True).click()
    # htmx swaps the People section; the new person's row has their own buttons.
    expect(seller.get_by_role("button", name=f"Resend invite to {email}")).to_be_visible()


def expect_in_room(page: Page, deal: str, who: str) -> None:
    expect(page).to_have_url(BUYER_ROOM)
    expect(page.get_by_role("heading", level=1, name=deal)).to_be_visible()
    expect(page.get_by_text(f"Signed in as {who}")).to_be_visible()


def expect_nothing_of_room(page: Page, deal: str, company: str) -> None:
    expect(page.get_by_text(deal)).to_have_count(0)
    html = page.content()
    assert deal not in html and company not in html


def deal_name(label: str) -> str:
    # Unique per test: all tests share one server and one seller.
    return f"Globex · {label} {uuid.uuid4().hex[:6]}"


def open_invite(page: Page, link: str) -> None:
    """A buyer clicks their personal link: a welcome page, then "Enter the room" (a GET alone
    claims nothing, so mail scanners that prefetch links cannot lock the invitee out)."""
    page.goto(link)
    expect(page.get_by_role("heading", name=re.compile(r"^Welcome"))).to_be_visible()
    page.get_by_role("button", name="Enter the room").click()


def room_with_first_buyer(
    new_context: NewContext, inbox: Inbox, server: Server, deal: str
) -> tuple[Page, Page, str]:
    """A room with Mori invited, and Mori's browser already inside (so the link is bound to it)."""
    seller = log_in_as_seller(new_context)
    create_room(seller, deal)
    invite(seller, "mori@globex.example", "Mori Ken", "champion")
    link = link_in(inbox.next_to("mori@globex.example"), server.base_url)
    mori = new_context().new_page()
    open_invite(mori, link)
    expect_in_room(mori, deal, "Mori Ken")
    return seller, mori, link


# ---------------------------------------------------------------- journeys


def test_signup_lands_on_an_empty_rooms_list(new_context: NewContext) -> None:
    page = new_context().new_page()
    page.goto("/signup")
    page.get_by_label("Company name").fill("Initech")
    page.get_by_label("Your name").fill("Peter Gibbons")
    page.get_by_label("Work email").fill(f"peter-{uuid.uuid4().hex[:6]}@initech.example")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create workspace").click()

    expect(page).to_have_url(re.compile(r"/rooms$"))
    expect(page.get_by_role("heading", name="Create your first deal room")).to_be_visible()
    expect(page.get_by_role("link", name="New room")).to_have_count(2)  # page head + empty state


def test_invited_buyers_get_personal_links_into_the_room(
    new_context: NewContext, inbox: Inbox, server: Server
) -> None:
    deal = deal_name("Analytics pilot")
    seller = log_in_as_seller(new_context)
    create_room(seller, deal)
    invite(seller, "mori@globex.example", "Mori Ken", "champion")
    invite(seller, "ito@globex.example", "Ito Yui", "economic_buyer")

    links = {}
    for address in ("mori@globex.example", "ito@globex.example"):
        mail = inbox.next_to(address)
        assert deal in mail["Subject"]
        links[address] = link_in(mail, server.base_url)
    assert links["mori@globex.example"] != links["ito@globex.example"]

    mori = new_context().new_page()
    open_invite(mori, links["mori@globex.example"])
    expect_in_room(mori, deal, "Mori Ken")
    expect(mori.get_by_text("Nothing shared here yet")).to_be_visible()  # a new, empty room
    expect(mori.get_by_text("Ito Yui")).to_be_visible()  # the committee sees each other

    seller.reload()
    expect(seller.get_by_text("joined", exact=True)).to_have_count(1)  # Mori, not Ito


def test_forwarded_link_stops_at_who_are_you_and_colleagues_verify_by_code(
    new_context: NewContext, inbox: Inbox, server: Server
) -> None:
    deal = deal_name("Forwarded")
    _seller, _mori, link = room_with_first_buyer(new_context, inbox, server, deal)

    colleague = new_context().new_page()
    colleague.goto(link)
    expect(colleague).to_have_url(re.compile(r"/i/[^/]+/verify$"))
    expect(colleague.get_by_role("heading", name="Confirm who you are")).to_be_visible()
    expect_nothing_of_room(colleague, deal, "Globex")

    colleague.get_by_label("Your work email").fill("sato@globex.example")
    colleague.get_by_role("button", name="Continue").click()
    expect(colleague.get_by_role("heading", name="Check your email")).to_be_visible()
    expect_nothing_of_room(colleague, deal, "Globex")
    code = code_in(inbox.next_to("sato@globex.example"))

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    colleague.get_by_label("6-digit code").fill(wrong)
    with colleague.expect_response(lambda r: r.request.method == "POST") as answer:
        colleague.get_by_role("button", name="Verify").click()
    assert answer.value.status == 422
    expect(colleague.get_by_role("alert")).to_have_text(
        re.compile(r"That code is not right\. \d+ attempts? left\.")
    )

    colleague.get_by_label("6-digit code").fill(code)
    colleague.get_by_role("button", name="Verify").click()
    expect_in_room(colleague, deal, "sato@globex.example")


def test_outsider_on_forwarded_link_asks_the_owner_who_approves(
    new_context: NewContext, inbox: Inbox, server: Server
) -> None:
    deal = deal_name("Outsider")
    seller, _mori, link = room_with_first_buyer(new_context, inbox, server, deal)

    outsider = new_context().new_page()
    outsider.goto(link)
    outsider.get_by_label("Your work email").fill("tanaka@initech.example")
    outsider.get_by_label("Your name (optional)").fill("Tanaka Jun")
    outsider.get_by_role("button", name="Continue").click()
    expect(
        outsider.get_by_role("heading", name="We asked the room owner to let you in")
    ).to_be_visible()
    expect_nothing_of_room(outsider, deal, "Globex")
    # The owner is told (found by subject: another test's grouped chat mail may come first).
    assert inbox.next_to(DEMO_EMAIL, subject="tanaka@initech.example")

    seller.reload()
    requests = seller.get_by_role("region", name="Access requests")
    expect(requests.get_by_role("heading", name="Asking to join")).to_be_visible()
    expect(requests.get_by_text("Tanaka Jun")).to_be_visible()
    requests.get_by_role("button", name="Approve tanaka@initech.example").click()
    expect(seller.get_by_role("region", name="Access requests")).to_have_count(0)
    expect(
        seller.get_by_role("button", name="Resend invite to tanaka@initech.example")
    ).to_be_visible()

    # The approved person gets a personal link of their own, and it lets them in.
    own_link = link_in(inbox.next_to("tanaka@initech.example"), server.base_url)
    assert own_link != link
    open_invite(outsider, own_link)
    expect_in_room(outsider, deal, "Tanaka Jun")


def test_revoked_buyer_is_shut_out_on_the_next_page_load(
    new_context: NewContext, inbox: Inbox, server: Server
) -> None:
    deal = deal_name("Revoked")
    seller, mori, _link = room_with_first_buyer(new_context, inbox, server, deal)

    seller.once("dialog", lambda dialog: dialog.accept())  # hx-confirm asks "Revoke access for …?"
    seller.get_by_role("button", name="Revoke access for mori@globex.example").click()
    expect(seller.get_by_text("revoked", exact=True)).to_be_visible()

    answer: Response | None = mori.reload()
    assert answer is not None and answer.status == 403
    expect(mori.get_by_role("heading", name="Your access was revoked")).to_be_visible()
    expect(mori.get_by_role("heading", name=deal)).to_have_count(0)
