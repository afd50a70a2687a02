"""Seller pages: sign-up, log-in (rate limited), CSRF, rooms, team invitations, tokens, outbox."""

from __future__ import annotations

import re

from sqlmodel import select

from dealroom import accounts
from dealroom.accounts import User
from dealroom.notify import OutboxMail
from dealroom.rooms import Room
from tests import factories


def test_signup_creates_an_org_and_its_admin_and_logs_in(client, session):
    response = client.submit(
        "/signup",
        {
            "org_name": "Northwind",
            "name": "Dana",
            "email": "Dana@Northwind.example",
            "password": "long-enough-pw",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/rooms"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("dr_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # served over plain http in tests
    user = session.exec(select(User).where(User.email == "dana@northwind.example")).one()
    assert user.role == "admin"
    assert user.password_hash.startswith("$argon2")
    page = client.get("/rooms")
    assert page.status_code == 200
    assert "Create your first deal room" in page.text


def test_signup_errors_are_shown_per_field_and_nothing_is_saved(client, session):
    response = client.submit(
        "/signup", {"org_name": "", "name": "Dana", "email": "not-an-email", "password": "short"}
    )
    assert response.status_code == 422
    errors = response.context["errors"]
    assert set(errors) == {"org_name", "email", "password"}
    assert session.exec(select(accounts.Org)).all() == []


def test_signup_with_a_taken_email_is_refused(client, session):
    user = factories.seller(session)
    session.flush()
    response = client.submit(
        "/signup", {"org_name": "X", "name": "Y", "email": user.email, "password": "long-enough-pw"}
    )
    assert response.status_code == 422
    assert "already exists" in response.text


def test_login_logout(client, session):
    user = factories.seller(session)
    session.flush()
    assert client.get("/rooms", follow_redirects=False).headers["location"] == "/login?next=/rooms"
    client.login(user.email, factories.PASSWORD)
    assert client.get("/rooms").status_code == 200
    client.submit("/logout")
    assert client.get("/rooms", follow_redirects=False).status_code == 303


def test_login_redirects_only_to_local_paths(client, session):
    user = factories.seller(session)
    session.flush()
    response = client.submit(
        "/login?next=//evil.example/x", {"email": user.email, "password": factories.PASSWORD}
    )
    assert response.headers["location"] == "/rooms"
    client.submit("/logout")
    response = client.submit(
        "/login", {"email": user.email, "password": factories.PASSWORD, "next": "/team"}
    )
    assert response.headers["location"] == "/team"


def test_wrong_password_is_refused_and_login_is_rate_limited(client, session, settings):
    user = factories.seller(session)
    session.flush()
    for _ in range(settings.login_attempts):
        response = client.submit("/login", {"email": user.email, "password": "wrong-password"})
        assert response.status_code == 400
        assert "do not match" in response.text
    blocked = client.submit("/login", {"email": user.email, "password": factories.PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    assert "dr_session" not in blocked.headers.get("set-cookie", "")


def test_post_without_csrf_token_is_refused(client, session):
    user = factories.seller(session)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    no_token = client.post(
        "/rooms/new", data={"name": "X", "buyer_company": "Y"}, follow_redirects=False
    )
    assert no_token.status_code == 403
    wrong = client.post(
        "/rooms/new",
        data={"name": "X", "buyer_company": "Y", "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert wrong.status_code == 403
    header = client.post(
        "/rooms/new",
        data={"name": "X", "buyer_company": "Y"},
        headers={"X-CSRF-Token": client.csrf},
        follow_redirects=False,
    )
    assert header.status_code == 303
    foreign = client.post(
        "/rooms/new",
        data={"name": "X", "buyer_company": "Y", "csrf_token": client.csrf},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    assert len(session.exec(select(Room)).all()) == 1


def test_security_headers_are_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_room_create_validate_search_rename_archive_restore(client, session):
    user = factories.seller(session)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    bad = client.submit(
        "/rooms/new",
        {
            "name": "",
            "buyer_company": "Acme",
            "stage": "nonsense",
            "allowed_domains": "not a domain!",
        },
    )
    assert bad.status_code == 422
    assert set(bad.context["errors"]) == {"name", "stage", "allowed_domains"}
    created = client.submit(
        "/rooms/new",
        {
            "name": "Acme rollout",
            "buyer_company": "Acme Corp",
            "stage": "evaluation",
            "allowed_domains": "@Acme.example, acme.co.jp",
        },
    )
    room_path = created.headers["location"]
    room_id = room_path.rsplit("/", 1)[-1]
    assert re.fullmatch(r"room_[0-9a-z]{20}", room_id)
    client.submit("/rooms/new", {"name": "Globex pilot", "buyer_company": "Globex"})
    room = session.exec(select(Room).where(Room.public_id == room_id)).one()
    assert room.domains == ["acme.co.jp", "acme.example"]

    listing = client.get("/rooms?q=acme")
    assert [r.name for r in listing.context["rooms"]] == ["Acme rollout"]
    fragment = client.get("/rooms?q=globex", headers={"HX-Request": "true"})
    assert fragment.template.name == "rooms/_table.html"
    assert "Globex pilot" in fragment.text and "<html" not in fragment.text

    client.submit(f"{room_path}/edit", {"name": "Acme rollout (phase 2)", "stage": "decision"})
    session.refresh(room)
    assert (room.name, room.stage) == ("Acme rollout (phase 2)", "decision")
    assert client.submit(f"{room_path}/edit", {"name": ""}).status_code == 422

    client.submit(f"{room_path}/archive")
    assert [r.name for r in client.get("/rooms").context["rooms"]] == ["Globex pilot"]
    assert [r.name for r in client.get("/rooms?archived=1").context["rooms"]] == [
        "Acme rollout (phase 2)"
    ]
    client.submit(f"{room_path}/restore")
    assert len(client.get("/rooms").context["rooms"]) == 2


def test_invite_form_sends_mail_and_rejects_duplicates(client, session):
    user = factories.seller(session)
    room = factories.room(session, user)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    response = client.submit(
        f"/rooms/{room.public_id}/invites",
        {"email": "kato@acme.example", "name": "Kato", "role": "champion"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.template.name == "rooms/_people.html"
    assert "kato@acme.example" in response.text
    mail = session.exec(select(OutboxMail).where(OutboxMail.to_addr == "kato@acme.example")).one()
    assert "/i/" in mail.text_body and "/i/" in mail.html_body
    duplicate = client.submit(
        f"/rooms/{room.public_id}/invites",
        {"email": "KATO@acme.example"},
        headers={"HX-Request": "true"},
    )
    assert duplicate.status_code == 422
    assert "already invited" in duplicate.text
    bad = client.submit(f"/rooms/{room.public_id}/invites", {"email": "nope", "role": "king"})
    assert bad.status_code == 422
    assert set(bad.context["invite_errors"]) == {"email", "role"}


def test_resend_sends_a_new_mail_and_is_rate_limited(client, session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    invite = factories.invite(session, services, room, user)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    statuses = [
        client.submit(f"/rooms/{room.public_id}/invites/{invite.public_id}/resend").status_code
        for _ in range(6)
    ]
    assert statuses == [303] * 5 + [429]
    assert (
        len(session.exec(select(OutboxMail).where(OutboxMail.to_addr == invite.email)).all()) == 6
    )


def test_outbox_shows_only_this_orgs_mail(client, session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    factories.invite(session, services, room, user, email="mine@acme.example")
    other = factories.seller(session)
    factories.invite(
        session, services, factories.room(session, other), other, email="theirs@acme.example"
    )
    session.flush()
    client.login(user.email, factories.PASSWORD)
    page = client.get("/outbox")
    assert [m.to_addr for m in page.context["mails"]] == ["mine@acme.example"]
    assert "Development mode" in page.text


def test_admin_invites_a_teammate_who_joins_with_the_link(client, session, new_browser):
    admin = factories.seller(session)
    session.flush()
    client.login(admin.email, factories.PASSWORD)
    assert (
        client.submit("/team/invite", {"email": "rep@northwind.example", "role": "rep"}).status_code
        == 303
    )
    mail = session.exec(
        select(OutboxMail).where(OutboxMail.to_addr == "rep@northwind.example")
    ).one()
    path = re.search(r"http://testserver(/join/\S+)", mail.text_body).group(1)
    teammate = new_browser()
    assert "Join" in teammate.get(path).text
    assert teammate.submit(path, {"name": "Riku", "password": "short"}).status_code == 422
    joined = teammate.submit(path, {"name": "Riku", "password": "a-long-password"})
    assert joined.status_code == 303
    new_user = session.exec(select(User).where(User.email == "rep@northwind.example")).one()
    assert (new_user.org_id, new_user.role) == (admin.org_id, "rep")
    assert teammate.get("/rooms").status_code == 200
    # A used invitation cannot be used again.
    assert new_browser().get(path).status_code == 409


def test_admin_changes_roles_but_never_removes_the_last_admin(client, session):
    admin = factories.seller(session)
    rep = factories.seller(session, org=accounts.get_org(session, admin.org_id).name, role="rep")
    session.flush()
    client.login(admin.email, factories.PASSWORD)
    assert client.submit(f"/team/{rep.public_id}/role", {"role": "manager"}).status_code == 303
    session.refresh(rep)
    assert rep.role == "manager"
    assert client.submit(f"/team/{admin.public_id}/role", {"role": "rep"}).status_code == 422


def test_api_token_is_shown_once_and_can_be_revoked(client, session):
    user = factories.seller(session)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    page = client.submit("/settings/tokens", {"name": "CRM sync"})
    token = page.context["created"]
    assert token.startswith("drt_")
    assert client.get("/settings/tokens").context["created"] is None
    api = client.get("/api/v1/rooms", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    token_id = page.context["tokens"][0].public_id
    client.submit(f"/settings/tokens/{token_id}/revoke")
    assert (
        client.get("/api/v1/rooms", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )


def test_unknown_pages_and_methods_get_friendly_errors(client):
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "Not found" in missing.text
    wrong_method = client.request("PUT", "/login", headers={"X-CSRF-Token": client.csrf})
    assert wrong_method.status_code == 405
    api_missing = client.get("/api/v1/nothing")
    assert api_missing.status_code == 404
    assert api_missing.json()["error"]["code"] == "not_found"


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_room_with_a_buyer_logo_shows_it_to_buyers(client, session, services, new_browser):
    user = factories.seller(session)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    created = client.post(
        f"/rooms/new?csrf_token={client.csrf}",
        data={"name": "Acme rollout", "buyer_company": "Acme Corp", "stage": "discovery"},
        files={"buyer_logo": ("acme.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    room = session.exec(select(Room).where(Room.name == "Acme rollout")).one()
    assert room.buyer_logo_file_id is not None
    invite = factories.invite(session, services, room, user)
    session.flush()
    buyer = new_browser()
    buyer.enter(services.links.invite(invite))
    page = buyer.get(f"/r/{room.public_id}")
    assert f"/r/{room.public_id}/logo" in page.text and 'alt="Acme Corp logo"' in page.text
    logo = buyer.get(f"/r/{room.public_id}/logo")
    assert (logo.status_code, logo.headers["content-type"], logo.content) == (200, "image/png", PNG)
    assert "sandbox" in logo.headers["content-security-policy"]
    # Removing it from the settings form.
    client.submit(f"/rooms/{room.public_id}/edit", {"remove_logo": "1"})
    session.refresh(room)
    assert room.buyer_logo_file_id is None
    assert buyer.get(f"/r/{room.public_id}/logo").status_code == 404


def test_a_logo_that_is_not_an_image_is_refused_and_no_room_is_made(client, session):
    user = factories.seller(session)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    from dealroom.pdfgen import simple_pdf

    response = client.post(
        f"/rooms/new?csrf_token={client.csrf}",
        data={"name": "Acme rollout", "buyer_company": "Acme Corp"},
        files={"buyer_logo": ("logo.pdf", simple_pdf([["x"]]), "application/pdf")},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "must be an image" in response.context["errors"]["buyer_logo"]
    assert session.exec(select(Room)).all() == []
