"""Free TCP port helper for test harnesses."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now.

    The port is found by binding to port 0 and letting the kernel pick one;
    the socket is closed before returning, so there is a tiny race window in
    which another process could grab it. Callers that start a server on it
    should fail loudly if the bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
