"""The tracking beacon and the buyer's own tracking controls.

The beacon (`POST /r/{room_id}/t`) is the hottest route of the app: every open room sends one
every 10 s. It never touches the database: it checks the body, takes room and viewer from the
signed buyer cookie, checks the page's signed stream token against them, drops bots and the
seller's team, and hands the beat to the in-process `tracking.Ingest` buffer, which passes
batches every 100 ms to the writer process (trackwriter.py). Everything else (revoked or paused viewers, items of another room,
replays, inflated seconds) is decided when the batch is written.

The stream token doubles as the CSRF proof (`navigator.sendBeacon` cannot send our header): it
is signed, bound to this room and this invite, and only our own page has it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from .. import analytics, audit, metrics, tracking
from ..db import pk
from ..errors import NotFound
from ..i18n import _
from ..invites import Invite
from ..security import Signer, TokenInvalid
from ..tracking import Beat, BeatError
from .auth import SESSION_COOKIE, VIEWER_COOKIE, VIEWER_MAX_AGE, require_viewer
from .handler import Req, endpoint
from .render import redirect, render

log = logging.getLogger("dealroom.access")

MAX_BODY = 16 * 1024
STREAM_MAX_AGE = 2 * 86400  # a tab left open over a weekend re-issues on reload
COUNTRY = re.compile(r"^[A-Z]{2}$")


def stream_token(signer: Signer, *, room_id: str, invite_id: str) -> str:
    """The signed id of one page load's beat stream, embedded in the page for track.js."""
    return signer.sign(
        "track",
        {"s": secrets.token_urlsafe(18), "r": room_id, "i": invite_id, "t": int(time.time())},
    )


# A browser sends the same cookie and stream token with every beat: their signatures are
# checked once and remembered here (per process, bounded; the age is still checked each time).
# One entry per open page (and per viewer cookie), under 1 KB each: 50,000 open pages beating
# every 10 s are 5,000 beats/s into one process. Past that, every beat would check its HMAC
# again (the whole cache is emptied when full), about a fifth of the beacon's cost. At most
# ~40 MB per process.
_VERIFIED: dict[tuple[str, str], tuple[Any, float]] = {}
_VERIFIED_MAX = 50_000


def _unsign(signer: Signer, namespace: str, raw: str, max_age: int) -> Any:
    if not raw:
        return None
    key = (namespace, raw)
    known = _VERIFIED.get(key)
    if known is None:
        try:
            payload, signed_at = signer.unsign_timed(namespace, raw)
        except TokenInvalid:
            return None
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        known = _VERIFIED[key] = (payload, signed_at.timestamp())
    payload, signed = known
    return payload if time.time() - signed <= max_age else None


def parse_body(body: bytes) -> tuple[str, int, tuple[tracking.BeatEvent, ...], int, bool]:
    """(token, seq, events, inputs, final) from a beacon body, or BeatError."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BeatError("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise BeatError("the body must be a JSON object")
    token = data.get("t")
    if not isinstance(token, str) or not 0 < len(token) <= 400:
        raise BeatError("t must be the page's stream token")
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= 10**9:
        raise BeatError("seq must be a positive integer")
    inputs = data.get("i", 0)
    if isinstance(inputs, bool) or not isinstance(inputs, int) or not 0 <= inputs <= 10**6:
        raise BeatError("i must be a count of interactions")
    final = data.get("f", False)
    if not isinstance(final, bool):
        raise BeatError("f must be true or false")
    return token, seq, tracking.parse_events(data.get("ev", [])), inputs, final


class Answer(Exception):
    """Ends a beacon request early with this status (and a JSON error, except for 204)."""

    def __init__(self, status: int, code: str = "", message: str = "") -> None:
        self.status, self.code, self.message = status, code, message


def _cookie_values(header: str, *names: str) -> dict[str, str]:
    found = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name in names:
            found[name] = value
    return found


async def _read_body(receive: Receive, declared: str) -> bytes:
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Answer(413, "too_large", "A beat is at most 16 KB.")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Answer(400, "malformed", "The request ended early.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise Answer(413, "too_large", "A beat is at most 16 KB.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def accept_beat(services: Any, room_id: str, headers: dict[bytes, str], body: bytes) -> None:
    """Check one beat and hand it to the ingest buffer, or raise Answer. No database here."""
    ingest: tracking.Ingest = services.ingest
    signer: Signer = services.signer
    # Who first: someone without this room's buyer cookie learns nothing, not even whether
    # their body would have been valid.
    cookies = _cookie_values(headers.get(b"cookie", ""), VIEWER_COOKIE, SESSION_COOKIE)
    grants = _unsign(signer, "viewer", cookies.get(VIEWER_COOKIE, ""), VIEWER_MAX_AGE)
    invite_id = grants.get(room_id) if isinstance(grants, dict) else None
    seller = bool(
        _unsign(
            signer,
            "seller-session",
            cookies.get(SESSION_COOKIE, ""),
            services.settings.session_days * 86400,
        )
    )
    if not isinstance(invite_id, str):
        # Seller previews carry no tracker, so nobody without the room's buyer cookie beats.
        raise Answer(404, "not_found", "Open your personal invite link to enter this room.")
    try:
        token, seq, events, inputs, final = parse_body(body)
    except BeatError as exc:
        raise Answer(400, "malformed", str(exc)) from None
    count = max(1, len(events))
    stream = _unsign(signer, "track", token, STREAM_MAX_AGE)
    if (
        not isinstance(stream, dict)
        or stream.get("r") != room_id
        or stream.get("i") != invite_id
        or not isinstance(stream.get("s"), str)
        or not isinstance(stream.get("t"), int)
    ):
        raise Answer(400, "stale_page", "This page is out of date: reload it.")
    user_agent = headers.get(b"user-agent", "")
    if tracking.is_bot(user_agent):
        ingest.drops.add("bot", count)
        raise Answer(204)
    if seller:
        ingest.drops.add("seller", count)
        raise Answer(204)
    country = ""
    header = services.settings.track_country_header
    if header:
        value = headers.get(header.lower().encode("latin-1"), "").upper()
        country = value if COUNTRY.match(value) else ""
    if ingest.full:
        raise _busy(ingest)
    ingest.add(
        Beat(
            received_at=time.time(),
            room=room_id,
            invite=invite_id,
            stream=stream["s"],
            issued_at=float(stream["t"]),
            seq=seq,
            events=events,
            inputs=inputs,
            final=final,
            device=tracking.device_class(user_agent),
            country=country,
        )
    )


# When the buffer is full, browsers are told to send the beat again (track.js keeps a beat
# that got a 5xx and retries with its next beat, 10 s later, with the same sequence number).
RETRY_AFTER = 10
_busy_logged = -math.inf  # when the last "buffer full" warning was logged (one a minute)


def _busy(ingest: tracking.Ingest) -> Answer:
    global _busy_logged
    now = time.monotonic()
    if now - _busy_logged >= 60:
        _busy_logged = now
        log.warning(
            "tracking: %d beats wait for the writer (limit %d); beats are answered 503 until "
            "it catches up",
            ingest.depth,
            ingest.limit,
        )
    return Answer(503, "busy", "Activity could not be saved just now; it will be sent again.")


WANTED = frozenset({b"content-length", b"cookie", b"user-agent"})


async def _answer(
    services: Any, receive: Receive, headers: dict[bytes, str], room_id: str
) -> tuple[int, bytes]:
    """(status, JSON error body or b"") for one beat."""
    try:
        body = await _read_body(receive, headers.get(b"content-length", ""))
        accept_beat(services, room_id, headers, body)
        return 204, b""
    except Answer as answer:
        if answer.status == 204:
            return 204, b""
        error = {"error": {"code": answer.code, "message": answer.message}}
        return answer.status, json.dumps(error).encode()


def _with_body(
    headers: list[tuple[bytes, bytes]], status: int, payload: bytes
) -> list[tuple[bytes, bytes]]:
    if payload:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
    if status == 503:
        headers.append((b"retry-after", str(RETRY_AFTER).encode()))
    return headers


async def handle_beacon(
    services: Any, scope: Scope, receive: Receive, send: Send, room_id: str
) -> int:
    """POST /r/{room_id}/t as plain ASGI, behind the middleware; returns the status it answered."""
    country = services.settings.track_country_header.lower().encode("latin-1")
    headers = {
        name: value.decode("latin-1")
        for name, value in scope["headers"]
        if name in WANTED or name == country
    }
    status, payload = await _answer(services, receive, headers, room_id)
    response_headers = _with_body([(b"cache-control", b"no-store")], status, payload)
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": payload})
    return status


class BeaconEndpoint:
    """The beacon as the router's endpoint (url_for, the route list); requests normally never
    reach it, see BeaconFastPath."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await JSONResponse(
                {"error": {"code": "method_not_allowed", "message": "POST a beat."}},
                status_code=405,
                headers={"Allow": "POST"},
            )(scope, receive, send)
            return
        services = scope["app"].state.services
        await handle_beacon(services, scope, receive, send, scope["path_params"]["room_id"])


BEACON_PATH = re.compile(r"^/r/([A-Za-z0-9_-]{1,64})/t$")
# What the fast path reads of a request's headers, besides the tracking country header.
FAST_WANTED = WANTED | {b"origin", b"host", b"x-forwarded-proto"}


class BeaconFastPath:
    """POST /r/{room_id}/t, by far the most frequent request (every open room page sends one
    every 10 s), is answered here before anything else of the app runs (`DealroomApp` calls it
    first). It renders nothing, sets no cookie and needs no language, so it skips routing and
    the middleware stack, which cost more than the beacon itself. It still makes the origin
    check and sends the security headers of every response with a body (worked out once: they
    depend only on TLS), answers an unexpected error with a 500, and is counted in the request
    metrics; its access-log line is at DEBUG level.

    The 204 of an accepted beat carries only `cache-control: no-store` (and HSTS over TLS):
    CSP, X-Frame-Options, nosniff and Referrer-Policy govern a document or a body, and an
    empty 204 to a script's POST is never rendered, framed or sniffed. Writing out those four
    headers was ~3 µs of the server's ~50 µs per beat (the server checks every header's bytes
    as it writes them)."""

    def __init__(self, services: Any, security: Any) -> None:
        self.services = services
        self.security = security  # the SecurityMiddleware's checks and headers, reused
        country = services.settings.track_country_header.lower().encode("latin-1")
        self.wanted = FAST_WANTED | {country} if country else FAST_WANTED
        self.headers = {https: self._security_headers(https) for https in (False, True)}
        self.empty = {https: self._empty_headers(https) for https in (False, True)}
        self.counted: dict[int, Any] = {}  # status: its request counter
        self.duration = metrics.HTTP_DURATION.labels(route="tracking:beacon", method="POST")

    @staticmethod
    def room_of(scope: Scope) -> str | None:
        """The room id when this request is a beat (POST /r/{room_id}/t), else None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        match = BEACON_PATH.match(scope["path"])
        return match.group(1) if match else None

    def _security_headers(self, https: bool) -> tuple[tuple[bytes, bytes], ...]:
        message: Message = {
            "type": "http.response.start",
            "headers": [(b"cache-control", b"no-store")],
        }
        self.security._security_headers(MutableHeaders(scope=message), "/r/-/t", https=https)
        return tuple(message["headers"])

    def _empty_headers(self, https: bool) -> tuple[tuple[bytes, bytes], ...]:
        """What a 204 carries: no caching, and HSTS over TLS (it holds for any response)."""
        kept = (b"cache-control", b"strict-transport-security")
        return tuple((name, value) for name, value in self.headers[https] if name in kept)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, room_id: str) -> None:
        started = time.perf_counter()
        headers = {}
        for name, value in scope["headers"]:
            if name in self.wanted:
                headers[name] = value.decode("latin-1")
        security = self.security
        https = scope.get("scheme") == "https" or (
            security.trust_proxy and security.forwarded_https(headers.get(b"x-forwarded-proto", ""))
        )
        try:
            problem = security.origin_problem(
                headers.get(b"origin", ""), headers.get(b"host", ""), scope.get("scheme", "http")
            )
            if problem:
                status = 403
                payload = json.dumps({"error": {"code": "forbidden", "message": problem}}).encode()
            else:
                status, payload = await _answer(self.services, receive, headers, room_id)
        except Exception:  # noqa: BLE001 - answered like any other unexpected error: a 500
            log.exception("the tracking beacon failed")
            status, payload = 500, b'{"error": {"code": "server_error", "message": "Try again."}}'
        if payload:
            response_headers = _with_body(list(self.headers[https]), status, payload)
        else:
            response_headers = list(self.empty[https])
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
        elapsed = time.perf_counter() - started
        counter = self.counted.get(status)
        if counter is None:
            counter = self.counted[status] = metrics.HTTP_REQUESTS.labels(
                route="tracking:beacon", method="POST", status=status
            )
        counter.inc()
        self.duration.observe(elapsed)
        log.debug("POST /r/{room_id}/t %s %.1fms", status, elapsed * 1000)


# ---------------------------------------------------------------- the buyer's own controls


def page_tracking(req: Req, room: Any, invite: Any, *, item: str | None = None) -> dict | None:
    """What a buyer page needs to report activity (None: nothing is reported: a seller's
    preview, or tracking paused). The page shows the notice, so tracking may start with it:
    `page_marks` records that it was shown."""
    if invite is None or invite.tracking_paused_at is not None:
        return None
    return {
        "token": stream_token(
            req.services.signer, room_id=room.public_id, invite_id=invite.public_id
        ),
        "idle": req.settings.track_idle_seconds,
        "item": item,
    }


@contextmanager
def page_marks(req: Req, invite: Invite) -> Iterator[tuple[Session, Invite]]:
    """A short transaction of its own for what showing a buyer page records: the tracking
    notice shown, and whatever the caller adds (the visit marker, an item opened). Yields that
    session and the invite as loaded in it.

    The page's own transaction then only reads. On SQLite a read that turns into a write fails
    at once when another connection (the tracking writer, or another request) committed since
    it began; the page then had to run again as a writer, doing its work twice and holding the
    database's only write lock while it rendered, and under load other writers waited past the
    busy timeout ("database is locked", 503). Here the lock is held for a few small writes.

    The page's read transaction ends first (nothing to commit; later reads begin another), so
    the thread holds one pooled connection at a time: threads each holding one and waiting for
    a second would exhaust the pool. A request that already writes (a form, or a page run again
    as a writer) records in its own transaction instead: a second connection would wait for the
    lock this very thread holds."""
    if req.session.connection().get_execution_options().get("dealroom_write"):
        tracking.show_notice(invite)
        yield req.session, invite
        return
    req.session.commit()
    with req.services.db.session() as session:
        mine = session.get(Invite, pk(invite))
        if mine is None:  # deleted since the page read it: nothing to record
            raise NotFound(_("This invitation does not exist or was withdrawn."))
        tracking.show_notice(mine)
        yield session, mine


@endpoint
def my_activity(req: Req) -> Response:
    """ "Your activity": exactly what the seller sees about this buyer, and the pause switch."""
    room, invite = require_viewer(req)
    ctx: dict[str, Any] = {"room": room, "viewer": invite, "preview": invite is None, "me": None}
    if invite is not None:
        tracking.show_notice(invite)
        ctx["me"] = analytics.viewer_engagement(req.session, room=room, invite=invite)
    ctx["retention_days"] = room.retention_days
    return render(req, "buyer/activity.html", ctx)


@endpoint(form=True)
def set_tracking(req: Req) -> Response:
    """Pause or resume tracking (also "OK" on the first-visit notice, which just records that
    the notice was seen)."""
    room, invite = require_viewer(req)
    if invite is not None:
        record_choice(req, room, invite, req.field("tracking"))
    return back_to_room(req, room)


def record_choice(req: Req, room: Any, invite: Any, choice: str) -> None:
    """A buyer's answer about tracking: "pause" or "resume" (audited), anything else is "OK"
    on the notice."""
    if choice in ("pause", "resume"):
        tracking.set_paused(invite, choice == "pause")
        audit.record(
            req.session,
            org_id=room.org_id,
            actor=invite.public_id,
            action=f"tracking.{'paused' if choice == 'pause' else 'resumed'}",
            target=invite.public_id,
        )
    else:
        tracking.acknowledge_notice(invite)


def back_to_room(req: Req, room: Any) -> Response:
    """Back to the `next` page of this room the form names, else the room."""
    back = req.field("next")
    target = back if back.startswith(f"/r/{room.public_id}") else f"/r/{room.public_id}"
    return redirect(req, target)


routes = [
    Route("/r/{room_id}/t", BeaconEndpoint(), methods=["POST"], name="tracking:beacon"),
    Route("/r/{room_id}/activity", my_activity, name="tracking:mine"),
    Route("/r/{room_id}/tracking", set_tracking, methods=["POST"], name="tracking:set"),
]


# What /metrics reports about tracking (this process's buffer and counts; sum over processes).
metrics.collect(
    "dealroom_tracking_buffer_depth",
    "Tracking beats accepted by this process and not yet written.",
    lambda services: services.ingest.depth,
)
metrics.collect(
    "dealroom_tracking_events_total",
    "Tracking events written, or refused by reason, by this process since it started.",
    lambda services: {
        ("accepted", ""): services.ingest.accepted_total,
        **{("dropped", reason): n for reason, n in services.ingest.refused_total().items()},
    },
    ("outcome", "reason"),
    kind="counter",
)
