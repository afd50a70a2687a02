"""Operations endpoints: liveness and readiness probes (load balancers, docker-compose) and
Prometheus metrics.

/metrics reports this process only (see dealroom/metrics.py for what that means with several
processes). It is readable with `Authorization: Bearer <DEALROOM_METRICS_TOKEN>`, or, when no
token is set, only from the machine itself: a request from 127.0.0.1 that did not come through a
proxy (no X-Forwarded-For), since a proxy on the same host makes every client look local.
"""

from __future__ import annotations

import hmac

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import metrics as metrics_registry
from ..storage import StorageError

LOOPBACK = frozenset({"127.0.0.1", "::1"})


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
    checks = await run_in_threadpool(_ready, request)
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


def _metrics_refusal(request: Request) -> Response | None:
    token = request.app.state.services.settings.metrics_token
    if token:
        scheme, _sep, supplied = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            supplied.strip().encode(), token.encode()
        ):
            return None
        return JSONResponse(
            {
                "error": {
                    "code": "unauthorized",
                    "message": "Send the metrics token as a bearer token.",
                }
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    client = request.client.host if request.client else ""
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if client in LOOPBACK and not proxied:
        return None
    return JSONResponse(
        {
            "error": {
                "code": "forbidden",
                "message": "Metrics are readable from 127.0.0.1 only, or with DEALROOM_METRICS_TOKEN.",
            }
        },
        status_code=403,
    )


async def metrics(request: Request) -> Response:
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    # Collectors may query the database: keep them off the event loop.
    body = await run_in_threadpool(metrics_registry.render, request.app.state.services)
    return Response(
        body,
        media_type=metrics_registry.CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )


routes = [
    Route("/healthz", healthz, name="healthz"),
    Route("/readyz", readyz, name="readyz"),
    Route("/metrics", metrics, name="metrics"),
]
