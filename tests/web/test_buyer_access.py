"""Invite-only access through the web: personal links, forwarded links, codes, requests, revocation."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from unittest import mock

import pytest
from sqlmodel import select

from dealroom import invites, rooms
from dealroom.db import utcnow
from dealroom.invites import AccessRequest, EmailCode, Invite
from dealroom.notify import OutboxMail
from tests import factories


@pytest.fixture
def deal(session, services):
    seller = factories.seller(session)
    room = factories.room(session, seller, name="Acme rollout")
    invite = factories.invite(
        session, services, room, seller, email="kato@acme.example", name="Kato"
    )
    session.flush()
    return seller, room, invite


def mails_to(session, address):
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMail).where(OutboxMail.to_addr == address).order_by(OutboxMail.id)
        )
    )


def link_from_mail(session, address):
    body = mails_to(session, address)[-1].text_body
    return re.search(r"http://testserver(/i/\S+)", body).group(1)


def code_from_mail(session, address):
    return re.search(r"\b(\d{6})\b", mails_to(session, address)[-1].text_body).group(1)


def test_invite_mail_carries_a_personal_link_that_opens_the_room(deal, session, new_browser):
    _seller, room, _invite = deal
    path = link_from_mail(session, "kato@acme.example")
    buyer = new_browser()
    landing = buyer.get(path)
    assert landing.status_code == 200
    assert landing.template.name == "buyer/welcome.html"
    assert "Enter the room" in landing.text
    response = buyer.submit(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/r/{room.public_id}"
    page = buyer.get(f"/r/{room.public_id}")
    assert page.status_code == 200
    assert page.template.name == "buyer/room.html"
    assert page.context["viewer"].email == "kato@acme.example"
    assert "Acme rollout" in page.text
    cookie_flags = response.headers.get_list("set-cookie")
    assert any(
        c.startswith("dr_viewer=") and "HttpOnly" in c and "SameSite=lax" in c.replace("Lax", "lax")
        for c in cookie_flags
    )


def test_a_link_scanner_fetching_the_link_does_not_claim_it(deal, session, new_browser):
    _seller, room, _invite = deal
    path = link_from_mail(session, "kato@acme.example")
    scanner = new_browser()
    for _ in range(3):
        assert scanner.get(path).template.name == "buyer/welcome.html"
    assert scanner.get(f"/r/{room.public_id}").status_code == 404
    # The real invitee, clicking later in their own browser, walks straight in.
    assert new_browser().enter(path).headers["location"] == f"/r/{room.public_id}"


def test_room_page_without_invite_is_not_found(deal, new_browser):
    _seller, room, _invite = deal
    response = new_browser().get(f"/r/{room.public_id}")
    assert response.status_code == 404
    assert "Acme rollout" not in response.text


def test_reopening_the_link_in_the_same_browser_still_works(deal, session, new_browser):
    path = link_from_mail(session, "kato@acme.example")
    buyer = new_browser()
    assert buyer.enter(path).status_code == 303
    # Once claimed, this browser goes straight in, without the welcome step.
    assert buyer.get(path, follow_redirects=False).headers["location"].startswith("/r/")


def test_forwarded_link_asks_for_an_email_and_shows_nothing_of_the_room(deal, session, new_browser):
    path = link_from_mail(session, "kato@acme.example")
    new_browser().enter(path)
    stranger = new_browser()
    response = stranger.get(path, follow_redirects=False)
    assert response.headers["location"] == f"{path}/verify"
    page = stranger.get(f"{path}/verify")
    assert page.status_code == 200
    assert page.template.name == "buyer/verify.html"
    assert "Acme rollout" not in page.text and "Acme Corp" not in page.text
    assert stranger.get(f"/r/{deal[1].public_id}").status_code == 404


def _forward(session, new_browser):
    path = link_from_mail(session, "kato@acme.example")
    new_browser().enter(path)
    colleague = new_browser()
    colleague.get(path)
    return path, colleague


def test_colleague_on_allowed_domain_gets_a_code_and_their_own_invite(deal, session, new_browser):
    _seller, room, _invite = deal
    path, colleague = _forward(session, new_browser)
    response = colleague.submit(f"{path}/verify", {"email": "Sato@Acme.example"})
    assert response.status_code == 303
    code_page = response.headers["location"]
    assert code_page.startswith(f"{path}/code?p=")
    code = code_from_mail(session, "sato@acme.example")
    done = colleague.submit(code_page, {"code": code})
    assert done.status_code == 303
    assert done.headers["location"] == f"/r/{room.public_id}"
    page = colleague.get(f"/r/{room.public_id}")
    assert page.status_code == 200
    assert page.context["viewer"].email == "sato@acme.example"
    new_invite = session.exec(select(Invite).where(Invite.email == "sato@acme.example")).one()
    assert new_invite.source == "verified"
    assert new_invite.room_id == room.id


def test_wrong_codes_count_down_and_lock_after_five(deal, session, new_browser):
    path, colleague = _forward(session, new_browser)
    code_page = colleague.submit(f"{path}/verify", {"email": "sato@acme.example"}).headers[
        "location"
    ]
    real = code_from_mail(session, "sato@acme.example")
    wrong = "000000" if real != "000000" else "111111"
    first = colleague.submit(code_page, {"code": wrong})
    assert first.status_code == 422
    assert "4 attempts left" in first.text
    for _ in range(3):
        colleague.submit(code_page, {"code": wrong})
    last = colleague.submit(code_page, {"code": wrong})
    assert last.status_code == 429
    assert "Too many wrong codes" in last.text
    # Even the right code no longer works once locked.
    assert colleague.submit(code_page, {"code": real}).status_code == 429


def test_expired_code_is_refused(deal, session, new_browser):
    path, colleague = _forward(session, new_browser)
    code_page = colleague.submit(f"{path}/verify", {"email": "sato@acme.example"}).headers[
        "location"
    ]
    code = code_from_mail(session, "sato@acme.example")
    row = session.exec(select(EmailCode).where(EmailCode.email == "sato@acme.example")).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    response = colleague.submit(code_page, {"code": code})
    assert response.status_code == 429
    assert "expired" in response.text


def test_code_only_works_in_the_browser_that_asked_for_it(deal, session, new_browser):
    path, colleague = _forward(session, new_browser)
    code_page = colleague.submit(f"{path}/verify", {"email": "sato@acme.example"}).headers[
        "location"
    ]
    code = code_from_mail(session, "sato@acme.example")
    thief = new_browser()
    thief.get(path)
    assert thief.submit(code_page, {"code": code}).status_code == 429


def test_the_invitee_on_a_second_device_verifies_into_their_own_invite(deal, session, new_browser):
    _seller, room, invite = deal
    path, phone = _forward(session, new_browser)
    code_page = phone.submit(f"{path}/verify", {"email": "kato@acme.example"}).headers["location"]
    phone.submit(code_page, {"code": code_from_mail(session, "kato@acme.example")})
    assert phone.get(f"/r/{room.public_id}").context["viewer"].public_id == invite.public_id
    assert len(session.exec(select(Invite).where(Invite.room_id == room.id)).all()) == 1


def test_outsider_creates_an_access_request_that_the_seller_approves(
    deal, session, new_browser, client
):
    seller, room, _invite = deal
    path, outsider = _forward(session, new_browser)
    response = outsider.submit(
        f"{path}/verify",
        {"email": "lee@partner.example", "name": "Lee", "message": "I run procurement"},
    )
    assert response.status_code == 200
    assert response.template.name == "buyer/requested.html"
    assert mails_to(session, "lee@partner.example") == []
    owner_mail = mails_to(session, seller.email)[-1]
    assert "lee@partner.example" in owner_mail.subject
    assert outsider.get(f"/r/{room.public_id}").status_code == 404

    client.login(seller.email, factories.PASSWORD)
    detail = client.get(f"/rooms/{room.public_id}")
    assert [r.email for r in detail.context["requests"]] == ["lee@partner.example"]
    request_id = detail.context["requests"][0].public_id
    assert (
        client.submit(f"/rooms/{room.public_id}/requests/{request_id}/approve").status_code == 303
    )
    lee_path = link_from_mail(session, "lee@partner.example")
    lee = new_browser()
    lee.enter(lee_path)
    assert lee.get(f"/r/{room.public_id}").context["viewer"].email == "lee@partner.example"


def test_denied_request_is_told_politely_and_gets_no_access(deal, session, new_browser, client):
    seller, room, _invite = deal
    path, outsider = _forward(session, new_browser)
    outsider.submit(f"{path}/verify", {"email": "lee@partner.example"})
    request_row = session.exec(select(AccessRequest)).one()
    client.login(seller.email, factories.PASSWORD)
    client.submit(f"/rooms/{room.public_id}/requests/{request_row.public_id}/deny")
    assert "did not approve" in mails_to(session, "lee@partner.example")[-1].text_body
    session.refresh(request_row)
    assert request_row.status == "denied"
    assert (
        client.submit(
            f"/rooms/{room.public_id}/requests/{request_row.public_id}/approve"
        ).status_code
        == 409
    )


def test_revoked_buyer_is_refused_on_the_next_request(deal, session, new_browser, client):
    seller, room, invite = deal
    buyer = new_browser()
    buyer.enter(link_from_mail(session, "kato@acme.example"))
    assert buyer.get(f"/r/{room.public_id}").status_code == 200
    client.login(seller.email, factories.PASSWORD)
    assert (
        client.submit(f"/rooms/{room.public_id}/invites/{invite.public_id}/revoke").status_code
        == 303
    )
    response = buyer.get(f"/r/{room.public_id}")
    assert response.status_code == 403
    assert "Your access was revoked" in response.text
    assert "Acme rollout" not in response.text
    # The link itself is dead too, and re-verifying by email does not bring them back.
    assert buyer.get(link_from_mail(session, "kato@acme.example")).status_code == 403


def test_archived_room_refuses_buyers_and_restoring_lets_them_back(
    deal, session, new_browser, client
):
    seller, room, _invite = deal
    buyer = new_browser()
    buyer.enter(link_from_mail(session, "kato@acme.example"))
    client.login(seller.email, factories.PASSWORD)
    client.submit(f"/rooms/{room.public_id}/archive")
    archived = buyer.get(f"/r/{room.public_id}")
    assert archived.status_code == 403
    assert "closed" in archived.text
    client.submit(f"/rooms/{room.public_id}/restore")
    assert buyer.get(f"/r/{room.public_id}").status_code == 200


def test_expired_link_gets_410_and_can_mail_a_fresh_one_to_the_invitee(
    deal, session, new_browser, services
):
    _seller, room, invite = deal
    rooms.update_room(session, room=room, data={"invite_expiry_days": "1"})
    session.flush()
    two_days_ago = time.time() - 2 * 86400
    with mock.patch("itsdangerous.timed.time.time", return_value=two_days_ago):
        old = services.links.invite(invite).removeprefix("http://testserver")
    buyer = new_browser()
    response = buyer.get(old)
    assert response.status_code == 410
    assert response.template.name == "buyer/expired.html"
    assert "Acme rollout" not in response.text
    before = len(mails_to(session, "kato@acme.example"))
    renewed = buyer.submit(f"{old}/renew")
    assert renewed.status_code == 200
    assert len(mails_to(session, "kato@acme.example")) == before + 1
    fresh = link_from_mail(session, "kato@acme.example")
    assert fresh != old
    assert buyer.enter(fresh).headers["location"] == f"/r/{room.public_id}"
    # Lengthening the room's link lifetime revives links already sent.
    rooms.update_room(session, room=room, data={"invite_expiry_days": "30"})
    session.flush()
    assert new_browser().get(old).status_code != 410


def test_tampered_and_unknown_links_get_friendly_pages(deal, session, new_browser, services):
    path = link_from_mail(session, "kato@acme.example")
    browser = new_browser()
    tampered = browser.get(path[:-3] + "xyz")
    assert tampered.status_code == 400
    assert "This link is not valid" in tampered.text
    assert browser.get("/i/not-even-a-token").status_code == 400
    ghost = services.signer.sign("invite", {"i": "inv_doesnotexist00000000"})
    unknown = browser.get(f"/i/{ghost}")
    assert unknown.status_code == 404
    assert "could not find" in unknown.text.lower()
    # A token signed for another purpose is not an invite.
    other = services.signer.sign("team-invite", {"i": deal[2].public_id})
    assert browser.get(f"/i/{other}").status_code == 400


def test_buyer_cookie_for_one_room_does_not_open_another(deal, session, services, new_browser):
    seller, _room, _invite = deal
    other_room = factories.room(session, seller, name="Other deal")
    session.flush()
    buyer = new_browser()
    buyer.enter(link_from_mail(session, "kato@acme.example"))
    assert buyer.get(f"/r/{other_room.public_id}").status_code == 404


def test_verification_is_rate_limited_per_browser(deal, session, new_browser):
    path, colleague = _forward(session, new_browser)
    statuses = [
        colleague.submit(f"{path}/verify", {"email": f"p{i}@partner.example"}).status_code
        for i in range(11)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429


def test_invites_domain_api_rejects_revoked_person_verifying_again(deal, session, services):
    _seller, room, invite = deal
    invites.revoke_invite(session, room=room, seller=deal[0], invite=invite)
    policy = invites.AccessPolicy(secret_key="k" * 40)
    with pytest.raises(invites.AccessRevoked):
        invites.start_verification(
            session,
            policy=policy,
            room=room,
            via=invite,
            email="kato@acme.example",
            name="",
            message="",
            device_hash="d",
            renderer=services.mail,
        )
