"""Load profile (issue 8): a realistic mix against a real server, with locust, headless.

    .venv/bin/pip install -e '.[bench]'            # locust
    .venv/bin/python bench/load.py [--phase 60] [--buyers 300] [--sellers 20]
        [--pace reader|rapid] [--workers N] [--pg URL|auto] [--pyspy PATH]
    .venv/bin/python bench/load.py --cpu FILE      # a --pyspy profile summed per route

The script migrates a fresh database (SQLite in a temporary directory by default; `--pg URL`
for an empty PostgreSQL database, `--pg auto` for a throwaway cluster), seeds it (10 rooms with
3 PDFs each, 300 buyer invites, 20 sellers: 10 reps owning a room each, 8 managers, 2 admins),
starts `python -m dealroom serve [--workers N]` on 127.0.0.1 and runs locust as a library in
this process:

- buyers (300): enter through their personal invite link (welcome page, "Enter the room": the
  buyer cookie), then, at the default `--pace reader`, read as a committee member does (the
  `Reader` user and the constants above `reader_rates`: a stay on the room page with the chat's
  live stream open, documents read for minutes, a beat every 10 s per open page and a last one
  on leaving it; chat posted now and then). The run prints the rates this model implies per
  buyer and in total, and the rates measured. `--pace rapid` is the first, far busier profile
  (`Rapid`: a new PDF about every 15 s, the room page and the chat fragment polled);
- sellers (20): log in, then refresh their room's live analytics fragment every 10 s (the htmx
  poll of the analytics page), the dashboard feed every 15 s, and the dashboard or the team
  dashboard now and then.

Two measured phases of `--phase` seconds each, after every user has entered: buyers and chat
alone, then the same plus the sellers' dashboards; the beacon's p95 and throughput are compared
between the two ("tracking ingest unaffected by dashboard load"). Then the server is stopped
with SIGTERM and the beats it acknowledged are counted in the database.

Targets (printed as met or not met, never tuned): 0 errors; p95 < 100 ms for pages; beacon p95
and throughput within 20% with and without the dashboards (the p95 within 20% or 5 ms: it is a
few milliseconds, measured to the millisecond). The load generator and the server
share this machine's cores: on 2 cores the generator alone takes about one of them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "load-secret-0123456789-abcdefghijklmnopqrstuv"  # noqa: S105 - a throwaway key
PASSWORD = "load-test-password"  # noqa: S105
HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
ROOMS = 10
PAGE_P95_MS = 100.0
BEAT_SECONDS = 10  # static/track.js BEAT_MS
ANALYTICS_SECONDS = 10  # templates/analytics/_live.html: hx-trigger="every 10s"
FEED_SECONDS = 15  # templates/dashboard/_feed.html: hx-trigger="every 15s"


# ---------------------------------------------------------------- seeding (a subprocess)


def seed(env: dict[str, str], buyers: int, sellers: int) -> dict[str, Any]:
    """Migrate and fill the database; returns the buyers' links and the sellers' logins."""
    import io

    from dealroom import accounts, content, invites, rooms
    from dealroom.app import build_services
    from dealroom.migrate import upgrade
    from dealroom.pdfgen import simple_pdf
    from dealroom.settings import load_settings

    settings = load_settings(environ=env, dotenv=None)
    Path(settings.storage_dir).mkdir(parents=True, exist_ok=True)
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    roles = ["rep"] * min(ROOMS, sellers) + ["manager"] * max(0, sellers - ROOMS - 2)
    roles += ["admin"] * (sellers - len(roles))
    roles[0] = "admin"  # the first account creates the organisation
    pdfs = [
        ("Proposal", simple_pdf([[f"Proposal, page {n}"] for n in range(1, 13)])),
        ("Pricing", simple_pdf([["Pricing"], ["Options"], ["Terms"]])),
        ("Security overview", simple_pdf([[f"Security, page {n}"] for n in range(1, 7)])),
    ]
    out: dict[str, Any] = {"buyers": [], "sellers": []}
    with services.db.session() as session:
        users = [
            accounts.create_user(
                session,
                email=f"seller{n}@loadtest.example",
                password=PASSWORD,
                org_name="Load Test Co",
                role=role,
                name=f"Seller {n}",
            )
            for n, role in enumerate(roles)
        ]
        made = []
        for n in range(ROOMS):
            owner = users[n % len(users)]
            room = rooms.create_room(
                session,
                user=owner,
                data={"name": f"Deal {n}", "buyer_company": f"Buyer {n}", "stage": "evaluation"},
            )
            for title, data in pdfs:
                content.add_file(
                    session,
                    storage=services.storage,
                    room=room,
                    user=owner,
                    upload=content.Upload(
                        filename=f"{title}.pdf", file=io.BytesIO(data), size=len(data)
                    ),
                    title=title,
                )
            made.append((room, owner))
        for n in range(buyers):
            room, owner = made[n % ROOMS]
            invite = invites.create_invite(
                session,
                room=room,
                seller=owner,
                email=f"buyer{n}@buyer{n % ROOMS}.example",
                name=f"Buyer {n}",
                links=services.links,
                renderer=services.mail,
                send=False,
            )
            session.flush()
            out["buyers"].append(services.links.invite(invite).removeprefix(settings.base_url))
        for n, user in enumerate(users):
            room, _owner = made[n % ROOMS]
            out["sellers"].append({"email": user.email, "role": user.role, "room": room.public_id})
    services.db.dispose()
    return out


# ---------------------------------------------------------------- the server


def app_env(workdir: Path, port: int, pg: str | None) -> dict[str, str]:
    from dealroom.settings import SETTINGS

    env = {key: value for key, value in os.environ.items() if not key.startswith("DEALROOM_")}
    env.update({setting.env: setting.default for setting in SETTINGS})
    env.update(
        {
            "DEALROOM_SECRET_KEY": SECRET,
            "DEALROOM_BASE_URL": f"http://127.0.0.1:{port}",
            "DEALROOM_DATABASE_URL": pg or f"sqlite:///{workdir / 'load.db'}",
            "DEALROOM_STORAGE": "local",
            "DEALROOM_STORAGE_DIR": str(workdir / "files"),
            "DEALROOM_LOG_FORMAT": "text",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_server(
    env: dict[str, str], port: int, log: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dealroom", "serve", "--port", str(port)]
            + (["--workers", str(workers)] if workers > 1 else []),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):  # noqa: S310
                return process
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not become ready within 60 s")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- the users (locust)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TOKEN = re.compile(r'data-token="([^"]+)"')
ITEM = re.compile(r"/r/room_[\w-]+/content/(item_[\w-]+)")
ROOM = re.compile(r"/r/(room_[\w-]+)")
SSE = re.compile(r'sse-connect="([^"]+)"')


# The reader (the default pace): what one person of a buyer committee does in the room. These are
# assumptions about people, not numbers picked to meet a target; `reader_rates` turns them into
# the request rates the run prints next to what it measured.
ROOM_DWELL = (20.0, 60.0)  # s on the room page: plan, notes, people, the chat panel
READ_DWELL = (60.0, 240.0)  # s reading one document (a 3-12 page PDF)
PDF_PAGE_SECONDS = 30.0  # turning a page about this often while reading
NEXT_DOCUMENT = 0.6  # after a document: the viewer's "Next" link, else back to the room page
CHAT_POST = 0.1  # a message posted, per visit of the room page
CHAT_HISTORY = 0.1  # the chat's own page opened (history, older messages), per room visit


def reader_rates(buyers: int) -> dict[str, float]:
    """Requests/s the reader model implies for `buyers` people (steady state, means)."""
    room = sum(ROOM_DWELL) / 2
    read = sum(READ_DWELL) / 2
    documents = 1 / (1 - NEXT_DOCUMENT)  # per room visit: geometric, mean 2.5
    cycle = room + documents * read  # s between two room-page loads
    per = {
        "room page": 1 / cycle,
        "viewer page": documents / cycle,
        "PDF file": documents / cycle,
        # A beat every 10 s while active, plus the last one sent on leaving each page.
        "beacon": (cycle / BEAT_SECONDS + 1 + documents) / cycle,
        "chat stream (SSE) opened": 1 / cycle,
        "chat post": CHAT_POST / cycle,
        "chat page": CHAT_HISTORY / cycle,
    }
    per["all"] = sum(per.values())
    return {name: rate * buyers for name, rate in per.items()} | {"per buyer": per["all"]}


def define_users(plan: dict[str, Any], state: dict[str, Any], pace: str) -> list[type]:
    import http.client
    from html import unescape

    import gevent
    from locust import FastHttpUser, between, task

    links = list(plan["buyers"])
    logins = list(plan["sellers"])
    random.Random(8).shuffle(links)

    class Buyer(FastHttpUser):
        """One person of a buyer committee: enters through their personal link, then reads."""

        abstract = True
        default_headers = {"User-Agent": HUMAN}

        def on_start(self) -> None:
            link = links.pop()
            self.room, self.items, self.stream, self.csrf = "", [], "", ""
            self.item: str | None = None
            for _attempt in range(3):  # a person whose click failed clicks again
                welcome = self.client.get(link, name="GET /i/[token] (welcome)")
                csrf = CSRF.search(welcome.text or "")
                entered = self.client.post(
                    link,
                    data={"csrf_token": csrf.group(1) if csrf else ""},
                    name="POST /i/[token] (enter)",
                )
                found = ROOM.search(entered.text or "") if entered.status_code == 200 else None
                if found:
                    self.room = found.group(1)
                    self.items = sorted(set(ITEM.findall(entered.text or "")))
                    self._page(entered.text or "", None)
                    break
                time.sleep(1)
            state["ready"] += 1

        def _page(self, html: str, item: str | None) -> None:
            """A page load: a new beat stream (its signed token) starts."""
            token = TOKEN.search(html)
            self.stream = token.group(1) if token else ""
            self.item, self.page, self.seq = item, 1, 0
            self.last_beat = time.monotonic()
            found = CSRF.search(html)
            if found:
                self.csrf = found.group(1)

        def _beat(self, *, final: bool = False) -> None:
            """What static/track.js sends: the active seconds since the last beat."""
            seconds = min(BEAT_SECONDS, int(time.monotonic() - self.last_beat))
            if not self.stream or seconds < 1:
                return
            self.last_beat = time.monotonic()
            self.seq += 1
            if self.item:
                event: dict[str, Any] = {"k": "view", "item": self.item, "s": seconds}
                event["page"] = self.page
            else:
                event = {"k": "room", "s": seconds}
            body = {"t": self.stream, "seq": self.seq, "i": 3, "f": final, "ev": [event]}
            with self.client.post(
                f"/r/{self.room}/t",
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
                name="POST /r/[room]/t (beacon)",
                catch_response=True,
            ) as answer:
                if answer.status_code == 204:
                    state["beats"] += 1
                    answer.success()
                else:
                    answer.failure(f"beacon answered {answer.status_code}")

        def _room_page(self) -> str:
            page = self.client.get(f"/r/{self.room}", name="GET /r/[room] (room page)")
            self._page(page.text or "", None)
            return page.text or ""

        def _open_document(self, item: str) -> str:
            viewer = self.client.get(
                f"/r/{self.room}/content/{item}", name="GET /r/[room]/content/[item] (viewer)"
            )
            # pdf.js fetches the file the page names (data-src="…/file?stream=1").
            self.client.get(
                f"/r/{self.room}/content/{item}/file?stream=1",
                name="GET /r/[room]/content/[item]/file (PDF)",
            )
            self._page(viewer.text or "", item)
            return viewer.text or ""

        def _post_chat(self) -> None:
            self.client.post(
                f"/r/{self.room}/chat",
                data={"body": "Could you send the updated pricing?", "csrf_token": self.csrf},
                headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
                name="POST /r/[room]/chat",
            )

    class Reader(Buyer):
        """The default pace: a committee member reading the room (see ROOM_DWELL and below).

        A state machine. On the room page (ROOM_DWELL s) the chat panel holds its live stream
        (SSE, as htmx's sse extension does: messages arrive, nobody polls); now and then the
        person posts (CHAT_POST) or opens the chat's page (CHAT_HISTORY). Then a document: its
        viewer page and the PDF file, READ_DWELL s of reading with a page turned every
        PDF_PAGE_SECONDS; then the next document (NEXT_DOCUMENT) or back to the room page. A
        beat goes out every 10 s on every page, and a last one on leaving it (pagehide).
        """

        fixed_count = len(links) if pace == "reader" else 0

        def on_start(self) -> None:
            self.sse: Any = None
            self.html, self.leave_at, self.next_turn = "", float("inf"), float("inf")
            super().on_start()
            if not self.room:
                return
            # Everyone entered within seconds, but the measurement should see people at every
            # point of their reading: each starts where a person would be at a random moment
            # (on the room page or in a document, in proportion to the time spent there),
            # with a random part of that stay left. These first loads are not measured.
            rates = reader_rates(1)
            on_room_page = rates["room page"] * sum(ROOM_DWELL) / 2
            if random.random() < on_room_page:
                self._arrive_room(dwell=random.uniform(0, ROOM_DWELL[1]), loaded=True)
            else:
                self._read(random.choice(self.items))
                self.leave_at = time.monotonic() + random.uniform(0, READ_DWELL[1])

        def on_stop(self) -> None:
            self._close_stream()

        def wait_time(self) -> float:
            if not self.room:
                return 60.0
            wake = min(self.last_beat + BEAT_SECONDS, self.leave_at, self.next_turn)
            return max(0.0, wake - time.monotonic())

        def _arrive_room(self, *, dwell: float | None = None, loaded: bool = False) -> None:
            html = self.html if loaded else self._room_page()
            if dwell is None:
                dwell = random.uniform(*ROOM_DWELL)
            self.leave_at = time.monotonic() + dwell
            self.next_turn = float("inf")
            self._open_stream(html)
            if random.random() < CHAT_POST:
                self._post_chat()
            if random.random() < CHAT_HISTORY:
                self.client.get(f"/r/{self.room}/chat", name="GET /r/[room]/chat (page)")

        def _read(self, item: str) -> None:
            self._close_stream()
            self.html = self._open_document(item)
            self.leave_at = time.monotonic() + random.uniform(*READ_DWELL)
            self.next_turn = time.monotonic() + PDF_PAGE_SECONDS

        def _page(self, html: str, item: str | None) -> None:
            super()._page(html, item)
            self.html = html

        @task
        def step(self) -> None:
            if not self.room:
                return
            now = time.monotonic()
            if now >= self.next_turn:
                self._beat()  # the time so far was on the page in front
                self.page = self.page % 3 + 1
                self.next_turn = now + PDF_PAGE_SECONDS
            if now < self.leave_at:
                if now >= self.last_beat + BEAT_SECONDS:
                    self._beat()
                return
            self._beat(final=True)
            if self.item is None or random.random() < NEXT_DOCUMENT:
                at = self.items.index(self.item) if self.item in self.items else -1
                self._read(self.items[(at + 1) % len(self.items)])
            else:
                self._arrive_room()

        # -- the chat's live stream: a raw connection in a greenlet of its own

        def _open_stream(self, html: str) -> None:
            self._close_stream()
            found = SSE.search(html)
            if found:
                self.sse = gevent.spawn(self._listen, unescape(found.group(1)))

        def _close_stream(self) -> None:
            if self.sse is not None:
                self.sse.kill(block=False)
                self.sse = None

        def _listen(self, path: str) -> None:
            host, port = self.host.removeprefix("http://").split(":")
            cookies = "; ".join(f"{c.name}={c.value}" for c in self.client.cookiejar)
            connection = http.client.HTTPConnection(host, int(port), timeout=60)
            try:
                connection.request(
                    "GET",
                    path,
                    headers={"Cookie": cookies, "Accept": "text/event-stream", "User-Agent": HUMAN},
                )
                answer = connection.getresponse()
                if answer.status != 200:
                    state["sse errors"] += 1
                    return
                state["sse opened"] += 1
                state["sse open"] += 1
                try:
                    while line := answer.fp.readline():
                        if line.startswith(b"event: message"):
                            state["sse messages"] += 1
                finally:
                    state["sse open"] -= 1
            except (OSError, http.client.HTTPException):
                state["sse errors"] += 1
            finally:
                connection.close()

    class Rapid(Buyer):
        """`--pace rapid`, the profile's first pace: every 2-4 s a weighted choice (beat 5,
        another PDF 2, the room page 1, the chat fragment 1, a chat post 1 in 5): a new PDF
        about every 15 s and the room page and chat polled every 30 s or so."""

        fixed_count = len(links) if pace == "rapid" else 0
        wait_time = between(2, 4)

        @task(5)
        def beat(self) -> None:
            if self.stream and time.monotonic() - self.last_beat >= BEAT_SECONDS:
                self._beat()
                self.page = self.page % 3 + 1

        @task(2)
        def read_pdf(self) -> None:
            if self.items:
                self._open_document(random.choice(self.items))

        @task(1)
        def room_page(self) -> None:
            if self.room:
                self._room_page()

        @task(1)
        def read_chat(self) -> None:
            if self.room:
                self.client.get(
                    f"/r/{self.room}/chat",
                    headers={"HX-Request": "true"},
                    name="GET /r/[room]/chat (fragment)",
                )

        @task(1)
        def post_chat(self) -> None:
            if self.room and random.random() < 0.2:  # about one message a buyer in 2 minutes
                self._post_chat()

    class Seller(FastHttpUser):
        """A seller with the room's analytics and the dashboard open (they poll themselves)."""

        fixed_count = len(logins)
        wait_time = between(1, 2)
        default_headers = {"User-Agent": HUMAN}

        def on_start(self) -> None:
            login = logins.pop()
            self.room, self.role = login["room"], login["role"]
            page = self.client.get("/login", name="GET /login")
            csrf = CSRF.search(page.text or "")
            self.client.post(
                "/login",
                data={
                    "email": login["email"],
                    "password": PASSWORD,
                    "csrf_token": csrf.group(1) if csrf else "",
                },
                name="POST /login",
            )
            now = time.monotonic()
            # Spread the polls, as sellers do not all open their pages in the same second.
            self.next_analytics = now + random.uniform(0, ANALYTICS_SECONDS)
            self.next_feed = now + random.uniform(0, FEED_SECONDS)
            state["ready"] += 1

        @task
        def watch(self) -> None:
            now = time.monotonic()
            if not state["dashboards"]:
                # Not watching yet. Each seller's first refresh comes at their own point of the
                # poll interval after the dashboards phase starts: pages opened at different
                # times poll at different phases (without this, all 20 would refresh in the
                # phase's first second, a burst no team of sellers produces).
                self.next_analytics = now + random.uniform(0, ANALYTICS_SECONDS)
                self.next_feed = now + random.uniform(0, FEED_SECONDS)
                return
            if now >= self.next_analytics:
                self.next_analytics = now + ANALYTICS_SECONDS
                self.client.get(
                    f"/rooms/{self.room}/analytics",
                    headers={"HX-Request": "true"},
                    name="GET /rooms/[room]/analytics (live fragment)",
                )
            if now >= self.next_feed:
                self.next_feed = now + FEED_SECONDS
                self.client.get(
                    "/dashboard/feed", headers={"HX-Request": "true"}, name="GET /dashboard/feed"
                )
                if random.random() < 0.25:
                    if self.role == "rep":
                        self.client.get("/dashboard", name="GET /dashboard (page)")
                    else:
                        self.client.get("/dashboard/team", name="GET /dashboard/team (page)")

    return [Reader if pace == "reader" else Rapid, Seller]


# ---------------------------------------------------------------- measuring


def describe_errors(stats: Any) -> dict[str, int]:
    return {
        f"{error.method} {error.name}: {str(error.error)[:160]}": error.occurrences
        for error in stats.errors.values()
    }


def snapshot(stats: Any, seconds: float) -> dict[str, dict[str, float]]:
    rows = {}
    for entry in stats.entries.values():
        if not entry.num_requests:
            continue
        rows[entry.name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": entry.num_requests / seconds,
            "p50": entry.get_response_time_percentile(0.5),
            "p95": entry.get_response_time_percentile(0.95),
            "p99": entry.get_response_time_percentile(0.99),
        }
    return rows


def print_phase(title: str, rows: dict[str, dict[str, float]], seconds: float) -> None:
    total = sum(r["requests"] for r in rows.values())
    failures = sum(r["failures"] for r in rows.values())
    print(f"\n{title}: {seconds:.0f} s, {total / seconds:.1f} requests/s, {failures} errors")
    print(f"  {'route':<48} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>6}  (ms)")
    for name in sorted(rows):
        r = rows[name]
        print(
            f"  {name:<48} {r['rps']:7.1f} {r['p50']:6.0f} {r['p95']:6.0f} {r['p99']:6.0f} "
            f"{r['failures']:6.0f}"
        )


def is_page(name: str) -> bool:
    return name.startswith("GET ") and "(PDF)" not in name


def run_load(
    base_url: str, plan: dict[str, Any], phase: float, pace: str, profile: Profiler | None
) -> dict[str, Any]:
    import gevent
    from locust.env import Environment

    counters = ("sse opened", "sse errors", "sse messages")
    state: dict[str, Any] = {"ready": 0, "beats": 0, "dashboards": False}
    state.update(dict.fromkeys(counters, 0), **{"sse open": 0})
    users = define_users(plan, state, pace)
    env = Environment(user_classes=users, host=base_url)
    runner = env.create_local_runner()
    everyone = len(plan["buyers"]) + len(plan["sellers"])
    started = time.monotonic()
    runner.start(everyone, spawn_rate=50)
    while state["ready"] < everyone and time.monotonic() - started < 120:
        gevent.sleep(0.5)
    print(f"{state['ready']} users started in {time.monotonic() - started:.0f} s")
    errors_at_entry = sum(e.num_failures for e in env.stats.entries.values())
    results: dict[str, Any] = {"entry errors list": describe_errors(env.stats)}
    gevent.sleep(BEAT_SECONDS)  # every page beating at its own pace before measuring
    for name, dashboards in (("buyers + chat", False), ("buyers + chat + sellers", True)):
        state["dashboards"] = dashboards
        env.stats.reset_all()
        before = {key: state[key] for key in counters}
        load_before = os.getloadavg()[0]
        if profile is not None:
            profile.start(name, phase)
        gevent.sleep(phase)
        results[name] = snapshot(env.stats, phase)
        results[name + " errors"] = describe_errors(env.stats)
        results[name + " sse"] = {key: state[key] - before[key] for key in counters}
        results[name + " sse"]["sse open"] = state["sse open"]
        results[name + " load"] = (load_before, os.getloadavg()[0])
    runner.quit()
    results["entry errors"] = errors_at_entry
    results["beats"] = state["beats"]
    return results


class Profiler:
    """`--pyspy DIR`: py-spy samples the server (and its worker and writer processes) during
    each phase, as raw collapsed stacks; `bench/load.py --cpu DIR/…txt` sums them per route."""

    def __init__(self, pyspy: str, directory: Path, pid: int) -> None:
        self.pyspy, self.directory, self.pid = pyspy, directory, pid
        directory.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, seconds: float) -> None:
        out = self.directory / (name.replace(" + ", "-").replace(" ", "_") + ".txt")
        subprocess.Popen(  # noqa: S603 - our own arguments
            [self.pyspy, "record", "-r", "100", "-f", "raw", "-o", str(out)]
            + ["-d", str(int(seconds)), "--pid", str(self.pid), "--subprocesses", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def cpu_by_route(path: Path, rate: float = 100.0) -> None:
    """Seconds of server CPU per handler in a py-spy raw file (idle threads are not sampled)."""
    from collections import Counter

    handlers = Counter[str]()
    total = 0
    for line in path.read_text().splitlines():
        stack, _space, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = stack.split(";")
        label = "other"
        for frame in frames:
            found = re.match(r"(\w+) \((?:.*/)?dealroom/(web/\w+|trackwriter|tracking)\.py", frame)
            if found and (found.group(2).startswith("web/") or label == "other"):
                label = f"{found.group(2)}:{found.group(1)}"
                if found.group(2).startswith("web/") and found.group(1) not in _HELPERS:
                    break
        handlers[label] += samples
    print(f"{path.name}: {total / rate:.1f} s of CPU sampled")
    for label, samples in handlers.most_common(25):
        print(f"  {samples / rate:7.2f} s  {100 * samples / max(total, 1):5.1f}%  {label}")


_HELPERS = frozenset({"wrapped", "_run", "_attempt", "endpoint", "decorate"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", type=float, default=60, help="seconds per phase (default 60)")
    parser.add_argument("--buyers", type=int, default=300)
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument(
        "--pace",
        choices=("reader", "rapid"),
        default="reader",
        help="reader: people reading (default); rapid: the first, far busier profile",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="app processes (`serve --workers`, default 1)"
    )
    parser.add_argument(
        "--pg", help="an empty PostgreSQL database URL, or `auto` for a throwaway cluster"
    )
    parser.add_argument("--pyspy", help="a py-spy binary: profile the server into the work dir")
    parser.add_argument("--cpu", help="print CPU per route from a py-spy raw file, and stop")
    parser.add_argument("--seed-only", help=argparse.SUPPRESS)  # internal: the seeding child
    args = parser.parse_args()
    if args.cpu:
        cpu_by_route(Path(args.cpu))
        return 0
    if args.seed_only:
        env = json.loads(args.seed_only)
        print(json.dumps(seed(env, args.buyers, args.sellers)))
        return 0
    with contextlib.ExitStack() as stack:
        pg = args.pg
        if pg == "auto":
            from tests.harness.postgres import postgres_cluster

            pg = stack.enter_context(postgres_cluster())
        return run(args, pg)


def run(args: argparse.Namespace, pg: str | None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="dealroom-load-"))
    port = free_port()
    env = app_env(workdir, port, pg)
    print(
        f"Seeding {ROOMS} rooms x 3 PDFs, {args.buyers} buyers, {args.sellers} sellers "
        f"({'PostgreSQL' if pg else 'SQLite'}, {args.workers} app process(es), "
        f"{args.pace} pace) ..."
    )
    if args.pace == "reader":
        rates = reader_rates(args.buyers)
        print(
            f"Reader model: room page {sum(ROOM_DWELL) / 2:.0f} s, a document "
            f"{sum(READ_DWELL) / 2:.0f} s, {1 / (1 - NEXT_DOCUMENT):.1f} documents per room "
            f"visit; expected {rates['per buyer']:.3f} requests/s per buyer, "
            f"{rates['all']:.1f}/s for {args.buyers}: "
            + ", ".join(
                f"{name} {rates[name]:.2f}" for name in rates if name not in ("all", "per buyer")
            )
        )
    # Seeding runs in a child process: locust monkey-patches this one (gevent).
    dealroom_only = {k: v for k, v in env.items() if k.startswith("DEALROOM_")}
    seeded = subprocess.run(
        [sys.executable, __file__, "--seed-only", json.dumps(dealroom_only)]
        + ["--buyers", str(args.buyers), "--sellers", str(args.sellers)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    plan = json.loads(seeded.stdout.strip().splitlines()[-1])
    server = start_server(env, port, workdir / "server.log", args.workers)
    profile = Profiler(args.pyspy, workdir / "pyspy", server.pid) if args.pyspy else None
    try:
        results = run_load(f"http://127.0.0.1:{port}", plan, args.phase, args.pace, profile)
    finally:
        server.send_signal(signal.SIGTERM)  # flushes the tracking buffer
        server.wait(timeout=60)
    report(results, args.phase, env, args.buyers)
    log = (workdir / "server.log").read_text(errors="replace").splitlines()
    problems = [
        line
        for n, line in enumerate(log)
        if "unavailable:" in line
        or (n and log[n - 1].startswith("Traceback"))
        or (
            line and not line[0].isspace() and n and log[n - 1].startswith("  ") and "Error" in line
        )
    ]
    if problems:
        print(
            f"\nServer log ({workdir / 'server.log'}, kept): {len(problems)} problem lines, e.g.:"
        )
        for line in problems[:8]:
            print("  " + line[:300])
    elif profile is not None:
        print(f"\npy-spy profiles in {workdir / 'pyspy'} (bench/load.py --cpu FILE sums them)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(results: dict[str, Any], phase: float, env: dict[str, str], buyers: int) -> None:
    alone, loaded = results["buyers + chat"], results["buyers + chat + sellers"]
    for title, name, rows in (
        ("Phase 1, buyers and chat", "buyers + chat", alone),
        ("Phase 2, buyers, chat and the sellers' dashboards", "buyers + chat + sellers", loaded),
    ):
        print_phase(title, rows, phase)
        mine = sum(r["rps"] for route, r in rows.items() if "/r/" in route)
        sse = results[name + " sse"]
        print(
            f"  buyers: {mine:.1f} requests/s, {mine / max(buyers, 1):.3f} per buyer; chat "
            f"streams (SSE) open {sse['sse open']}, opened {sse['sse opened']}, failed "
            f"{sse['sse errors']}, messages "
            f"delivered {sse['sse messages']}; load average "
            f"{results[name + ' load'][0]:.1f} -> {results[name + ' load'][1]:.1f}"
        )
    for name in ("entry errors list", "buyers + chat errors", "buyers + chat + sellers errors"):
        for error, count in results[name].items():
            print(f"  error ({name}): {count} x {error}")
    beacon = "POST /r/[room]/t (beacon)"
    b1, b2 = alone.get(beacon, {}), loaded.get(beacon, {})
    stored = stored_events(env)
    print(
        f"\nBeacon without / with the dashboards: {b1.get('rps', 0):.1f} / {b2.get('rps', 0):.1f} "
        f"beats/s, p95 {b1.get('p95', 0):.0f} / {b2.get('p95', 0):.0f} ms, "
        f"p99 {b1.get('p99', 0):.0f} / {b2.get('p99', 0):.0f} ms"
    )
    print(
        f"Beats acknowledged (whole run, entry and warm-up included): {results['beats']}; "
        f"tracked events in the database after SIGTERM: {stored['events']} "
        f"(refused and counted: {stored['drops'] or 'none'})"
    )
    errors = sum(r["failures"] for r in (*alone.values(), *loaded.values()))
    errors += results["entry errors"]
    worst = max(
        ((r["p95"], name) for rows in (alone, loaded) for name, r in rows.items() if is_page(name)),
        default=(0.0, ""),
    )
    steady = bool(b1 and b2) and (
        b2["p95"] <= max(b1["p95"] * 1.2, b1["p95"] + 5) and b2["rps"] >= b1["rps"] * 0.8
    )

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    print("\nTargets")
    print(f"  0 errors: {errors} errors ({verdict(errors == 0)})")
    print(
        f"  page p95 < {PAGE_P95_MS:.0f} ms: worst {worst[0]:.0f} ms, {worst[1]} "
        f"({verdict(worst[0] < PAGE_P95_MS)})"
    )
    print(
        f"  beacon p95 (20% or 5 ms) and throughput (20%) with the dashboards: ({verdict(steady)})"
    )
    print(
        f"  (load generator and server share this machine's {os.cpu_count()} cores; "
        f"load average now {os.getloadavg()[0]:.1f})"
    )


def stored_events(env: dict[str, str]) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(env["DEALROOM_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            events = connection.execute(
                text("SELECT count(*) FROM track_event WHERE kind IN ('view', 'room')")
            ).scalar_one()
            drops = dict(
                (reason, count)
                for reason, count in connection.execute(
                    text("SELECT reason, sum(count) FROM track_drop GROUP BY reason")
                ).all()
            )
    finally:
        engine.dispose()
    return {"events": events, "drops": drops}


if __name__ == "__main__":
    sys.exit(main())
