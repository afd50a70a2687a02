"""The chat panel, posting, history pages, live streams (a real server) and the messages API."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from sqlmodel import select

from dealroom import accounts, chat, invites, rooms
from dealroom.app import Services, create_app
from dealroom.chat import Message
from dealroom.db import utcnow
from dealroom.live import InProcessBroker
from dealroom.web.chat import _streams as web_streams
from tests import factories
from tests.conftest import make_browser
from tests.test_live import (  # noqa: F401 - sqlite_services is a fixture
    EventStream,
    cookies_of,
    open_stream,
    serve,
    sqlite_services,
)
from tests.web.test_api import API, Api, assert_error, connect

HTMX = {"HX-Request": "true"}


class RecordingBroker(InProcessBroker):
    """Remembers what was published, and when (what the database held at that moment)."""

    def __init__(self, session: Any = None) -> None:
        super().__init__()
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, channel: str, payload: dict[str, Any]) -> None:
        self.published.append((channel, payload))
        super().publish(channel, payload)


@pytest.fixture
def broker(services: Services) -> RecordingBroker:
    services.broker = RecordingBroker()
    return services.broker


@pytest.fixture
def seller(session):
    user = factories.seller(session, org="Northwind", email="aiko@northwind.example")
    user.name = "Aiko Mori"
    return user


@pytest.fixture
def room(session, seller):
    return factories.room(session, seller)


@pytest.fixture
def invite(session, services, room, seller):
    found = factories.invite(
        session, services, room, seller, email="kato@acme.example", name="Yuki Kato"
    )
    session.flush()
    return found


@pytest.fixture
def as_seller(client, seller, session):
    session.flush()
    client.login(seller.email, factories.PASSWORD)
    return client


@pytest.fixture
def as_buyer(new_browser, services, invite):
    browser = new_browser()
    assert browser.enter(services.links.invite(invite)).status_code == 303
    return browser


def messages(session, room):
    return list(
        session.exec(select(Message).where(Message.room_id == room.id).order_by(Message.id))
    )


# ---------------------------------------------------------------- the panel


def test_the_seller_room_page_has_the_chat_panel(as_seller, session, room, seller, invite):
    chat.post_message(session, room=room, author=seller, body="Welcome!")
    chat.post_message(session, room=room, author=seller, body="Team only", internal=True)
    chat.post_message(session, room=room, author=invite, body="Thanks")
    session.flush()

    page = as_seller.get(f"/rooms/{room.public_id}")

    assert page.template.name == "rooms/detail.html"
    panel = page.context["chat_panel"]
    assert panel.seller and panel.can_post and panel.live
    assert [e.message.body for e in panel.page.entries] == ["Welcome!", "Team only", "Thanks"]
    html = page.text
    assert (
        'id="chat"' in html
        and f'sse-connect="http://testserver/rooms/{room.public_id}/chat/events?after=' in html
    )
    assert 'sse-swap="message"' in html and 'hx-swap="beforeend"' in html
    assert '<label for="chat-body">Message</label>' in html
    assert "Internal note (only your team sees it)" in html
    assert "chat-msg from-seller internal" in html  # internal notes look different
    assert "htmx-ext-sse-2.2.4.min.js" in html


def test_the_buyer_room_page_never_shows_internal_notes(as_buyer, session, room, seller):
    chat.post_message(session, room=room, author=seller, body="Hello buyers")
    chat.post_message(session, room=room, author=seller, body="Floor price is 80k", internal=True)
    session.flush()

    page = as_buyer.get(f"/r/{room.public_id}")

    assert page.template.name == "buyer/room.html"
    panel = page.context["chat_panel"]
    assert not panel.seller and panel.can_post
    assert [e.message.body for e in panel.page.entries] == ["Hello buyers"]
    assert "Floor price" not in page.text and "Internal note" not in page.text
    assert f'sse-connect="http://testserver/r/{room.public_id}/chat/events' in page.text


def test_an_empty_chat_says_so(as_seller, room):
    page = as_seller.get(f"/rooms/{room.public_id}")
    assert page.context["chat_panel"].page.entries == []
    assert "No messages yet" in page.text


def test_a_seller_previewing_the_buyer_view_reads_but_does_not_write(
    as_seller, session, room, seller
):
    page = as_seller.get(f"/r/{room.public_id}")
    assert page.status_code == 200 and not page.context["chat_panel"].can_post
    assert 'id="chat-body"' not in page.text

    refused = as_seller.submit(f"/r/{room.public_id}/chat", {"body": "as a buyer?"})
    assert refused.status_code == 403
    assert messages(session, room) == []


# ---------------------------------------------------------------- posting


def test_a_form_post_saves_and_redirects_to_the_room(as_seller, session, room, broker):
    response = as_seller.submit(f"/rooms/{room.public_id}/chat", {"body": "Agenda for **Monday**"})

    assert response.status_code == 303
    assert response.headers["location"] == f"/rooms/{room.public_id}#chat"
    [message] = messages(session, room)
    assert (message.body, message.internal) == ("Agenda for **Monday**", False)
    assert broker.published == [
        (
            f"chat:{room.public_id}",
            {"room": room.public_id, "msg": message.public_id, "internal": False},
        )
    ]
    page = as_seller.get(f"/rooms/{room.public_id}")
    assert "Agenda for <strong>Monday</strong>" in page.text


def test_an_htmx_post_answers_a_fresh_form_and_leaves_the_message_to_the_stream(
    as_seller, session, room, broker
):
    response = as_seller.post(
        f"/rooms/{room.public_id}/chat",
        data={"body": "Posted with htmx"},
        headers={**HTMX, "X-CSRF-Token": as_seller.csrf},
    )

    assert response.status_code == 200
    assert response.template.name == "chat/_form.html"
    assert response.text.lstrip().startswith('<form id="chat-form"')
    # Not in the answer: the live stream brings it, so the sender sees it once.
    assert "Posted with htmx" not in response.text
    assert [m.body for m in messages(session, room)] == ["Posted with htmx"]
    assert len(broker.published) == 1


def test_a_seller_writes_an_internal_note(as_seller, session, room, broker):
    as_seller.submit(f"/rooms/{room.public_id}/chat", {"body": "Between us", "internal": "1"})

    [message] = messages(session, room)
    assert message.internal
    assert broker.published[0][1]["internal"] is True


def test_a_buyer_posts_and_cannot_make_an_internal_note(as_buyer, session, room, broker):
    response = as_buyer.submit(f"/r/{room.public_id}/chat", {"body": "Question", "internal": "1"})

    assert response.status_code == 303
    assert response.headers["location"] == f"/r/{room.public_id}#chat"
    [message] = messages(session, room)
    assert (message.body, message.internal, message.author_user_id) == ("Question", False, None)
    assert broker.published[0][1]["internal"] is False


@pytest.mark.parametrize("body", ["", "   ", "x" * (chat.MAX_BODY + 1)])
def test_an_empty_or_too_long_message_is_a_422_and_publishes_nothing(
    as_seller, session, room, broker, body
):
    page = as_seller.submit(f"/rooms/{room.public_id}/chat", {"body": body})

    assert page.status_code == 422
    assert page.template.name == "chat/page.html"
    assert page.context["chat"].errors.keys() == {"body"}
    assert 'aria-invalid="true"' in page.text
    fragment = as_seller.post(
        f"/rooms/{room.public_id}/chat",
        data={"body": body},
        headers={**HTMX, "X-CSRF-Token": as_seller.csrf},
    )
    assert fragment.status_code == 422 and fragment.template.name == "chat/_form.html"
    assert messages(session, room) == []
    assert broker.published == []  # the post-commit hook never runs for a rolled-back request


def test_a_flood_is_a_429_with_a_clear_message(as_buyer, session, room):
    for n in range(chat.RATE_LIMIT):
        assert as_buyer.submit(f"/r/{room.public_id}/chat", {"body": f"m{n}"}).status_code == 303

    refused = as_buyer.post(
        f"/r/{room.public_id}/chat",
        data={"body": "one more"},
        headers={**HTMX, "X-CSRF-Token": as_buyer.csrf},
    )

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "too quickly" in refused.text
    assert "one more" in refused.text  # the draft is kept
    assert len(messages(session, room)) == chat.RATE_LIMIT


def test_mentions_in_a_post_notify_by_mail_later(as_seller, session, room, invite):
    as_seller.submit(f"/rooms/{room.public_id}/chat", {"body": "@kato please sign"})

    assert [
        (n.recipient_email, n.reason) for n in chat.pending_notices(session, email=invite.email)
    ] == [("kato@acme.example", "mention")]


def test_an_archived_room_shows_the_chat_read_only(as_seller, session, room, seller):
    chat.post_message(session, room=room, author=seller, body="Before archiving")
    room.archived_at = utcnow()
    session.flush()

    page = as_seller.get(f"/rooms/{room.public_id}")
    assert not page.context["chat_panel"].can_post
    assert "read-only" in page.text
    refused = as_seller.submit(f"/rooms/{room.public_id}/chat", {"body": "After"})
    assert refused.status_code == 409
    assert [m.body for m in messages(session, room)] == ["Before archiving"]


# ---------------------------------------------------------------- history


def fill(session, room, seller, invite, count):
    made = []
    for n in range(count):
        # Bypass the flood limit: history is what this test is about.
        message = Message(
            org_id=room.org_id,
            room_id=room.id,
            author_user_id=seller.id if n % 2 == 0 else None,
            author_invite_id=invite.id if n % 2 else None,
            body=f"message {n}",
        )
        session.add(message)
        made.append(message)
    session.flush()
    return made


def test_history_pages_back_with_a_plain_link(as_seller, session, room, seller, invite):
    made = fill(session, room, seller, invite, 60)

    page = as_seller.get(f"/rooms/{room.public_id}")
    panel = page.context["chat_panel"]
    assert [e.message.body for e in panel.page.entries] == [f"message {n}" for n in range(10, 60)]
    assert panel.page.earlier == made[10].public_id
    link = f"/rooms/{room.public_id}/chat?before={made[10].public_id}"
    assert f'href="http://testserver{link}"' in page.text
    assert "Load earlier messages" in page.text

    earlier = as_seller.get(link)  # what a browser without JavaScript follows
    assert earlier.template.name == "chat/page.html"
    older = earlier.context["chat"]
    assert [e.message.body for e in older.page.entries] == [f"message {n}" for n in range(10)]
    assert older.page.earlier is None and not older.live
    assert "Back to the latest messages" in earlier.text

    fragment = as_seller.get(link, headers=HTMX)  # what htmx swaps in place of the link
    assert fragment.template.name == "chat/_history.html"
    assert fragment.text.lstrip().startswith('<div class="chat-history"')
    assert "message 0" in fragment.text and "message 10" not in fragment.text


def test_buyers_page_history_without_internal_notes(as_buyer, session, room, seller, invite):
    made = fill(session, room, seller, invite, 55)
    made[3].internal = made[20].internal = True
    made[3].author_invite_id, made[3].author_user_id = None, seller.id
    session.flush()

    page = as_buyer.get(f"/r/{room.public_id}")
    shown = [e.message.body for e in page.context["chat_panel"].page.entries]
    assert "message 20" not in shown and len(shown) == 50
    older = as_buyer.get(
        f"/r/{room.public_id}/chat?before={page.context['chat_panel'].page.earlier}"
    )
    assert "message 3" not in [e.message.body for e in older.context["chat"].page.entries]
    # Naming an internal note as a cursor finds nothing.
    assert as_buyer.get(f"/r/{room.public_id}/chat?before={made[20].public_id}").status_code == 404
    assert as_buyer.get(f"/r/{room.public_id}/chat?before=msg_nope").status_code == 404


# ---------------------------------------------------------------- live streams (a real server)


@pytest.fixture
def live(sqlite_services: Services) -> Any:  # noqa: F811 - the fixture imported above
    """A seller, a room and a buyer in a database whose commits are real, the app served by
    uvicorn for event streams, and test clients of the same app for everything else."""
    services = sqlite_services
    with services.db.session() as session:
        seller = factories.seller(session, org="Northwind", email="aiko@northwind.example")
        room = factories.room(session, seller)
        invite = factories.invite(session, services, room, seller, email="kato@acme.example")
        gone = factories.invite(session, services, room, seller, email="gone@acme.example")
        ids = {"room": room.public_id, "invite": invite.public_id, "gone": gone.public_id}
        links = {"buyer": services.links.invite(invite), "gone": services.links.invite(gone)}
    app = create_app(services=services)

    class Live:
        pass

    state = Live()
    state.services, state.ids, state.app = services, ids, app
    with (
        serve(app) as base,
        make_browser(app, services) as seller_browser,
        make_browser(app, services) as buyer_browser,
        make_browser(app, services) as gone_browser,
    ):
        seller_browser.login("aiko@northwind.example", factories.PASSWORD)
        assert buyer_browser.enter(links["buyer"]).status_code == 303
        assert gone_browser.enter(links["gone"]).status_code == 303
        state.base, state.seller, state.buyer, state.gone = (
            base,
            seller_browser,
            buyer_browser,
            gone_browser,
        )
        yield state


def test_a_seller_message_reaches_an_open_buyer_stream_and_an_internal_note_does_not(live):
    room = live.ids["room"]
    with open_stream(f"{live.base}/r/{room}/chat/events", cookies_of(live.buyer)) as stream:
        live.seller.submit(
            f"/rooms/{room}/chat", {"body": "Internal: **walk-away** price", "internal": "1"}
        )
        live.seller.submit(f"/rooms/{room}/chat", {"body": "Proposal is **ready**"})

        event = stream.next_message()

    # Had the internal note been sent, it would have come first.
    assert event["event"] == "message"
    assert "Proposal is <strong>ready</strong>" in event["data"]
    assert "walk-away" not in event["data"]
    assert re.search(r'<article class="chat-msg from-seller" id="msg_[0-9a-z]+"', event["data"])
    assert event["id"].startswith("msg_")


def test_a_seller_stream_gets_internal_notes_and_buyer_messages(live):
    room = live.ids["room"]
    with open_stream(f"{live.base}/rooms/{room}/chat/events", cookies_of(live.seller)) as stream:
        live.seller.submit(f"/rooms/{room}/chat", {"body": "Team note", "internal": "1"})
        live.buyer.submit(f"/r/{room}/chat", {"body": "Buyer here"})

        first, second = stream.next_message(), stream.next_message()

    assert "Team note" in first["data"] and "chat-msg from-seller internal" in first["data"]
    assert "Internal note" in first["data"]
    assert "Buyer here" in second["data"] and "from-buyer" in second["data"]


def revoke(services, room_id, invite_id):
    with services.db.session() as session:
        room = rooms.get_room_by_public_id(session, room_id)
        invite = invites.get_invite(session, room=room, invite_id=invite_id)
        owner = accounts.get_user(session, room.owner_id)
        invites.revoke_invite(session, room=room, seller=owner, invite=invite)


def test_a_revoked_buyer_stream_closes(live):
    room = live.ids["room"]
    with open_stream(f"{live.base}/r/{room}/chat/events", cookies_of(live.gone)) as stream:
        revoke(live.services, room, live.ids["gone"])
        live.seller.submit(f"/rooms/{room}/chat", {"body": "After the revocation"})

        event = stream.next_message()
        assert event["event"] == "closed"
        assert "After the revocation" not in event["data"]
        assert "revoked" in event["data"]
        with pytest.raises(EOFError):
            stream.next_event()


def test_a_reconnecting_stream_catches_up_from_its_last_event(live):
    room = live.ids["room"]
    with open_stream(f"{live.base}/r/{room}/chat/events", cookies_of(live.buyer)) as stream:
        live.seller.submit(f"/rooms/{room}/chat", {"body": "first"})
        first = stream.next_message()
    # Offline for a while ...
    live.seller.submit(f"/rooms/{room}/chat", {"body": "second"})
    live.seller.submit(f"/rooms/{room}/chat", {"body": "internal", "internal": "1"})
    live.seller.submit(f"/rooms/{room}/chat", {"body": "third"})
    # ... then EventSource reconnects, saying where it stopped.
    cookies = cookies_of(live.buyer)
    url = f"{live.base}/r/{room}/chat/events"
    with (
        httpx.Client(cookies=cookies, timeout=10) as client,
        client.stream("GET", url, headers={"Last-Event-ID": first["id"]}) as response,
    ):
        stream = EventStream(response)
        got = [stream.next_message()["data"], stream.next_message()["data"]]
    assert "second" in got[0] and "third" in got[1]
    assert not any("internal" in data for data in got)


def test_the_room_page_stream_starts_after_the_last_message_shown(live):
    room = live.ids["room"]
    live.seller.submit(f"/rooms/{room}/chat", {"body": "shown on the page"})
    page = live.buyer.get(f"/r/{room}")
    last = page.context["chat_panel"].last
    live.seller.submit(f"/rooms/{room}/chat", {"body": "posted while the page loaded"})

    with open_stream(
        f"{live.base}/r/{room}/chat/events?after={last}", cookies_of(live.buyer)
    ) as stream:
        event = stream.next_message()

    assert "posted while the page loaded" in event["data"]


def test_a_page_of_an_empty_chat_still_gets_a_message_posted_before_its_stream_opened(live):
    room = live.ids["room"]
    page = live.buyer.get(f"/r/{room}")
    assert page.context["chat_panel"].last is None  # nobody wrote yet
    assert f"/r/{room}/chat/events?after=start" in page.text
    cursor = "start"
    live.seller.submit(f"/rooms/{room}/chat", {"body": "posted while the page loaded"})

    with open_stream(
        f"{live.base}/r/{room}/chat/events?after={cursor}", cookies_of(live.buyer)
    ) as stream:
        event = stream.next_message()

    assert "posted while the page loaded" in event["data"]


@pytest.mark.parametrize(
    ("path", "who", "status"),
    [
        ("/rooms/{room}/chat/events", None, 303),
        ("/rooms/{room}/chat/events", "buyer", 303),
        ("/r/{room}/chat/events", None, 404),
        ("/r/{room}/chat/events", "gone_revoked", 403),
        ("/r/room_unknown/chat/events", "buyer", 404),
    ],
)
def test_streams_refuse_before_streaming(live, path, who, status):
    if who == "gone_revoked":
        revoke(live.services, live.ids["room"], live.ids["gone"])
        browser = live.gone
    else:
        browser = live.buyer if who == "buyer" else None
    cookies = cookies_of(browser) if browser else {}
    with httpx.Client(cookies=cookies, timeout=5) as client:
        response = client.get(
            live.base + path.format(room=live.ids["room"]), follow_redirects=False
        )
    assert response.status_code == status
    assert not response.headers.get("content-type", "").startswith("text/event-stream")


# ---------------------------------------------------------------- the JSON API


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get(f"{API}/openapi.json").json()


@pytest.fixture
def api(session, client, document, seller) -> Api:
    return connect(session, client, document, seller)


def test_api_posts_and_lists_messages(api, session, room, invite, broker):
    path = f"/rooms/{room.public_id}/messages"
    created = api.post(path, json={"body": "Hi @kato, see **this**"})

    assert created.status_code == 201
    message = created.json()
    assert message["id"].startswith("msg_")
    assert message["author"]["type"] == "seller" and message["author"]["name"] == "Aiko Mori"
    assert message["body_html"] == (
        '<p>Hi <span class="mention">@kato</span>, see <strong>this</strong></p>\n'
    )
    assert message["mentions"] == [invite.public_id]
    assert created.headers["location"] == f"http://testserver{API}{path}/{message['id']}"
    assert broker.published[0][1]["msg"] == message["id"]

    note = api.post(path, json={"body": "team only", "internal": True}).json()
    assert note["internal"] is True
    listed = api.get(path).json()
    assert [m["id"] for m in listed["data"]] == [message["id"], note["id"]]
    assert listed["earlier"] is None
    assert api.get(f"{path}/{note['id']}").json() == note
    assert {"Message", "MessageList"} <= api.checked


def test_api_pages_back(api, session, room, seller, invite):
    made = fill(session, room, seller, invite, 5)
    path = f"/rooms/{room.public_id}/messages"

    first = api.get(path, params={"limit": 2}).json()
    assert [m["body"] for m in first["data"]] == ["message 3", "message 4"]
    assert first["earlier"] == made[3].public_id
    second = api.get(path, params={"limit": 2, "before": first["earlier"]}).json()
    assert [m["body"] for m in second["data"]] == ["message 1", "message 2"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"body": ""}, {"body"}),
        ({"body": "x" * (chat.MAX_BODY + 1)}, {"body"}),
        ({"body": 5}, {"body"}),
        ({"body": "ok", "internal": "yes"}, {"internal"}),
        ({"body": "ok", "author": "someone"}, {"author"}),
        ({}, {"body"}),
    ],
)
def test_api_refuses_bad_messages(api, session, room, body, fields):
    response = api.post(f"/rooms/{room.public_id}/messages", json=body)
    assert set(assert_error(response, 422, "invalid")["fields"]) == fields
    assert messages(session, room) == []


def test_api_limit_must_be_sensible(api, room):
    response = api.get(f"/rooms/{room.public_id}/messages", params={"limit": "0"})
    assert set(assert_error(response, 422, "invalid")["fields"]) == {"limit"}


def test_api_flood_is_a_429(api, room):
    path = f"/rooms/{room.public_id}/messages"
    for n in range(chat.RATE_LIMIT):
        assert api.post(path, json={"body": f"m{n}"}).status_code == 201
    response = api.post(path, json={"body": "one more"})
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) > 0


def test_api_messages_of_another_organisation_are_404(session, client, document, room, seller):
    message = chat.post_message(session, room=room, author=seller, body="ours")
    rival = connect(session, client, document, factories.seller(session, org="Contoso"))

    assert_error(rival.get(f"/rooms/{room.public_id}/messages"), 404, "not_found")
    assert_error(
        rival.post(f"/rooms/{room.public_id}/messages", json={"body": "hi"}), 404, "not_found"
    )
    assert_error(
        rival.get(f"/rooms/{room.public_id}/messages/{message.public_id}"), 404, "not_found"
    )


def test_heartbeats_keep_the_stream_alive_and_recheck_access(live, monkeypatch):
    from dealroom.web import chat as web_chat

    monkeypatch.setattr(web_chat, "HEARTBEAT_SECONDS", 0.2)
    room = live.ids["room"]
    with open_stream(f"{live.base}/r/{room}/chat/events", cookies_of(live.gone)) as stream:
        assert ": keep-alive" in (next(stream.lines), next(stream.lines), next(stream.lines))
        revoke(live.services, room, live.ids["gone"])

        event = stream.next_message()  # no message needed: the next heartbeat notices

    assert event["event"] == "closed" and "revoked" in event["data"]


def test_a_closed_connection_unsubscribes(live):
    room = live.ids["room"]
    streams = web_streams(live.services)
    with open_stream(f"{live.base}/r/{room}/chat/events", cookies_of(live.buyer)):
        assert live.services.broker.subscriber_count(f"chat:{room}") == 1
        assert streams.count() == 1
    deadline = time.monotonic() + 5
    while live.services.broker.subscriber_count() or streams.count():
        assert time.monotonic() < deadline, "the stream was not cleaned up"
        time.sleep(0.02)


# ---------------------------------------------------------------- mentions as shown


def test_the_seller_page_highlights_mentions_and_the_sellers_own(
    as_seller, session, room, seller, invite
):
    chat.post_message(session, room=room, author=invite, body="@aiko can you ask @kato's boss?")
    chat.post_message(session, room=room, author=seller, body="Sure, @yuki.kato: `@aiko` is me")
    session.flush()

    page = as_seller.get(f"/rooms/{room.public_id}")

    assert page.template.name == "rooms/detail.html"
    assert page.context["chat_panel"].reader == seller.public_id
    html = page.text
    assert '<span class="mention mention--me">@aiko</span> can you ask' in html
    assert '<span class="mention">@kato</span>\'s boss' in html
    assert '<span class="mention">@yuki.kato</span>: <code>@aiko</code> is me' in html


def test_the_buyer_page_highlights_the_buyers_own_mentions(as_buyer, session, room, seller, invite):
    chat.post_message(session, room=room, author=seller, body="@kato, meet @aiko.")
    session.flush()

    page = as_buyer.get(f"/r/{room.public_id}")
    history = as_buyer.get(f"/r/{room.public_id}/chat", headers=HTMX)

    assert page.context["chat_panel"].reader == invite.public_id
    for html in (page.text, history.text):
        assert '<span class="mention mention--me">@kato</span>, meet' in html
        assert '<span class="mention">@aiko</span>.' in html


def test_the_api_shows_mentions_without_a_reader(api, session, room, seller, invite):
    chat.post_message(session, room=room, author=invite, body="@aiko hello")
    session.flush()

    [message] = api.get(f"/rooms/{room.public_id}/messages").json()["data"]

    assert message["body_html"] == '<p><span class="mention">@aiko</span> hello</p>\n'
    assert message["mentions"] == [seller.public_id]


def test_each_open_stream_gets_its_readers_own_mentions(live):
    room = live.ids["room"]
    with (
        open_stream(f"{live.base}/r/{room}/chat/events", cookies_of(live.buyer)) as kato,
        open_stream(f"{live.base}/r/{room}/chat/events", cookies_of(live.gone)) as other,
        open_stream(f"{live.base}/rooms/{room}/chat/events", cookies_of(live.seller)) as aiko,
    ):
        live.seller.submit(f"/rooms/{room}/chat", {"body": "@kato and @gone: ask @aiko"})

        seen = {
            "kato": kato.next_message()["data"],
            "gone": other.next_message()["data"],
            "aiko": aiko.next_message()["data"],
        }

    for reader, html in seen.items():
        spans = re.findall(r'<span class="(mention[^"]*)">@(\w+)</span>', html)
        assert sorted(spans) == sorted(
            ("mention mention--me" if name == reader else "mention", name)
            for name in ("kato", "gone", "aiko")
        ), reader
