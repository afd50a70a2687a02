"""Liveness and readiness probes for load balancers and docker-compose."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..storage import StorageError


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _ready(request: Request) -> dict[str, str]:
    services = request.app.state.services
    checks = {}
    try:
        with services.db.session(write=False) as session:
            session.execute(text("select 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        services.storage.check()
        checks["storage"] = "ok"
    except (StorageError, OSError) as exc:
        checks["storage"] = f"error: {type(exc).__name__}"
    return checks


async def readyz(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    checks = await run_in_threadpool(_ready, request)
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


routes = [
    Route("/healthz", healthz, name="healthz"),
    Route("/readyz", readyz, name="readyz"),
]
