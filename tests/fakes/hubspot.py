"""A stateful fake of HubSpot's CRM API, from the documented contract (API-NOTES.md § 1).

HubSpot's OpenAPI files are not licensed for redistribution, so requests are checked by hand
against the notes: Bearer auth (401 bodies as HubSpot sends them), property values must be
strings, `associations` is required on create, `hs_timestamp` is required on notes and tasks,
enums (task status, priority, type), the note size, association type ids per object pair,
and the search request's required `after`, `limit`, `properties`, `sorts`.

Modelled: OAuth refresh (`/oauth/v1/token`, optional refresh-token rotation), private app
tokens, contacts / deals / notes / tasks, v4 associations (with their inverse types) and the
labels table, batch read, contact search (EQ / IN on email, paging), the ten-secondly rolling
and daily limits with their headers and 429 bodies, the search API's per-second limit.

Faults (besides faults.COMMON): "429" (TEN_SECONDLY_ROLLING), "429_daily", "429_secondly"
(search), "500", "502", "503", "423", "expire_token" (every OAuth access token expires before
this request), "delete_deal" (every deal is archived before this request).
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import FaultMiddleware, Faults, Logged

OBJECT_TYPES = ("contacts", "deals", "notes", "tasks")
TYPE_IDS = {"contacts": "0-1", "deals": "0-3", "notes": "0-46", "tasks": "0-27"}
# HUBSPOT_DEFINED association type ids, both directions (API-NOTES 1.3).
ASSOCIATION_TYPES = {
    ("notes", "deals"): 214,
    ("deals", "notes"): 213,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("tasks", "deals"): 216,
    ("deals", "tasks"): 215,
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
}
PROPERTIES = {
    "contacts": {"email", "firstname", "lastname"},
    "deals": {"dealname", "hs_next_step", "amount", "dealstage", "pipeline", "closedate"},
    "notes": {"hs_timestamp", "hs_note_body", "hubspot_owner_id", "hs_attachment_ids"},
    "tasks": {
        "hs_timestamp",
        "hs_task_subject",
        "hs_task_body",
        "hs_task_status",
        "hs_task_priority",
        "hs_task_type",
        "hubspot_owner_id",
        "hs_task_reminders",
    },
}
ENUMS = {
    "hs_task_status": {"NOT_STARTED", "COMPLETED"},
    "hs_task_priority": {"LOW", "MEDIUM", "HIGH"},
    "hs_task_type": {"EMAIL", "CALL", "TODO"},
}
NOTE_LIMIT = 65_536
TIMESTAMP = re.compile(r"^\d{10,13}$|^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")
INTERVAL_MS = 10_000


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, message: str, category: str, **extra: Any) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    return JSONResponse(body | extra, status_code=status)


def _validation(message: str, **extra: Any) -> JSONResponse:
    return _error(400, message, "VALIDATION_ERROR", **extra)


class HubSpotFake:
    FAULTS = (
        "429",
        "429_daily",
        "429_secondly",
        "500",
        "502",
        "503",
        "423",
        "expire_token",
        "delete_deal",
    )

    def __init__(
        self, *, per_ten_seconds: int = 100, daily: int = 250_000, search_per_second: int = 4
    ) -> None:
        self.portal_id = 4242
        self.private_tokens = {"pat-na1-11111111-2222-3333-4444-555555555555"}
        self.clients = {"client-id-1": "client-secret-1"}
        self.refresh_tokens = {"refresh-token-1"}
        self.access_tokens: dict[str, float] = {}  # OAuth token -> expiry (epoch seconds)
        self.rotate_refresh_tokens = False
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in OBJECT_TYPES}
        self.associations: set[tuple[str, str, str, str, int]] = (
            set()
        )  # from type/id, to type/id, typeId
        self.per_ten_seconds = per_ten_seconds
        self.daily = daily
        self.search_per_second = search_per_second
        self._calls: dict[str, deque[float]] = {}
        self._searches: dict[str, deque[float]] = {}
        self._daily_used: dict[str, int] = {}
        self._ids = itertools.count(10_001)
        self.faults = Faults(self.FAULTS)
        self.log: list[Logged] = []
        self.renewals = 0
        self.retry_after = ""  # a Retry-After header on 429s (HubSpot documents none for CRM)
        routes = [
            Route("/oauth/v1/token", self.token, methods=["POST"]),
            Route("/crm/v3/objects/{type}/search", self.search, methods=["POST"]),
            Route("/crm/v3/objects/{type}/batch/read", self.batch_read, methods=["POST"]),
            Route("/crm/v3/objects/{type}", self.collection, methods=["GET", "POST"]),
            Route("/crm/v3/objects/{type}/{id}", self.item, methods=["GET", "PATCH"]),
            Route("/crm/v4/associations/{from}/{to}/labels", self.labels, methods=["GET"]),
            Route(
                "/crm/v4/objects/{type}/{id}/associations/{to}",
                self.list_associations,
                methods=["GET"],
            ),
            Route(
                "/crm/v4/objects/{type}/{id}/associations/{to}/{to_id}",
                self.associate,
                methods=["PUT"],
            ),
        ]
        self.app = FaultMiddleware(Starlette(routes=routes), self.faults, self._fault, self.log)

    # ------------------------------------------------------------------ test helpers

    def script(self, faults: list[str], *, on: str | None = None) -> None:
        self.faults.script(faults, on=on)

    def add(self, object_type: str, **properties: str) -> str:
        object_id = str(next(self._ids))
        now = _now()
        self.objects[object_type][object_id] = {
            "id": object_id,
            "properties": dict(properties),
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }
        return object_id

    def add_contact(self, email: str, firstname: str = "", lastname: str = "") -> str:
        return self.add("contacts", email=email, firstname=firstname, lastname=lastname)

    def add_deal(self, name: str = "Acme rollout") -> str:
        return self.add("deals", dealname=name, hs_next_step="")

    def issue_oauth(self, *, expires_in: float = 1800) -> str:
        token = f"oauth-{uuid.uuid4().hex}"
        self.access_tokens[token] = time.time() + expires_in
        return token

    def expire_tokens(self) -> None:
        for token in self.access_tokens:
            self.access_tokens[token] = time.time() - 60

    def delete_deal(self, deal_id: str | None = None) -> None:
        for object_id, deal in self.objects["deals"].items():
            if deal_id in (None, object_id):
                deal["archived"] = True

    def live(self, object_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.objects[object_type].items() if not v["archived"]}

    def associated(self, from_type: str, from_id: str, to_type: str) -> set[str]:
        return {
            a[3]
            for a in self.associations
            if a[0] == from_type and a[1] == from_id and a[2] == to_type
        }

    def writes(self) -> list[Logged]:
        return [
            entry
            for entry in self.log
            if entry.method in ("POST", "PATCH", "PUT") and "search" not in entry.path
        ]

    # ------------------------------------------------------------------ faults, auth, limits

    def _fault(self, fault: str, request: Request) -> Response | None:
        if fault == "expire_token":
            self.expire_tokens()
            return None
        if fault == "delete_deal":
            self.delete_deal()
            return None
        if fault == "429":
            return self._rate_limited("TEN_SECONDLY_ROLLING")
        if fault == "429_daily":
            return self._rate_limited("DAILY")
        if fault == "429_secondly":
            return self._rate_limited("SECONDLY")
        if fault == "423":
            return _error(423, "The resource is locked; try again in a moment.", "LOCKED")
        status = int(fault)
        return (
            _error(status, "internal error", "INTERNAL_ERROR")
            if status == 500
            else Response(
                f"<html><body>{status}</body></html>", status_code=status, media_type="text/html"
            )
        )

    def _rate_limited(self, policy: str) -> JSONResponse:
        message = {
            "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
            "DAILY": "You have reached your daily limit.",
            "SECONDLY": "You have reached your secondly limit.",
        }[policy]
        body = {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": str(uuid.uuid4()),
        }
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        return JSONResponse(body, status_code=429, headers=headers)

    def _auth(self, request: Request) -> tuple[str, JSONResponse | None]:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if token in self.private_tokens:
            return token, None
        expires = self.access_tokens.get(token)
        if expires is not None and expires <= time.time():
            ago = max(1, int((time.time() - expires) / 60))
            return token, _error(
                401,
                f"The OAuth token used to make this call expired {ago} minute(s) ago.",
                "EXPIRED_AUTHENTICATION",
            )
        if expires is None:
            return token, _error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        return token, None

    def _limits(self, token: str, *, search: bool) -> tuple[dict[str, str], JSONResponse | None]:
        now = time.monotonic()
        if search:  # its own per-second limit, and no rate-limit headers on search answers
            recent = self._searches.setdefault(token, deque())
            while recent and now - recent[0] >= 1:
                recent.popleft()
            if len(recent) >= self.search_per_second:
                return {}, self._rate_limited("SECONDLY")
            recent.append(now)
            return {}, None
        calls = self._calls.setdefault(token, deque())
        while calls and now - calls[0] >= INTERVAL_MS / 1000:
            calls.popleft()
        used = self._daily_used.get(token, 0)
        if used >= self.daily:
            return {}, self._rate_limited("DAILY")
        if len(calls) >= self.per_ten_seconds:
            return {}, self._rate_limited("TEN_SECONDLY_ROLLING")
        calls.append(now)
        self._daily_used[token] = used + 1
        headers = {
            "X-HubSpot-RateLimit-Max": str(self.per_ten_seconds),
            "X-HubSpot-RateLimit-Remaining": str(self.per_ten_seconds - len(calls)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS),
        }
        if token in self.private_tokens:
            headers |= {
                "X-HubSpot-RateLimit-Daily": str(self.daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily - used - 1),
            }
        return headers, None

    async def _guard(
        self, request: Request, handler: Callable[[], Any], *, search: bool = False
    ) -> Response:
        token, refused = self._auth(request)
        if refused:
            return refused
        headers, limited = self._limits(token, search=search)
        if limited:
            return limited
        response: Response = await handler()
        response.headers.update(headers)
        return response

    async def _json(self, request: Request) -> tuple[Any, JSONResponse | None]:
        try:
            return await request.json(), None
        except ValueError:
            return None, _validation(
                "Invalid input JSON on line 1, column 1: Unexpected end-of-input"
            )

    # ------------------------------------------------------------------ OAuth

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "refresh_token":
            return JSONResponse(
                {"status": "BAD_GRANT_TYPE", "message": "missing or unsupported grant_type"}, 400
            )
        if self.clients.get(str(form.get("client_id"))) != form.get("client_secret"):
            return JSONResponse(
                {
                    "status": "BAD_CLIENT_ID",
                    "message": "missing or unknown client id",
                    "correlationId": str(uuid.uuid4()),
                },
                400,
            )
        refresh = str(form.get("refresh_token") or "")
        if refresh not in self.refresh_tokens:
            return JSONResponse(
                {
                    "status": "BAD_REFRESH_TOKEN",
                    "message": "missing or unknown refresh token",
                    "correlationId": str(uuid.uuid4()),
                },
                400,
            )
        if self.rotate_refresh_tokens:
            self.refresh_tokens.discard(refresh)
            refresh = f"refresh-{uuid.uuid4().hex}"
            self.refresh_tokens.add(refresh)
        self.renewals += 1
        return JSONResponse(
            {
                "token_type": "bearer",
                "refresh_token": refresh,
                "access_token": self.issue_oauth(),
                "expires_in": 1800,
                "hub_id": self.portal_id,
                "token_use": "access_token",
                "scopes": [
                    "crm.objects.contacts.read",
                    "crm.objects.contacts.write",
                    "crm.objects.deals.read",
                ],
            }
        )

    # ------------------------------------------------------------------ objects

    def _type(self, request: Request) -> str | None:
        object_type = request.path_params["type"]
        return object_type if object_type in OBJECT_TYPES else None

    def _get(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        found = self.objects[object_type].get(object_id)
        return found if found and not found["archived"] else None

    def _not_found(self) -> JSONResponse:
        return _error(404, "resource not found", "OBJECT_NOT_FOUND")

    def _check_properties(
        self, object_type: str, properties: Any, *, create: bool
    ) -> JSONResponse | None:
        if not isinstance(properties, dict):
            return _validation("Invalid input JSON: properties must be an object")
        problems = []
        for name, value in properties.items():
            if name not in PROPERTIES[object_type]:
                problems.append(
                    (name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST")
                )
            elif not isinstance(value, str):
                # The schema is additionalProperties: {type: string} (numbers are refused).
                problems.append((name, f"{value!r} is not a string", "INVALID_TYPE"))
            elif name in ENUMS and value not in ENUMS[name]:
                problems.append(
                    (
                        name,
                        f"{value} was not one of the allowed options: {sorted(ENUMS[name])}",
                        "INVALID_OPTION",
                    )
                )
            elif name == "hs_timestamp" and not TIMESTAMP.match(value):
                problems.append((name, f"{value} is not a valid datetime", "INVALID_DATE"))
            elif name == "hs_note_body" and len(value) > NOTE_LIMIT:
                problems.append(
                    (name, f"value is longer than {NOTE_LIMIT} characters", "INVALID_STRING_LENGTH")
                )
        if create and object_type in ("notes", "tasks") and "hs_timestamp" not in properties:
            problems.append(("hs_timestamp", "hs_timestamp is required", "REQUIRED_PROPERTY"))
        if not problems:
            return None
        detail = ", ".join(
            f'{{"isValid":false,"message":"{m}","error":"{e}","name":"{n}"}}'
            for n, m, e in problems
        )
        return _validation(f"Property values were not valid: [{detail}]")

    def _check_association(
        self, from_type: str, spec: Any
    ) -> tuple[tuple[str, str, int] | None, str]:
        """(to type, to id, type id) of one create-time association, or an error message."""
        try:
            to_id = str(spec["to"]["id"])
            types = spec["types"]
            assert isinstance(types, list) and types
        except (KeyError, TypeError, AssertionError):
            return None, "Invalid input JSON: association needs to.id and types"
        for entry in types:
            if entry.get("associationCategory") not in (
                "HUBSPOT_DEFINED",
                "USER_DEFINED",
                "INTEGRATOR_DEFINED",
            ):
                return None, f"Unknown associationCategory {entry.get('associationCategory')!r}"
            type_id = entry.get("associationTypeId")
            matches = [
                to for (f, to), t in ASSOCIATION_TYPES.items() if f == from_type and t == type_id
            ]
            if not isinstance(type_id, int) or not matches:
                return None, f"association type id {type_id} doesn't exist for {from_type}"
            if not self._get(matches[0], to_id):
                return (
                    None,
                    f"One or more associations are invalid: {matches[0]} {to_id} does not exist",
                )
            return (matches[0], to_id, type_id), ""
        return None, "Invalid association"

    async def collection(self, request: Request) -> Response:
        object_type = self._type(request)
        if not object_type:
            return self._not_found()

        async def handle() -> Response:
            if request.method == "GET":
                limit = int(request.query_params.get("limit") or 10)
                rows = list(self.live(object_type).values())[:limit]
                return JSONResponse({"results": rows})
            body, bad = await self._json(request)
            if bad:
                return bad
            if not isinstance(body, dict) or "properties" not in body or "associations" not in body:
                missing = [
                    k
                    for k in ("associations", "properties")
                    if not isinstance(body, dict) or k not in body
                ]
                return _validation(
                    "Invalid input JSON on line 1, column 1: Cannot build SimplePublicObjectInputForCreate, "
                    f"some of required attributes are not set {missing}"
                )
            refused = self._check_properties(object_type, body["properties"], create=True)
            if refused:
                return refused
            links = []
            for spec in body["associations"] or []:
                link, problem = self._check_association(object_type, spec)
                if not link:
                    return _validation(problem)
                links.append(link)
            object_id = self.add(object_type, **body["properties"])
            for to_type, to_id, type_id in links:
                self._link(object_type, object_id, to_type, to_id, type_id)
            return JSONResponse(self.objects[object_type][object_id], status_code=201)

        return await self._guard(request, handle)

    def _link(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        self.associations.add((from_type, from_id, to_type, to_id, type_id))
        inverse = ASSOCIATION_TYPES.get((to_type, from_type))
        if inverse:
            self.associations.add((to_type, to_id, from_type, from_id, inverse))

    async def item(self, request: Request) -> Response:
        object_type = self._type(request)
        object_id = request.path_params["id"]

        async def handle() -> Response:
            found = self._get(object_type, object_id) if object_type else None
            if not found or not object_type:
                return self._not_found()
            if request.method == "GET":
                wanted = [p for p in (request.query_params.get("properties") or "").split(",") if p]
                shown = {k: v for k, v in found["properties"].items() if not wanted or k in wanted}
                return JSONResponse(found | {"properties": shown | {"hs_object_id": object_id}})
            body, bad = await self._json(request)
            if bad:
                return bad
            if not isinstance(body, dict) or "properties" not in body:
                return _validation("Invalid input JSON: properties is required")
            refused = self._check_properties(object_type, body["properties"], create=False)
            if refused:
                return refused
            found["properties"].update(body["properties"])
            found["updatedAt"] = _now()
            return JSONResponse(found)

        return await self._guard(request, handle)

    async def batch_read(self, request: Request) -> Response:
        object_type = self._type(request)

        async def handle() -> Response:
            body, bad = await self._json(request)
            if bad:
                return bad
            if (
                not object_type
                or not isinstance(body, dict)
                or "inputs" not in body
                or "properties" not in body
            ):
                return _validation(
                    "Cannot build BatchReadInputSimplePublicObjectId, some of required attributes are not set"
                )
            if len(body["inputs"]) > 100:
                return _validation("Batch input is limited to 100 inputs")
            results = []
            for entry in body["inputs"]:
                found = self._get(object_type, str(entry.get("id")))
                if found:
                    shown = {
                        k: v for k, v in found["properties"].items() if k in body["properties"]
                    }
                    results.append(found | {"properties": shown})
            now = _now()
            return JSONResponse(
                {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
            )

        return await self._guard(request, handle)

    async def search(self, request: Request) -> Response:
        async def handle() -> Response:
            body, bad = await self._json(request)
            if bad:
                return bad
            required = ("after", "filterGroups", "limit", "properties", "sorts")
            missing = [k for k in required if not isinstance(body, dict) or k not in body]
            if missing or request.path_params["type"] != "contacts":
                return _validation(
                    "Invalid input JSON on line 1, column 1: Cannot build PublicObjectSearchRequest, "
                    f"some of required attributes are not set {missing}"
                )
            groups = body["filterGroups"]
            if len(groups) > 5 or any(len(g.get("filters", [])) > 6 for g in groups):
                return _validation("Too many filter groups or filters (5 groups of 6 at most)")
            limit = int(body["limit"])
            if not 0 < limit <= 200:
                return _validation("limit must be between 1 and 200")
            rows = [row for row in self.live("contacts").values() if self._matches(row, groups)]
            start = int(body["after"] or 0)
            page = rows[start : start + limit]
            answer: dict[str, Any] = {
                "total": len(rows),
                "results": [
                    row
                    | {
                        "properties": {p: row["properties"].get(p) for p in body["properties"]}
                        | {"hs_object_id": row["id"]}
                    }
                    for row in page
                ],
            }
            if start + limit < len(rows):
                answer["paging"] = {"next": {"after": str(start + limit)}}
            return JSONResponse(answer)

        return await self._guard(request, handle, search=True)

    @staticmethod
    def _matches(row: dict[str, Any], groups: list[dict[str, Any]]) -> bool:
        if not groups:
            return True
        for group in groups:
            ok = True
            for f in group.get("filters", []):
                value = str(row["properties"].get(f["propertyName"]) or "").lower()
                if f["operator"] == "EQ":
                    ok = ok and value == str(f["value"]).lower()
                elif f["operator"] == "IN":
                    ok = ok and value in {str(v).lower() for v in f["values"]}
                else:
                    ok = False
            if ok:
                return True
        return False

    # ------------------------------------------------------------------ associations (v4)

    async def labels(self, request: Request) -> Response:
        pair = (request.path_params["from"], request.path_params["to"])

        async def handle() -> Response:
            type_id = ASSOCIATION_TYPES.get(pair)
            if type_id is None:
                return _validation(f"No association types between {pair[0]} and {pair[1]}")
            return JSONResponse(
                {"results": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]}
            )

        return await self._guard(request, handle)

    async def list_associations(self, request: Request) -> Response:
        object_type, object_id, to_type = (request.path_params[k] for k in ("type", "id", "to"))

        async def handle() -> Response:
            if object_type not in OBJECT_TYPES or not self._get(object_type, object_id):
                return self._not_found()
            targets: dict[str, list[int]] = {}
            for f, fid, t, tid, type_id in sorted(self.associations):
                if (f, fid, t) == (object_type, object_id, to_type) and self._get(t, tid):
                    targets.setdefault(tid, []).append(type_id)
            limit = int(request.query_params.get("limit") or 500)
            start = int(request.query_params.get("after") or 0)
            rows = sorted(targets.items(), key=lambda item: int(item[0]))
            answer: dict[str, Any] = {
                "results": [
                    {
                        "toObjectId": int(tid),
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}
                            for t in types
                        ],
                    }
                    for tid, types in rows[start : start + limit]
                ]
            }
            if start + limit < len(rows):
                answer["paging"] = {"next": {"after": str(start + limit)}}
            return JSONResponse(answer)

        return await self._guard(request, handle)

    async def associate(self, request: Request) -> Response:
        object_type, object_id, to_type, to_id = (
            request.path_params[k] for k in ("type", "id", "to", "to_id")
        )

        async def handle() -> Response:
            if object_type not in OBJECT_TYPES or to_type not in OBJECT_TYPES:
                return self._not_found()
            if not self._get(object_type, object_id) or not self._get(to_type, to_id):
                return self._not_found()
            body, bad = await self._json(request)
            if bad:
                return bad
            if not isinstance(body, list) or not body:
                return _validation("Invalid input JSON: expected a list of association specs")
            for spec in body:
                type_id = spec.get("associationTypeId")
                if (
                    spec.get("associationCategory") != "HUBSPOT_DEFINED"
                    or ASSOCIATION_TYPES.get((object_type, to_type)) != type_id
                ):
                    return _validation(
                        f"association type id {type_id} doesn't exist between {object_type} and {to_type}"
                    )
                self._link(object_type, object_id, to_type, to_id, type_id)
            return JSONResponse(
                {
                    "fromObjectTypeId": TYPE_IDS[object_type],
                    "fromObjectId": int(object_id),
                    "toObjectTypeId": TYPE_IDS[to_type],
                    "toObjectId": int(to_id),
                    "labels": [],
                },
                status_code=201,
            )

        return await self._guard(request, handle)
