"""The tracking writer in a process of its own.

The beacon is answered in the web process (signature checks, no database), and accepted beats
used to be written by a thread of that same process. Writing costs far more Python per beat
than answering (rows built, parameters bound, rollups merged), and a thread shares the web
process's interpreter lock, so the server answered about half as many beacons as it could.

`ProcessIngest` keeps the web process's side tiny: beats queue in memory as before, and a sender
thread hands each batch (every `interval`) through a pipe to a child process that runs the
ordinary `tracking.Ingest` against the same database. The child acknowledges each batch once it
is committed; the parent keeps a batch until then, so:

- SIGTERM (graceful stop): `close()` sends what is left, the child writes it, acknowledges and
  exits; nothing answered 204 is lost.
- The web process killed (-9): the child sees the pipe close, writes what it already received
  and exits. Only beats still queued in the web process (at most one `interval`) are lost.
- The child dies: the parent starts another and resends the unacknowledged batches. A batch the
  dead child had committed but not yet acknowledged is refused the second time as duplicates
  (each stream's sequence number), so nothing is counted twice.

Without `start()` (tests whose database is one rolled-back connection) it is the plain
in-process `Ingest`: `flush()` writes directly.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from .tracking import BEAT_EVENTS, Beat, Ingest, ItemTime, RoomTime, SectionOpen, VideoWatch

log = logging.getLogger("dealroom.tracking")

CHILD_START_TIMEOUT = 60.0
CLOSE_TIMEOUT = 30.0
# The child writes what it received at most this often (sooner when WRITE_BATCH beats wait, when
# the parent flushes or closes): each write costs a fixed ~20 ms of reads and statements, so at
# a few dozen beats a second writing every 100 ms took a fifth of a core for almost nothing.
# Half a second keeps every beat on disk within a second of its answer: the timer runs from the
# answer of the oldest beat waiting (see _waited), so a write starts at most 500 ms after it.
# Beats are safe once handed over (the child writes what it holds when the parent dies, and an
# unacknowledged batch goes to the next child), so only their arrival in the rollups waits.
WRITE_EVERY = 0.5
# ...or at once when this many beats wait: a write's fixed cost (the batch's reads, the rollup
# upserts, the commit of every page it touched) is then spread over many beats, so a busy server
# writes two or three big batches a second rather than one per handover (~1,000 beats every
# 100 ms at 10,000 beats/s). Per beat, a batch of 5,000 cost the writer about 15% less CPU than
# one of 2,000 (measured on the beats of bench/tracking_ingest.py); it fills in under half a second
# above ~10,000 beats/s and takes ~100 ms to write, so a beat is still on disk within a second.
WRITE_BATCH = 5000


# Beats cross to the writer as plain tuples of plain values: the beat's fields in order, its
# events as (code, *fields). Pickling a batch of named tuples calls Python for every one of
# them; in the web process's sender thread, competing with the event loop for the interpreter
# lock, that cost the web process 5-8 µs of CPU per beat (measured under
# bench/tracking_ingest.py's load), where the batch of plain tuples pickles in C at a fraction
# of a µs per beat.
EVENT_TYPES: tuple[type, ...] = (RoomTime, ItemTime, VideoWatch, SectionOpen)
_EVENT_CODES = {kind: code for code, kind in enumerate(EVENT_TYPES)}

Wire = tuple[Any, ...]


def to_wire(beat: Beat) -> Wire:
    return (
        *beat[:BEAT_EVENTS],
        tuple((_EVENT_CODES[type(event)], *event) for event in beat.events),
        *beat[BEAT_EVENTS + 1 :],
    )


def from_wire(row: Wire) -> Beat:
    return Beat._make(
        (
            *row[:BEAT_EVENTS],
            tuple(EVENT_TYPES[event[0]](*event[1:]) for event in row[BEAT_EVENTS]),
            *row[BEAT_EVENTS + 1 :],
        )
    )


def _waited(beats: Sequence[Wire], most: float) -> float:
    """How long the oldest of a batch's beats has waited since it was answered (at most `most`).
    The write timer runs from then, not from when the child read the batch: beats that reached
    the pipe while the previous batch was being written had already waited that long, and
    timing them from the read made them wait a whole write plus a whole timer more (over a
    second under bench/tracking_ingest.py's load). Beats carry the web process's wall-clock
    time; a clock set back counts as no wait, one set forward as the most."""
    if not beats:
        return 0.0
    return min(max(0.0, time.time() - beats[0][0]), most)


def _child(conn: Connection, url: str, interval: float, return_days: int, limit: int) -> None:
    """The writer process: receive batches, write them, acknowledge the highest one committed.
    It stops when the parent says so, when the parent is gone (the pipe closes) or on SIGTERM
    (a service manager stopping the whole group), each time after writing what it holds."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    from .db import Database
    from .gctune import tune_gc

    tune_gc()
    db = Database.from_url(url)
    # The parent counts what this child holds as waiting and takes no beat past `limit`, so
    # the same limit here never drops one.
    ingest = Ingest(db, interval=interval, batch=WRITE_BATCH, limit=limit, return_days=return_days)
    received = acked = 0  # the highest batch number taken in / acknowledged
    reported = -1
    closing = parent_gone = urgent = False
    waiting_since: float | None = None  # when the oldest beat not yet written was answered
    write_every = max(interval, WRITE_EVERY)
    conn.send(("ready", 0, 0, {}, 0))
    while True:
        wait = interval
        if waiting_since is not None:
            wait = max(0.0, min(interval, waiting_since + write_every - time.monotonic()))
        try:
            if conn.poll(wait):
                while True:
                    message = conn.recv()
                    if message is None:
                        closing = True
                        break
                    number, beats, drops, *now = message  # now: the parent waits (flush)
                    urgent = urgent or bool(now and now[0])
                    ingest.extend([from_wire(row) for row in beats])
                    ingest.drops.restore(drops)
                    received = number
                    if waiting_since is None:
                        waiting_since = time.monotonic() - _waited(beats, write_every)
                    if not conn.poll(0):
                        break
        except (EOFError, OSError):
            parent_gone = closing = True  # the web process died: write what we have, then go
        closing = closing or stop.is_set()
        due = (
            closing
            or urgent
            or ingest.depth >= ingest.batch
            or (waiting_since is not None and time.monotonic() - waiting_since >= write_every)
        )
        if not due:
            continue
        try:
            ingest.flush()
        except Exception:  # noqa: BLE001 - beats were put back; the next round retries
            log.exception("tracking writer: flush failed; retrying")
            time.sleep(min(1.0, interval * 10))
            continue
        urgent, waiting_since = False, None
        if not parent_gone and (received != acked or ingest.drops.accepted != reported):
            try:
                conn.send(
                    ("ack", received, ingest.drops.accepted, dict(ingest.drops.total), ingest.depth)
                )
                acked, reported = received, ingest.drops.accepted
            except (BrokenPipeError, OSError):
                parent_gone = closing = True
        if closing:
            db.dispose()
            return


class ProcessIngest(Ingest):
    """`tracking.Ingest` whose batches are written by a child process (see the module doc)."""

    def __init__(self, db: Any, *, url: str, **options: Any) -> None:
        super().__init__(db, **options)
        self.url = url
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._reader: threading.Thread | None = None
        # (number, beats as wire tuples, drops, write at once): handed over, not yet acknowledged
        self._sent: list[tuple[int, list[Wire], dict[str, int], bool]] = []
        self._unacked = 0  # beats in _sent (read for every beat, by `full`)
        self._number = 0
        self._acked = 0
        self._acks = threading.Condition()
        self._send_lock = threading.Lock()
        self._child_accepted = 0  # the current child's totals, as it last reported them
        self._child_drops: dict[str, int] = {}
        self._base_accepted = 0  # totals of children that are gone
        self._base_drops: dict[str, int] = defaultdict(int)
        self._child_depth = 0
        self._ready = threading.Event()

    # -- what /metrics reads

    @property
    def depth(self) -> int:
        """Beats waiting here or handed over and not yet committed (the child's included)."""
        return len(self._beats) + self._unacked

    @property
    def accepted_total(self) -> int:
        return self._base_accepted + self._child_accepted

    def refused_total(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for source in (self.drops.total, self._base_drops, self._child_drops):
            for reason, count in source.items():
                totals[reason] += count
        return dict(totals)

    # -- the child

    def _spawn(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_child,
            args=(child, self.url, self.interval, self.return_days, self.limit),
            name="dealroom-tracking-writer",
            daemon=True,
        )
        process.start()
        child.close()
        self._base_accepted += self._child_accepted
        for reason, count in self._child_drops.items():
            self._base_drops[reason] += count
        self._child_accepted, self._child_drops = 0, {}
        self._process, self._conn = process, parent
        self._ready.clear()
        self._reader = threading.Thread(
            target=self._read, args=(parent,), name="tracking-writer-acks", daemon=True
        )
        self._reader.start()
        if not self._ready.wait(CHILD_START_TIMEOUT):
            raise RuntimeError("the tracking writer process did not start")
        with self._send_lock:
            for message in list(self._sent):  # a new child: resend what the last one didn't ack
                parent.send(message)

    def _read(self, conn: Connection) -> None:
        while True:
            try:
                kind, number, accepted, drops, depth = conn.recv()
            except (EOFError, OSError):
                with self._acks:
                    self._acks.notify_all()
                return
            if kind == "ready":
                self._ready.set()
                continue
            with self._acks:
                done = [m for m in self._sent if m[0] <= number]
                self._sent = [m for m in self._sent if m[0] > number]
                self._unacked -= sum(len(m[1]) for m in done)
                self._acked = max(self._acked, number)
                newly = accepted - self._child_accepted
                self._child_accepted, self._child_drops = accepted, drops
                self._child_depth = depth
                self._acks.notify_all()
            self.flushed += max(0, newly)
            if done and self.on_flush is not None:
                self.on_flush(max(0, newly))

    def _alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    # -- sending

    def add(self, beat: Beat) -> None:
        with self._lock:
            # Started: as a wire tuple, made here rather than in the sender thread (see
            # to_wire). Not started, this is the plain in-process Ingest, which takes Beats.
            self._beats.append(beat if self._thread is None else to_wire(beat))
            self._added()

    def extend(self, beats: Sequence[Beat]) -> None:
        with self._lock:
            self._beats.extend(beats if self._thread is None else map(to_wire, beats))
            self._added()

    def _send_waiting(self, *, now: bool = False) -> int:
        """Hand what is queued to the child (`now`: to be written at once, someone waits);
        returns the batch number to wait for."""
        with self._send_lock:
            with self._lock:
                beats, self._beats = self._beats, []
            drops = self.drops.take()
            if beats or drops or now:
                self._number += 1
                message = (self._number, beats, drops, now)
                with self._acks:
                    self._sent.append(message)
                    self._unacked += len(beats)
                if self._conn is not None:
                    try:
                        self._conn.send(message)
                    except (BrokenPipeError, OSError):
                        pass  # kept in _sent: the restarted child gets it
            return self._number

    def _wait_for(self, number: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._acks:
            while self._acked < number:
                left = deadline - time.monotonic()
                if left <= 0 or not self._alive():
                    return self._acked >= number
                self._acks.wait(min(left, 0.5))
        return True

    # -- Ingest's interface

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._spawn()
        with self._lock:  # from now on beats wait as wire tuples, those added before too
            self._beats = [to_wire(beat) for beat in self._beats]
            self._thread = threading.Thread(target=self._run, name="tracking-sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            if self._wait():
                return
            if not self._alive():
                log.error("the tracking writer process stopped; starting another")
                try:
                    self._spawn()
                except Exception:  # noqa: BLE001 - keep queueing; try again next round
                    log.exception("could not start the tracking writer")
                    time.sleep(1.0)
                    continue
            self._send_waiting()

    def flush(self) -> int:
        """Write everything waiting now and wait until it is committed."""
        if self._thread is None:
            return super().flush()
        before = self.flushed
        number = self._send_waiting(now=True)
        if not self._wait_for(number, CLOSE_TIMEOUT):
            raise RuntimeError("the tracking writer did not confirm the batch in time")
        return self.flushed - before

    def close(self) -> None:
        thread = self._thread
        if thread is None:
            super().flush()
            return
        with self._lock:
            self._stopping = True
            self._lock.notify()
        thread.join(timeout=10)
        number = self._send_waiting(now=True)
        written = self._wait_for(number, CLOSE_TIMEOUT)
        conn, process = self._conn, self._process
        if conn is not None:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        if process is not None:
            process.join(timeout=CLOSE_TIMEOUT)
            if process.is_alive():
                process.kill()
        if conn is not None:
            conn.close()
        with self._lock:  # the plain in-process Ingest again: beats wait as Beats
            self._thread = None
            self._beats = [from_wire(row) for row in self._beats]
        if not written:
            # The child could not write (the database is down, or it died): write here, so what
            # was answered 204 is not dropped on the floor when a writer is still possible.
            with self._lock:
                self._beats[:0] = [from_wire(row) for message in self._sent for row in message[1]]
            for message in self._sent:
                self.drops.restore(message[2])
            self._sent, self._unacked = [], 0
            super().flush()
