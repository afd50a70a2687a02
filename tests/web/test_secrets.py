"""Secrets: production refuses placeholder keys; the signing key rotates without logging anyone out
(the previous key is kept for verification only)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dealroom.app import build_services, create_app
from dealroom.security import Signer, TokenInvalid
from dealroom.settings import PLACEHOLDER_SECRET, PROJECT_ROOT, SettingsError, load_settings
from tests import factories
from tests.conftest import make_browser

OLD_KEY = "old-key-0123456789-abcdefghijklmnopqrstuvwxyz"
NEW_KEY = "new-key-0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
OTHER_KEY = "unknown-key-0123456789-abcdefghijklmnopqrstu"


def test_signer_signs_with_the_current_key_and_verifies_with_previous_ones():
    old = Signer(OLD_KEY)
    rotated = Signer(NEW_KEY, [OLD_KEY])
    token = old.sign("seller-session", {"u": 1})
    assert rotated.unsign("seller-session", token, max_age=60) == {"u": 1}
    fresh = rotated.sign("seller-session", {"u": 2})
    assert Signer(NEW_KEY).unsign("seller-session", fresh, max_age=60) == {"u": 2}
    with pytest.raises(TokenInvalid):
        old.unsign("seller-session", fresh, max_age=60)  # new values use the new key only
    with pytest.raises(TokenInvalid):
        rotated.unsign("seller-session", Signer(OTHER_KEY).sign("seller-session", 1), max_age=60)
    assert rotated.keys == [NEW_KEY, OLD_KEY]
    # Namespaces still apply across keys.
    with pytest.raises(TokenInvalid):
        rotated.unsign("viewer", token, max_age=60)


def test_previous_keys_setting_is_a_comma_list():
    settings = load_settings(
        environ={"DEALROOM_SECRET_KEY_PREVIOUS": f" {OLD_KEY} , {OTHER_KEY},,"}, dotenv=None
    )
    assert settings.previous_secret_keys == [OLD_KEY, OTHER_KEY]
    assert load_settings(environ={}, dotenv=None).previous_secret_keys == []


def test_production_refuses_placeholder_or_short_keys():
    base = {"DEALROOM_ENV": "production"}
    for key in (PLACEHOLDER_SECRET, "short-key"):
        with pytest.raises(SettingsError, match="DEALROOM_SECRET_KEY"):
            load_settings(environ={**base, "DEALROOM_SECRET_KEY": key}, dotenv=None)
    with pytest.raises(SettingsError, match="DEALROOM_SECRET_KEY_PREVIOUS"):
        load_settings(
            environ={**base, "DEALROOM_SECRET_KEY": NEW_KEY, "DEALROOM_SECRET_KEY_PREVIOUS": "x"},
            dotenv=None,
        )
    ok = load_settings(
        environ={**base, "DEALROOM_SECRET_KEY": NEW_KEY, "DEALROOM_SECRET_KEY_PREVIOUS": OLD_KEY},
        dotenv=None,
    )
    assert ok.production and ok.previous_secret_keys == [OLD_KEY]


@pytest.mark.parametrize("key", [None, PLACEHOLDER_SECRET, "too-short"])
def test_serve_in_production_with_a_bad_key_exits_with_a_clear_message(tmp_path, key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALROOM_")}
    env.update(DEALROOM_ENV="production", DEALROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    if key is not None:
        env["DEALROOM_SECRET_KEY"] = key
    result = subprocess.run(
        [sys.executable, "-m", "dealroom", "serve", "--port", "1"],
        cwd=tmp_path,  # no .env file here
        env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Configuration error: Refusing to start in production" in result.stderr
    assert "DEALROOM_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving" not in result.stdout


def _browser(settings, db, storage, **keys):
    services = build_services(settings.replace(**keys), db=db, storage=storage)
    return make_browser(create_app(services=services), services)


def test_a_seller_stays_logged_in_across_a_key_rotation(settings, db, storage, session):
    user = factories.seller(session)
    session.flush()
    with _browser(settings, db, storage, secret_key=OLD_KEY) as before:
        before.login(user.email, factories.PASSWORD)
        cookies = dict(before.cookies)
    assert {"dr_session", "dr_csrf"} <= cookies.keys()

    rotated = _browser(settings, db, storage, secret_key=NEW_KEY, secret_key_previous=OLD_KEY)
    with rotated as after:
        after.cookies.update(cookies)
        page = after.get("/rooms", follow_redirects=False)
        assert page.status_code == 200 and page.template.name == "rooms/list.html"
        # A form from before the rotation still posts (the CSRF cookie verifies too)...
        made = after.submit(
            "/rooms/new", {"name": "After rotation", "buyer_company": "Acme", "stage": "discovery"}
        )
        assert made.status_code == 303 and made.headers["location"].startswith("/rooms/room_")
        # ... and a fresh login is signed with the new key alone.
        after.cookies.clear()
        after.login(user.email, factories.PASSWORD)
        Signer(NEW_KEY).unsign("seller-session", after.cookies["dr_session"], max_age=60)

    # Without the previous key (or with a key nobody configured), the old cookie is worthless.
    for keys in (
        {"secret_key": NEW_KEY},
        {"secret_key": NEW_KEY, "secret_key_previous": OTHER_KEY},
    ):
        with _browser(settings, db, storage, **keys) as stranger:
            stranger.cookies.update(cookies)
            refused = stranger.get("/rooms", follow_redirects=False)
            assert refused.status_code == 303 and refused.headers["location"].startswith("/login")


def test_a_cookie_signed_with_an_unknown_key_is_refused(settings, db, storage, session):
    user = factories.seller(session)
    session.flush()
    forged = Signer(OTHER_KEY).sign("seller-session", {"u": user.id, "e": user.session_epoch})
    with _browser(settings, db, storage, secret_key=NEW_KEY, secret_key_previous=OLD_KEY) as b:
        b.cookies.set("dr_session", forged)
        refused = b.get("/rooms", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")


def test_a_buyer_keeps_the_room_and_the_personal_link_across_a_key_rotation(
    settings, db, storage, session
):
    user = factories.seller(session)
    room = factories.room(session, user, name="Rotation deal")
    old_services = build_services(settings.replace(secret_key=OLD_KEY), db=db, storage=storage)
    invite = factories.invite(session, old_services, room, user, email="kato@acme.example")
    session.flush()
    link = old_services.links.invite(invite)
    with make_browser(create_app(services=old_services), old_services) as before:
        assert before.enter(link).status_code == 303  # claims the link for this browser
        cookies = dict(before.cookies)

    rotated = _browser(settings, db, storage, secret_key=NEW_KEY, secret_key_previous=OLD_KEY)
    with rotated as after:
        after.cookies.update(cookies)
        inside = after.get(f"/r/{room.public_id}")
        assert inside.status_code == 200 and inside.template.name == "buyer/room.html"
        # The link in their mail (signed with the old key) still opens in the same browser,
        # without being taken for a forwarded link.
        again = after.get(link.removeprefix("http://testserver"), follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"] == f"/r/{room.public_id}"
        # The same link in another browser is still a forwarded link.
    with _browser(settings, db, storage, secret_key=NEW_KEY, secret_key_previous=OLD_KEY) as other:
        forwarded = other.get(link.removeprefix("http://testserver"), follow_redirects=False)
        assert forwarded.status_code == 303 and forwarded.headers["location"].endswith("/verify")
