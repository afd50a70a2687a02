"""Live fan-out: whoever commits a change publishes a small event; open streams subscribe.

    broker.publish("chat:room_…", {"msg": "msg_…", ...})   # after commit, from any thread
    async with broker.subscribe("chat:room_…") as events:   # in an SSE handler
        async for payload in events: ...

A `Broker` keeps this process's subscribers; subclasses decide how a publish reaches every
process. `InProcessBroker` hands it straight to local subscribers (SQLite: one process).
`PostgresBroker` sends it with NOTIFY on one PostgreSQL channel and a dedicated listener
connection delivers every notification to the local subscribers, so several app processes
behind a load balancer all see each other's events.

Payloads are small JSON objects carrying ids, never content: receivers read and render from the
database (for their own viewer), and NOTIFY payloads must stay under 8000 bytes.

Subscribers may live on different event loops (each test client runs its own): delivery hops to
each subscriber's loop with `call_soon_threadsafe`, once per loop and publish. A subscriber that
falls `QUEUE_SIZE` events behind is closed (its stream ends and the browser reconnects) rather
than buffering without bound. After the PostgreSQL listener reconnects, every subscriber gets
`RESYNC`: notifications sent while it was down are lost, so streams catch up from the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Engine, func, select

log = logging.getLogger("dealroom.live")

QUEUE_SIZE = 256
NOTIFY_CHANNEL = "dealroom_live"
MAX_PAYLOAD = 7900  # NOTIFY refuses payloads of 8000 bytes or more
RESYNC: dict[str, Any] = {"resync": True}

Payload = dict[str, Any]


class Subscription:
    """One subscriber's queue of payloads, bound to the event loop it was created on.

    Iterate it (`async for payload in sub`) or `await sub.get()`; it ends when closed, by
    `close()`, by the broker stopping, or by overflowing."""

    _CLOSED = object()

    def __init__(self, broker: Broker, channel: str) -> None:
        self.broker = broker
        self.channel = channel
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE + 1)
        self.closed = False
        self.overflowed = False

    def _push(self, payload: Any) -> None:
        """Runs on `self.loop`."""
        if self.closed:
            return
        if payload is self._CLOSED:
            self.closed = True
        elif self.queue.qsize() >= QUEUE_SIZE:
            self.overflowed = self.closed = True
            log.warning("live subscriber on %s fell behind; closing it", self.channel)
            payload = self._CLOSED
        self.queue.put_nowait(payload)

    async def get(self) -> Payload:
        """The next payload; StopAsyncIteration once closed."""
        if self.closed and self.queue.empty():
            raise StopAsyncIteration
        payload = await self.queue.get()
        if payload is self._CLOSED:
            self.closed = True
            raise StopAsyncIteration
        return payload  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[Payload]:
        return self

    async def __anext__(self) -> Payload:
        return await self.get()

    async def __aenter__(self) -> Subscription:
        await self.broker._ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.broker._remove(self)
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(self._CLOSED)


class Broker:
    """This process's subscribers, and delivery to them from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}
        self._starts = 0

    # -- the interface

    def publish(self, channel: str, payload: Payload) -> None:
        """Send `payload` to every subscriber of `channel`, in every process. Call it after the
        transaction that caused it has committed (readers look the change up)."""
        raise NotImplementedError

    def subscribe(self, channel: str) -> Subscription:
        """Must be called on the event loop that will consume the subscription."""
        subscription = Subscription(self, channel)
        with self._lock:
            self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription

    async def start(self) -> None:
        """Counted: each app lifespan starts and stops once, and test clients share a broker."""
        with self._lock:
            self._starts += 1

    async def stop(self) -> None:
        with self._lock:
            self._starts = max(0, self._starts - 1)
            last = self._starts == 0
        if last:
            await self._shutdown()

    def subscriber_count(self, channel: str | None = None) -> int:
        with self._lock:
            if channel is not None:
                return len(self._subscribers.get(channel, ()))
            return sum(len(s) for s in self._subscribers.values())

    # -- for subclasses

    async def _ready(self) -> None:
        """Wait until publishes from other processes can reach this one."""

    async def _shutdown(self) -> None:
        """End every subscription (so streams finish and the server can stop)."""
        with self._lock:
            subscriptions = [s for subs in self._subscribers.values() for s in subs]
            self._subscribers.clear()
        self._deliver(subscriptions, Subscription._CLOSED)

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            subs = self._subscribers.get(subscription.channel)
            if subs is not None:
                subs.discard(subscription)
                if not subs:
                    del self._subscribers[subscription.channel]

    def _dispatch(self, channel: str | None, payload: Any) -> None:
        """Deliver to local subscribers of `channel` (all of them when None). Any thread."""
        with self._lock:
            if channel is None:
                subscriptions = [s for subs in self._subscribers.values() for s in subs]
            else:
                subscriptions = list(self._subscribers.get(channel, ()))
        self._deliver(subscriptions, payload)

    def _deliver(self, subscriptions: list[Subscription], payload: Any) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Subscription]] = {}
        for subscription in subscriptions:
            by_loop.setdefault(subscription.loop, []).append(subscription)
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, group in by_loop.items():
            if loop is current:
                _push_all(group, payload)
                continue
            try:
                loop.call_soon_threadsafe(_push_all, group, payload)
            except RuntimeError:  # that loop is closed: its subscribers are gone
                for subscription in group:
                    self._remove(subscription)


def _push_all(subscriptions: list[Subscription], payload: Any) -> None:
    for subscription in subscriptions:
        subscription._push(payload)


class InProcessBroker(Broker):
    """One process (SQLite): a publish goes straight to this process's subscribers."""

    def publish(self, channel: str, payload: Payload) -> None:
        self._dispatch(channel, payload)


class PostgresBroker(Broker):
    """Several processes on one PostgreSQL: NOTIFY out, one LISTEN connection in.

    Publishing runs `pg_notify` on a pooled connection of the app's engine (autocommit). The
    listener is a dedicated psycopg async connection, run on its own thread and event loop so it
    does not depend on any one request's loop; it starts with the first subscriber, and
    reconnects with backoff when the connection drops (then tells subscribers to RESYNC)."""

    def __init__(self, engine: Engine, *, dsn: str | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.dsn = dsn or _psycopg_dsn(engine)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._listening = threading.Event()
        self._stopping = threading.Event()
        self._thread_lock = threading.Lock()
        self.connections = 0  # how many times the listener connected (tests watch reconnects)
        self.listener_pid: int | None = None

    def publish(self, channel: str, payload: Payload) -> None:
        data = json.dumps({"c": channel, "p": payload}, separators=(",", ":"))
        if len(data.encode()) > MAX_PAYLOAD:
            raise ValueError(f"live payload too large for NOTIFY ({len(data)} bytes)")
        with self.engine.connect() as connection:
            connection.execute(select(func.pg_notify(NOTIFY_CHANNEL, data)))
            connection.commit()

    async def _ready(self) -> None:
        self._ensure_listener()
        if not self._listening.is_set():
            # Wait (off the loop) for LISTEN, so an event published right after a stream opens
            # is not missed; if the database is down, go on: RESYNC follows the reconnect.
            await asyncio.to_thread(self._listening.wait, 5)

    def _ensure_listener(self) -> None:
        with self._thread_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._listening.clear()
            # Loop and task exist before the thread runs, so `stop` can always cancel the task.
            loop = asyncio.new_event_loop()
            self._loop, self._task = loop, loop.create_task(self._listen_forever())
            self._thread = threading.Thread(
                target=self._thread_main,
                args=(loop, self._task),
                name="dealroom-live-listener",
                daemon=True,
            )
            self._thread.start()

    @staticmethod
    def _thread_main(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _listen_forever(self) -> None:
        import psycopg

        delay = 0.2
        try:
            while not self._stopping.is_set():
                try:
                    async with await psycopg.AsyncConnection.connect(
                        self.dsn, autocommit=True
                    ) as connection:
                        await connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                        self.listener_pid = connection.info.backend_pid
                        self.connections += 1
                        self._listening.set()
                        if self.connections > 1:
                            self._dispatch(None, RESYNC)
                        delay = 0.2
                        async for notification in connection.notifies():
                            self._receive(notification.payload)
                except (psycopg.Error, OSError) as exc:
                    self._listening.clear()
                    if self._stopping.is_set():
                        break
                    log.warning("live listener lost its connection (%s); retrying", exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            self._listening.clear()

    def _receive(self, raw: str) -> None:
        try:
            data = json.loads(raw)
            channel, payload = data["c"], data["p"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed live notification: %.200s", raw)
            return
        if isinstance(channel, str) and isinstance(payload, dict):
            self._dispatch(channel, payload)

    async def _shutdown(self) -> None:
        await super()._shutdown()
        with self._thread_lock:
            thread, loop, task = self._thread, self._loop, self._task
            self._thread = self._loop = self._task = None
        if thread is None or loop is None or task is None:
            return
        self._stopping.set()
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the listener's loop already finished
            pass
        await asyncio.to_thread(thread.join, 5)


def _psycopg_dsn(engine: Engine) -> str:
    """A libpq connection string for the engine's database (SQLAlchemy's URL names a driver)."""
    url = engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_broker(engine: Engine) -> Broker:
    """PostgreSQL fans out through LISTEN/NOTIFY; anything else (SQLite) is one process."""
    if engine.dialect.name == "postgresql":
        return PostgresBroker(engine)
    return InProcessBroker()
