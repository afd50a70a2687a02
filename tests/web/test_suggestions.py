"""The "Suggested for you" panel over HTTP, its switches, the seller's next best actions and pins,
and the API (answers checked against the OpenAPI document)."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from sqlmodel import select

from dealroom import accounts, content, suggestions, tracking
from dealroom.db import pk
from dealroom.suggestions import NextActionDismissal, SuggestionItem, SuggestionPin
from dealroom.tasks import Milestone, Task
from tests import factories
from tests.web.test_api import Api


@pytest.fixture
def settings(settings):
    """Nobody in the holdout here: the holdout has its own tests."""
    return settings.replace(suggest_holdout_percent=0)


@pytest.fixture
def world(session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    kato = factories.invite(session, services, room, user, name="Kato", role="technical_evaluator")
    items = [
        content.add_link(
            session, room=room, user=user, url=f"https://docs.example/{n}", title=f"Doc {n}"
        )
        for n in range(1, 7)
    ]
    session.flush()
    return {"user": user, "room": room, "kato": kato, "items": items}


def room_url(world):
    return f"/r/{world['room'].public_id}"


def impressions(session, world):
    return sorted(
        s.impressions
        for s in session.exec(
            select(SuggestionItem).where(SuggestionItem.invite_id == world["kato"].id)
        )
    )


def test_the_buyer_room_shows_up_to_three_suggestions_with_reasons(
    client, services, session, world
):
    client.enter(services.links.invite(world["kato"]))
    page = client.get(room_url(world))
    assert page.template.name == "buyer/room.html"
    found = page.context["suggest"].found
    assert found.mode == "personalized" and len(found.items) == 3
    assert all(s.reasons for s in found.items)
    assert "Suggested for you" in page.text
    assert found.items[0].reasons[0] in page.text
    assert 'hx-trigger="every 15s, pageshow from:window' in page.text
    assert impressions(session, world) == [1, 1, 1]


def test_a_sellers_preview_is_not_an_impression(client, session, world):
    client.login(world["user"].email, factories.PASSWORD)
    page = client.get(room_url(world))
    assert page.context["suggest"].preview
    assert "Each buyer sees up to three suggestions" in page.text
    assert impressions(session, world) == []


def test_the_panel_refreshes_itself_as_a_fragment(client, services, session, world):
    client.enter(services.links.invite(world["kato"]))
    first = client.get(room_url(world)).context["suggest"].found
    suzuki = factories.invite(
        session, services, world["room"], world["user"], email="suzuki@acme.example", name="Suzuki"
    )
    tracking.show_notice(suzuki)
    session.flush()
    now = time.time()
    read = (tracking.ItemTime(world["items"][5].public_id, 600),)
    beat = tracking.Beat(
        now, world["room"].public_id, suzuki.public_id, "s1", now - 900, 1, read, 1
    )
    tracking.apply_beats(session, [beat], drops=tracking.DropCounter())
    session.flush()
    fragment = client.get(
        f"{room_url(world)}/suggestions?refresh=1", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section class="card suggestions" id="suggested"')
    found = fragment.context["suggest"].found
    assert found.items[0].content_id == world["items"][5].public_id
    assert found.items[0].reasons == ["Your colleague Suzuki spent 10 min on this."]
    assert [s.content_id for s in found.items] != [s.content_id for s in first.items]
    full = client.get(f"{room_url(world)}/suggestions")
    assert full.template.name == "suggestions/page.html"


def test_not_relevant_removes_the_item_for_good(client, services, session, world):
    client.enter(services.links.invite(world["kato"]))
    shown = client.get(room_url(world)).context["suggest"].found.items[0].content_id
    response = client.submit(f"{room_url(world)}/suggestions/{shown}/dismiss", {})
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"{room_url(world)}#suggested")
    for _ in range(3):
        found = client.get(room_url(world)).context["suggest"].found
        assert shown not in [s.content_id for s in found.items]
    htmx = client.submit(
        f"{room_url(world)}/suggestions/{found.items[0].content_id}/dismiss",
        {},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 200 and 'id="suggested"' in htmx.text
    missing = client.submit(f"{room_url(world)}/suggestions/item_nothere/dismiss", {})
    assert missing.status_code == 404


def test_turning_suggestions_off_and_on(client, services, session, world):
    client.enter(services.links.invite(world["kato"]))
    client.get(room_url(world))
    assert (
        client.submit(f"{room_url(world)}/suggestions/switch", {"suggestions": "off"}).status_code
        == 303
    )
    page = client.get(room_url(world))
    found = page.context["suggest"].found
    assert found.off and found.mode == "seller_order"
    assert [s.title for s in found.items] == ["Doc 1", "Doc 2", "Doc 3"]
    assert "Turn on suggestions" in page.text and "Not relevant" not in page.text
    bad = client.submit(f"{room_url(world)}/suggestions/switch", {"suggestions": "maybe"})
    assert bad.status_code == 422
    client.submit(f"{room_url(world)}/suggestions/switch", {"suggestions": "on"})
    assert client.get(room_url(world)).context["suggest"].found.mode == "personalized"


def _overdue(session, world):
    milestone = Milestone(org_id=world["room"].org_id, room_id=pk(world["room"]), title="Legal")
    session.add(milestone)
    session.flush()
    task = Task(
        org_id=world["room"].org_id,
        room_id=pk(world["room"]),
        milestone_id=pk(milestone),
        title="Legal review",
        owner_invite_id=pk(world["kato"]),
        due_date=date.today() - timedelta(days=3),
    )
    session.add(task)
    session.flush()
    return task


def test_the_seller_sees_next_best_actions_and_dismisses_one(client, session, world):
    _overdue(session, world)
    client.login(world["user"].email, factories.PASSWORD)
    page = client.get(f"/rooms/{world['room'].public_id}")
    assert page.template.name == "rooms/detail.html"
    [action] = page.context["actions_panel"].actions
    assert action.text == "Task “Legal review” is 3 days overdue (owner: Kato): offer help."
    assert action.text in page.text
    response = client.submit(
        f"/rooms/{world['room'].public_id}/next-actions/{action.key}/dismiss", {}
    )
    assert response.status_code == 303
    assert session.exec(select(NextActionDismissal)).one().key == action.key
    assert not client.get(f"/rooms/{world['room'].public_id}").context["actions_panel"].actions
    fragment = client.get(
        f"/rooms/{world['room'].public_id}/next-actions", headers={"HX-Request": "true"}
    )
    assert 'id="next-actions"' in fragment.text and "Nothing needs you right now" in fragment.text


def test_the_seller_pins_an_item_for_a_person(client, services, session, world):
    client.login(world["user"].email, factories.PASSWORD)
    room = world["room"].public_id
    bad = client.submit(f"/rooms/{room}/pins", {"item_id": "item_x", "target": "nobody"})
    assert bad.status_code == 422
    assert bad.context["actions_panel"].errors.keys() == {"item_id", "target"}
    assert not session.exec(select(SuggestionPin)).all()
    last = world["items"][5]
    ok = client.submit(
        f"/rooms/{room}/pins", {"item_id": last.public_id, "target": world["kato"].public_id}
    )
    assert ok.status_code == 303
    [pin] = suggestions.list_pins(session, room=world["room"])
    assert (pin.title, pin.target) == ("Doc 6", "Kato")
    owner = accounts.get_user(session, world["room"].owner_id)
    found = suggestions.suggest(
        session,
        room=world["room"],
        invite=world["kato"],
        holdout_percent=0,
        seller_name=owner.display_name,
    )
    assert found.items[0].reasons == [f"{owner.display_name} picked this for you."]
    assert client.submit(f"/rooms/{room}/pins/{pin.public_id}/delete", {}).status_code == 303
    assert not suggestions.list_pins(session, room=world["room"])


# ---------------------------------------------------------------- API


@pytest.fixture
def api(session, client, world):
    document = client.get("/api/v1/openapi.json").json()
    _token, plaintext = accounts.create_api_token(session, user=world["user"], name="CRM")
    session.flush()
    return Api(client, document, plaintext)


def test_api_suggestions_for_a_viewer_do_not_count_as_impressions(api, session, world):
    room = world["room"].public_id
    response = api.get(f"/rooms/{room}/suggestions?invite_id={world['kato'].public_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "personalized" and len(body["suggestions"]) == 3
    assert set(body["suggestions"][0]) == {"content_id", "title", "score", "reasons"}
    assert impressions(session, world) == []
    assert api.get(f"/rooms/{room}/suggestions").status_code == 422
    assert api.get(f"/rooms/{room}/suggestions?invite_id=inv_nope").status_code == 404
    assert {"Suggestions", "Error"} <= api.checked


def test_api_next_actions(api, session, world):
    task = _overdue(session, world)
    response = api.get(f"/rooms/{world['room'].public_id}/next-actions")
    assert response.status_code == 200
    assert response.json() == [
        {
            "kind": "overdue_task",
            "text": "Task “Legal review” is 3 days overdue (owner: Kato): offer help.",
            "invite_id": world["kato"].public_id,
            "task_id": task.public_id,
        }
    ]
    assert "NextActionList" in api.checked
    assert api.get("/rooms/room_nothere/next-actions").status_code == 404


def test_api_pins_list_create_and_delete(api, session, world):
    room = world["room"].public_id
    kato, item = world["kato"], world["items"][5]
    assert api.get(f"/rooms/{room}/pins").json() == {"data": []}
    bad = [
        ({"content_id": item.public_id}, {"invite_id"}),
        (
            {"content_id": item.public_id, "invite_id": kato.public_id, "role": "champion"},
            {"invite_id"},
        ),
        ({"content_id": item.public_id, "role": "ceo"}, {"role"}),
        ({"content_id": "item_nothere", "role": "champion"}, {"content_id"}),
        ({"content_id": item.public_id, "invite_id": "inv_nothere"}, {"invite_id"}),
        ({"content_id": 5, "role": "champion"}, {"content_id"}),
        ({"content_id": item.public_id, "role": "champion", "extra": 1}, {"extra"}),
    ]
    for body, fields in bad:
        response = api.post(f"/rooms/{room}/pins", json=body)
        assert response.status_code == 422, body
        assert set(response.json()["error"]["fields"]) == fields, body
    assert api.post(f"/rooms/{room}/pins", json=["x"]).status_code == 422
    assert not session.exec(select(SuggestionPin)).all()
    created = api.post(
        f"/rooms/{room}/pins", json={"content_id": item.public_id, "invite_id": kato.public_id}
    )
    assert created.status_code == 201
    pin = created.json()
    assert (pin["content_id"], pin["invite_id"], pin["role"], pin["target"]) == (
        item.public_id,
        kato.public_id,
        None,
        "Kato",
    )
    assert created.headers["location"].endswith(f"/api/v1/rooms/{room}/pins/{pin['id']}")
    for_role = api.post(
        f"/rooms/{room}/pins", json={"content_id": item.public_id, "role": "champion"}
    )
    assert (for_role.json()["role"], for_role.json()["invite_id"]) == ("champion", None)
    assert [p["id"] for p in api.get(f"/rooms/{room}/pins").json()["data"]] == [
        pin["id"],
        for_role.json()["id"],
    ]
    assert api.get(f"/rooms/{room}/pins/{pin['id']}").json() == pin
    assert api.delete(f"/rooms/{room}/pins/{pin['id']}").json() == pin
    assert api.get(f"/rooms/{room}/pins/{pin['id']}").status_code == 404
    assert api.delete(f"/rooms/{room}/pins/{pin['id']}").status_code == 404
    assert api.get("/rooms/room_nothere/pins").status_code == 404
    assert {"Pin", "PinList", "Error"} <= api.checked


def _shown(session, room, invite, *, grp, opened):
    """One suggestion row: shown, and opened afterwards or not."""
    item = content.add_link(
        session, room=room, user=accounts.get_user(session, room.owner_id), url="https://x.example/"
    )
    session.flush()
    session.add(
        SuggestionItem(
            org_id=room.org_id,
            room_id=pk(room),
            invite_id=pk(invite),
            room_item_id=pk(item),
            grp=grp,
            impressions=1,
        )
    )
    if opened:
        session.add(
            tracking.ViewerItemStat(
                org_id=room.org_id,
                room_id=pk(room),
                invite_id=pk(invite),
                room_item_id=pk(item),
                active_seconds=60,
                opens=1,
            )
        )


def test_org_lift_on_the_team_dashboard_and_in_the_api(client, services, session, world):
    """P10 for the organisation: a manager sees every room's figures (page and API), a rep's
    token only the rep's rooms; the counts are shown and small numbers are called small."""
    user, room, kato = world["user"], world["room"], world["kato"]
    rep = factories.seller(session, org=accounts.get_org(session, user.org_id).name, role="rep")
    rep_room = factories.room(session, rep, name="Rep deal")
    held = factories.invite(session, services, rep_room, rep, email="held@acme.example")
    _shown(session, room, kato, grp="suggested", opened=True)
    _shown(session, room, kato, grp="suggested", opened=False)
    _shown(session, rep_room, held, grp="holdout", opened=False)
    _t, manager_token = accounts.create_api_token(session, user=user)
    _t, rep_token = accounts.create_api_token(session, user=rep)
    session.flush()
    document = client.get("/api/v1/openapi.json").json()
    as_manager = Api(client, document, manager_token)
    body = as_manager.get("/analytics/suggestions").json()
    assert (body["rep_id"], body["rooms"]) == (None, 2)
    assert body["suggested"] == {
        "viewers": 1,
        "shown": 2,
        "opened": 1,
        "open_rate": 0.5,
        "active_seconds": 60,
        "active_seconds_per_viewer": 60.0,
    }
    assert (body["holdout"]["shown"], body["holdout"]["opened"]) == (1, 0)
    assert (body["enough_data"], body["clear"], body["open_rate_lift"]) == (False, False, None)
    assert body["note"].startswith("Too few to tell yet: 1 people saw suggestions and 1 are in")
    only_rep = as_manager.get(f"/analytics/suggestions?rep={rep.public_id}").json()
    assert (only_rep["rep_id"], only_rep["rooms"], only_rep["suggested"]["shown"]) == (
        rep.public_id,
        1,
        0,
    )
    assert as_manager.get("/analytics/suggestions?rep=usr_nobody").status_code == 422
    # A rep's token: own rooms, whatever `rep` says.
    as_rep = Api(client, document, rep_token)
    mine = as_rep.get(f"/analytics/suggestions?rep={user.public_id}").json()
    assert (mine["rep_id"], mine["rooms"], mine["holdout"]["shown"]) == (rep.public_id, 1, 1)
    assert "SuggestionLift" in as_manager.checked
    client.login(user.email, factories.PASSWORD)
    page = client.get("/dashboard/team")
    assert page.template.name == "dashboard/team.html"
    lift = page.context["suggestion_lift"]
    assert (lift.suggested.shown, lift.holdout.shown) == (2, 1)
    assert 'id="suggestion-lift"' in page.text and lift.note in page.text.replace("&#39;", "'")
