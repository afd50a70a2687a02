"""Tracking ingest: the beacon endpoint against a bare Starlette endpoint, side by side.

Two uvicorn servers run on 127.0.0.1, each in its own process, one worker, and the load
alternates between them in ROUNDS short rounds (so background load hits both alike):

    bare      a Starlette app with one route that parses the same JSON body and answers 204
    dealroom  the whole app answering POST /r/{room}/t (cookie and token checks, the ingest
              buffer handed every 100 ms to the writer process, which writes every half second
              or every 5,000 beats)

The same load generator (64 keep-alive connections, raw HTTP/1.1 on asyncio, in this process)
drives each for the same duration; each connection is one viewer with 512 open pages beating in
turn (so each page beats every second or two: every beat is accepted and written, hardly any
is "too fast"). The ratio printed is the median of the rounds' ratios. Target: dealroom >= 80%
of bare requests/s.

Durability (target: every acknowledged beat in the database within 1 s) is measured twice:
during the rounds, a watcher process reads the number of events committed (the hourly rollup's
count, written in the same transaction as the events) 20 times a second, and the bench prints
the age of the oldest acknowledged beat not yet committed at each reading (beats are written
in the order they were answered, batch by batch); after the last round, it waits until every
acknowledged beat is in the database and prints how long that took after the last answer.

    .venv/bin/python bench/tracking_ingest.py [seconds] [--postgres]

With --postgres a throwaway PostgreSQL cluster is started (the test harness's) and the app
writes there instead of SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-0123456789-abcdefghijklmnop"
CONNECTIONS = 64
ROUNDS = 5
VIEWERS = 64
HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def settings_env(url: str, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DEALROOM_DATABASE_URL": url,
        "DEALROOM_SECRET_KEY": SECRET,
        "DEALROOM_STORAGE_DIR": str(tmp / "files"),
        "DEALROOM_RUN_JOBS": "false",
        "DEALROOM_BASE_URL": "http://127.0.0.1",
        "DEALROOM_LOG_FORMAT": "text",
    }


# ---------------------------------------------------------------- the two servers


def bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def beacon(request: Request) -> Response:
        json.loads(await request.body())
        return Response(status_code=204)

    return Starlette(routes=[Route("/r/{room_id}/t", beacon, methods=["POST"])])


def serve(kind: str, port: int) -> None:
    import logging

    import uvicorn

    logging.disable(logging.INFO)  # one log line per beat would measure the terminal
    if kind == "bare":
        app = bare_app()
    else:
        from dealroom.app import create_app, tune_gc
        from dealroom.settings import load_settings

        app = create_app(load_settings(dotenv=None))
        tune_gc()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(kind: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, os.environ.get("BENCH_SERVER", __file__), "--serve", kind, str(port)],
        env=env,
        cwd=ROOT,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{kind} server did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# ---------------------------------------------------------------- the world and the requests


def build(url: str, tmp: Path) -> tuple[str, list[tuple[str, str]]]:
    """A room with VIEWERS buyers; returns the room id and each buyer's (cookie, invite id)."""
    from dealroom import accounts, invites, rooms, tracking
    from dealroom.app import build_services
    from dealroom.db import Database
    from dealroom.migrate import upgrade
    from dealroom.settings import load_settings

    upgrade(url)
    settings = load_settings(
        environ={}, dotenv=None, secret_key=SECRET, storage_dir=str(tmp / "files"), run_jobs=False
    )
    services = build_services(settings, db=Database.from_url(url))
    people = []
    with services.db.session() as session:
        user = accounts.create_user(
            session, email="bench@northwind.example", password="bench-password-1", org_name="Bench"
        )
        room = rooms.create_room(
            session, user=user, data={"name": "Acme", "buyer_company": "Acme Corp"}
        )
        for n in range(VIEWERS):
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
            cookie = services.signer.sign("viewer", {room.public_id: invite.public_id})
            people.append((cookie, invite.public_id))
        room_id = room.public_id
    services.db.dispose()
    return room_id, people


# The load generator shares the machine with the servers: it reads an answer's length with
# one search rather than a loop over its header lines (the app's answer has more headers).
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
STREAMS = 512  # page loads per connection, beating in turn (each every second or two)


def requests_for(room_id: str, cookie: str, invite_id: str, count: int, path: str) -> list[bytes]:
    """`count` beats of STREAMS open pages of one viewer, round robin: each page's beats come
    in order with increasing sequence numbers, as they do from track.js."""
    from dealroom.security import Signer
    from dealroom.web.tracking import stream_token

    signer = Signer(SECRET)
    tokens = [stream_token(signer, room_id=room_id, invite_id=invite_id) for _ in range(STREAMS)]
    out = []
    for n in range(count):
        body = json.dumps(
            {
                "t": tokens[n % STREAMS],
                "seq": n // STREAMS + 1,
                "i": 1,
                "ev": [{"k": "room", "s": 1}],
            }
        ).encode()
        out.append(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {HUMAN}\r\n"
                f"Content-Type: application/json\r\nCookie: dr_viewer={cookie}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return out


async def drive(
    port: int,
    payloads: list[list[bytes]],
    seconds: float,
    offsets: list[int] | None = None,
    limit: int | None = None,
    answered: list[float] | None = None,
) -> tuple[int, int, float]:
    """(answers 204, other answers, time of the last answer) over `seconds`. Each connection
    sends its own payloads in order from `offsets[n]` (advanced in place, so the next round
    continues with higher sequence numbers). `answered` gets the time of each 204."""
    offsets = offsets if offsets is not None else [0] * len(payloads)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    ok = bad = 0
    last = 0.0
    end = time.perf_counter() + seconds

    async def connection(index: int, mine: list[bytes]) -> None:
        nonlocal ok, bad, last
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = offsets[index]
        stop_at = min(len(mine), n + limit) if limit is not None else len(mine)
        while time.perf_counter() < end and n < stop_at:
            writer.write(mine[n])
            n += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            declared = CONTENT_LENGTH.search(head)
            if declared is not None and int(declared.group(1)):
                await reader.readexactly(int(declared.group(1)))
            last = time.time()
            if status == 204:
                ok += 1
                if answered is not None:
                    answered.append(last)
            else:
                bad += 1
        offsets[index] = n
        writer.close()

    await asyncio.gather(*(connection(i, p) for i, p in enumerate(payloads)))
    return ok, bad, last


def read_number(url: str, query: str) -> int:
    """One number read from the database, on a connection of its own."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        value = connection.execute(text(query)).scalar_one()
    engine.dispose()
    return int(value)


def durable_count(url: str) -> int:
    return read_number(url, "SELECT count(*) FROM track_event")


COMMITTED = "SELECT coalesce(sum(events), 0) FROM activity_hour"


def watch(url: str, out: str) -> None:
    """The watcher process: (time, events committed) 20 times a second, until stdin closes."""
    import threading

    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    with open(out, "w") as file, engine.connect() as connection:
        while not done.is_set():
            committed = connection.execute(text(COMMITTED)).scalar_one()
            connection.rollback()  # the next reading sees what was committed since
            file.write(f"{time.time()} {committed}\n")
            done.wait(0.05)
    engine.dispose()


def waiting_ages(
    readings: list[tuple[float, int]], base: int, answered: list[float]
) -> list[float]:
    """At each reading, how long the oldest acknowledged beat not yet committed had waited (0
    when none was waiting). `answered` is in the order the beats were answered, and thus
    written; `base` events were committed before the first of them."""
    ages = []
    for at, committed in readings:
        oldest = committed - base  # index of the oldest beat not yet committed
        if 0 <= oldest < len(answered) and answered[oldest] <= at:
            ages.append(at - answered[oldest])
        else:
            ages.append(0.0)
    return ages


def dropped(url: str) -> int:
    """Beats the writer refused (e.g. a page beating faster than once a second)."""
    return read_number(url, "SELECT coalesce(sum(count), 0) FROM track_drop")


def main(seconds: float, postgres: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dealroom-bench-"))
    stack = contextlib.ExitStack()
    try:
        if postgres:
            from tests.harness.postgres import postgres_cluster

            url = stack.enter_context(postgres_cluster())
        else:
            url = f"sqlite:///{tmp / 'bench.db'}"
        room_id, people = build(url, tmp)
        path = f"/r/{room_id}/t"
        # Enough beats for each connection at up to ~30,000 requests/s for the whole run (each
        # beat has its own sequence number, so none can be sent twice).
        per_connection = STREAMS + int(seconds * 30_000 / CONNECTIONS)
        payloads = [
            requests_for(room_id, *people[n % VIEWERS], per_connection, path)
            for n in range(CONNECTIONS)
        ]
        env = settings_env(url, tmp)
        # Both servers stay up; the load alternates between them in short rounds, so a change
        # in background load hits both alike, and the ratio is the median of the rounds'.
        servers = {"bare": start("bare", 18711, env), "dealroom": start("dealroom", 18712, env)}
        ports = {"bare": 18711, "dealroom": 18712}
        offsets = {kind: [0] * CONNECTIONS for kind in servers}
        totals = {kind: [0, 0, 0.0] for kind in servers}  # 204s, errors, seconds
        ratios = []
        lag = None
        try:
            for kind in servers:
                # Warm up: imports, connections, and one beat from every page (each page's
                # first beat opens its stream: a page load's cost, not a steady beat's).
                asyncio.run(drive(ports[kind], payloads, 60.0, offsets[kind], limit=STREAMS))
            time.sleep(2)  # the warm-up's beats committed
            before = durable_count(url)
            base = read_number(url, COMMITTED)
            readings_file = tmp / "committed.txt"
            watcher = subprocess.Popen(
                [sys.executable, __file__, "--watch", url, str(readings_file)],
                stdin=subprocess.PIPE,
                cwd=ROOT,
            )
            answered: list[float] = []
            for _ in range(ROUNDS):
                rates = {}
                for kind in servers:
                    t0 = time.perf_counter()
                    ok, bad, last = asyncio.run(
                        drive(
                            ports[kind],
                            payloads,
                            seconds / ROUNDS,
                            offsets[kind],
                            answered=answered if kind == "dealroom" else None,
                        )
                    )
                    took = time.perf_counter() - t0
                    totals[kind][0] += ok
                    totals[kind][1] += bad
                    totals[kind][2] += took
                    rates[kind] = ok / took
                ratios.append(rates["dealroom"] / rates["bare"])
            expected = before + totals["dealroom"][0] - dropped(url)
            while time.time() - last < 30:
                if durable_count(url) >= expected:
                    lag = time.time() - last
                    break
                time.sleep(0.02)
            assert watcher.stdin is not None
            watcher.stdin.close()
            watcher.wait(timeout=30)
            readings = []
            for line in readings_file.read_text().splitlines():
                at, committed = line.split()
                readings.append((float(at), int(committed)))
            ages = sorted(waiting_ages(readings, base, answered))
        finally:
            for server in servers.values():
                stop(server)
        print(
            f"tracking ingest: {CONNECTIONS} connections, {seconds:.0f} s each in {ROUNDS} "
            f"alternating rounds, {'PostgreSQL' if postgres else 'SQLite'}"
        )
        print(f"{'':10}{'requests/s':>12}{'204s':>10}{'errors':>8}")
        for kind, (ok, bad, took) in totals.items():
            print(f"{kind:10}{ok / took:>12.0f}{ok:>10}{bad:>8}")
        ratios.sort()
        ratio = ratios[len(ratios) // 2]
        print(
            f"dealroom / bare: {ratio:.0%} median of rounds "
            f"({', '.join(f'{r:.0%}' for r in ratios)}) (target >= 80%)"
        )
        refused = dropped(url)
        print(f"beats refused by the writer (counted in track_drop): {refused}")
        if refused:
            print("(a refused beat is never committed: the ages below overstate the wait)")
        ages = ages or [0.0]
        print(
            f"during the rounds, the oldest acknowledged beat not yet committed had waited at "
            f"most {ages[-1] * 1000:.0f} ms (p99 of {len(ages)} readings "
            f"{ages[int(len(ages) * 0.99)] * 1000:.0f} ms, median "
            f"{ages[len(ages) // 2] * 1000:.0f} ms) (target < 1 s)"
        )
        print(
            "every accepted beat durable "
            + (
                f"{lag * 1000:.0f} ms after the last answer (target < 1 s)"
                if lag is not None
                else "NOT within 30 s"
            )
        )
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--watch":
        watch(sys.argv[2], sys.argv[3])
    else:
        args = [a for a in sys.argv[1:] if not a.startswith("--")]
        main(float(args[0]) if args else 10.0, "--postgres" in sys.argv)
