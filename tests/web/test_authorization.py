"""The authorization matrix, built from the router itself: a route without a rule fails here.

Every route is requested, with every method it accepts, by people who must not see the target
room's data: an anonymous visitor, a buyer of another room, a revoked buyer of this room, and a
seller of another organisation. None of them may see the room's data or change anything.
"""

from __future__ import annotations

import io

import pytest
from sqlmodel import select
from starlette.routing import Mount, Route

from dealroom import accounts, content, invites
from dealroom.content import Upload
from dealroom.pdfgen import simple_pdf
from tests import factories

SECRET = "Zephyr-Secret-Deal"

# Who may use each route. "seller": a logged-in seller of the room's organisation; "admin": an
# admin of it; "buyer": an invited buyer of the room (or a seller previewing it); "link": whoever
# holds the signed link in the URL; "public": anyone; "api": a bearer token of the organisation.
RULES = {
    "home": "public",
    "healthz": "public",
    "readyz": "public",
    "accounts:signup": "public",
    "accounts:login": "public",
    "accounts:logout": "public",
    "accounts:outbox": "seller",
    "accounts:tokens": "seller",
    "accounts:revoke_token": "seller",
    "team:page": "seller",
    "team:invite": "admin",
    "team:role": "admin",
    "team:audit": "admin",
    "team:join": "link",
    "rooms:list": "seller",
    "rooms:new": "seller",
    "rooms:detail": "seller",
    "rooms:edit": "seller",
    "rooms:archive": "seller",
    "rooms:restore": "seller",
    "rooms:invite": "seller",
    "rooms:invite_resend": "seller",
    "rooms:invite_revoke": "seller",
    "rooms:request_approve": "seller",
    "rooms:request_deny": "seller",
    "content:upload": "seller",
    "content:remove": "seller",
    "content:toggle_download": "seller",
    "content:seller_file": "seller",
    "content:buyer_file": "buyer",
    "buyer:open": "link",
    "buyer:renew": "link",
    "buyer:verify": "link",
    "buyer:code": "link",
    "buyer:room": "buyer",
    "api:openapi": "public",
    "api:rooms": "api",
    "api:room": "api",
    "api:invites": "api",
    "api:invite": "api",
}


def app_routes(app):
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # static files
        assert isinstance(route, Route), route
        yield route


def test_every_route_has_a_rule(app):
    names = {route.name for route in app_routes(app)}
    missing = sorted(names - set(RULES))
    assert not missing, f"routes without an authorization rule: {missing}"
    assert not sorted(set(RULES) - names), "rules for routes that no longer exist"


@pytest.fixture
def world(session, services):
    """Org A with a room full of data; org B with its own seller, room and buyer."""
    seller_a = factories.seller(session, org="Org A")
    member_a = factories.seller(session, org="Org A", role="rep")
    room = factories.room(session, seller_a, name=SECRET, welcome_message=f"{SECRET} welcome")
    org_a = accounts.get_org(session, seller_a.org_id)
    pdf = simple_pdf([[SECRET]])
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller_a,
        org_public_id=org_a.public_id,
        upload=Upload(filename="secret.pdf", file=io.BytesIO(pdf), size=len(pdf)),
        title=SECRET,
    )
    revoked = factories.invite(
        session, services, room, seller_a, email="gone@acme.example", name=SECRET
    )
    active = factories.invite(
        session, services, room, seller_a, email="kato@acme.example", name=SECRET
    )
    request_row = invites.AccessRequest(
        org_id=room.org_id,
        room_id=room.id,
        email="x@else.example",
        name=SECRET,
        via_invite_id=active.id,
    )
    session.add(request_row)
    token_row, _plain = accounts.create_api_token(session, user=seller_a, name=SECRET)

    seller_b = factories.seller(session, org="Org B")
    room_b = factories.room(session, seller_b, name="B deal")
    buyer_b = factories.invite(session, services, room_b, seller_b, email="buyer@b.example")
    _token_b, plain_b = accounts.create_api_token(session, user=seller_b)
    session.flush()
    return {
        "room": room,
        "item": item,
        "revoked": revoked,
        "active": active,
        "request": request_row,
        "token_row": token_row,
        "member": member_a,
        "seller_a": seller_a,
        "seller_b": seller_b,
        "buyer_b": buyer_b,
        "room_b": room_b,
        "api_b": plain_b,
    }


def _path(route, world, services):
    params = {
        "room_id": world["room"].public_id,
        "invite_id": world["active"].public_id,
        "item_id": world["item"].public_id,
        "request_id": world["request"].public_id,
        "user_id": world["member"].public_id,
        "token_id": world["token_row"].public_id,
        # Link routes get a link to *another* room: holding one link proves nothing about this room.
        "token": services.links.invite(world["buyer_b"]).rsplit("/", 1)[-1],
    }
    return route.path_format.format(
        **{k: v for k, v in params.items() if "{" + k + "}" in route.path_format}
    )


def _personas(world, services, new_browser, session):
    anonymous = new_browser()

    other_buyer = new_browser()
    other_buyer.enter(services.links.invite(world["buyer_b"]))

    revoked_buyer = new_browser()
    revoked_buyer.enter(services.links.invite(world["revoked"]))
    invites.revoke_invite(
        session, room=world["room"], seller=world["seller_a"], invite=world["revoked"]
    )
    session.flush()

    other_seller = new_browser()
    other_seller.login(world["seller_b"].email, factories.PASSWORD)
    other_seller.headers["Authorization"] = f"Bearer {world['api_b']}"
    return {
        "anonymous": anonymous,
        "buyer of another room": other_buyer,
        "revoked buyer": revoked_buyer,
        "seller of another org": other_seller,
    }


ALLOWED = {
    # What a person without rights may get back from a route of each rule.
    "seller": {303, 403, 404},  # 303 only to the login page
    "admin": {303, 403, 404},
    "buyer": {403, 404},
    "api": {401, 404},
}


def test_nobody_outside_sees_or_changes_the_room(world, services, new_browser, session, app):
    personas = _personas(world, services, new_browser, session)
    failures = []
    # Log-out last, or it would end the other seller's session halfway through the matrix.
    for route in sorted(app_routes(app), key=lambda r: r.name == "accounts:logout"):
        rule = RULES[route.name]
        path = _path(route, world, services)
        # Collections (/rooms, /api/v1/rooms) serve a seller's *own* organisation: only the
        # data check applies to them; routes naming a target object must refuse outright.
        targets_room_a = "{" in route.path_format
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD":
                continue
            for who, browser in personas.items():
                if method == "GET":
                    response = browser.get(path, follow_redirects=False)
                elif route.name.startswith("api:"):
                    response = browser.request(
                        method,
                        path,
                        json={"name": "hijack", "email": "h@x.example"},
                        headers={"X-CSRF-Token": browser.csrf},
                    )
                else:
                    response = browser.request(
                        method,
                        path,
                        data={
                            "csrf_token": browser.csrf,
                            "name": "hijack",
                            "stage": "closed-lost",
                            "role": "admin",
                            "approve": "1",
                        },
                        follow_redirects=False,
                    )
                if SECRET in response.text:
                    failures.append(
                        f"{who} saw the room's data at {method} {path} ({response.status_code})"
                    )
                own_collection = who == "seller of another org" and not targets_room_a
                if (
                    rule in ALLOWED
                    and not own_collection
                    and response.status_code not in ALLOWED[rule]
                ):
                    failures.append(
                        f"{who} got {response.status_code} at {method} {path} (rule {rule})"
                    )
                if response.status_code == 303 and rule in ("seller", "admin"):
                    if not response.headers["location"].startswith("/login"):
                        failures.append(
                            f"{who} was redirected to {response.headers['location']} at {method} {path}"
                        )
    assert not failures, "\n".join(failures)

    # And nothing changed.
    session.expire_all()
    room = world["room"]
    session.refresh(room)
    assert room.name == SECRET and room.stage == "discovery" and room.archived_at is None
    assert session.get(content.ContentItem, world["item"].id) is not None
    active = session.exec(
        select(invites.Invite).where(invites.Invite.id == world["active"].id)
    ).one()
    assert active.revoked_at is None
    assert session.get(invites.AccessRequest, world["request"].id).status == "pending"
    member = session.get(accounts.User, world["member"].id)
    assert member.role == "rep"
    assert session.get(accounts.ApiToken, world["token_row"].id).revoked_at is None


def test_a_rep_cannot_use_admin_routes(world, new_browser, session):
    rep = new_browser()
    rep.login(world["member"].email, factories.PASSWORD)
    assert (
        rep.submit("/team/invite", {"email": "new@northwind.example", "role": "admin"}).status_code
        == 403
    )
    assert (
        rep.submit(f"/team/{world['seller_a'].public_id}/role", {"role": "rep"}).status_code == 403
    )
    assert rep.get("/team/audit").status_code == 403
    # ... but may work on the organisation's rooms.
    assert rep.get(f"/rooms/{world['room'].public_id}").status_code == 200
