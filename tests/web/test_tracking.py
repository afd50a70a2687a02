"""The beacon over HTTP, the tracking notice, "Your activity" and the pause switch."""

from __future__ import annotations

import io
import json
import math
import time

import pytest
from sqlmodel import func, select

from dealroom import analytics, content, metrics
from dealroom.content import Upload
from dealroom.pdfgen import simple_pdf
from dealroom.tracking import TrackDrop, TrackEvent
from dealroom.web import tracking as web_tracking
from tests import factories

PDF = simple_pdf([["p"]] * 3)
HUMAN = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
}


@pytest.fixture
def room_world(session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    kato = factories.invite(session, services, room, user, name="Kato", role="technical_evaluator")
    pdf = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=user,
        upload=Upload("proposal.pdf", io.BytesIO(PDF), len(PDF)),
        title="Proposal",
    )
    session.flush()
    return {"user": user, "room": room, "kato": kato, "pdf": pdf}


def enter_viewer(client, services, world):
    client.enter(services.links.invite(world["kato"]))
    page = client.get(f"/r/{world['room'].public_id}/content/{world['pdf'].public_id}")
    assert page.status_code == 200
    assert page.template.name == "content/viewer.html"
    return page.context["track"]["token"]


def send(client, world, body, **kwargs):
    headers = {**HUMAN, **kwargs.pop("headers", {})}
    return client.post(
        f"/r/{world['room'].public_id}/t",
        content=body if isinstance(body, bytes) else json.dumps(body),
        headers=headers,
        **kwargs,
    )


def drops(session):
    return dict(session.exec(select(TrackDrop.reason, TrackDrop.count)).all())


def test_the_first_page_shows_the_notice_and_tracking_starts_with_it(
    client, services, session, room_world
):
    client.enter(services.links.invite(room_world["kato"]))
    page = client.get(f"/r/{room_world['room'].public_id}")
    assert page.template.name == "buyer/room.html"
    assert page.context["track"]["token"]
    assert "About your activity in this room" in page.text
    assert 'id="dr-track"' in page.text and "track.js" in page.text
    session.refresh(room_world["kato"])
    assert room_world["kato"].tracking_notice_at is not None
    # "OK" dismisses the notice; tracking stays on.
    response = client.submit(f"/r/{room_world['room'].public_id}/tracking", {"tracking": "ok"})
    assert response.status_code == 303
    page = client.get(f"/r/{room_world['room'].public_id}")
    assert "About your activity in this room" not in page.text
    assert page.context["track"] is not None


def test_a_beat_is_accepted_and_lands_after_the_flush(client, services, session, room_world):
    token = enter_viewer(client, services, room_world)
    pdf = room_world["pdf"].public_id
    body = {"t": token, "seq": 1, "i": 4, "ev": [{"k": "view", "item": pdf, "page": 2, "s": 1}]}
    response = send(client, room_world, body)
    assert response.status_code == 204
    assert services.ingest.depth == 1
    services.ingest.flush()
    viewer = analytics.room_engagement(session, room=room_world["room"]).viewers[0]
    item = next(i for i in viewer.items if i.item_id == pdf)
    assert item.pages == {2: 1}
    assert item.opens == 1  # the viewer page itself recorded the open
    # The same beat again (a retry) changes nothing.
    assert send(client, room_world, body).status_code == 204
    services.ingest.flush()
    assert session.exec(select(func.sum(TrackEvent.seconds))).one() == 1
    assert drops(session)["duplicate"] == 1


def test_a_full_buffer_answers_503_and_the_beat_sent_again_counts_once(
    client, services, session, room_world, caplog, monkeypatch
):
    """Past its limit the buffer takes nothing more: the browser is told to send the beat
    again (track.js keeps it), rather than the server answering 204 and dropping it later."""
    token = enter_viewer(client, services, room_world)
    pdf = room_world["pdf"].public_id
    first = {"t": token, "seq": 1, "i": 2, "ev": [{"k": "view", "item": pdf, "page": 1, "s": 1}]}
    second = {**first, "seq": 2, "ev": [{"k": "view", "item": pdf, "page": 2, "s": 1}]}
    services.ingest.limit = 1
    monkeypatch.setattr(web_tracking, "_busy_logged", -math.inf)  # warned once a minute
    assert send(client, room_world, first).status_code == 204
    assert services.ingest.full
    with caplog.at_level("WARNING", logger="dealroom.access"):
        busy = send(client, room_world, second)
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "10"
    assert busy.json()["error"]["code"] == "busy"
    assert "beats wait for the writer" in caplog.text
    assert services.ingest.depth == 1  # the refused beat is not held
    services.ingest.flush()
    assert not services.ingest.full
    later = time.time() + 10  # track.js sends it again with its next beat
    monkeypatch.setattr(time, "time", lambda: later)
    assert send(client, room_world, second).status_code == 204
    services.ingest.flush()
    viewer = analytics.room_engagement(session, room=room_world["room"]).viewers[0]
    item = next(i for i in viewer.items if i.item_id == pdf)
    assert item.pages == {1: 1, 2: 1}
    assert "overflow" not in drops(session)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[]", 400),
        ({"t": "x", "seq": 0, "ev": []}, 400),
        ({"t": "x", "seq": 1, "ev": [{"k": "view", "item": "room_1", "s": 1}]}, 400),
        (b"{" + b" " * 20000 + b"}", 413),
    ],
)
def test_malformed_or_oversized_bodies_are_refused_fast(client, services, room_world, body, status):
    enter_viewer(client, services, room_world)
    response = send(client, room_world, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] in ("malformed", "too_large")
    assert services.ingest.depth == 0


def test_the_token_must_be_this_pages_for_this_viewer(
    client, services, session, room_world, new_browser
):
    token = enter_viewer(client, services, room_world)
    body = {"t": token, "seq": 1, "ev": [{"k": "room", "s": 3}]}
    # Another room's id in the URL: the cookie has no grant there.
    other = factories.room(session, room_world["user"], name="Other")
    session.flush()
    assert (
        client.post(f"/r/{other.public_id}/t", content=json.dumps(body), headers=HUMAN).status_code
        == 404
    )
    # A forged token.
    assert send(client, room_world, {**body, "t": token[:-4] + "AAAA"}).status_code == 400
    # Someone without the buyer cookie, holding the token.
    stranger = new_browser()
    assert send(stranger, room_world, body).status_code == 404
    assert services.ingest.depth == 0


def test_bots_and_the_sellers_own_views_are_dropped_and_counted(
    client, services, session, room_world
):
    token = enter_viewer(client, services, room_world)
    body = {"t": token, "seq": 1, "i": 1, "ev": [{"k": "room", "s": 3}]}
    bot = send(
        client, room_world, body, headers={"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
    )
    assert bot.status_code == 204
    client.login(room_world["user"].email, factories.PASSWORD)  # the seller, in the same browser
    assert send(client, room_world, body).status_code == 204
    assert services.ingest.depth == 0
    services.ingest.flush()
    assert drops(session) == {"bot": 1, "seller": 1}
    # Only the open of the viewer page (before the seller logged in) is recorded.
    kinds = session.exec(select(TrackEvent.kind)).all()
    assert kinds == ["open"]


def test_seller_preview_reports_nothing(client, services, session, room_world):
    client.login(room_world["user"].email, factories.PASSWORD)
    page = client.get(f"/r/{room_world['room'].public_id}")
    assert page.context["preview"] and page.context["track"] is None
    assert 'id="dr-track"' not in page.text


def test_pausing_stops_recording_and_the_seller_sees_paused(client, services, session, room_world):
    token = enter_viewer(client, services, room_world)
    room_id = room_world["room"].public_id
    assert client.submit(f"/r/{room_id}/tracking", {"tracking": "pause"}).status_code == 303
    page = client.get(f"/r/{room_id}")
    assert page.context["track"] is None and "tracking paused" in page.text
    assert (
        send(
            client, room_world, {"t": token, "seq": 1, "i": 1, "ev": [{"k": "room", "s": 3}]}
        ).status_code
        == 204
    )
    services.ingest.flush()
    assert drops(session) == {"paused": 1}
    session.expire_all()  # the app changed the invite through its own session
    viewer = analytics.room_engagement(session, room=room_world["room"]).viewers[0]
    assert viewer.tracking_paused
    mine = client.get(f"/r/{room_id}/activity")
    assert mine.template.name == "buyer/activity.html"
    assert "Tracking is paused." in mine.text
    assert client.submit(f"/r/{room_id}/tracking", {"tracking": "resume"}).status_code == 303
    assert client.get(f"/r/{room_id}").context["track"] is not None


def test_your_activity_shows_what_the_seller_sees(client, services, session, room_world):
    token = enter_viewer(client, services, room_world)
    pdf = room_world["pdf"].public_id
    body = {"t": token, "seq": 1, "i": 2, "ev": [{"k": "view", "item": pdf, "page": 1, "s": 1}]}
    send(client, room_world, body)
    services.ingest.flush()
    page = client.get(f"/r/{room_world['room'].public_id}/activity")
    me = page.context["me"]
    seller_view = analytics.room_engagement(session, room=room_world["room"]).viewers[0]
    assert me.active_seconds == seller_view.active_seconds == 1
    assert [i.item_id for i in me.items] == [i.item_id for i in seller_view.items]
    assert "Proposal" in page.text and "p.1: 1 s" in page.text


def test_downloads_and_link_clicks_are_recorded(client, services, session, room_world):
    link = content.add_link(
        session, room=room_world["room"], user=room_world["user"], url="https://example.com/case"
    )
    session.flush()
    enter_viewer(client, services, room_world)
    room_id = room_world["room"].public_id
    assert (
        client.get(
            f"/r/{room_id}/content/{room_world['pdf'].public_id}/file?download=1"
        ).status_code
        == 200
    )
    assert (
        client.get(
            f"/r/{room_id}/content/{link.public_id}/open", follow_redirects=False
        ).status_code
        == 303
    )
    viewer = analytics.room_engagement(session, room=room_world["room"]).viewers[0]
    by_id = {i.item_id: i for i in viewer.items}
    assert by_id[room_world["pdf"].public_id].downloads == 1
    assert by_id[link.public_id].clicks == 1


def test_the_beacon_checks_the_origin_and_answers_with_security_headers(
    client, services, room_world
):
    token = enter_viewer(client, services, room_world)
    body = {"t": token, "seq": 1, "i": 1, "ev": [{"k": "room", "s": 1}]}
    foreign = send(client, room_world, body, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert services.ingest.depth == 0
    # An answer with a body carries the whole set...
    assert foreign.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in foreign.headers["content-security-policy"]
    assert foreign.headers["x-frame-options"] == "DENY"
    assert foreign.headers["cache-control"] == "no-store"
    ok = send(client, room_world, body, headers={"Origin": "http://testserver"})
    assert ok.status_code == 204
    assert ok.content == b""
    # ... an empty 204 (never rendered, framed or sniffed) only what holds without a body.
    assert ok.headers["cache-control"] == "no-store"
    for document_only in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert document_only not in ok.headers
    assert "set-cookie" not in ok.headers  # no CSRF cookie work on this path
    # Over TLS the 204 keeps HSTS, which holds for any response.
    beacon = client.app.beacon
    assert dict(beacon.empty[True]) == {
        b"cache-control": b"no-store",
        b"strict-transport-security": b"max-age=31536000; includeSubDomains",
    }
    assert client.get(f"/r/{room_world['room'].public_id}/t").status_code == 405


def test_an_unexpected_failure_of_the_beacon_is_a_plain_500(
    client, services, room_world, monkeypatch, caplog
):
    """The beacon is answered before Starlette's own error layer, so it answers its own
    failures: a JSON 500 with the usual headers, the error in the log, no traceback sent."""
    from dealroom.web import tracking as web_tracking

    token = enter_viewer(client, services, room_world)

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(web_tracking, "accept_beat", broken)
    with caplog.at_level("ERROR", logger="dealroom.access"):
        answer = send(client, room_world, {"t": token, "seq": 1, "i": 1, "ev": []})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "server_error"
    assert "secret detail" not in answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "the tracking beacon failed" in caplog.text
    assert metrics.HTTP_REQUESTS.value(route="tracking:beacon", method="POST", status=500) >= 1


def test_metrics_report_tracking_buffer_and_outcomes(client, services, room_world):
    token = enter_viewer(client, services, room_world)
    body = {"t": token, "seq": 1, "i": 1, "ev": [{"k": "room", "s": 1}]}
    send(client, room_world, body)
    send(client, room_world, body, headers={"User-Agent": "Googlebot/2.1"})
    text = metrics.render(services)  # what /metrics serves (its access rules: tests/web/test_ops)
    assert "dealroom_tracking_buffer_depth 1" in text
    services.ingest.flush()
    text = metrics.render(services)
    assert 'dealroom_tracking_events_total{outcome="dropped",reason="bot"} 1' in text
    assert 'dealroom_tracking_events_total{outcome="accepted",reason=""} 1' in text
