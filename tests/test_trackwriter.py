"""The tracking writer process: batches handed over are written once, whatever dies.

These use a SQLite file (a second process must open the same database) built here and
committed, unlike the rolled-back `db` fixture."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dealroom import accounts, invites, rooms, tracking
from dealroom.app import build_services
from dealroom.db import Database
from dealroom.migrate import upgrade
from dealroom.settings import load_settings
from dealroom.trackwriter import ProcessIngest, from_wire, to_wire

SECRET = "test-secret-0123456789-abcdefghijklmnop"


def build(url: str, tmp: Path, viewers: int = 3) -> tuple[str, list[str]]:
    upgrade(url)
    settings = load_settings(
        environ={}, dotenv=None, secret_key=SECRET, storage_dir=str(tmp / "files"), run_jobs=False
    )
    services = build_services(settings, db=Database.from_url(url))
    with services.db.session() as session:
        user = accounts.create_user(
            session, email="rep@northwind.example", password="a-long-password-1", org_name="NW"
        )
        room = rooms.create_room(session, user=user, data={"name": "Acme", "buyer_company": "Acme"})
        people = []
        for n in range(viewers):
            invite = invites.create_invite(
                session,
                room=room,
                seller=user,
                email=f"buyer{n}@acme.example",
                links=services.links,
                renderer=services.mail,
                send=False,
            )
            tracking.show_notice(invite)
            session.flush()
            people.append(invite.public_id)
        room_id = room.public_id
    services.db.dispose()
    return room_id, people


def beats(room: str, people: list[str], count: int, *, stream: str = "s") -> list[tracking.Beat]:
    now = time.time()
    return [
        tracking.Beat(
            received_at=now + n * 0.001,
            room=room,
            invite=people[n % len(people)],
            stream=f"{stream}{n}",  # one page load per beat: every beat is a first beat
            issued_at=now - 5,
            seq=1,
            events=(tracking.RoomTime(2),),
            inputs=1,
        )
        for n in range(count)
    ]


def test_beats_cross_to_the_writer_as_plain_tuples_and_come_back_the_same():
    beat = tracking.Beat(
        received_at=1_700_000_000.25,
        room="room_a",
        invite="inv_b",
        stream="s1",
        issued_at=1_699_999_990.0,
        seq=7,
        events=(
            tracking.RoomTime(3),
            tracking.ItemTime("ri_doc", 5, page=2),
            tracking.VideoWatch("ri_vid", start=10, stop=14, seconds=4, duration=240),
            tracking.SectionOpen("sec_plan"),
        ),
        inputs=2,
        final=True,
        device="mobile",
        country="JP",
    )
    row = to_wire(beat)
    # Nothing but builtins inside, so a batch pickles without calling Python per beat.
    plain = (tuple, str, int, float, bool, type(None))

    def builtins_only(value: Any) -> bool:
        return type(value) in plain and (
            type(value) is not tuple or all(builtins_only(v) for v in value)
        )

    assert builtins_only(row)
    back = from_wire(pickle.loads(pickle.dumps(row)))
    assert back == beat
    assert [type(event) for event in back.events] == [type(event) for event in beat.events]
    assert back.events[2].duration == 240 and back.events[1].page == 2


def durable(url: str) -> int:
    db = Database.from_url(url)
    with db.engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM track_event")).scalar_one()
    db.dispose()
    return int(count)


@pytest.fixture
def world(tmp_path: Path) -> tuple[str, str, list[str]]:
    url = f"sqlite:///{tmp_path / 'track.db'}"
    room, people = build(url, tmp_path)
    return url, room, people


def test_flush_waits_until_the_writer_process_committed_and_close_writes_the_rest(world):
    url, room, people = world
    # A timer that never fires during the test: only flush() and close() write.
    ingest = ProcessIngest(Database.from_url(url), url=url, interval=60)
    ingest.start()
    try:
        for beat in beats(room, people, 40):
            ingest.add(beat)
        ingest.drops.add("bot", 2)  # counted by the web side, written by the child
        assert ingest.flush() == 40
        assert durable(url) == 40
        assert ingest.accepted_total == 40
        assert ingest.refused_total() == {"bot": 2}
        assert ingest.depth == 0
        # Beats still queued when the app stops are written by close(), not lost.
        for beat in beats(room, people, 25, stream="late"):
            ingest.add(beat)
    finally:
        ingest.close()
    assert durable(url) == 65
    assert not ingest._process.is_alive()
    db = Database.from_url(url)
    with db.session() as session:
        assert tracking.drop_totals(session) == {"bot": 2}
    db.dispose()


def test_beats_added_before_start_or_after_close_are_written_too(world):
    """Not started (or closed), it is the plain in-process Ingest and keeps Beats; started, it
    keeps wire tuples. Beats from either side of start() and close() all arrive once."""
    url, room, people = world
    ingest = ProcessIngest(Database.from_url(url), url=url, interval=60)
    ingest.add(beats(room, people, 1, stream="direct")[0])
    assert ingest.flush() == 1  # written here: there is no writer process yet
    ingest.extend(beats(room, people, 5, stream="early"))
    ingest.start()
    try:
        for beat in beats(room, people, 7, stream="started"):
            ingest.add(beat)
        assert ingest.flush() == 12  # the 5 from before start() went to the child with the 7
    finally:
        ingest.close()
    ingest.extend(beats(room, people, 3, stream="after"))
    assert ingest.flush() == 3
    assert durable(url) == 16
    assert ingest.refused_total() == {}


def test_beats_handed_over_but_not_committed_still_count_against_the_limit(world):
    """The web process bounds what the child holds too: a stalled writer (here stopped with
    SIGSTOP) makes the buffer full once `limit` beats are handed over and unacknowledged."""
    url, room, people = world
    ingest = ProcessIngest(Database.from_url(url), url=url, interval=0.02, limit=30)
    ingest.start()
    child = ingest._process
    os.kill(child.pid, signal.SIGSTOP)
    try:
        for beat in beats(room, people, 30):
            ingest.add(beat)
        deadline = time.monotonic() + 10
        while ingest._beats and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not ingest._beats  # all handed over...
        assert ingest.depth == 30  # ...and still counted
        assert ingest.full
    finally:
        os.kill(child.pid, signal.SIGCONT)
    try:
        ingest.flush()
        assert ingest.accepted_total == 30
        assert ingest.depth == 0
        assert not ingest.full
        assert ingest.refused_total() == {}  # the child's own limit dropped nothing
    finally:
        ingest.close()
    assert durable(url) == 30


def test_the_write_timer_runs_from_the_beats_answer_not_from_its_arrival(world):
    """A beat that already waited (in the web process, or in the pipe while the writer wrote
    the previous batch) is not made to wait a whole timer more."""
    url, room, people = world
    # Both timers at 5 s: the test hands over itself, and only the write timer can write.
    ingest = ProcessIngest(Database.from_url(url), url=url, interval=5)
    ingest.start()
    try:
        fresh = beats(room, people, 4, stream="fresh")
        ingest.extend(fresh)
        ingest._send_waiting()
        time.sleep(1.5)
        assert durable(url) == 0  # answered just now: its timer has 5 s to run
        ingest.flush()
        waited = [
            beat._replace(received_at=beat.received_at - 4.5) for beat in beats(room, people, 3)
        ]
        ingest.extend(waited)
        handed_over = time.monotonic()
        ingest._send_waiting()
        while durable(url) < 7 and time.monotonic() - handed_over < 4:
            time.sleep(0.05)
        assert durable(url) == 7
        assert time.monotonic() - handed_over < 3  # ~0.5 s left of its 5, not 5 more
    finally:
        ingest.close()


def test_the_sender_replaces_a_writer_that_died(world):
    url, room, people = world
    ingest = ProcessIngest(Database.from_url(url), url=url, interval=0.05)
    ingest.start()
    try:
        dead = ingest._process
        os.kill(dead.pid, signal.SIGKILL)
        dead.join(timeout=10)
        for beat in beats(room, people, 20):
            ingest.add(beat)
        deadline = time.monotonic() + 30
        while durable(url) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert durable(url) == 20
        assert ingest._process is not dead and ingest._process.is_alive()
    finally:
        ingest.close()


def test_unacknowledged_batches_go_to_the_next_writer_and_count_once(world):
    url, room, people = world
    # A long timer: the test drives every hand-over itself.
    ingest = ProcessIngest(Database.from_url(url), url=url, interval=60)
    ingest.start()
    try:
        first = beats(room, people, 30)
        for beat in first:
            ingest.add(beat)
        assert ingest.flush() == 30
        os.kill(ingest._process.pid, signal.SIGKILL)
        ingest._process.join(timeout=10)
        # The dead writer had committed `first` but its acknowledgement was lost: it is still
        # waiting to be confirmed, and so is a batch sent into the dead pipe.
        with ingest._acks:
            ingest._number += 1
            ingest._sent.append((ingest._number, [to_wire(beat) for beat in first], {}))
            ingest._unacked += len(first)
        for beat in beats(room, people, 20, stream="t"):
            ingest.add(beat)
        ingest._send_waiting()
        ingest._spawn()
        ingest.flush()
        assert durable(url) == 50
        assert ingest.refused_total() == {"duplicate": 30}
        assert ingest.depth == 0
    finally:
        ingest.close()
    assert not ingest._process.is_alive()


def test_what_was_handed_over_survives_the_web_process_being_killed(world, tmp_path):
    url, room, people = world
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from dealroom.db import Database
        from dealroom.trackwriter import ProcessIngest
        from tests.test_trackwriter import beats

        if __name__ == "__main__":
            ingest = ProcessIngest(Database.from_url({url!r}), url={url!r}, interval=60)
            ingest.start()
            print(ingest._process.pid, flush=True)
            for beat in beats({room!r}, {people!r}, 60):
                ingest.add(beat)
            ingest._send_waiting()  # handed to the writer; then the web process dies
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    path = tmp_path / "web.py"
    path.write_text(script)
    process = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    child = int(process.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    assert durable(url) == 60


def test_the_daily_room_rollup_follows_the_hourly_one(world):
    url, room, people = world
    db = Database.from_url(url)
    drops = tracking.DropCounter()
    with db.session() as session:
        tracking.apply_beats(session, beats(room, people, 12), drops=drops)
    with db.engine.connect() as connection:
        hours = connection.execute(
            text("SELECT sum(active_seconds), sum(events) FROM activity_hour")
        ).one()
        days = connection.execute(
            text("SELECT sum(active_seconds), sum(events), count(*) FROM room_day")
        ).one()
    db.dispose()
    assert tuple(hours) == (24, 12)
    assert tuple(days)[:2] == (24, 12)
    assert days[2] >= 1
