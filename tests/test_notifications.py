"""Notifications: a buyer's visit becomes ONE merged mail to the room's owner (over real SMTP),
quiet hours delay it, preferences turn kinds off or into the daily digest, digests go out once
and only with something to say, the weekly team summary, Slack posts with retries."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from dealroom import chat, content, notifications, notify, tasks, tracking
from dealroom.content import Upload
from dealroom.db import utcnow
from dealroom.errors import InvalidInput
from dealroom.notifications import DigestSent, NotificationEvent, NotificationPref, SlackPost
from dealroom.notify import OutboxMail, SmtpConfig
from dealroom.pdfgen import simple_pdf
from dealroom.tasks import Actor
from dealroom.tracking import Beat, DropCounter, ItemTime
from tests import factories

PDF = simple_pdf([["p"]] * 4)


@pytest.fixture
def world(session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    kato = factories.invite(session, services, room, user, name="Kato", role="economic_buyer")
    tracking.show_notice(kato)

    def pdf(title):
        upload = Upload(f"{title}.pdf", io.BytesIO(PDF), len(PDF))
        return content.add_file(
            session, storage=services.storage, room=room, user=user, upload=upload, title=title
        )

    pricing, security = pdf("Pricing 2027"), pdf("Security overview")
    session.flush()
    return {"user": user, "room": room, "kato": kato, "pricing": pricing, "security": security}


def visit(
    session,
    world,
    *,
    pages=((0, "pricing", 1), (10, "pricing", 2), (20, "security", 1)),
    stream="s1",
):
    """A buyer's visit through tracking's own writer: several page views of two items, ending
    now (signals such as "pricing" carry the writer's clock)."""
    start = time.time() - 40
    beats = [
        Beat(
            received_at=start + at,
            room=world["room"].public_id,
            invite=world["kato"].public_id,
            stream=stream,
            issued_at=start - 5,
            seq=seq,
            events=(ItemTime(world[item].public_id, 9, page=page),),
            inputs=3,
        )
        for seq, (at, item, page) in enumerate(pages, start=1)
    ]
    assert tracking.apply_beats(session, beats, drops=DropCounter()) == len(beats)
    session.flush()


def collect(session, now=None):
    added = notifications.collect(session, now=now or utcnow())
    session.flush()
    return added


def send(db, services, now):
    return notifications.send_due(db, renderer=services.mail, links=services.links, now=now)


def mails(session, kind):
    return list(session.exec(select(OutboxMail).where(OutboxMail.kind == kind)))


def set_prefs(session, user, **data):
    return notifications.update_preferences(session, user=user, data=data)


def events(session):
    rows = session.exec(select(NotificationEvent).order_by(NotificationEvent.id))
    return [(e.kind, e.delivery, e.status) for e in rows]


# ---------------------------------------------------------------- one merged mail per visit


def test_a_visit_with_several_page_views_yields_exactly_one_merged_mail(
    db, session, services, world, smtp
):
    visit(session, world)
    now = utcnow()
    assert collect(session, now) == 2  # the first open and the economic buyer on pricing
    assert collect(session, now + timedelta(seconds=30)) == 0  # collected once
    assert sorted(events(session)) == [
        ("first_open", "now", "pending"),
        ("pricing", "now", "pending"),
    ]

    assert send(db, services, now + timedelta(minutes=1)) == 0  # merging for 3 minutes
    more = ((30, "security", 2), (40, "pricing", 3))
    visit(
        session, world, pages=more, stream="s2"
    )  # another page load  # more pages in the same visit: no new notification
    assert collect(session, now + timedelta(minutes=2)) == 0
    assert send(db, services, now + timedelta(minutes=4)) == 1
    assert send(db, services, now + timedelta(minutes=5)) == 0  # never twice

    smtp.clear()
    config = SmtpConfig(smtp.host, smtp.port, starttls=False)
    assert notify.deliver_pending(db, config) >= 1
    # The outbox also holds Kato's invitation; the owner gets exactly one mail.
    [message] = [m for m in smtp.wait_for(2) if m["To"] == world["user"].email]
    assert message["Subject"] == "Kato is active in “Acme rollout”"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Opened the room for the first time" in body
    assert "Opened a pricing item as the economic buyer: Pricing 2027" in body
    assert "Read in this visit" in body and "Security overview" in body
    assert f"http://testserver/rooms/{world['room'].public_id}/analytics" in body
    assert {s for _k, _d, s in events(session)} == {"sent"}


def test_the_mail_is_in_the_recipients_language(db, session, services, world):
    world["user"].locale = "ja"
    visit(session, world)
    now = utcnow()
    collect(session, now)
    assert send(db, services, now + timedelta(minutes=4)) == 1
    [mail] = mails(session, "notification")
    assert "初めて" in mail.text_body and "Pricing 2027" in mail.text_body


def test_quiet_hours_delay_the_mail_until_they_end(db, session, services, world):
    user = world["user"]
    user.timezone = "Asia/Tokyo"
    now = utcnow()
    due = now + timedelta(minutes=4)
    local = due.astimezone(ZoneInfo("Asia/Tokyo"))
    minute = local.hour * 60 + local.minute
    start, end = (minute - 30) % 1440, (minute + 30) % 1440
    set_prefs(
        session,
        user,
        quiet_start=f"{start // 60:02d}:{start % 60:02d}",
        quiet_end=f"{end // 60:02d}:{end % 60:02d}",
    )
    visit(session, world)
    collect(session, now)

    assert send(db, services, due) == 0
    assert {s for _k, _d, s in events(session)} == {"pending"}  # waiting, not dropped
    assert send(db, services, due + timedelta(minutes=35)) == 1
    assert len(mails(session, "notification")) == 1


def test_off_records_nothing_and_sends_nothing(db, session, services, world):
    set_prefs(session, world["user"], mode_first_open="off", mode_pricing="off")
    visit(session, world)
    assert collect(session) == 0
    assert send(db, services, utcnow() + timedelta(minutes=10)) == 0
    assert events(session) == []


def test_an_archived_room_or_a_disabled_owner_is_not_told(db, session, services, world):
    visit(session, world)
    collect(session)
    world["user"].disabled_at = utcnow()
    session.flush()
    assert send(db, services, utcnow() + timedelta(minutes=10)) == 0
    assert mails(session, "notification") == []


# ---------------------------------------------------------------- the daily digest


def next_local(zone, hour, minute=30, weekday=None, after=None):
    """The next `hour:minute` (on `weekday`) in `zone` after `after`, as UTC."""
    tz = ZoneInfo(zone)
    local = (after or utcnow()).astimezone(tz) + timedelta(minutes=5)
    day = local.date()
    for _ in range(9):
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
        if candidate > local and (weekday is None or candidate.weekday() == weekday):
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise AssertionError("no such time")


def digest(db, services, now):
    return notifications.send_daily_digests(
        db, renderer=services.mail, links=services.links, now=now
    )


def test_digest_events_wait_for_the_daily_digest_sent_once(db, session, services, world):
    user = world["user"]
    user.timezone = "Asia/Tokyo"
    set_prefs(session, user, mode_first_open="digest", mode_pricing="off")
    visit(session, world)
    milestone = tasks.add_milestone(
        session, room=world["room"], actor=Actor(user=user), data={"title": "Validation"}
    )
    tasks.add_task(  # a buyer's task: "in the digest" by default
        session,
        room=world["room"],
        actor=Actor(invite=world["kato"]),
        data={"milestone_id": milestone.public_id, "title": "Security review"},
    )
    session.flush()
    assert collect(session) == 2
    assert sorted(events(session)) == [
        ("first_open", "digest", "pending"),
        ("task", "digest", "pending"),
    ]
    assert send(db, services, utcnow() + timedelta(minutes=10)) == 0  # not an immediate one

    morning = next_local("Asia/Tokyo", 8)
    assert digest(db, services, morning - timedelta(hours=1)) == 0  # 7:30: not yet
    assert digest(db, services, morning) == 1
    assert digest(db, services, morning + timedelta(minutes=5)) == 0  # once per day
    [mail] = mails(session, "notification_digest")
    assert "Opened the room for the first time" in mail.text_body
    assert "Added the task “Security review”" in mail.text_body
    assert "Acme rollout: 1 person, 1 visit" in mail.text_body
    assert {s for _k, _d, s in events(session)} == {"sent"}

    # The next morning there is nothing new to say: no mail.
    assert digest(db, services, morning + timedelta(days=1)) == 0
    assert len(mails(session, "notification_digest")) == 1


def test_no_digest_without_something_to_say(db, session, services, world):
    assert digest(db, services, next_local("UTC", 8)) == 0
    assert mails(session, "notification_digest") == []


def test_a_day_claimed_by_another_process_is_not_sent_again(db, session, services, world):
    user = world["user"]
    set_prefs(session, user, mode_first_open="digest")
    visit(session, world)
    collect(session)
    morning = next_local("UTC", 8)
    session.add(DigestSent(org_id=user.org_id, user_id=user.id, kind="daily", day=morning.date()))
    session.flush()
    assert digest(db, services, morning) == 0
    assert {s for _k, _d, s in events(session)} == {"pending"}  # kept for the next digest


# ---------------------------------------------------------------- the weekly team summary


def test_weekly_summary_goes_to_managers_once(db, session, services, world):
    admin = world["user"]  # the factory's first seller is the org's admin
    rep = factories.seller(session, org=f"Org {admin.org_id}", role="rep")
    rep.org_id = admin.org_id
    factories.room(session, rep, name="Quiet deal")
    visit(session, world)
    monday = next_local("UTC", 8, weekday=0)
    send_weekly = notifications.send_weekly_summaries
    args = {"renderer": services.mail, "links": services.links}

    assert send_weekly(db, now=monday - timedelta(days=1), **args) == 0  # Sunday
    assert send_weekly(db, now=monday, **args) == 1
    assert send_weekly(db, now=monday + timedelta(hours=1), **args) == 0
    [mail] = mails(session, "team_summary")
    assert mail.to_addr == admin.email
    assert "(2 rooms)" in mail.text_body  # the rep's room counts too; the rep gets no mail
    top = mail.text_body.split("Most engaged:")[1]
    assert "Acme rollout (Seller" in top and "Quiet deal" not in top  # no buyer activity there
    assert "http://testserver/dashboard/team" in mail.text_body


# ---------------------------------------------------------------- preferences


def test_preferences_default_and_validation(session, world):
    user = world["user"]
    prefs = notifications.preferences(session, user=user)
    assert prefs.mode("first_open") == "now" and prefs.mode("task") == "digest"
    with pytest.raises(InvalidInput) as caught:
        set_prefs(
            session,
            user,
            mode_first_open="loud",
            quiet_start="25:00",
            quiet_end="07:00",
            slack_url="http://evil.example/hook",
        )
    assert set(caught.value.fields) == {"mode_first_open", "quiet_start", "slack_url"}
    with pytest.raises(InvalidInput) as caught:
        set_prefs(session, user, quiet_start="22:00")
    assert set(caught.value.fields) == {"quiet_end"}
    assert session.get(NotificationPref, user.id) is None  # nothing partial saved

    set_prefs(session, user, mode_task="now", quiet_start="22:00", quiet_end="07:00")
    prefs = notifications.preferences(session, user=user)
    assert prefs.mode("task") == "now" and (prefs.quiet_start, prefs.quiet_end) == (1320, 420)
    night = datetime(2027, 1, 15, 23, 0, tzinfo=UTC)
    assert prefs.quiet(ZoneInfo("UTC"), night) and not prefs.quiet(ZoneInfo("Asia/Tokyo"), night)


# ---------------------------------------------------------------- chat messages


def test_buyer_messages_follow_the_message_preference(db, session, services, world):
    user, room, kato = world["user"], world["room"], world["kato"]
    chat.post_message(session, room=room, author=kato, body="Now please")
    set_prefs(session, user, mode_message="digest")
    chat.post_message(session, room=room, author=kato, body="In the digest please")
    set_prefs(session, user, mode_message="off")
    chat.post_message(session, room=room, author=kato, body="Not at all")
    session.flush()
    # Only the first one is a chat mail; the second waits for the digest; the third is silent.
    assert [n.reason for n in chat.pending_notices(session, email=user.email)] == ["buyer_message"]
    rows = session.exec(select(NotificationEvent).where(NotificationEvent.kind == "message"))
    assert [json.loads(r.detail)["excerpt"] for r in rows] == ["In the digest please"]


def test_chat_mails_wait_for_the_end_of_quiet_hours(db, session, services, world):
    user = world["user"]
    now = utcnow()
    minute = now.hour * 60 + now.minute
    start, end = (minute - 30) % 1440, (minute + 30) % 1440
    set_prefs(
        session,
        user,
        quiet_start=f"{start // 60:02d}:{start % 60:02d}",
        quiet_end=f"{end // 60:02d}:{end % 60:02d}",
    )
    chat.post_message(session, room=world["room"], author=world["kato"], body="Hello?")
    session.flush()
    args = {"renderer": services.mail, "links": services.links}
    assert chat.send_digests(db, now=now, **args) == 0
    assert chat.send_digests(db, now=now + timedelta(minutes=40), **args) == 1


# ---------------------------------------------------------------- Slack


class _Hook(BaseHTTPRequestHandler):
    bodies: list[dict] = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(500)
        else:
            type(self).bodies.append(body)
            self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    _Hook.bodies, _Hook.fail_first = [], 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/xyz"
    server.shutdown()
    server.server_close()


def test_slack_gets_the_same_text_and_failures_are_retried(db, session, services, world, hook):
    user = world["user"]
    set_prefs(session, user, slack_url="https://hooks.slack.com/services/T000/B000/xyz")
    # The local server stands in for Slack (validation only accepts hooks.slack.com).
    session.get(NotificationPref, user.id).slack_url = hook
    visit(session, world)
    now = utcnow()
    collect(session, now)
    assert send(db, services, now + timedelta(minutes=4)) == 1
    [mail] = mails(session, "notification")

    deliver = notifications.deliver_slack
    assert deliver(db, now=now + timedelta(minutes=4), prefix="http://127.0.0.1:") == 0  # 500
    [post] = session.exec(select(SlackPost)).all()
    session.refresh(post)
    assert (post.status, post.attempts) == ("queued", 1) and "HTTP" in post.last_error
    assert deliver(db, now=now + timedelta(minutes=4, seconds=10), prefix="http://127.0.0.1:") == 0
    assert deliver(db, now=now + timedelta(minutes=6), prefix="http://127.0.0.1:") == 1
    assert _Hook.bodies == [{"text": mail.text_body[:3900]}]
    # Only Slack's own hosts are posted to, whatever is stored.
    assert deliver(db, now=now + timedelta(minutes=9)) == 0


# ---------------------------------------------------------------- other signals, retention


def test_returns_and_new_people_from_tracking_signals(db, session, services, world):
    room, kato = world["room"], world["kato"]
    now = utcnow()
    for kind, days in (("returned", 12), ("new_person", 0), ("reread", 0)):
        session.add(
            tracking.Signal(
                org_id=room.org_id, room_id=room.id, invite_id=kato.id, kind=kind, at=now, days=days
            )
        )
    session.flush()
    assert collect(session, now + timedelta(seconds=5)) == 2  # a re-read is not an alert
    assert send(db, services, now + timedelta(minutes=4)) == 1
    [mail] = mails(session, "notification")
    assert "Came back after 12 days of silence" in mail.text_body
    assert "a new person from the buyer's company" in mail.text_body


def test_erasure_and_retention(session, world):
    room, kato = world["room"], world["kato"]
    old = utcnow() - timedelta(days=40)
    for n, status in enumerate(("sent", "pending")):
        session.add(
            NotificationEvent(
                org_id=room.org_id,
                user_id=world["user"].id,
                room_id=room.id,
                invite_id=kato.id,
                kind="first_open",
                source=f"test:{n}",
                at=old,
                status=status,
            )
        )
    session.flush()
    assert notifications.purge(session) == 1  # the old sent one; pending ones wait
    assert notifications.erase_viewer(session, invite=kato) == 1
    assert events(session) == []


def test_the_scheduler_runs_the_notification_jobs(db, session, services, world):
    from dealroom.jobs import Jobs

    jobs = Jobs(db, None, mail=services.mail, links=services.links, notify_merge_minutes=0)
    assert {"notifications", "notification-digests"} <= set(jobs.specs)
    visit(session, world)
    assert jobs.notify_owners() == 1  # merge delay 0: sent on the first tick
    assert jobs.notify_owners() == 0
    # Whether 8:00 has passed for the seller depends on the real clock: it runs and counts.
    assert jobs.notification_digests() in (0, 1, 2)
