"""Tracking: beats become events and rollups; replays, inflated times, bots' and sellers' views,
revoked, paused and unnotified viewers are refused and counted; retention and erasure."""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update as sa_update
from sqlmodel import col, func, select

from dealroom import analytics, content, invites, tracking
from dealroom.content import Upload
from dealroom.db import pk
from dealroom.pdfgen import simple_pdf
from dealroom.rooms import Room
from dealroom.tracking import (
    Beat,
    DropCounter,
    ItemTime,
    RoomTime,
    SectionOpen,
    TrackEvent,
    TrackStream,
    VideoWatch,
    ViewerStat,
    Visit,
)
from dealroom.web.tracking import parse_body
from tests import factories
from tests.dbwork import insert_events, work_on_events

T0 = 1_800_000_000.0
PDF = simple_pdf([["p"]] * 5)  # a fixed "now" for beats (seconds since the epoch)


@pytest.fixture
def world(session, services):
    user = factories.seller(session)
    room = factories.room(session, user)
    kato = factories.invite(session, services, room, user, name="Kato", role="economic_buyer")
    tracking.show_notice(kato)
    pdf = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=user,
        upload=Upload("proposal.pdf", io.BytesIO(PDF), len(PDF)),
        title="Proposal",
    )
    video = content.add_link(
        session,
        room=room,
        user=user,
        url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        title="Demo",
    )
    section = content.add_section(session, room=room, title="Security")
    session.flush()
    return {
        "user": user,
        "room": room,
        "kato": kato,
        "pdf": pdf,
        "video": video,
        "section": section,
    }


def beat(
    world, seq, *events, at=0.0, stream="s1", issued=-10.0, inputs=3, final=False, invite=None
):
    return Beat(
        received_at=T0 + at,
        room=world["room"].public_id,
        invite=(invite or world["kato"]).public_id,
        stream=stream,
        issued_at=T0 + issued,
        seq=seq,
        events=tuple(events),
        inputs=inputs,
        final=final,
    )


def apply(session, *beats):
    drops = DropCounter()
    accepted = tracking.apply_beats(session, list(beats), drops=drops)
    session.flush()
    return accepted, dict(drops.total)


def viewer(session, world, invite=None):
    engagement = analytics.room_engagement(session, room=world["room"])
    target = invite or world["kato"]
    return next(v for v in engagement.viewers if v.invite.id == target.id)


def test_beats_become_page_time_visits_and_completion(session, world):
    pdf = world["pdf"].public_id
    accepted, drops = apply(
        session,
        beat(world, 1, ItemTime(pdf, 8, page=1), at=0),
        beat(world, 2, ItemTime(pdf, 10, page=1), at=10),
        beat(world, 3, ItemTime(pdf, 4, page=1), ItemTime(pdf, 6, page=3), at=20),
    )
    assert accepted == 4 and drops == {}
    me = viewer(session, world)
    assert me.active_seconds == 28
    assert me.visits == 1
    (item,) = me.items
    assert item.pages == {1: 22, 3: 6}
    # Completion is pages with >= 5 s over the page count, not "any page touched".
    assert item.completion == pytest.approx(2 / 5)
    totals = {i.item_id: i for i in analytics.room_engagement(session, room=world["room"]).items}
    assert totals[pdf].active_seconds == 28 and totals[pdf].viewers == 1
    assert [p for p, _s, level in totals[pdf].heat if level] == [1, 3]
    assert session.exec(select(func.count()).select_from(TrackEvent)).one() == 4


def test_a_replayed_or_duplicated_beat_is_counted_once(session, world):
    pdf = world["pdf"].public_id
    first = beat(world, 1, ItemTime(pdf, 8, page=2), at=0)
    accepted, drops = apply(session, first, first, beat(world, 1, ItemTime(pdf, 8, page=2), at=5))
    assert accepted == 1 and drops == {"duplicate": 2}
    # ...and in a later batch too (another process may flush the retry).
    accepted, drops = apply(session, beat(world, 1, ItemTime(pdf, 8, page=2), at=12))
    assert accepted == 0 and drops == {"duplicate": 1}
    assert viewer(session, world).items[0].pages == {2: 8}


def test_seconds_are_capped_by_the_real_time_between_beats(session, world):
    pdf = world["pdf"].public_id
    # The page was issued 10 s before the first beat: claiming an hour gets 10 s + slack.
    apply(session, beat(world, 1, ItemTime(pdf, 3600, page=1), at=0, issued=-10))
    assert viewer(session, world).active_seconds == 10 + int(tracking.SLACK_SECONDS)
    # Two items claiming 10 s each within 10 s share the real time.
    apply(session, beat(world, 2, ItemTime(pdf, 10, page=1), RoomTime(10), at=10))
    # 20 s claimed in 10 s (+2 s slack): each is scaled to 12/20 of its claim.
    assert viewer(session, world).active_seconds == 12 + 6 + 6


def test_beats_faster_than_a_person_are_dropped_but_the_final_flush_counts(session, world):
    pdf = world["pdf"].public_id
    accepted, drops = apply(
        session,
        beat(world, 1, ItemTime(pdf, 5, page=1), at=0),
        beat(world, 2, ItemTime(pdf, 1, page=1), at=0.2),
        beat(world, 3, ItemTime(pdf, 1, page=1), at=0.5, final=True),
    )
    assert drops == {"too_fast": 1}
    assert accepted == 2


def test_time_without_any_interaction_is_not_counted(session, world):
    apply(session, beat(world, 1, ItemTime(world["pdf"].public_id, 9, page=1), inputs=0))
    assert viewer(session, world).active_seconds == 0


@pytest.mark.parametrize("case", ["revoked", "paused", "no_notice", "seller"])
def test_refused_viewers_store_nothing_and_are_counted(session, services, world, case):
    kato = world["kato"]
    if case == "revoked":
        invites.revoke_invite(session, room=world["room"], seller=world["user"], invite=kato)
    elif case == "paused":
        tracking.set_paused(kato, True)
    elif case == "no_notice":
        kato.tracking_notice_at = None
    else:  # a colleague of the seller holding a buyer invite
        kato = factories.invite(
            session, services, world["room"], world["user"], email=world["user"].email
        )
        tracking.show_notice(kato)
    session.flush()
    accepted, drops = apply(
        session, beat(world, 1, ItemTime(world["pdf"].public_id, 8, page=1), invite=kato)
    )
    assert accepted == 0 and drops == {case: 1}
    assert session.exec(select(func.count()).select_from(TrackEvent)).one() == 0
    assert session.exec(select(func.count()).select_from(ViewerStat)).one() == 0


def test_items_and_pages_must_belong_to_the_room(session, services, world):
    other_room = factories.room(session, world["user"], name="Other")
    foreign = content.add_link(
        session, room=other_room, user=world["user"], url="https://example.com/x"
    )
    session.flush()
    accepted, drops = apply(
        session,
        beat(
            world,
            1,
            ItemTime(foreign.public_id, 5),
            ItemTime(world["pdf"].public_id, 5, page=6),  # the PDF has 5 pages
            ItemTime(world["video"].public_id, 5, page=1),  # not a PDF
            SectionOpen("sec_nope"),
            SectionOpen(world["section"].public_id),
            at=0,
        ),
    )
    assert accepted == 1
    assert drops == {"foreign_item": 2, "bad_page": 2}


def test_video_ranges_merge_and_give_completion(session, world):
    video = world["video"].public_id
    apply(
        session,
        beat(world, 1, VideoWatch(video, 0, 10, 10, duration=240), at=0),
        beat(world, 2, VideoWatch(video, 10, 20, 10, duration=240), at=10),
        beat(world, 3, VideoWatch(video, 5, 15, 10, duration=240), at=20),  # re-watched
        beat(world, 4, VideoWatch(video, 100, 110, 10, duration=240), at=30),
    )
    (item,) = viewer(session, world).items
    assert item.watched == [(0, 20), (100, 110)]
    assert item.video_seconds == 30
    assert item.completion == pytest.approx(30 / 240)


def test_a_video_range_cannot_be_longer_than_the_time_that_passed(session, world):
    video = world["video"].public_id
    apply(session, beat(world, 1, VideoWatch(video, 0, 3000, 10, duration=3600), at=0, issued=-10))
    (item,) = viewer(session, world).items
    assert item.video_seconds <= 2 * (10 + tracking.SLACK_SECONDS) + 1


def test_a_new_visit_after_thirty_quiet_minutes_and_a_return_signal(session, world):
    pdf = world["pdf"].public_id
    apply(session, beat(world, 1, ItemTime(pdf, 5, page=1), at=0))
    apply(session, beat(world, 2, ItemTime(pdf, 5, page=1), at=600))
    assert viewer(session, world).visits == 1
    apply(session, beat(world, 3, ItemTime(pdf, 5, page=1), at=600 + 31 * 60))
    assert viewer(session, world).visits == 2
    # Nine days later, in a new page load: a "returned" signal and a re-read.
    apply(session, beat(world, 1, ItemTime(pdf, 5, page=2), at=9 * 86400, stream="s2"))
    kinds = [s.signal.kind for s in analytics.signals(session, room=world["room"])]
    assert "returned" in kinds
    assert "reread" in kinds
    assert "pricing" in kinds  # Kato is the economic buyer and "Proposal" is a pricing item
    assert session.exec(select(func.count()).select_from(Visit)).one() == 3


def test_server_events_open_download_click_chat(session, world):
    kato = world["kato"]
    pdf = world["pdf"]
    assert tracking.record(session, invite=kato, event=tracking.ItemOpened(pk(pdf)))
    assert tracking.record(session, invite=kato, event=tracking.Downloaded(pk(pdf)))
    assert tracking.record(session, invite=kato, event=tracking.LinkClicked(pk(world["video"])))
    assert tracking.record(session, invite=kato, event=tracking.ChatActivity())
    assert not tracking.record(session, invite=None, event=tracking.ChatActivity())
    tracking.set_paused(kato, True)
    assert not tracking.record(session, invite=kato, event=tracking.ChatActivity())
    session.flush()
    me = viewer(session, world)
    by_id = {i.item_id: i for i in me.items}
    assert by_id[pdf.public_id].opens == 1 and by_id[pdf.public_id].downloads == 1
    assert by_id[world["video"].public_id].clicks == 1
    assert me.messages == 1 and me.visits == 1
    assert me.tracking_paused


def test_retention_deletes_old_raw_events_but_keeps_rollups(db, session, world):
    pdf = world["pdf"].public_id
    world["room"].retention_days = 30
    apply(session, beat(world, 1, ItemTime(pdf, 8, page=1), at=0))
    now = tracking._aware(T0) + timedelta(days=31)
    assert tracking.purge_expired_in_chunks(db, now=now) == 1
    assert session.exec(select(func.count()).select_from(TrackEvent)).one() == 0
    assert viewer(session, world).active_seconds == 8
    # The anonymous daily aggregate stays.
    assert (
        sum(
            s
            for _d, s in analytics.daily_activity(
                session, room=world["room"], today=now.date() - timedelta(days=31)
            )
        )
        == 8
    )


def test_purging_old_visits_does_not_read_every_event_for_each_visit(db, session, world):
    """Deleting a visit used to make the database look for events pointing at it (a foreign key
    without an index: a scan of the biggest table per visit). What the purge does for 40 old
    visits must not grow with the number of recent events it keeps."""
    kato, room = world["kato"], world["room"]
    now = tracking._aware(T0)
    ago = now - timedelta(days=400)

    def visit(at):
        row = Visit(
            org_id=room.org_id, room_id=pk(room), invite_id=pk(kato), started_at=at, last_seen_at=at
        )
        session.add(row)
        return row

    recent = visit(now)
    session.flush()
    ids = {
        "org_id": room.org_id,
        "room_id": pk(room),
        "invite_id": pk(kato),
        "visit_id": pk(recent),
    }

    def purge() -> None:
        tracking.purge_expired_in_chunks(db, now=now)

    def visits_share(events: int) -> int:
        insert_events(session, [(now, "view")] * events, **ids)
        idle = work_on_events(session, purge)  # nothing old: the purge's own reading
        for _ in range(40):
            visit(ago)
        session.flush()
        work = work_on_events(session, purge)
        assert session.exec(select(func.count()).select_from(Visit)).one() == 1  # the recent one
        return work - idle

    few = visits_share(400)
    many = visits_share(3600)  # 4,000 events now
    assert session.exec(select(func.count()).select_from(TrackEvent)).one() == 4000
    # A scan per visit would add 40 reads (and more instructions) for every added event.
    assert many - few < 3600, (few, many)


def test_the_retention_job_deletes_in_short_transactions(db, services, monkeypatch):
    world = _ingest_world(db, services)
    room, kato = world["room"], world["kato"]
    now = tracking._aware(T0)
    with db.session() as session:
        session.execute(sa_update(Room).where(col(Room.id) == pk(room)).values(retention_days=30))
        old, recent = (
            Visit(
                org_id=room.org_id,
                room_id=pk(room),
                invite_id=pk(kato),
                started_at=at,
                last_seen_at=at,
            )
            for at in (now - timedelta(days=40), now - timedelta(days=1))
        )
        session.add_all([old, recent])
        session.flush()
        session.add(
            TrackStream(
                key="s-old",
                org_id=room.org_id,
                invite_id=pk(kato),
                visit_id=pk(old),
                issued_at=now - timedelta(days=40),
            )
        )
        for visit, days, count in ((old, 40, 25), (recent, 1, 3)):
            insert_events(
                session,
                [(now - timedelta(days=days, seconds=n), "view") for n in range(count)],
                org_id=room.org_id,
                room_id=pk(room),
                invite_id=pk(kato),
                visit_id=pk(visit),
            )
    chunks = []
    purge_room = tracking.purge_room

    def counted(session, **kwargs):
        done = purge_room(session, **kwargs)
        chunks.append(done)
        return done

    monkeypatch.setattr(tracking, "purge_room", counted)
    assert tracking.purge_expired_in_chunks(db, now=now, chunk=10) == 25
    assert chunks == [10, 10, 5]  # one transaction each; the visits went with the last one
    with db.session() as session:
        assert [v.id for v in session.exec(select(Visit))] == [pk(recent)]
        assert session.exec(select(func.count()).select_from(TrackStream)).one() == 0
        kept = session.exec(select(TrackEvent.visit_id)).all()
        assert kept == [pk(recent)] * 3
    # Nothing left to do: one empty chunk.
    chunks.clear()
    assert tracking.purge_expired_in_chunks(db, now=now, chunk=10) == 0
    assert chunks == [0]


def test_a_room_whose_purge_fails_does_not_stop_the_others(db, services, monkeypatch):
    now = tracking._aware(T0)
    worlds = [_ingest_world(db, services) for _ in range(2)]
    with db.session() as session:
        for world in worlds:
            room = world["room"]
            session.execute(
                sa_update(Room).where(col(Room.id) == pk(room)).values(retention_days=30)
            )
            insert_events(
                session,
                [(now - timedelta(days=40, seconds=n), "view") for n in range(15)],
                org_id=room.org_id,
                room_id=pk(room),
                invite_id=pk(world["kato"]),
            )
    broken = pk(worlds[0]["room"])
    purge_room = tracking.purge_room
    chunks_of_broken = []

    def failing_second_chunk(session, **kwargs):
        if kwargs["room_id"] == broken:
            if chunks_of_broken:
                raise RuntimeError("disk I/O error")
            chunks_of_broken.append(kwargs)
        return purge_room(session, **kwargs)

    monkeypatch.setattr(tracking, "purge_room", failing_second_chunk)
    with pytest.raises(tracking.PurgeIncomplete) as failed:
        tracking.purge_expired_in_chunks(db, now=now, chunk=10)
    assert failed.value.failed == [broken]
    assert failed.value.deleted == 10 + 15  # the broken room's first chunk, all of the other
    assert isinstance(failed.value.__cause__, RuntimeError)
    with db.session() as session:
        left = session.exec(select(TrackEvent.room_id, func.count()).group_by(TrackEvent.room_id))
        assert dict(left.all()) == {broken: 5}


def test_export_then_erase_one_viewer(session, services, world):
    other = factories.invite(
        session, services, world["room"], world["user"], email="sato@acme.example"
    )
    tracking.show_notice(other)
    session.flush()
    pdf = world["pdf"].public_id
    apply(
        session,
        beat(world, 1, ItemTime(pdf, 8, page=1), at=0),
        beat(world, 1, ItemTime(pdf, 6, page=2), at=0, stream="s9", invite=other),
    )
    exported = analytics.viewer_export(session, room=world["room"], invite=world["kato"])
    assert exported["person"]["email"] == "kato@acme.example"
    assert exported["summary"]["active_seconds"] == 8
    assert [e["page"] for e in exported["events"]] == [1]
    assert tracking.erase_viewer(session, invite=world["kato"]) == 1
    session.flush()
    assert viewer(session, world).active_seconds == 0
    assert viewer(session, world, other).active_seconds == 6  # the colleague is untouched


def test_events_csv_has_a_bom_and_escapes_formulas(session, services, world):
    evil = factories.invite(
        session,
        services,
        world["room"],
        world["user"],
        email="evil@acme.example",
        name="=HYPERLINK(1)",
    )
    tracking.show_notice(evil)
    session.flush()
    apply(session, beat(world, 1, ItemTime(world["pdf"].public_id, 8, page=1), invite=evil))
    text = "".join(analytics.events_csv(session, room=world["room"]))
    assert text.startswith("\ufefftime_utc,")
    assert "'=HYPERLINK(1)" in text
    pages = "".join(analytics.pages_csv(session, room=world["room"]))
    assert "'=HYPERLINK(1)" in pages and ",1,8" in pages


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {},
        [{"k": "nope"}],
        [{"k": "view", "item": "room_x", "s": 1}],
        [{"k": "view", "item": "item_x", "s": -1}],
        [{"k": "view", "item": "item_x", "s": True}],
        [{"k": "view", "item": "item_x", "s": 1, "page": 0}],
        [{"k": "video", "item": "item_x", "a": 5, "b": 1}],
        [{"k": "view", "item": "item_x"}] * 51,
    ],
)
def test_malformed_events_are_refused(raw):
    with pytest.raises(tracking.BeatError):
        tracking.parse_events(raw)


def test_bots_and_devices():
    assert tracking.is_bot("Mozilla/5.0 (compatible; Googlebot/2.1)")
    assert tracking.is_bot("Mozilla/5.0 HeadlessChrome/120.0")
    assert tracking.is_bot("")
    assert not tracking.is_bot(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"
    )
    assert tracking.device_class("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)") == "mobile"
    assert tracking.device_class("Mozilla/5.0 (iPad; CPU OS 17_0)") == "tablet"
    assert tracking.device_class("Mozilla/5.0 (Windows NT 10.0)") == "desktop"


def test_ingest_buffer_flushes_in_batches_and_on_close(db, services):
    world = _ingest_world(db, services)
    ingest = tracking.Ingest(db, interval=60)
    for n in range(1, 4):
        ingest.add(beat(world, n, RoomTime(5), at=n * 10))
    assert ingest.depth == 3
    ingest.close()  # never started: close still writes what is waiting
    assert ingest.depth == 0 and ingest.flushed == 3
    with db.session() as session:
        assert session.exec(select(ViewerStat.active_seconds)).one() == 15


def _ingest_world(db, services):
    with db.session() as session:
        user = factories.seller(session)
        room = factories.room(session, user)
        kato = factories.invite(session, services, room, user)
        tracking.show_notice(kato)
        session.flush()
        return {"room": room, "kato": kato}


def _written(ingest, *beats):
    for each in beats:
        ingest.add(each)
    return ingest.flush()


def test_a_writer_notices_a_page_another_process_wrote_and_writes_again(db, services):
    """Each writer remembers the streams it wrote rather than reading them back for every beat.
    When another process's writer wrote a later beat of the same page meanwhile, the update
    finds the stream moved on: the batch is rolled back and written again from the database,
    so nothing is lost, counted twice or let through out of order."""
    world = _ingest_world(db, services)
    mine, theirs = tracking.Ingest(db, interval=60), tracking.Ingest(db, interval=60)
    assert _written(mine, beat(world, 1, RoomTime(5), at=10)) == 1
    assert _written(theirs, beat(world, 2, RoomTime(5), at=20)) == 1
    # `mine` still remembers seq 1; the database has seq 2. The page's retry of seq 2 reaching
    # this process is a replay, refused.
    assert mine.reference.streams["s1"].last_seq == 1
    assert _written(mine, beat(world, 2, RoomTime(5), at=21)) == 0
    assert mine.drops.total == {"duplicate": 1} and not theirs.drops.total
    assert _written(mine, beat(world, 3, RoomTime(5), at=30)) == 1
    assert mine.reference.streams["s1"].last_seq == 3
    with db.session() as session:
        assert session.exec(select(ViewerStat.active_seconds)).one() == 15
        assert session.exec(select(func.count()).select_from(TrackEvent)).one() == 3


def test_a_remembered_stream_that_was_erased_starts_again(db, services):
    world = _ingest_world(db, services)
    ingest = tracking.Ingest(db, interval=60)
    assert _written(ingest, beat(world, 1, RoomTime(5), at=10)) == 1
    with db.session() as session:
        kato = session.get(invites.Invite, pk(world["kato"]))
        assert tracking.erase_viewer(session, invite=kato) == 1
    # The stream (and its visit) are gone from the database, not from the writer's memory.
    assert _written(ingest, beat(world, 2, RoomTime(5), at=20)) == 1
    with db.session() as session:
        assert session.exec(select(ViewerStat.active_seconds)).one() == 5
        (visit,) = session.exec(select(Visit)).all()
        assert visit.active_seconds == 5


def test_a_failed_batch_counts_no_refusal_twice(db, services, monkeypatch):
    """Refusals are counted once the batch they belong to is written: a batch written twice
    (here: the first attempt fails) does not count its duplicates twice."""
    world = _ingest_world(db, services)
    ingest = tracking.Ingest(db, interval=60)
    assert _written(ingest, beat(world, 1, RoomTime(5), at=10)) == 1
    real = tracking._Writer.write
    calls = []

    def fails_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        real(self)

    monkeypatch.setattr(tracking._Writer, "write", fails_once)
    for each in (beat(world, 1, RoomTime(5), at=11), beat(world, 2, RoomTime(5), at=20)):
        ingest.add(each)
    with pytest.raises(RuntimeError):
        ingest.flush()
    assert ingest.depth == 2 and not ingest.drops.total  # kept, and nothing counted yet
    assert ingest.flush() == 1
    assert ingest.drops.total == {"duplicate": 1}
    with db.session() as session:
        assert session.exec(select(ViewerStat.active_seconds)).one() == 10


def test_two_writers_racing_for_the_same_pages_count_every_beat_once(committed, settings):
    """Two app processes' writers (here two threads, each with its own connections) are handed
    the same beats of the same pages at once, round after round (a page's retried beats can
    reach both processes). Whichever writer takes a beat first, it is counted once and the
    other writer refuses it, although each remembers the pages as it last wrote them."""
    from dealroom.app import build_services

    with committed.session() as session:
        user = factories.seller(session)
        room = factories.room(session, user)
        kato = factories.invite(session, build_services(settings, db=committed), room, user)
        tracking.show_notice(kato)
        session.flush()
        world = {"room": room, "kato": kato}
    writers = [tracking.Ingest(committed, interval=60) for _ in range(2)]
    pages, rounds = 20, 6
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(ingest):
        try:
            for n in range(1, rounds + 1):
                for page in range(pages):
                    ingest.add(beat(world, n, RoomTime(5), at=n * 10, stream=f"page{page}"))
                start.wait(timeout=30)
                ingest.flush()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
            start.abort()

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert sum(w.drops.accepted for w in writers) == pages * rounds
    assert sum(w.drops.total["duplicate"] for w in writers) == pages * rounds
    with committed.session() as session:
        assert session.exec(select(ViewerStat.active_seconds)).one() == 5 * pages * rounds
        assert session.exec(select(func.count()).select_from(TrackEvent)).one() == pages * rounds


# ---------------------------------------------------------------- the beacon parser, fuzzed

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
EVENT = st.fixed_dictionaries(
    {"k": st.sampled_from(["view", "room", "video", "section", "other"])},
    optional={
        "item": st.sampled_from(["item_a", "room_b", "", 7]) | st.text(max_size=70),
        "page": st.integers(-5, 200_000) | st.none() | st.text(max_size=3),
        "s": st.integers(-10, 5000) | st.booleans() | st.floats(allow_nan=False),
        "a": st.integers(-10, 30_000),
        "b": st.integers(-10, 30_000),
        "d": st.integers(-10, 30_000),
        "section": st.text(max_size=10),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_any_body_is_either_a_beat_or_a_clear_refusal(body):
    try:
        token, seq, events, inputs, final = parse_body(body)
    except tracking.BeatError:
        return
    assert isinstance(token, str) and 1 <= seq <= 10**9 and 0 <= inputs and isinstance(final, bool)
    assert len(events) <= tracking.MAX_EVENTS


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, max_size=60))
def test_parsed_events_respect_their_bounds(raw):
    try:
        events = tracking.parse_events(raw)
    except tracking.BeatError:
        return
    for event in events:
        if isinstance(event, SectionOpen):
            assert event.section.startswith("sec_")
            continue
        assert 0 <= event.seconds <= tracking.MAX_EVENT_SECONDS
        if isinstance(event, ItemTime):
            assert event.item.startswith("item_") and (event.page is None or event.page >= 1)
        if isinstance(event, VideoWatch):
            assert 0 <= event.start <= event.stop <= tracking.MAX_VIDEO_SECONDS


def test_the_writers_reference_cache_finds_new_things_at_once_and_state_changes_within_ttl(
    session, services, world
):
    reference = tracking.Reference(ttl=60)
    drops = DropCounter()
    pdf = world["pdf"].public_id
    assert tracking.apply_beats(
        session, [beat(world, 1, ItemTime(pdf, 5, page=1))], drops=drops, reference=reference
    )
    # A document added a moment ago is found although the cache is fresh.
    added = content.add_link(
        session, room=world["room"], user=world["user"], url="https://example.com/new"
    )
    session.flush()
    assert tracking.apply_beats(
        session,
        [beat(world, 2, ItemTime(added.public_id, 5), at=10)],
        drops=drops,
        reference=reference,
    )
    # A pause is seen once the cache is older than its ttl (here: made stale by hand).
    tracking.set_paused(world["kato"], True)
    session.flush()
    reference.ttl = 0
    assert not tracking.apply_beats(
        session, [beat(world, 3, ItemTime(pdf, 5, page=1), at=20)], drops=drops, reference=reference
    )
    assert drops.total["paused"] == 1


def test_upserts_take_rows_in_key_order(session):
    """Two writers upserting the same rollup rows in opposite orders would deadlock each other
    on PostgreSQL; both take them in key order."""
    from datetime import UTC, datetime

    from dealroom.tracking import ActivityHour, _upsert

    written: list[list[dict]] = []

    class Recorder:
        def __init__(self, real):
            self.real = real

        def get_bind(self, *args, **kwargs):
            return self.real.get_bind(*args, **kwargs)

        def execute(self, _stmt, rows):
            written.append(rows)

    hour = datetime(2026, 11, 23, 10, tzinfo=UTC)
    rows = [
        {"org_id": 1, "room_id": room, "hour": hour, "active_seconds": 10, "events": 1}
        for room in (3, 9, 1, 8, 2)
    ]
    _upsert(Recorder(session), ActivityHour, rows, keys=("room_id", "hour"), add=("events",))
    assert [row["room_id"] for row in written[0]] == [1, 2, 3, 8, 9]
