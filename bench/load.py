"""Load profile (issue 8): a realistic mix against a real server, with locust, headless.

    .venv/bin/pip install -e '.[bench]'            # locust
    .venv/bin/python bench/load.py [--phase 35] [--buyers 300] [--sellers 20] [--pg URL]

The script migrates a fresh database (SQLite in a temporary directory by default; `--pg URL`
for an empty PostgreSQL database), seeds it (10 rooms with 3 PDFs each, 300 buyer invites, 20
sellers: 10 reps owning a room each, 8 managers, 2 admins), starts `python -m dealroom serve`
on 127.0.0.1 and runs locust as a library in this process:

- buyers (300): enter through their personal invite link (welcome page, "Enter the room": the
  buyer cookie), then read: the room page, a PDF's viewer page and its file, and a tracking
  beat every 10 s per open page (POST /r/{room}/t, the body static/track.js sends: the page's
  signed stream token, a sequence number, active seconds per item and PDF page);
- chat: buyers read the room's chat and now and then post to it;
- sellers (20): log in, then refresh their room's live analytics fragment every 10 s (the htmx
  poll of the analytics page), the dashboard feed every 15 s, and the dashboard or the team
  dashboard now and then.

Two measured phases of `--phase` seconds each, after every user has entered: buyers and chat
alone, then the same plus the sellers' dashboards; the beacon's p95 and throughput are compared
between the two ("tracking ingest unaffected by dashboard load"). Then the server is stopped
with SIGTERM and the beats it acknowledged are counted in the database.

Targets (printed as met or not met, never tuned): 0 errors; p95 < 100 ms for pages; beacon p95
and throughput within 20% with and without the dashboards. The load generator and the server
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


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dealroom", "serve", "--port", str(port)],
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


def define_users(plan: dict[str, Any], state: dict[str, Any]) -> list[type]:
    from locust import FastHttpUser, between, task

    links = list(plan["buyers"])
    logins = list(plan["sellers"])
    random.Random(8).shuffle(links)

    class Buyer(FastHttpUser):
        """One person of a buyer committee, reading the room in a browser."""

        fixed_count = len(links)
        wait_time = between(2, 4)
        default_headers = {"User-Agent": HUMAN}

        def on_start(self) -> None:
            link = links.pop()
            self.room, self.items, self.stream, self.csrf = "", [], "", ""
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

        @task(5)
        def beat(self) -> None:
            if not self.stream or time.monotonic() - self.last_beat < BEAT_SECONDS:
                return
            seconds = min(BEAT_SECONDS, int(time.monotonic() - self.last_beat))
            self.last_beat = time.monotonic()
            self.seq += 1
            if self.item:
                event: dict[str, Any] = {"k": "view", "item": self.item, "s": seconds}
                event["page"] = self.page
                self.page = self.page % 3 + 1
            else:
                event = {"k": "room", "s": seconds}
            body = {"t": self.stream, "seq": self.seq, "i": 3, "f": False, "ev": [event]}
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

        @task(2)
        def read_pdf(self) -> None:
            if not self.items:
                return
            item = random.choice(self.items)
            viewer = self.client.get(
                f"/r/{self.room}/content/{item}", name="GET /r/[room]/content/[item] (viewer)"
            )
            self.client.get(
                f"/r/{self.room}/content/{item}/file",
                name="GET /r/[room]/content/[item]/file (PDF)",
            )
            self._page(viewer.text or "", item)

        @task(1)
        def room_page(self) -> None:
            if not self.room:
                return
            page = self.client.get(f"/r/{self.room}", name="GET /r/[room] (room page)")
            self._page(page.text or "", None)

        @task(1)
        def read_chat(self) -> None:
            if not self.room:
                return
            self.client.get(
                f"/r/{self.room}/chat",
                headers={"HX-Request": "true"},
                name="GET /r/[room]/chat (fragment)",
            )

        @task(1)
        def post_chat(self) -> None:
            if not self.room or random.random() < 0.8:  # about one message a buyer in 2 minutes
                return
            self.client.post(
                f"/r/{self.room}/chat",
                data={"body": "Could you send the updated pricing?", "csrf_token": self.csrf},
                headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
                name="POST /r/[room]/chat",
            )

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
            if not state["dashboards"]:
                return
            now = time.monotonic()
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

    return [Buyer, Seller]


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


def run_load(base_url: str, plan: dict[str, Any], phase: float) -> dict[str, Any]:
    import gevent
    from locust.env import Environment

    state: dict[str, Any] = {"ready": 0, "beats": 0, "dashboards": False}
    users = define_users(plan, state)
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
        gevent.sleep(phase)
        results[name] = snapshot(env.stats, phase)
        results[name + " errors"] = describe_errors(env.stats)
    runner.quit()
    results["entry errors"] = errors_at_entry
    results["beats"] = state["beats"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", type=float, default=35, help="seconds per phase (default 35)")
    parser.add_argument("--buyers", type=int, default=300)
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument("--pg", help="an empty PostgreSQL database URL (default: SQLite)")
    parser.add_argument("--seed-only", help=argparse.SUPPRESS)  # internal: the seeding child
    args = parser.parse_args()
    if args.seed_only:
        env = json.loads(args.seed_only)
        print(json.dumps(seed(env, args.buyers, args.sellers)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="dealroom-load-"))
    port = free_port()
    env = app_env(workdir, port, args.pg)
    print(
        f"Seeding {ROOMS} rooms x 3 PDFs, {args.buyers} buyers, {args.sellers} sellers "
        f"({'PostgreSQL' if args.pg else 'SQLite'}) ..."
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
    server = start_server(env, port, workdir / "server.log")
    try:
        results = run_load(f"http://127.0.0.1:{port}", plan, args.phase)
    finally:
        server.send_signal(signal.SIGTERM)  # flushes the tracking buffer
        server.wait(timeout=60)
    report(results, args.phase, env, workdir)
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
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(results: dict[str, Any], phase: float, env: dict[str, str], workdir: Path) -> None:
    alone, loaded = results["buyers + chat"], results["buyers + chat + sellers"]
    print_phase("Phase 1, buyers and chat", alone, phase)
    print_phase("Phase 2, buyers, chat and the sellers' dashboards", loaded, phase)
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
    print(f"  beacon p95 and throughput within 20% with the dashboards: ({verdict(steady)})")
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
