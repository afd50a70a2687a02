"""Live fan-out: the in-process broker, the PostgreSQL LISTEN/NOTIFY broker (against the real
cluster of the test harness), and two app instances on one database, as two replicas would be.

`serve(app)` runs an app with uvicorn on 127.0.0.1 in a thread: event streams need a real
server (the test client buffers whole responses). tests/web/test_chat.py uses it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from dealroom import live
from dealroom.app import Services, build_services, create_app
from dealroom.db import make_engine
from dealroom.live import RESYNC, InProcessBroker, PostgresBroker, make_broker
from dealroom.migrate import upgrade
from dealroom.settings import load_settings
from tests import factories
from tests.conftest import TEST_SECRET, make_browser
from tests.harness.ports import free_port
from tests.harness.postgres import create_database, drop_database

_databases = itertools.count(1)


# ---------------------------------------------------------------- helpers shared with web tests


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 with uvicorn in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http="h11",
        ws="none",
        loop="asyncio",
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def live_services(tmp_path: Path, url: str) -> Services:
    settings = load_settings(
        environ={},
        dotenv=None,
        secret_key=TEST_SECRET,
        base_url="http://testserver",
        storage_dir=str(tmp_path / "files"),
        database_url=url,
        run_jobs=False,
    )
    return build_services(settings)


@pytest.fixture
def sqlite_services(tmp_path: Path) -> Iterator[Services]:
    """Services on a fresh, migrated SQLite file whose commits are real (streams read them)."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    services = live_services(tmp_path, url)
    yield services
    services.db.dispose()


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database on the harness cluster, dropped afterwards."""
    name = f"dealroom_live_{next(_databases)}"
    url = create_database(postgres_url, name)
    upgrade(url)
    yield url
    drop_database(postgres_url, name)


class EventStream:
    """A server-sent event stream read line by line over real HTTP."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next_event(self) -> dict[str, str]:
        """The next event (comments skipped); raises httpx.ReadTimeout when none comes."""
        event: dict[str, str] = {}
        data: list[str] = []
        for line in self.lines:
            if not line:
                if event or data:
                    event["data"] = "\n".join(data)
                    return event
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                event[name] = value
        raise EOFError("the stream ended")

    def next_message(self) -> dict[str, str]:
        while True:
            event = self.next_event()
            if event.get("event") in ("message", "closed"):
                return event


@contextlib.contextmanager
def open_stream(url: str, cookies: dict[str, str], timeout: float = 10) -> Iterator[EventStream]:
    with httpx.Client(cookies=cookies, timeout=timeout) as client:
        with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = EventStream(response)
            # The first line is sent once the stream is subscribed: from here nothing is missed.
            assert next(stream.lines).startswith("retry:")
            yield stream


def cookies_of(browser: Any) -> dict[str, str]:
    return {cookie.name: cookie.value for cookie in browser.cookies.jar}


# ---------------------------------------------------------------- the in-process broker


def test_in_process_broker_delivers_to_the_channels_subscribers() -> None:
    async def main() -> None:
        broker = InProcessBroker()
        async with broker.subscribe("a") as first, broker.subscribe("a") as second:
            async with broker.subscribe("b") as other:
                broker.publish("a", {"n": 1})
                assert await first.get() == {"n": 1}
                assert await second.get() == {"n": 1}
                assert other.queue.empty()
        assert broker.subscriber_count() == 0

    asyncio.run(main())


def test_publishing_from_another_thread_hops_to_the_loop() -> None:
    async def main() -> None:
        broker = InProcessBroker()
        async with broker.subscribe("room") as events:
            thread = threading.Thread(target=broker.publish, args=("room", {"msg": "msg_1"}))
            thread.start()
            assert await asyncio.wait_for(events.get(), 2) == {"msg": "msg_1"}
            thread.join()

    asyncio.run(main())


def test_subscribers_on_different_event_loops_each_get_the_event() -> None:
    broker = InProcessBroker()
    ready = threading.Barrier(3)
    received: list[Any] = []

    def listen() -> None:
        async def main() -> None:
            async with broker.subscribe("room") as events:
                ready.wait()
                received.append(await asyncio.wait_for(events.get(), 5))

        asyncio.run(main())

    threads = [threading.Thread(target=listen) for _ in range(2)]
    for thread in threads:
        thread.start()
    ready.wait()
    broker.publish("room", {"n": 7})
    for thread in threads:
        thread.join()
    assert received == [{"n": 7}, {"n": 7}]


def test_stopping_the_broker_ends_every_subscription() -> None:
    async def main() -> None:
        broker = InProcessBroker()
        await broker.start()
        await broker.start()  # a second lifespan (test clients share one broker)
        async with broker.subscribe("room") as events:
            await broker.stop()
            assert not events.closed  # still one user of the broker
            await broker.stop()
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(events.get(), 1)

    asyncio.run(main())


def test_a_subscriber_that_falls_behind_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "QUEUE_SIZE", 3)

    async def main() -> None:
        broker = InProcessBroker()
        async with broker.subscribe("room") as events:
            for n in range(5):
                broker.publish("room", {"n": n})
            got = [payload async for payload in events]
            assert got == [{"n": 0}, {"n": 1}, {"n": 2}]
            assert events.overflowed

    asyncio.run(main())


def test_the_broker_follows_the_database() -> None:
    assert isinstance(make_broker(make_engine("sqlite://")), InProcessBroker)
    engine = make_engine("postgresql+psycopg://u:p%40ss@127.0.0.1:5/db")
    broker = make_broker(engine)
    assert isinstance(broker, PostgresBroker)
    assert broker.dsn == "postgresql://u:p%40ss@127.0.0.1:5/db"  # a libpq URL, password kept


# ---------------------------------------------------------------- the PostgreSQL broker


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Any]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def run_brokers(*brokers: PostgresBroker) -> Any:
    """Run `main` with the brokers started, and stop them afterwards (listener threads end)."""

    def runner(main: Any) -> None:
        async def wrapped() -> None:
            for broker in brokers:
                await broker.start()
            try:
                await main()
            finally:
                for broker in brokers:
                    await broker.stop()

        asyncio.run(wrapped())

    return runner


def test_postgres_broker_delivers_through_notify(pg_engine: Any) -> None:
    broker = PostgresBroker(pg_engine)

    async def main() -> None:
        async with broker.subscribe("chat:room_a") as events, broker.subscribe("chat:room_b") as b:
            await asyncio.to_thread(broker.publish, "chat:room_a", {"msg": "msg_1", "x": "é"})
            assert await asyncio.wait_for(events.get(), 5) == {"msg": "msg_1", "x": "é"}
            assert b.queue.empty()

    run_brokers(broker)(main)
    assert broker._thread is None  # stopped with the last user


def test_two_processes_share_events_through_postgres(pg_engine: Any, postgres_url: str) -> None:
    # Two brokers with their own engines and listener connections: two app processes.
    other_engine = make_engine(postgres_url)
    a, b = PostgresBroker(pg_engine), PostgresBroker(other_engine)

    async def main() -> None:
        async with a.subscribe("room") as on_a, b.subscribe("room") as on_b:
            await asyncio.to_thread(a.publish, "room", {"from": "a"})
            assert await asyncio.wait_for(on_b.get(), 5) == {"from": "a"}
            assert await asyncio.wait_for(on_a.get(), 5) == {"from": "a"}

    try:
        run_brokers(a, b)(main)
    finally:
        other_engine.dispose()


def test_payloads_too_large_for_notify_are_refused(pg_engine: Any) -> None:
    with pytest.raises(ValueError, match="too large"):
        PostgresBroker(pg_engine).publish("room", {"body": "x" * 8000})


def test_the_listener_reconnects_and_asks_streams_to_resync(pg_engine: Any) -> None:
    broker = PostgresBroker(pg_engine)

    async def main() -> None:
        async with broker.subscribe("room") as events:
            pid = broker.listener_pid
            with pg_engine.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # Notifications sent while it was down are lost: subscribers are told to catch up.
            assert await asyncio.wait_for(events.get(), 10) == RESYNC
            assert broker.connections == 2 and broker.listener_pid != pid
            await asyncio.to_thread(broker.publish, "room", {"after": "reconnect"})
            assert await asyncio.wait_for(events.get(), 5) == {"after": "reconnect"}

    run_brokers(broker)(main)


# ---------------------------------------------------------------- two app instances, one database


def test_a_message_posted_on_one_app_reaches_a_stream_on_another(
    tmp_path: Path, pg_database: str
) -> None:
    services_a = live_services(tmp_path / "a", pg_database)
    services_b = live_services(tmp_path / "b", pg_database)
    assert isinstance(services_a.broker, PostgresBroker)
    assert services_a.broker is not services_b.broker
    with services_a.db.session() as session:
        seller = factories.seller(session, org="Northwind", email="aiko@northwind.example")
        room = factories.room(session, seller)
        invite = factories.invite(session, services_a, room, seller, email="kato@acme.example")
        room_id = room.public_id
    app_a, app_b = create_app(services=services_a), create_app(services=services_b)
    try:
        with (
            make_browser(app_a, services_a) as seller_browser,
            make_browser(app_a, services_a) as buyer_browser,
            serve(app_b) as base_b,
        ):
            seller_browser.login("aiko@northwind.example", factories.PASSWORD)
            assert buyer_browser.enter(services_a.links.invite(invite)).status_code == 303
            with open_stream(
                f"{base_b}/r/{room_id}/chat/events", cookies_of(buyer_browser)
            ) as stream:
                posted = seller_browser.submit(
                    f"/rooms/{room_id}/chat", {"body": "Posted on replica **A**"}
                )
                assert posted.status_code == 303

                event = stream.next_message()

            assert event["event"] == "message" and event["id"].startswith("msg_")
            assert "Posted on replica <strong>A</strong>" in event["data"]
    finally:
        services_a.db.dispose()
        services_b.db.dispose()
