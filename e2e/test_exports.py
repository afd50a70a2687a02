"""Issue 6's browser journey: an admin connects HubSpot (a stateful fake of its API, served on
127.0.0.1), a seller links a room to a deal, clicks "Export to HubSpot", and watches the status
turn to done, with a link to the deal; HubSpot then holds exactly one note on that deal."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.fakes.hubspot import HubSpotFake
from tests.fakes.server import serve_app

from .browser import NewContext
from .test_journey import create_room, log_in_as_seller

pytestmark = pytest.mark.e2e

EXPORT_MS = 20_000  # queued -> done through the server's export worker


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotFake, str]]:
    fake = HubSpotFake()
    base_url, stop = serve_app(fake.app)
    try:
        yield fake, base_url
    finally:
        stop()


def test_seller_exports_a_room_to_hubspot(new_context: NewContext, hubspot) -> None:
    fake, base_url = hubspot
    deal_id = fake.add_deal("Globex rollout")
    token = next(iter(fake.private_tokens))
    seller = log_in_as_seller(new_context)  # the demo seller is the organisation's admin

    # The admin connects HubSpot; the token is never shown back.
    seller.get_by_role("link", name="Integrations").click()
    section = seller.locator("section#hubspot")
    section.get_by_label("Access token").fill(token)
    section.get_by_label("Account (Hub) id").fill(str(fake.portal_id))
    section.get_by_label("API base URL").fill(base_url)
    section.get_by_role("button", name="Save HubSpot").click()
    section = seller.locator("section#hubspot")
    expect(section.get_by_text("connected", exact=True)).to_be_visible()
    expect(section.get_by_label("Access token")).to_have_value("")
    assert token not in seller.content()
    section.get_by_role("button", name="Test connection to HubSpot").click()
    expect(seller.get_by_text("Connection works:")).to_be_visible()

    # A room, linked to the HubSpot deal.
    deal = f"Globex {uuid.uuid4().hex[:6]}"
    create_room(seller, deal)
    exports = seller.locator("section#exports")
    exports.get_by_label("HubSpot deal id").fill(deal_id)
    exports.get_by_role("button", name="Save the HubSpot record").click()
    expect(seller.locator("section#exports").get_by_label("HubSpot deal id")).to_have_value(deal_id)

    # One click; the status page polls itself until the export is done.
    seller.locator("section#exports").get_by_role("button", name="Export to HubSpot").click()
    expect(seller).to_have_url(re.compile(r"/rooms/room_\w+/exports/exp_\w+$"))
    status = seller.locator("#export-status")
    expect(status).to_have_attribute("data-status", "done", timeout=EXPORT_MS)
    expect(status.get_by_text("Done", exact=True)).to_be_visible()
    link = status.get_by_role("link", name="Open in HubSpot")
    expect(link).to_have_attribute("href", re.compile(rf"/{fake.portal_id}/record/0-3/{deal_id}$"))
    # Polling stopped: the finished fragment has no trigger left.
    assert status.get_attribute("hx-trigger") is None

    notes = fake.live("notes")
    assert len(notes) == 1
    (note_id,) = notes
    assert fake.associated("notes", note_id, "deals") == {deal_id}
    assert deal in notes[note_id]["properties"]["hs_note_body"]

    # Back in the room, the history lists it.
    seller.get_by_role("link", name="Back to the room").click()
    history = seller.locator("section#exports table")
    expect(history.get_by_role("cell", name="HubSpot", exact=True)).to_be_visible()
    expect(history.get_by_role("link", name="Open in HubSpot")).to_be_visible()
