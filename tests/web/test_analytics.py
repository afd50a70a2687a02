"""The seller's side of intent tracking: the live room analytics page (and its htmx fragment),
CSV exports, one viewer's export and erasure, the retention setting, and the analytics API checked
against its OpenAPI document. Data is built through `tracking.apply_beats`, as the beacon does."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlmodel import func, select

from dealroom import analytics, audit, content, tracking
from dealroom.content import Upload
from dealroom.pdfgen import simple_pdf
from dealroom.rooms import Room
from dealroom.tracking import Beat, DropCounter, ItemTime, TrackEvent, VideoWatch, ViewerStat
from tests import factories
from tests.web.test_api import Api, assert_error, connect

HTMX = {"HX-Request": "true"}
PDF = simple_pdf([["p"]] * 5)


# ---------------------------------------------------------------- helpers


class Page(HTMLParser):
    """What the tests look for in the HTML: ids, inline styles, script tags, and elements by class."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.styles: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append((tag, values))
        if "style" in values or any(name.startswith("on") for name in values):
            self.styles.append(tag)
        if tag == "script":
            self.scripts.append(values)
        if values.get("id"):
            self.ids[str(values["id"])] = {"tag": tag, **values}

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [a for _t, a in self.tags if name in str(a.get("class") or "").split()]


def text_of(html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed (what a reader sees)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def deal(session, services):
    seller = factories.seller(session, org="Northwind")
    room = factories.room(session, seller, name="Acme rollout", buyer_company="Acme Corp")
    kato = factories.invite(
        session,
        services,
        room,
        seller,
        email="kato@acme.example",
        name="Kato",
        role="economic_buyer",
    )
    mei = factories.invite(
        session,
        services,
        room,
        seller,
        email="mei@advisors.example",
        name="Mei",
        role="technical_evaluator",
    )
    for invite in (kato, mei):
        tracking.show_notice(invite)
    pdf = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        upload=Upload("proposal.pdf", io.BytesIO(PDF), len(PDF)),
        title="Proposal",
    )
    video = content.add_link(
        session,
        room=room,
        user=seller,
        url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        title="Demo",
    )
    session.flush()
    return {"seller": seller, "room": room, "kato": kato, "mei": mei, "pdf": pdf, "video": video}


def beats(session, deal, invite, *events, stream="s1", ago=0.0, seq_start=1):
    """One beat per event, 10 s apart, the last `ago` seconds before now."""
    now = time.time() - ago
    batch = [
        Beat(
            received_at=now - 10 * (len(events) - n),
            room=deal["room"].public_id,
            invite=invite.public_id,
            stream=stream,
            issued_at=now - 10 * len(events) - 10,
            seq=seq_start + n,
            events=(event,),
            inputs=3,
        )
        for n, event in enumerate(events)
    ]
    drops = DropCounter()
    accepted = tracking.apply_beats(session, batch, drops=drops)
    session.flush()
    assert not drops.total, dict(drops.total)
    return accepted


def read(session, deal):
    """Kato reads pages 1-3 of the proposal (1 and 3 the most) and watches part of the demo;
    Mei glances at page 2."""
    pdf, video = deal["pdf"].public_id, deal["video"].public_id
    beats(
        session,
        deal,
        deal["kato"],
        ItemTime(pdf, 10, page=1),
        ItemTime(pdf, 2, page=2),
        ItemTime(pdf, 10, page=3),
        ItemTime(pdf, 10, page=3),
        VideoWatch(video, 0, 10, 10, duration=240),
    )
    beats(session, deal, deal["mei"], ItemTime(pdf, 6, page=2), stream="s2", ago=600)


@pytest.fixture
def seller_browser(client, deal):
    client.login(deal["seller"].email, factories.PASSWORD)
    return client


def url(deal, suffix=""):
    return f"/rooms/{deal['room'].public_id}/analytics{suffix}"


# ---------------------------------------------------------------- the page


def test_the_page_shows_people_items_timeline_and_signals(session, deal, seller_browser):
    read(session, deal)

    response = seller_browser.get(url(deal))

    assert response.status_code == 200
    assert response.template.name == "analytics/page.html"
    ctx = response.context
    assert ctx["room"].id == deal["room"].id
    engagement = ctx["engagement"]
    assert engagement.engaged == 2 and ctx["invited"] == 2
    assert engagement.active_seconds == 10 + 2 + 10 + 10 + 10 + 6
    assert [v.invite.name for v in engagement.viewing_now] == ["Kato"]
    assert ctx["companies"] == {deal["kato"].id: "Acme Corp", deal["mei"].id: "advisors.example"}
    assert [v.invite.name for v, _item in ctx["readers"][deal["pdf"].public_id]] == ["Kato", "Mei"]
    assert ctx["timeline"][0].invite.name == "Kato"
    assert {s.signal.kind for s in ctx["signals"]} == {"pricing"}
    assert len(ctx["daily"]) == 30 and ctx["daily_total"] == engagement.active_seconds

    html = response.text
    page = Page(html)
    text = text_of(html)
    assert "2 of 2" in text  # stakeholders engaged / invited
    assert "Kato (economic buyer) opened Proposal." in text
    assert "Kato viewed Proposal p.1–3" in text
    assert "Economic buyer" in text and "Technical evaluator" in text
    assert "advisors.example" in text
    # The heat strip: a cell per page, a level each, and a label a screen reader can read.
    labels = [strip["aria-label"] for strip in page.with_class("heat-strip")]
    assert labels == [
        "Time Kato spent per page of Proposal",
        "Time Mei spent per page of Proposal",
        "Time per page of Proposal, everyone",
    ]
    pdf_id = deal["pdf"].public_id
    article = re.search(rf'<article class="item-stats" id="item-{pdf_id}".*?</article>', html, re.S)
    levels = re.findall(r'<li class="heat-(\d)" title="([^"]+)"', article.group(0))
    assert levels == [
        ("2", "page 1: 10 s"),
        ("2", "page 2: 8 s"),
        ("4", "page 3: 20 s"),
        ("0", "page 4: 0 s"),
        ("0", "page 5: 0 s"),
    ]
    assert '<span class="sr-only">page 3: 20 s</span>' in html
    # The video's watched part is a segment of a bar the video's length, labelled.
    assert 'aria-label="Watched 0:10 of 4:00: 0:00–0:10"' in html
    assert re.search(r'<rect class="watch-seg" x="0(\.0)?" y="0" width="41\.7"', html)
    # Viewing now, with the name.
    assert page.with_class("live-dot")
    assert re.search(r"Viewing now.*Kato", text)
    # Privacy actions per person and the retention note.
    assert url(deal, f"/viewers/{deal['kato'].public_id}/export") in html
    assert url(deal, f"/viewers/{deal['kato'].public_id}/erase") in html
    assert "Raw events are kept for 365 days; totals are kept." in text
    # CSP: no inline styles or handlers, no inline scripts; the charts' data is an attribute.
    assert page.styles == []
    assert all(s.get("src") for s in page.scripts)
    assert any("vendor/chart.js-" in str(s["src"]) for s in page.scripts)
    chart = json.loads(str(page.ids["analytics-live"]["data-chart"]))
    assert chart["items"]["labels"] == ["Proposal", "Demo"]
    assert chart["items"]["text"][0] == "38 s"
    assert len(chart["daily"]["days"]) == 30 and sum(chart["daily"]["minutes"]) > 0
    # Every chart has a table and a CSV download.
    for name in ("chart-daily", "chart-items"):
        assert page.ids[name]["hx-preserve"] == "true"
        assert page.ids[f"{name}-canvas"]["role"] == "img"
        assert page.ids[f"{name}-table"]["tag"] == "details"
    assert url(deal, "/daily.csv") in html and url(deal, "/items.csv") in html


def test_htmx_polling_gets_the_live_fragment(session, deal, seller_browser):
    first = seller_browser.get(url(deal), headers=HTMX)
    assert first.template.name == "analytics/_live.html"
    root = Page(first.text).ids["analytics-live"]
    assert root["hx-trigger"] == "every 10s" and root["hx-swap"] == "outerHTML"
    assert root["hx-get"] == f"http://testserver{url(deal)}"
    assert "No one has opened the room yet" in first.text
    assert not first.text.lstrip().startswith("<!doctype")

    # A buyer reads; the next poll shows it.
    read(session, deal)
    second = seller_browser.get(url(deal), headers=HTMX)
    assert second.context["engagement"].active_seconds == 48
    assert "Kato viewed Proposal" in text_of(second.text)


def test_a_paused_viewer_shows_tracking_paused_not_zeros(session, deal, seller_browser):
    beats(session, deal, deal["mei"], ItemTime(deal["pdf"].public_id, 6, page=2))
    tracking.set_paused(deal["mei"], True)
    session.flush()

    response = seller_browser.get(url(deal))

    [mei] = [v for v in response.context["engagement"].viewers if v.invite.name == "Mei"]
    assert mei.tracking_paused
    row = re.search(
        rf'<tr id="row-{deal["mei"].public_id}">(.*?)</tr>', response.text, re.DOTALL
    ).group(1)
    assert "tracking paused" in row
    assert "Before pausing: 6 s over 1 visits" in text_of(row)
    assert "0 s" not in row
    # Kato never came: no zeros either, a plain statement.
    kato_row = re.search(
        rf'<tr id="row-{deal["kato"].public_id}">(.*?)</tr>', response.text, re.DOTALL
    ).group(1)
    assert "No activity yet" in kato_row and "0 s" not in kato_row


def test_empty_states(session, services, client):
    seller = factories.seller(session, org="Empty Co")
    room = factories.room(session, seller)
    session.flush()
    client.login(seller.email, factories.PASSWORD)

    text = text_of(client.get(f"/rooms/{room.public_id}/analytics").text)

    assert "No one is invited to this room yet." in text
    assert "The room has no content yet." in text
    assert "No activity yet." in text
    assert "Nothing to flag yet" in text
    assert "No active time in the last 30 days." in text

    factories.invite(session, services, room, seller, email="kato@acme.example")
    session.flush()
    text = text_of(client.get(f"/rooms/{room.public_id}/analytics").text)
    assert "No one has opened the room yet." in text
    assert "0 of 1" in text


def test_the_page_speaks_japanese(session, deal, seller_browser):
    read(session, deal)
    deal["seller"].locale = "ja"
    session.flush()

    response = seller_browser.get(url(deal))

    assert response.context["lang"] == "ja"
    text = text_of(response.text)
    assert "分析" in text and "閲覧中" in text
    assert "Katoさんが「Proposal」の1–3ページを閲覧しました" in text
    assert "生イベントは365日間保存されます。" in text


def test_the_room_page_links_to_analytics_with_a_summary(session, deal, seller_browser):
    read(session, deal)

    response = seller_browser.get(f"/rooms/{deal['room'].public_id}")

    assert response.template.name == "rooms/detail.html"
    assert response.context["engagement"].engaged == 2
    assert f'href="http://testserver{url(deal)}"' in response.text
    text = text_of(response.text)
    assert "2 of 2 people engaged · 48 s over 2 visits" in text
    assert "Viewing now: Kato" in text


# ---------------------------------------------------------------- CSV exports


def test_events_csv_streams_with_a_bom_and_escaped_cells(session, services, deal, seller_browser):
    evil = factories.invite(
        session, services, deal["room"], deal["seller"], email="evil@acme.example", name="=SUM(1)"
    )
    tracking.show_notice(evil)
    session.flush()
    beats(session, deal, evil, ItemTime(deal["pdf"].public_id, 8, page=4), stream="s3")

    response = seller_browser.get(url(deal, "/events.csv"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{deal["room"].public_id}-events.csv"'
    )
    body = response.content.decode("utf-8")
    assert body.startswith("\ufefftime_utc,viewer,email,role,event,")
    rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert [(r["viewer"], r["event"], r["page"], r["active_seconds"]) for r in rows] == [
        ("'=SUM(1)", "view", "4", "8")
    ]
    [entry] = audit.recent(session, org_id=deal["room"].org_id, limit=1)
    assert (entry.action, entry.target) == ("analytics.exported", deal["room"].public_id)


def test_pages_daily_and_items_csv(session, deal, seller_browser):
    read(session, deal)

    pages = seller_browser.get(url(deal, "/pages.csv"))
    daily = seller_browser.get(url(deal, "/daily.csv"))
    items = seller_browser.get(url(deal, "/items.csv"))

    for response, name in ((pages, "pages"), (daily, "daily"), (items, "items")):
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"].endswith(f'-{name}.csv"')
        assert response.content.startswith("\ufeff".encode())
    page_rows = list(csv.reader(io.StringIO(pages.text.removeprefix("\ufeff"))))
    assert page_rows[0] == list(analytics.PAGE_COLUMNS)
    assert ["Kato", "kato@acme.example", "economic_buyer"] == page_rows[1][:3]
    assert {(r[0], r[5], r[6]) for r in page_rows[1:]} == {
        ("Kato", "1", "10"),
        ("Kato", "2", "2"),
        ("Kato", "3", "20"),
        ("Mei", "2", "6"),
    }
    daily_rows = list(csv.reader(io.StringIO(daily.text.removeprefix("\ufeff"))))
    assert daily_rows[0] == ["day_utc", "active_seconds"] and len(daily_rows) == 31
    assert sum(int(r[1]) for r in daily_rows[1:]) == 48
    item_rows = list(csv.DictReader(io.StringIO(items.text.removeprefix("\ufeff"))))
    assert [(r["item"], r["active_seconds"], r["viewers"]) for r in item_rows] == [
        ("Proposal", "38", "2"),
        ("Demo", "10", "1"),
    ]


# ---------------------------------------------------------------- one viewer's data


def test_export_one_viewers_data_as_json(session, deal, seller_browser):
    read(session, deal)
    kato = deal["kato"]

    response = seller_browser.get(url(deal, f"/viewers/{kato.public_id}/export"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{kato.public_id}-tracking.json"'
    )
    data = response.json()
    assert data["person"]["email"] == "kato@acme.example"
    assert data["summary"]["active_seconds"] == 42
    assert len(data["events"]) == 5 and len(data["visits"]) == 1
    assert "mei" not in response.text.lower()
    [entry] = audit.recent(session, org_id=deal["room"].org_id, limit=1)
    assert (entry.action, entry.target) == ("tracking.exported", kato.public_id)


def test_erasing_asks_for_confirmation_then_erases_one_viewer(session, deal, seller_browser):
    read(session, deal)
    kato, mei = deal["kato"], deal["mei"]
    erase = url(deal, f"/viewers/{kato.public_id}/erase")

    form = seller_browser.get(erase)
    assert form.template.name == "analytics/erase.html"
    assert form.context["invite"].id == kato.id and form.context["viewer"].active_seconds == 42
    assert 'for="f-confirm"' in form.text and f'action="http://testserver{erase}"' in form.text

    # Without the box ticked: 422, nothing erased.
    refused = seller_browser.submit(erase, {})
    assert refused.status_code == 422
    assert refused.context["errors"] == {"confirm": "Tick the box to confirm the erasure."}
    assert session.exec(select(func.count()).select_from(TrackEvent)).one() == 6

    done = seller_browser.submit(erase, {"confirm": "erase"})
    assert done.status_code == 303
    assert done.headers["location"] == f"{url(deal)}?erased={kato.public_id}"
    session.expire_all()
    events = session.exec(select(TrackEvent.invite_id)).all()
    assert events == [mei.id]
    assert session.exec(select(ViewerStat.invite_id)).all() == [mei.id]
    [entry] = audit.recent(session, org_id=deal["room"].org_id, limit=1)
    assert (entry.action, entry.target) == ("tracking.erased", kato.public_id)
    assert json.loads(entry.detail)["events"] == 5

    after = seller_browser.get(done.headers["location"])
    assert after.context["erased"].id == kato.id
    assert "The tracking data about Kato was erased." in text_of(after.text)


def test_revoked_viewers_can_still_be_exported_and_erased(session, deal, seller_browser):
    from dealroom import invites

    read(session, deal)
    invites.revoke_invite(session, room=deal["room"], seller=deal["seller"], invite=deal["mei"])
    session.flush()

    response = seller_browser.get(url(deal))

    assert [i.name for i in response.context["former"]] == ["Mei"]
    assert url(deal, f"/viewers/{deal['mei'].public_id}/erase") in response.text
    assert (
        seller_browser.get(url(deal, f"/viewers/{deal['mei'].public_id}/export")).json()["summary"][
            "active_seconds"
        ]
        == 6
    )


def test_an_invite_of_another_room_is_a_404(session, services, deal, seller_browser):
    other_room = factories.room(session, deal["seller"], name="Other deal")
    stranger = factories.invite(
        session, services, other_room, deal["seller"], email="x@acme.example"
    )
    session.flush()

    assert seller_browser.get(url(deal, f"/viewers/{stranger.public_id}/export")).status_code == 404
    assert seller_browser.get(url(deal, f"/viewers/{stranger.public_id}/erase")).status_code == 404
    response = seller_browser.submit(
        url(deal, f"/viewers/{stranger.public_id}/erase"), {"confirm": "erase"}
    )
    assert response.status_code == 404
    assert seller_browser.get(url(deal, "/viewers/inv_nope/export")).status_code == 404


def test_another_organisations_seller_gets_404_everywhere(session, deal, new_browser):
    read(session, deal)
    rival = factories.seller(session, org="Contoso")
    session.flush()
    browser = new_browser()
    browser.login(rival.email, factories.PASSWORD)
    kato = deal["kato"].public_id

    for path in (
        url(deal),
        url(deal, "/events.csv"),
        url(deal, "/pages.csv"),
        url(deal, "/daily.csv"),
        url(deal, "/items.csv"),
        url(deal, f"/viewers/{kato}/export"),
        url(deal, f"/viewers/{kato}/erase"),
    ):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "Kato" not in response.text and "Proposal" not in response.text
    assert browser.get(url(deal), headers=HTMX).status_code == 404
    erased = browser.submit(url(deal, f"/viewers/{kato}/erase"), {"confirm": "erase"})
    assert erased.status_code == 404
    assert session.exec(select(func.count()).select_from(ViewerStat)).one() == 2


# ---------------------------------------------------------------- retention setting


@pytest.mark.parametrize("value", ["10", "4000", "a year"])
def test_retention_outside_30_to_3650_days_is_refused(session, deal, seller_browser, value):
    room_id = deal["room"].public_id

    response = seller_browser.submit(
        f"/rooms/{room_id}/edit", {"name": "Renamed", "retention_days": value}
    )

    assert response.status_code == 422
    message = response.context["errors"]["retention_days"]
    assert message in (
        "Keep viewing events for (days) must be between 30 and 3650.",
        "Keep viewing events for (days) must be a whole number.",
    )
    assert message in response.text
    session.expire_all()
    room = session.get(Room, deal["room"].id)
    assert (room.retention_days, room.name) == (365, "Acme rollout")


def test_retention_is_saved_and_shown_on_the_analytics_page(session, deal, seller_browser):
    room_id = deal["room"].public_id
    settings = seller_browser.get(f"/rooms/{room_id}")
    assert 'name="retention_days"' in settings.text and 'value="365"' in settings.text

    response = seller_browser.submit(f"/rooms/{room_id}/edit", {"retention_days": "90"})

    assert response.status_code == 303
    session.expire_all()
    assert session.get(Room, deal["room"].id).retention_days == 90
    assert "Raw events are kept for 90 days; totals are kept." in text_of(
        seller_browser.get(url(deal)).text
    )


# ---------------------------------------------------------------- API


@pytest.fixture
def api(session, client, deal) -> Api:
    document = client.get("/api/v1/openapi.json").json()
    return connect(session, client, document, deal["seller"])


def test_api_analytics_has_the_documented_shape(session, deal, api):
    read(session, deal)
    tracking.set_paused(deal["mei"], True)
    session.flush()

    response = api.get(f"/rooms/{deal['room'].public_id}/analytics")

    assert response.status_code == 200
    assert "RoomAnalytics" in api.checked
    body = response.json()
    assert set(body) == {"viewers", "items"}
    kato, mei = body["viewers"]
    assert set(kato) == {
        "invite_id",
        "email",
        "name",
        "role",
        "active_seconds",
        "visits",
        "last_seen",
        "tracking_paused",
        "items",
    }
    assert (kato["invite_id"], kato["email"], kato["role"]) == (
        deal["kato"].public_id,
        "kato@acme.example",
        "economic_buyer",
    )
    assert kato["active_seconds"] == 42 and kato["visits"] == 1 and not kato["tracking_paused"]
    assert mei["tracking_paused"] is True
    proposal = next(i for i in kato["items"] if i["content_id"] == deal["pdf"].public_id)
    assert proposal["pages"] == {"1": 10, "2": 2, "3": 20}
    assert proposal["completion"] == 0.4
    assert body["items"] == [
        {
            "content_id": deal["pdf"].public_id,
            "title": "Proposal",
            "active_seconds": 38,
            "viewers": 2,
        },
        {
            "content_id": deal["video"].public_id,
            "title": "Demo",
            "active_seconds": 10,
            "viewers": 1,
        },
    ]

    def integers(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("active_seconds", "visits") or key.isdigit():
                    assert type(value) is int, (key, value)
                if key == "viewers" and not isinstance(value, list):  # an item's count
                    assert type(value) is int, (key, value)
                integers(value)
        elif isinstance(node, list):
            for value in node:
                integers(value)

    integers(body)


def test_api_events_csv_is_the_same_as_the_ui_export(session, deal, api, seller_browser):
    read(session, deal)

    response = api.client.get(
        f"/api/v1/rooms/{deal['room'].public_id}/events.csv",
        headers={"Authorization": f"Bearer {api.token}"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content == seller_browser.get(url(deal, "/events.csv")).content
    documented = api.document["paths"]["/api/v1/rooms/{room_id}/events.csv"]["get"]
    assert "text/csv" in documented["responses"]["200"]["content"]


def test_api_analytics_of_another_organisation_is_a_404(session, client, deal, api):
    rival = connect(session, client, api.document, factories.seller(session, org="Contoso"))
    room_id = deal["room"].public_id

    assert_error(rival.get(f"/rooms/{room_id}/analytics"), 404, "not_found")
    response = client.get(
        f"/api/v1/rooms/{room_id}/events.csv", headers={"Authorization": f"Bearer {rival.token}"}
    )
    assert response.status_code == 404 and "Kato" not in response.text
    assert client.get(f"/api/v1/rooms/{room_id}/events.csv").status_code == 401


def test_api_room_takes_retention_days(deal, api):
    room_id = deal["room"].public_id

    assert api.get(f"/rooms/{room_id}").json()["retention_days"] == 365
    refused = api.patch(f"/rooms/{room_id}", json={"retention_days": 7})
    assert_error(refused, 422, "invalid")["fields"]["retention_days"]
    assert (
        api.patch(f"/rooms/{room_id}", json={"retention_days": 90}).json()["retention_days"] == 90
    )


def test_titles_with_quotes_and_markup_stay_data(session, services, deal, seller_browser):
    title = """Q&A "pricing" it's </script><b>bold</b>"""
    document = content.get_item(session, room=deal["room"], item_id=deal["pdf"].public_id).document
    document.title = title
    session.flush()
    read(session, deal)

    response = seller_browser.get(url(deal))

    page = Page(response.text)
    chart = json.loads(str(page.ids["analytics-live"]["data-chart"]))
    assert chart["items"]["labels"][0] == title
    assert "<b>bold</b>" not in response.text
    assert page.styles == [] and all(s.get("src") for s in page.scripts)
