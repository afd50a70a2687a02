"""Request ids, the access log and request metrics, for every request (outermost middleware).

A well-formed `X-Request-ID` from the client or the load balancer is kept (so one id follows a
request through nginx and the app), anything else is replaced by a fresh one; the id is echoed in
the response's `X-Request-ID` and carried by every log line written while answering (logs.py).

Metrics are labelled by route *name* (`rooms:detail`), never by path: paths hold ids and tokens,
which would make every request a new time series and put personal links in the metrics. The
access log names the route's path template (`/i/{token}`) for the same reason.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import metrics
from ..logs import request_id

log = logging.getLogger("dealroom.access")

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")


def incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _WELL_FORMED.match(candidate):
                return candidate
            break
    return f"{_PROCESS_ID}{next(_SEQUENCE):016x}"


# Unique without a system call per request (uuid4 reads os.urandom each time, a measurable cost
# on the tracking beacon): a random per-process prefix and a counter. 32 hex digits, like uuid4.
_PROCESS_ID = secrets.token_hex(8)
_SEQUENCE = itertools.count(1)


def route_of(scope: Scope) -> tuple[str, str]:
    """(route name, path template) of the route that answered, or ("unmatched", "-")."""
    route = scope.get("route")
    name = getattr(route, "name", None)
    if not name:
        return "unmatched", "-"
    return str(name), str(getattr(route, "path", "-") or "-")


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope)
        # Not reset afterwards: the server runs each request in its own task (with its own copy
        # of the context), and the server's own "exception in ASGI application" line, written
        # after we return, should carry the id too.
        request_id.set(rid)
        started = time.perf_counter()
        status = 500  # unless a response starts
        streaming = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = rid
                streaming = headers.get("content-type", "").startswith("text/event-stream")
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            name, template = route_of(scope)
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(route=name, method=method, status=status).inc()
            if not streaming:
                metrics.HTTP_DURATION.labels(route=name, method=method).observe(elapsed)
            log.info(
                "%s %s %s %.1fms",
                method,
                template if name != "unmatched" else "(no route)",
                status,
                elapsed * 1000,
                extra={
                    "method": method,
                    "route": name,
                    "path": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                    "client": (scope.get("client") or ("-",))[0],
                },
            )
