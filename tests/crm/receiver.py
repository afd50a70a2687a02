"""A webhook receiver for tests: records every delivery and answers from a script.

receiver = Receiver()
receiver.script(["500", "timeout", "ok"])   # one answer per request, then "ok"
with serving(receiver.app) as base_url: ...
receiver.deliveries                          # [Delivery(headers, body, status)]
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    answer: str


class Receiver:
    def __init__(self, timeout_seconds: float = 2.0) -> None:
        self.deliveries: list[Delivery] = []
        self.timeout_seconds = timeout_seconds
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    def script(self, answers: Iterable[str]) -> None:
        with self._lock:
            self._script.extend(answers)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            answer = self._script.popleft() if self._script else "ok"
            self.deliveries.append(Delivery(dict(request.headers), body, answer))
        if answer == "timeout":
            await asyncio.sleep(self.timeout_seconds)
            return Response(status_code=204)
        if answer == "ok":
            return JSONResponse({"received": True})
        status = int(answer)
        headers = {"Retry-After": "1"} if status == 429 else {}
        return JSONResponse({"error": answer}, status_code=status, headers=headers)
