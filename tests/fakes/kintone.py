"""A stateful fake of kintone's REST API, requests validated with openapi-core against the
official OpenAPI description (shared/crm-specs/kintone, Apache-2.0) and API-NOTES.md § 3.2.

Modelled: one app (fields with types and "prohibit duplicate values"), API tokens with
permissions (view / add / edit) and password authentication, record add / update by id or
updateKey / upsert (`PUT /k/v1/records.json`, INSERT or UPDATE) with revisions, query by key,
record comments (add, list newest first, at most 10), app info, the guest-space twins of
every path, the concurrency limit (the 101st concurrent request: 429 GAIA_TO04) and kintone's
error bodies {code, id, message[, errors]} with the status codes kintone's own tools report.

Codes whose exact value is not confirmed from a primary source offline are marked
[unverified]; the adapter does not depend on them.

Faults (besides faults.COMMON): "429" (GAIA_TO04), "500", "503" (a maintenance page),
"expire_token" (the API token is regenerated in kintone: the old one stops working),
"delete_deal" (every record of the app is deleted), "delete_app".
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.starlette.requests import StarletteOpenAPIRequest
from openapi_core.exceptions import OpenAPIError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import FaultMiddleware, Faults, Logged

# kintone's official OpenAPI description (version 20250423000000, Apache-2.0: the licence is
# beside it), copied into the repository so a clean clone can run the tests.
SPEC = Path(__file__).resolve().parent / "specs" / "kintone-openapi-20250423.yaml"
COMMENT_LIMIT = 65_535
MESSAGES = {
    "CB_VA01": "Missing or invalid input.",
    "CB_IJ01": "Invalid JSON string.",
    "CB_WA01": "Password authentication failed.",
    "CB_AU01": "Please login.",  # [unverified] wording
    "GAIA_IA02": "The specified API token does not match the API token generated via an app.",
    "GAIA_NO01": "Using this API token, you cannot run the specified API.",
    "GAIA_AP01": "The app (ID: {app}) not found. The app may have been deleted.",
    "GAIA_RE01": "The specified record (ID: {record}) is not found.",
    "GAIA_FC01": "The specified field (code: {field}) not found.",  # [unverified] code
    "GAIA_TO04": "The number of concurrent API requests exceeds the limit.",
    "CB_UN01": "An unexpected error occurred.",  # [unverified] code
}
STATUS = {
    "CB_VA01": 400,
    "CB_IJ01": 400,
    "CB_WA01": 401,
    "CB_AU01": 401,
    "GAIA_IA02": 400,
    "GAIA_NO01": 403,
    "GAIA_AP01": 404,
    "GAIA_RE01": 404,
    "GAIA_FC01": 400,
    "GAIA_TO04": 429,
    "CB_UN01": 500,
}
KEY_TYPES = ("SINGLE_LINE_TEXT", "NUMBER")


@functools.cache
def openapi() -> OpenAPI:
    """The bundled spec (about 5 s to load: once per process). Its `servers` name
    *.cybozu.com; the fake serves on 127.0.0.1, so the paths are matched host-free."""
    with SPEC.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    document["servers"] = [{"url": "/"}]
    return OpenAPI.from_dict(document)


def _error(
    code: str,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "code": code,
        "id": secrets.token_urlsafe(15),
        "message": MESSAGES[code].format(**values),
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, STATUS[code], headers=headers)


class KintoneFake:
    FAULTS = ("429", "500", "503", "expire_token", "delete_deal", "delete_app")

    def __init__(self, *, app_id: int = 12, concurrency_limit: int = 100) -> None:
        self.spec = openapi()
        self.app_id = app_id
        self.app_name = "商談管理"
        self.app_exists = True
        self.fields: dict[str, dict[str, Any]] = {
            "dsr_key": {"type": "SINGLE_LINE_TEXT", "unique": True},
            "room_name": {"type": "SINGLE_LINE_TEXT", "unique": False},
            "stage": {"type": "SINGLE_LINE_TEXT", "unique": False},
            "summary": {"type": "MULTI_LINE_TEXT", "unique": False},
            "next_steps": {"type": "MULTI_LINE_TEXT", "unique": False},
            "room_url": {"type": "LINK", "unique": False},
            "customer": {"type": "SINGLE_LINE_TEXT", "unique": False},
        }
        self.tokens: dict[str, set[str]] = {"kintone-token-1": {"view", "add", "edit"}}
        self.users = {"sato": "s3cret"}
        self.records: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.concurrency_limit = concurrency_limit
        self.running = 0
        self.requests_today = 0
        self._record_ids = itertools.count(1)
        self._comment_ids = itertools.count(1)
        self.faults = Faults(self.FAULTS)
        self.log: list[Logged] = []
        routes = []
        for prefix in ("/k/v1", "/k/guest/{space:int}/v1"):
            routes += [
                Route(f"{prefix}/app.json", self.app_info, methods=["GET"]),
                Route(f"{prefix}/record.json", self.record, methods=["POST", "PUT"]),
                Route(f"{prefix}/records.json", self.records_endpoint, methods=["GET", "PUT"]),
                Route(f"{prefix}/record/comment.json", self.add_comment, methods=["POST"]),
                Route(f"{prefix}/record/comments.json", self.list_comments, methods=["GET"]),
            ]
        self.app = FaultMiddleware(Starlette(routes=routes), self.faults, self._fault, self.log)

    # ------------------------------------------------------------------ test helpers

    def script(self, faults: list[str], *, on: str | None = None) -> None:
        self.faults.script(faults, on=on)

    def add_record(self, **values: str) -> str:
        record_id = str(next(self._record_ids))
        self.records[record_id] = {"$id": record_id, "$revision": 1, **values}
        return record_id

    def by_key(self, value: str) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r.get("dsr_key") == value]

    # ------------------------------------------------------------------ faults, auth, contract

    def _fault(self, fault: str, request: Request) -> Response | None:
        if fault == "expire_token":
            self.tokens = {
                f"kintone-token-{secrets.token_hex(4)}": perms for perms in self.tokens.values()
            }
            return None
        if fault == "delete_deal":
            self.records.clear()
            return None
        if fault == "delete_app":
            self.app_exists = False
            return None
        if fault == "429":
            return self._too_many()
        if fault == "503":
            return Response(
                "<html><body>Service Unavailable (maintenance)</body></html>",
                503,
                media_type="text/html",
            )
        return _error("CB_UN01")

    def _too_many(self) -> JSONResponse:
        return _error(
            "GAIA_TO04",
            headers={
                "X-Cybozu-Error": "GAIA_TO04",
                "X-ConcurrencyLimit-Limit": str(self.concurrency_limit),
                "X-ConcurrencyLimit-Running": str(self.concurrency_limit + 1),
            },
        )

    def _permissions(self, request: Request) -> tuple[set[str], JSONResponse | None]:
        token_header = request.headers.get("x-cybozu-api-token")
        if token_header:
            tokens = [t.strip() for t in token_header.split(",")]
            if any(t not in self.tokens for t in tokens):
                return set(), _error("GAIA_IA02")
            return set().union(*(self.tokens[t] for t in tokens)), None
        login = request.headers.get("x-cybozu-authorization")
        if login:
            try:
                user, _, password = base64.b64decode(login).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return set(), _error("CB_WA01")
            if self.users.get(user) != password:
                return set(), _error("CB_WA01")
            return {"view", "add", "edit"}, None
        return set(), _error("CB_AU01")

    async def _handle(self, request: Request, need: set[str], handler: Any) -> Response:
        if self.running >= self.concurrency_limit:
            return self._too_many()
        self.running += 1
        try:
            self.requests_today += 1  # over the daily count kintone only mails a warning
            granted, refused = self._permissions(request)
            if refused:
                return refused
            if not need <= granted:
                return _error("GAIA_NO01")
            body_bytes = await request.body()
            body: Any = None
            if body_bytes:
                try:
                    body = json.loads(body_bytes)
                except ValueError:
                    return _error("CB_IJ01")
            invalid = self._validate(request, body_bytes)
            if invalid:
                return invalid
            app = (
                body.get("app")
                if isinstance(body, dict)
                else request.query_params.get("app") or request.query_params.get("id")
            )
            if str(app) != str(self.app_id) or not self.app_exists:
                return _error("GAIA_AP01", app=app)
            result: Response = handler(body, request, granted)
            return result
        finally:
            self.running -= 1

    def _validate(self, request: Request, body: bytes) -> JSONResponse | None:
        """openapi-core against the stored spec; a failure answers as kintone does (CB_VA01)."""
        try:
            self.spec.validate_request(StarletteOpenAPIRequest(request, body=body or None))
        except OpenAPIError as problem:
            cause = problem.__cause__ or problem
            details = [str(e.message) for e in getattr(cause, "schema_errors", ())] or [str(cause)]
            return _error("CB_VA01", errors={"request": {"messages": details}})
        return None

    def _record_fields(self, record: Any) -> tuple[dict[str, Any], JSONResponse | None]:
        values: dict[str, Any] = {}
        for code, field in (record or {}).items():
            if code not in self.fields:
                return {}, _error("GAIA_FC01", field=code)
            values[code] = field.get("value") if isinstance(field, dict) else None
        return values, None

    def _unique_clash(
        self, values: dict[str, Any], record_id: str | None, where: str
    ) -> JSONResponse | None:
        for code, value in values.items():
            if self.fields[code]["unique"] and value not in (None, ""):
                if any(
                    r.get(code) == value and r["$id"] != record_id for r in self.records.values()
                ):
                    return _error(
                        "CB_VA01",
                        errors={
                            f"{where}.{code}.value": {
                                "messages": ["This value already exists in another record."]
                            }
                        },
                    )
        return None

    def _key(self, update_key: dict[str, Any], where: str) -> tuple[str, JSONResponse | None]:
        field = self.fields.get(update_key["field"])
        if field is None:
            return "", _error("GAIA_FC01", field=update_key["field"])
        if field["type"] not in KEY_TYPES or not field["unique"]:
            return "", _error(
                "CB_VA01",
                errors={
                    f"{where}.updateKey.field": {
                        "messages": [
                            "The field must be a unique key field (prohibit duplicate values)."
                        ]
                    }
                },
            )
        return str(update_key["value"]), None

    # ------------------------------------------------------------------ endpoints

    async def app_info(self, request: Request) -> Response:
        def handle(body: Any, request: Request, granted: set[str]) -> Response:
            return JSONResponse(
                {
                    "appId": str(self.app_id),
                    "code": "",
                    "name": self.app_name,
                    "description": "",
                    "spaceId": None,
                    "threadId": None,
                }
            )

        return await self._handle(request, {"view"}, handle)

    async def record(self, request: Request) -> Response:
        def add(body: dict[str, Any], request: Request, granted: set[str]) -> Response:
            values, bad = self._record_fields(body.get("record"))
            clash = bad or self._unique_clash(values, None, "record")
            if clash:
                return clash
            record_id = self.add_record(**values)
            return JSONResponse({"id": record_id, "revision": "1"})

        def update(body: dict[str, Any], request: Request, granted: set[str]) -> Response:
            if "updateKey" in body:
                value, bad = self._key(body["updateKey"], "record")
                if bad:
                    return bad
                found = next(
                    (
                        r
                        for r in self.records.values()
                        if r.get(body["updateKey"]["field"]) == value
                    ),
                    None,
                )
            else:
                found = self.records.get(str(body.get("id")))
            if found is None:
                return _error("GAIA_RE01", record=body.get("id"))
            return self._update(found, body.get("record"), body.get("revision"), "record")

        if request.method == "POST":
            return await self._handle(request, {"add"}, add)
        return await self._handle(request, {"edit"}, update)

    def _update(self, found: dict[str, Any], record: Any, revision: Any, where: str) -> Response:
        values, bad = self._record_fields(record)
        clash = bad or self._unique_clash(values, found["$id"], where)
        if clash:
            return clash
        if revision not in (None, -1, "-1") and int(revision) != found["$revision"]:
            return JSONResponse(
                {
                    "code": "GAIA_CO02",
                    "id": secrets.token_urlsafe(15),
                    "message": "The revision is not the latest. Someone may update a record.",
                },
                409,
            )
        found.update(values)
        found["$revision"] += 1
        return JSONResponse({"revision": str(found["$revision"])})

    async def records_endpoint(self, request: Request) -> Response:
        def upsert(body: dict[str, Any], request: Request, granted: set[str]) -> Response:
            if len(body["records"]) > 100:
                return _error(
                    "CB_VA01", errors={"records": {"messages": ["Up to 100 records at once."]}}
                )
            results = []
            for index, entry in enumerate(body["records"]):
                where = f"records[{index}]"
                values, bad = self._record_fields(entry.get("record"))
                if bad:
                    return bad
                found = None
                if "updateKey" in entry:
                    value, bad = self._key(entry["updateKey"], where)
                    if bad:
                        return bad
                    found = next(
                        (
                            r
                            for r in self.records.values()
                            if str(r.get(entry["updateKey"]["field"])) == value
                        ),
                        None,
                    )
                    if found is None and body.get("upsert"):
                        values[entry["updateKey"]["field"]] = value
                elif "id" in entry:
                    found = self.records.get(str(entry["id"]))
                if found is None:
                    if not body.get("upsert"):
                        return _error("GAIA_RE01", record=entry.get("id"))
                    if "add" not in granted:
                        return _error("GAIA_NO01")
                    clash = self._unique_clash(values, None, where)
                    if clash:
                        return clash
                    record_id = self.add_record(**values)
                    results.append({"id": record_id, "revision": "1", "operation": "INSERT"})
                    continue
                answer = self._update(found, entry.get("record"), entry.get("revision"), where)
                if answer.status_code != 200:
                    return answer
                results.append(
                    {"id": found["$id"], "revision": str(found["$revision"]), "operation": "UPDATE"}
                )
            if not body.get("upsert"):
                results = [{"id": r["id"], "revision": r["revision"]} for r in results]
            return JSONResponse({"records": results})

        def query(body: Any, request: Request, granted: set[str]) -> Response:
            wanted = request.query_params.get("query") or ""
            found = re.fullmatch(r'\s*(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*', wanted)
            if wanted and not found:
                return _error("CB_VA01", errors={"query": {"messages": ["Query is not valid."]}})
            rows = [
                r
                for r in self.records.values()
                if not found
                or str(r.get(found.group(1))) == re.sub(r"\\(.)", r"\1", found.group(2))
            ]
            shown = [
                {
                    k: {
                        "type": "__ID__"
                        if k == "$id"
                        else self.fields.get(k, {}).get("type", "__REVISION__"),
                        "value": str(v),
                    }
                    for k, v in r.items()
                }
                for r in rows
            ]
            return JSONResponse({"records": shown, "totalCount": None})

        if request.method == "GET":
            return await self._handle(request, {"view"}, query)
        return await self._handle(request, {"edit"}, upsert)  # an INSERT also needs "add"

    async def add_comment(self, request: Request) -> Response:
        def handle(body: dict[str, Any], request: Request, granted: set[str]) -> Response:
            record_id = str(body["record"])
            if record_id not in self.records:
                return _error("GAIA_RE01", record=record_id)
            text = body["comment"]["text"]
            if len(body["comment"].get("mentions") or []) > 10:
                return _error(
                    "CB_VA01", errors={"comment.mentions": {"messages": ["Up to 10 mentions."]}}
                )
            comment_id = str(next(self._comment_ids))
            self.comments.setdefault(record_id, []).append(
                {
                    "id": comment_id,
                    "text": text,
                    "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "creator": {"code": "api-token", "name": "API token"},
                    "mentions": [],
                }
            )
            return JSONResponse({"id": comment_id})

        return await self._handle(request, {"view"}, handle)

    async def list_comments(self, request: Request) -> Response:
        def handle(body: Any, request: Request, granted: set[str]) -> Response:
            record_id = request.query_params["record"]
            if record_id not in self.records:
                return _error("GAIA_RE01", record=record_id)
            limit = int(request.query_params.get("limit") or 10)
            offset = int(request.query_params.get("offset") or 0)
            if limit > 10:
                return _error("CB_VA01", errors={"limit": {"messages": ["Must be 10 or less."]}})
            ordered = sorted(
                self.comments.get(record_id, []),
                key=lambda c: int(c["id"]),
                reverse=request.query_params.get("order", "desc").lower() != "asc",
            )
            page = ordered[offset : offset + limit]
            return JSONResponse(
                {"comments": page, "older": offset + limit < len(ordered), "newer": offset > 0}
            )

        return await self._handle(request, {"view"}, handle)
