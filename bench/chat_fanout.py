"""Chat fan-out: one message to 200 open event streams, delivery latency per stream.

Target (issue 3): p99 delivery latency under 100 ms on one machine, for one message posted to a
room with 200 connected SSE clients. This is a benchmark that prints figures, not a test.

What it does, all on 127.0.0.1:
  1. migrates a fresh SQLite database in a temporary directory and seeds a room, 4 sellers (who
     take turns posting, to stay under the chat's flood limit) and 10 buyers;
  2. starts `python -m dealroom serve` in a subprocess (SQLite, so the in-process broker; the
     background scheduler off);
  3. logs in and opens the buyers' invite links over HTTP, like browsers do;
  4. baseline: 1 open stream, ROUNDS messages; then 200 streams (100 seller-side, 100 buyer-side,
     10 per buyer), ROUNDS messages. Latency is from just before the POST is sent to the moment
     this process has parsed the event off that stream's socket, so it includes the post's own
     request, the commit, the fan-out, each stream's access re-check and render, and this
     process's own reading of 200 sockets (it is an upper bound).

Streams are raw asyncio sockets (HTTP/1.1, chunked) rather than an HTTP client library, so the
measuring side stays cheap. Run: `.venv/bin/python bench/chat_fanout.py [--clients N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dealroom import accounts, invites, rooms  # noqa: E402
from dealroom.db import Database  # noqa: E402
from dealroom.links import Links  # noqa: E402
from dealroom.migrate import upgrade  # noqa: E402
from dealroom.notify import MailRenderer  # noqa: E402
from dealroom.security import Signer  # noqa: E402
from dealroom.web.render import make_environment  # noqa: E402

HOST = "127.0.0.1"
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway account in a temporary database
POSTERS = 4
BUYERS = 10
ROUNDS = 20
WARMUP = 2
ROUND_TIMEOUT = 5.0
TOTAL_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def seed(url: str, secret: str, base: str) -> tuple[str, list[str], list[str]]:
    """Room id, seller emails and the buyers' personal links."""
    upgrade(url)
    db = Database.from_url(url)
    signer = Signer(secret)
    links = Links(signer, base)
    renderer = MailRenderer(make_environment())
    with db.session() as session:
        sellers = [
            accounts.create_user(
                session,
                email=f"seller{n}@northwind.example",
                password=PASSWORD,
                org_name="Northwind",
                name=f"Seller {n}",
            )
            for n in range(POSTERS)
        ]
        room = rooms.create_room(
            session, user=sellers[0], data={"name": "Bench deal", "buyer_company": "Acme"}
        )
        buyer_links = []
        for n in range(BUYERS):
            invite = invites.create_invite(
                session,
                room=room,
                seller=sellers[0],
                email=f"buyer{n}@acme.example",
                name=f"Buyer {n}",
                links=links,
                renderer=renderer,
                send=False,
            )
            buyer_links.append(links.invite(invite))
        room_id = room.public_id
        emails = [s.email for s in sellers]
    db.dispose()
    return room_id, emails, buyer_links


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


def login(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    if response.status_code != 303:
        raise RuntimeError(f"login failed: {response.status_code}")
    client.headers["X-CSRF-Token"] = token
    return client


def enter(base: str, link: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    path = link.removeprefix(base)
    token = csrf_of(client.get(path).text)
    response = client.post(path, data={"csrf_token": token})
    if response.status_code != 303:
        raise RuntimeError(f"entering the room failed: {response.status_code}")
    return client


def cookie_header(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


class Stream:
    """One SSE connection: records when each round's marker arrives."""

    def __init__(self, path: str, cookies: str) -> None:
        self.path = path
        self.cookies = cookies
        self.arrivals: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Event] = {}
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.Event()

    async def run(self, port: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        self.writer = writer
        writer.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n"
                f"Cookie: {self.cookies}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"stream refused: {head[:200]!r}")
        chunked = b"transfer-encoding: chunked" in head.lower()
        buffer = ""
        while True:
            if chunked:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    return
                data = (await reader.readexactly(size + 2))[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    return
            now = time.perf_counter()
            buffer += data.decode()
            while "\n\n" in buffer:
                event, buffer = buffer.split("\n\n", 1)
                if event.startswith("retry:"):
                    self.ready.set()
                for marker in re.findall(r"bench-([0-9a-z]+)-end", event):
                    self.arrivals.setdefault(marker, now)

    def start(self, port: int) -> None:
        self.task = asyncio.create_task(self.run(port))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, OSError, asyncio.IncompleteReadError):
                pass


async def rounds(
    port: int,
    posters: list[httpx.AsyncClient],
    room_id: str,
    streams: list[Stream],
    count: int,
    warmup: int,
) -> tuple[list[float], int, list[float]]:
    latencies: list[float] = []
    missing = 0
    post_times: list[float] = []
    for n in range(warmup + count):
        marker = secrets.token_hex(6)
        poster = posters[n % len(posters)]
        started = time.perf_counter()
        response = await poster.post(
            f"/rooms/{room_id}/chat",
            data={"body": f"Round {n}: bench-{marker}-end"},
            headers={"HX-Request": "true"},
        )
        posted = time.perf_counter()
        if response.status_code != 200:
            raise RuntimeError(f"post failed: {response.status_code} {response.text[:200]}")
        deadline = started + ROUND_TIMEOUT
        while time.perf_counter() < deadline and not all(marker in s.arrivals for s in streams):
            await asyncio.sleep(0.002)
        if n < warmup:
            continue
        post_times.append(posted - started)
        for stream in streams:
            if marker in stream.arrivals:
                latencies.append(stream.arrivals[marker] - started)
            else:
                missing += 1
        await asyncio.sleep(0.1)
    return latencies, missing, post_times


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def describe(name: str, latencies: list[float]) -> str:
    ms = [v * 1000 for v in latencies]
    return (
        f"{name}: n={len(ms)}  p50={percentile(ms, 50):.1f} ms  p95={percentile(ms, 95):.1f} ms  "
        f"p99={percentile(ms, 99):.1f} ms  max={max(ms):.1f} ms  mean={statistics.fmean(ms):.1f} ms"
    )


async def measure(
    base: str, port: int, room_id: str, emails: list[str], buyer_links: list[str], clients: int
) -> int:
    sellers = [login(base, email) for email in emails]
    buyers = [enter(base, link) for link in buyer_links]
    posters = []
    for seller in sellers:
        poster = httpx.AsyncClient(base_url=base, timeout=10, cookies=seller.cookies)
        poster.headers["X-CSRF-Token"] = seller.headers["X-CSRF-Token"]
        posters.append(poster)
    seller_path = f"/rooms/{room_id}/chat/events"
    buyer_path = f"/r/{room_id}/chat/events"
    seller_cookies = cookie_header(sellers[0])
    buyer_cookies = [cookie_header(b) for b in buyers]

    async def open_streams(specs: list[tuple[str, str]]) -> list[Stream]:
        streams = [Stream(path, cookies) for path, cookies in specs]
        for stream in streams:
            stream.start(port)
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in streams)), 30)
        return streams

    try:
        # Baseline: one stream.
        single = await open_streams([(buyer_path, buyer_cookies[0])])
        base_lat, base_missing, base_posts = await rounds(
            port, posters, room_id, single, ROUNDS, WARMUP
        )
        for stream in single:
            await stream.close()

        specs = [
            (seller_path, seller_cookies)
            if n % 2 == 0
            else (buyer_path, buyer_cookies[n % len(buyer_cookies)])
            for n in range(clients)
        ]
        many = await open_streams(specs)
        lat, missing, posts = await rounds(port, posters, room_id, many, ROUNDS, WARMUP)
        for stream in many:
            await stream.close()
    finally:
        for poster in posters:
            await poster.aclose()
        for client in [*sellers, *buyers]:
            client.close()

    print(f"chat fan-out on {HOST}, SQLite + in-process broker, {ROUNDS} messages per run")
    print(describe("baseline, 1 stream      ", base_lat), f"missing={base_missing}")
    print(describe(f"fan-out, {clients} streams  ", lat), f"missing={missing}")
    print(
        f"delivered {len(lat)}/{len(lat) + missing} events; "
        f"POST answered in p50 {percentile([p * 1000 for p in posts], 50):.1f} ms "
        f"(baseline {percentile([p * 1000 for p in base_posts], 50):.1f} ms)"
    )
    p99, base_p99 = percentile(lat, 99), percentile(base_lat, 99)
    print(f"p99 ratio {clients} streams / 1 stream: {p99 / base_p99:.1f}x")
    verdict = "meets" if p99 * 1000 < 100 and not missing else "misses"
    print(f"target p99 < 100 ms with {clients} streams: {verdict} ({p99 * 1000:.1f} ms)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dealroom-bench-") as tmp:
        port = free_port()
        base = f"http://{HOST}:{port}"
        secret = secrets.token_urlsafe(48)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        room_id, emails, buyer_links = seed(url, secret, base)
        env = {
            **os.environ,
            "DEALROOM_DATABASE_URL": url,
            "DEALROOM_SECRET_KEY": secret,
            "DEALROOM_BASE_URL": base,
            "DEALROOM_STORAGE_DIR": str(Path(tmp) / "files"),
            "DEALROOM_RUN_JOBS": "false",
        }
        log = open(Path(tmp) / "server.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            [sys.executable, "-m", "dealroom", "serve", "--host", HOST, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start: see its log")
                time.sleep(0.1)
            return asyncio.run(
                asyncio.wait_for(
                    measure(base, port, room_id, emails, buyer_links, args.clients), TOTAL_TIMEOUT
                )
            )
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
            problems = [
                line
                for line in (Path(tmp) / "server.log").read_text().splitlines()
                if "Error" in line or "Traceback" in line or "WARNING" in line
            ]
            if problems:
                print(f"server log: {len(problems)} problem lines, first ones:")
                print("\n".join(problems[:10]))


if __name__ == "__main__":
    sys.exit(main())
