"""Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread (tests and e2e runs).

base_url, stop = serve_app(app)
try: ...
finally: stop()

with serving(app) as base_url: ...
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def serve_app(app: Any, *, startup_timeout: float = 10.0) -> tuple[str, Callable[[], None]]:
    """Start `app` on a free port; return its base URL and a function that stops it."""
    # Bind first and hand uvicorn the socket: no window in which another process takes the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        http="h11",
        ws="none",
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the fake server did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://127.0.0.1:{port}", stop


@contextmanager
def serving(app: Any) -> Iterator[str]:
    base_url, stop = serve_app(app)
    try:
        yield base_url
    finally:
        stop()
