"""The buyer room page's "since your last visit" banner, and the champion view over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from dealroom import champion, chat, content, since
from dealroom.audit import AuditEvent
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    sato = factories.invite(
        session, services, room, user, email="sato@acme.example", name="Sato", role="champion"
    )
    kato = factories.invite(session, services, room, user, name="Kato", role="end_user")
    item = content.add_link(session, room=room, user=user, url="https://p.example/", title="Plan")
    session.flush()
    return {"user": user, "room": room, "sato": sato, "kato": kato, "item": item}


def url(world, tail=""):
    return f"/r/{world['room'].public_id}{tail}"


def _away(session, invite, by=timedelta(days=1)):
    """As if the buyer's last visit ended `by` ago."""
    mark = session.exec(select(since.RoomMark).where(since.RoomMark.invite_id == invite.id)).one()
    mark.last_seen_at -= by
    mark.visit_started_at -= by
    session.flush()


def test_a_returning_buyer_sees_what_changed_as_links_and_can_close_it(
    client, services, session, world
):
    client.enter(services.links.invite(world["kato"]))
    first = client.get(url(world))
    assert first.template.name == "buyer/room.html"
    assert first.context["since_changes"] is None  # a first visit: everything is new anyway
    world["item"].created_at -= timedelta(days=2)  # there before the last visit
    _away(session, world["kato"])
    chat.post_message(session, room=world["room"], author=world["user"], body="Contract attached")
    fresh = content.add_link(
        session, room=world["room"], user=world["user"], url="https://c.example/", title="Contract"
    )
    session.flush()

    page = client.get(url(world))
    changes = page.context["since_changes"]
    assert [d.title for d in changes.documents] == ["Contract"] and changes.messages == 1
    assert 'id="since-banner"' in page.text
    assert f'href="#item-{fresh.public_id}"' in page.text
    assert f'id="item-{fresh.public_id}"' in page.text  # the anchor exists
    assert 'href="#chat"' in page.text
    # A reload in the same visit shows the same banner.
    assert client.get(url(world)).context["since_changes"].messages == 1

    closed = client.submit(url(world, "/since/dismiss"), headers=HTMX)
    assert closed.status_code == 200 and closed.template.name == "since/_banner.html"
    assert "Contract" not in closed.text
    assert client.get(url(world)).context["since_changes"] is None


def test_closing_works_without_javascript_and_a_preview_records_nothing(
    client, services, session, world, new_browser
):
    client.enter(services.links.invite(world["kato"]))
    client.get(url(world))
    response = client.submit(url(world, "/since/dismiss"))
    assert response.status_code == 303 and response.headers["location"].endswith(url(world))

    seller = new_browser()
    seller.login(world["user"].email, factories.PASSWORD)
    preview = seller.get(url(world))
    assert preview.context["since_changes"] is None
    assert seller.submit(url(world, "/since/dismiss")).status_code == 303
    marks = session.exec(select(since.RoomMark)).all()
    assert [m.invite_id for m in marks] == [world["kato"].id]


def test_the_seller_switches_the_champion_view_on_and_off(client, session, world):
    client.login(world["user"].email, factories.PASSWORD)
    detail = client.get(f"/rooms/{world['room'].public_id}")
    assert detail.context["champion_on"] is False
    assert "Turn on the champion view" in detail.text
    path = f"/rooms/{world['room'].public_id}/champion"
    response = client.submit(path, {"champion": "on"})
    assert response.status_code == 303
    assert champion.enabled_at(session, room=world["room"]) is not None
    fragment = client.submit(path, {"champion": "off"}, headers=HTMX)
    assert fragment.template.name == "champion/_setting.html"
    assert "Turn on the champion view" in fragment.text
    assert champion.enabled_at(session, room=world["room"]) is None
    actions = session.exec(
        select(AuditEvent.action).where(AuditEvent.target == world["room"].public_id)
    ).all()
    assert {"room.champion_enabled", "room.champion_disabled"} <= set(actions)


def test_the_seller_marks_the_key_documents(client, session, world):
    room = world["room"]
    extra = content.add_link(
        session, room=room, user=world["user"], url="https://s.example/", title="Security"
    )
    session.flush()
    client.login(world["user"].email, factories.PASSWORD)
    # Off: nothing to choose yet.
    assert "Key documents for the champion" not in client.get(f"/rooms/{room.public_id}").text
    champion.set_enabled(session, room=room, user=world["user"], enabled=True)
    session.flush()
    detail = client.get(f"/rooms/{room.public_id}")
    assert detail.context["champion_keys"] == set()
    assert "Key documents for the champion" in detail.text and 'name="items"' in detail.text
    path = f"/rooms/{room.public_id}/champion/items"
    fragment = client.submit(path, {"items": extra.public_id}, headers=HTMX)
    assert fragment.status_code == 200 and fragment.template.name == "champion/_setting.html"
    assert fragment.context["champion_keys"] == {extra.id}
    assert "1 key document saved." in fragment.text
    assert champion.key_items(session, room=room) == {extra.id}
    # A tampered form: a clear error on the room page, nothing changed.
    bad = client.submit(path, {"items": "item_forged"})
    assert bad.status_code == 422 and bad.template.name == "rooms/detail.html"
    assert "Choose documents of this room." in bad.text
    assert "<details open>" in bad.text.split('id="settings"')[1]  # the error is not folded away
    assert champion.key_items(session, room=room) == {extra.id}
    # None ticked: every document again (a plain form answers with a redirect).
    assert client.submit(path, {}).status_code == 303
    assert champion.key_items(session, room=room) == set()


def test_the_champion_sees_colleagues_once_they_were_told(
    client, services, session, world, new_browser
):
    room = world["room"]
    champion.set_enabled(session, room=room, user=world["user"], enabled=True)
    session.flush()

    kato = new_browser()
    kato.enter(services.links.invite(world["kato"]))
    # Not the champion: no link, no page.
    page = kato.get(url(world))
    assert page.context["champion"].mention and not page.context["champion"].champion
    assert "Champion view is on" in page.text
    assert f'{url(world, "/champion/notice")}"' in page.text  # the notice's buttons answer it
    assert kato.get(url(world, "/champion")).status_code == 404
    # OK on the notice records the answer; the notice goes away.
    ok = kato.submit(url(world, "/champion/notice"), {"tracking": "ok", "next": url(world)})
    assert ok.status_code == 303
    session.expire_all()
    assert world["kato"].tracking_ack_at is not None
    assert "tracking-notice" not in kato.get(url(world)).text

    client.enter(services.links.invite(world["sato"]))
    room_page = client.get(url(world))
    assert room_page.context["champion"].champion
    assert f'{url(world, "/champion")}"' in room_page.text
    view = client.get(url(world, "/champion"))
    assert view.status_code == 200 and view.template.name == "champion/page.html"
    assert [c.name for c in view.context["view"].colleagues] == ["Kato"]
    assert "not yet" in view.text and "<caption>" in view.text

    # Pausing from the notice: shown as "tracking paused".
    kato.submit(url(world, "/champion/notice"), {"tracking": "pause"})
    session.expire_all()
    assert world["kato"].tracking_paused_at is not None
    assert client.get(url(world, "/champion")).context["view"].colleagues[0].paused


def test_the_champion_page_has_an_empty_state(client, services, session, world):
    champion.set_enabled(session, room=world["room"], user=world["user"], enabled=True)
    session.flush()
    client.enter(services.links.invite(world["sato"]))
    view = client.get(url(world, "/champion"))
    assert view.context["view"].colleagues == []
    assert "No colleagues to show yet" in view.text
    assert "1 colleague is not listed" in view.text
