"""Languages on the web: which language a request gets, the buyer's switcher, the seller's
preferences page, translated errors and mails, and dates in the reader's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dealroom import accounts, i18n
from dealroom.notify import OutboxMail
from dealroom.web.locale import LocaleMiddleware, request_preferences
from dealroom.web.render import make_environment
from tests import factories

JA = {"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"}


def _seller(session, *, locale="en", timezone="UTC", **kw):
    user = factories.seller(session, **kw)
    accounts.update_preferences(session, user=user, locale=locale, timezone=timezone)
    session.flush()
    return user


def test_a_japanese_browser_gets_japanese_pages(client):
    page = client.get("/login", headers=JA)
    assert page.status_code == 200
    assert page.template.name == "accounts/login.html"
    assert page.context["lang"] == "ja"
    assert '<html lang="ja">' in page.text
    assert "Dealroom にログイン" in page.text
    english = client.get("/login", headers={"Accept-Language": "fr-FR,en;q=0.5"})
    assert english.context["lang"] == "en"
    assert '<html lang="en">' in english.text and "Log in to Dealroom" in english.text


def test_the_switcher_is_a_form_that_sets_a_cookie_and_returns(client):
    page = client.get("/login")
    assert '/language" class="lang-switch"' in page.text and 'name="lang"' in page.text
    response = client.submit("/language", {"lang": "ja", "next": "/signup?x=1"})
    assert response.status_code == 303
    assert response.headers["location"] == "/signup?x=1"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("dr_lang="))
    assert cookie.startswith("dr_lang=ja;") and "HttpOnly" in cookie
    # The choice beats the browser's Accept-Language.
    page = client.get("/signup", headers={"Accept-Language": "en"})
    assert page.context["lang"] == "ja" and "ワークスペースを作成" in page.text


def test_the_switcher_refuses_unknown_languages_and_foreign_redirects(client):
    bad = client.submit("/language", {"lang": "xx", "next": "/login"})
    assert bad.status_code == 422
    assert not any(c.startswith("dr_lang=") for c in bad.headers.get_list("set-cookie"))
    away = client.submit("/language", {"lang": "en", "next": "//evil.example/x"})
    assert away.status_code == 303 and away.headers["location"] == "/"


def test_a_sellers_own_setting_beats_cookie_and_browser(client, session):
    user = _seller(session, locale="ja")
    client.cookies.set("dr_lang", "en")
    client.login(user.email, factories.PASSWORD)
    page = client.get("/rooms", headers={"Accept-Language": "en"})
    assert page.template.name == "rooms/list.html"
    assert page.context["lang"] == "ja"
    assert "商談ルーム" in page.text
    assert '/settings/preferences">個人設定</a>' in page.text


def test_an_invalid_cookie_falls_back_to_the_browser(client):
    client.cookies.set("dr_lang", "klingon")
    assert client.get("/login", headers=JA).context["lang"] == "ja"
    assert client.get("/login").context["lang"] == "en"


def test_request_preferences_read_cookies_but_the_api_only_reads_headers():
    def scope(path, cookie=b"", language=b""):
        headers = [(b"cookie", cookie), (b"accept-language", language)]
        return {"type": "http", "path": path, "headers": headers}

    assert request_preferences(scope("/r/x", b"dr_lang=ja; dr_tz=Asia/Tokyo")) == (
        "ja",
        "Asia/Tokyo",
    )
    assert request_preferences(scope("/r/x", b"dr_tz=Not/AZone", b"ja")) == ("ja", None)
    assert request_preferences(scope("/api/v1/rooms", b"dr_lang=ja")) == ("en", None)
    assert request_preferences(scope("/api/v1/rooms", b"", b"ja")) == ("ja", None)


def test_preferences_page_saves_language_and_time_zone(client, session):
    user = _seller(session)
    client.login(user.email, factories.PASSWORD)
    page = client.get("/settings/preferences")
    assert page.status_code == 200
    assert page.template.name == "preferences/page.html"
    assert page.context["values"] == {"locale": "en", "timezone": "UTC"}
    assert '<label for="f-locale">Language</label>' in page.text
    assert '<label for="f-timezone">Time zone</label>' in page.text
    assert '<option value="Asia/Tokyo">' in page.text

    saved = client.submit("/settings/preferences", {"locale": "ja", "timezone": "Asia/Tokyo"})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/settings/preferences?saved=1"
    session.refresh(user)
    assert (user.locale, user.timezone) == ("ja", "Asia/Tokyo")
    page = client.get("/settings/preferences?saved=1")
    assert page.context["lang"] == "ja"
    assert '<label for="f-locale">言語</label>' in page.text
    assert "設定を保存しました。" in page.text
    assert '<option value="Asia/Tokyo" selected>' in page.text


def test_an_invalid_time_zone_is_a_422_and_nothing_is_saved(client, session):
    user = _seller(session)
    client.login(user.email, factories.PASSWORD)
    bad = client.submit("/settings/preferences", {"locale": "ja", "timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert bad.template.name == "preferences/page.html"
    assert set(bad.context["errors"]) == {"timezone"}
    assert 'aria-invalid="true"' in bad.text
    session.refresh(user)
    assert (user.locale, user.timezone) == ("en", "UTC")


def test_preferences_need_a_seller(client):
    response = client.get("/settings/preferences", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_field_errors_are_translated_in_a_japanese_request(client, session):
    user = _seller(session, locale="ja")
    client.login(user.email, factories.PASSWORD)
    bad = client.submit("/rooms/new", {"name": "", "buyer_company": "Acme", "stage": "discovery"})
    assert bad.status_code == 422
    assert bad.template.name == "rooms/new.html"
    assert bad.context["errors"]["name"] == "商談名を入力してください。"
    assert "商談名を入力してください。" in bad.text


def test_an_anonymous_japanese_visitor_gets_japanese_errors(client):
    bad = client.submit(
        "/signup",
        {"org_name": "", "name": "加藤", "email": "nope", "password": "short"},
        headers=JA,
    )
    assert bad.status_code == 422
    errors = bad.context["errors"]
    assert errors["org_name"] == "会社名を入力してください。"
    assert errors["password"] == "パスワードは10文字以上で設定してください。"


def test_error_pages_and_the_api_speak_the_readers_language(client):
    missing = client.get("/no/such/page", headers=JA)
    assert missing.status_code == 404
    assert missing.context["lang"] == "ja" and "ページが見つかりません" in missing.text
    api = client.get("/api/v1/rooms", headers=JA)
    assert api.status_code == 401
    assert "API トークン" in api.json()["error"]["message"]
    assert "Bearer" in client.get("/api/v1/rooms").json()["error"]["message"]


def test_a_refused_form_is_explained_in_the_readers_language(client):
    response = client.post("/language", data={"lang": "ja"}, headers=JA)
    assert response.status_code == 403
    assert "lang=ja" in response.text and "フォームの有効期限が切れました" in response.text


def test_a_buyer_reading_in_japanese_gets_japanese_mails(client, session, services, new_browser):
    seller = _seller(session)  # the seller works in English
    room = factories.room(session, seller, name="Acme rollout")
    invite = factories.invite(session, services, room, seller, email="kato@acme.example")
    first = session.exec(select(OutboxMail).where(OutboxMail.to_addr == invite.email)).one()
    assert "invited you" in first.subject  # nobody knew the buyer's language yet
    session.flush()

    buyer = new_browser()
    buyer.headers.update(JA)
    entered = buyer.enter(services.links.invite(invite))
    assert entered.status_code == 303
    room_page = buyer.get(f"/r/{room.public_id}")
    assert room_page.status_code == 200 and room_page.context["lang"] == "ja"
    session.refresh(invite)
    assert invite.locale == "ja"

    client.login(seller.email, factories.PASSWORD)
    resent = client.submit(f"/rooms/{room.public_id}/invites/{invite.public_id}/resend")
    assert resent.status_code == 303
    latest = session.exec(
        select(OutboxMail).where(OutboxMail.to_addr == invite.email).order_by(OutboxMail.id.desc())  # type: ignore[union-attr]
    ).first()
    assert latest is not None
    assert "招待" in latest.subject and "ご本人専用" in latest.text_body


def test_dates_follow_the_sellers_language_and_time_zone(client, session, services):
    user = _seller(session, locale="ja", timezone="Asia/Tokyo")
    room = factories.room(session, user)
    factories.invite(session, services, room, user)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    outbox = client.get("/outbox")
    assert outbox.template.name == "accounts/outbox.html"
    mail = outbox.context["mails"][0]
    local = mail.created_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{local.year}年{local.month}月{local.day}日 {local.hour}:{local:%M}" in outbox.text


def test_the_middleware_sets_language_and_zone_for_async_and_threaded_code():
    def threaded(request):  # sync endpoints run in the thread pool, like every handler
        return PlainTextResponse(f"{i18n.current_locale()} {i18n.current_timezone()}")

    async def direct(request):
        return PlainTextResponse(f"{i18n.current_locale()} {i18n.current_timezone()}")

    app = Starlette(
        routes=[Route("/threaded", threaded), Route("/direct", direct)],
        middleware=[Middleware(LocaleMiddleware)],
    )
    with TestClient(app) as browser:
        assert browser.get("/direct").text == "en UTC"
        browser.cookies.set("dr_tz", "Asia/Tokyo")
        browser.cookies.set("dr_lang", "ja")
        assert browser.get("/threaded").text == "ja Asia/Tokyo"
        assert browser.get("/direct").text == "ja Asia/Tokyo"
    assert i18n.current_locale() == "en"  # nothing leaks out of the request


def test_a_buyers_time_zone_cookie_shows_dates_in_local_time():
    env = make_environment()
    locale, zone = request_preferences(
        {"type": "http", "path": "/r/x", "headers": [(b"cookie", b"dr_tz=Asia/Tokyo")]}
    )
    with i18n.using(locale, zone):
        text = env.from_string("{{ when|datetime }}").render(
            when=datetime(2026, 11, 22, 6, 4, tzinfo=UTC)
        )
    assert text == "Nov 22, 2026, 3:04\u202fPM"
