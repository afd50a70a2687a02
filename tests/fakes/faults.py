"""Scripted faults, consumed one per request, and the ASGI wrapper that applies them.

    fake.script(["429", "500", "ok", "lost_response"])          # the next four requests
    fake.script(["lost_response"], on="POST /crm/v3/objects/notes")  # the next matching request

Faults every fake understands (vendor ones, such as "429" or "expire_token", are the fake's):

    ok               the request is served normally
    timeout          no answer for `timeout_seconds` (longer than the test client waits), no write
    lost_response    the write happens, then the connection drops mid-answer (the client never
                     learns the id: the case that decides whether an export is idempotent)
    commit_then_502  the write happens, then a gateway answers 502
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COMMON = frozenset({"ok", "timeout", "lost_response", "commit_then_502"})


@dataclass
class Logged:
    """One request the fake answered; `status` is what the app decided (before any fault)."""

    method: str
    path: str
    status: int
    fault: str


class Faults:
    def __init__(self, vendor_faults: Iterable[str]) -> None:
        self.known = COMMON | frozenset(vendor_faults)
        self.timeout_seconds = 2.0
        self._lock = threading.Lock()
        self._any: deque[str] = deque()
        self._routes: list[tuple[str, deque[str]]] = []

    def script(self, faults: Iterable[str], *, on: str | None = None) -> None:
        """Queue `faults`; `on` ("METHOD /path", glob allowed) limits them to matching requests."""
        faults = list(faults)
        unknown = [f for f in faults if f not in self.known]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {sorted(self.known)}")
        with self._lock:
            if on is None:
                self._any.extend(faults)
            else:
                self._routes.append((on, deque(faults)))

    def take(self, method: str, path: str) -> str:
        with self._lock:
            for pattern, queue in self._routes:
                want_method, _, want_path = pattern.rpartition(" ")
                if (
                    queue
                    and (not want_method or want_method == method)
                    and fnmatch.fnmatchcase(path, want_path)
                ):
                    return queue.popleft()
            return self._any.popleft() if self._any else "ok"

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._any) + sum(len(q) for _, q in self._routes)


class FaultMiddleware:
    """Wraps a fake's Starlette app: applies the scripted fault, logs every request."""

    def __init__(
        self,
        app: Any,
        faults: Faults,
        vendor_fault: Callable[[str, Request], Response | None],
        log: list[Logged],
    ) -> None:
        self.app = app
        self.faults = faults
        self.vendor_fault = vendor_fault
        self.log = log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        fault = self.faults.take(method, path)
        status = {"code": 0}

        # Logged as soon as the status is known, before the body: a test that reads the log
        # right after its client got the answer must find the entry there.
        async def logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.log.append(Logged(method, path, message["status"], fault))
            await send(message)

        async def swallowed(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]

        if fault == "timeout":
            self.log.append(Logged(method, path, 504, fault))
            await asyncio.sleep(self.faults.timeout_seconds)
            await Response("gateway timeout", status_code=504)(scope, receive, send)
        elif fault == "lost_response":
            await self.app(scope, receive, swallowed)
            self.log.append(Logged(method, path, status["code"], fault))
            # Headers and half a body, then the connection closes: the client gets no answer.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id', "more_body": True})
        elif fault == "commit_then_502":
            await self.app(scope, receive, swallowed)
            self.log.append(Logged(method, path, status["code"], fault))
            await Response(
                "<html><body>502 Bad Gateway</body></html>", status_code=502, media_type="text/html"
            )(scope, receive, send)
        elif fault == "ok":
            await self.app(scope, receive, logged)
        else:
            response = self.vendor_fault(fault, Request(scope, receive))
            if response is None:
                await self.app(scope, receive, logged)
            else:
                await response(scope, receive, logged)
