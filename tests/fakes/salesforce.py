"""A stateful fake of the Salesforce REST API (API-NOTES.md § 2, the Postman collection in
shared/crm-specs/salesforce/ for URLs, methods and the OAuth form).

Modelled: the refresh token flow (`/services/oauth2/token`, form fields of
auth/refresh_token.json; optional refresh-token rotation; `invalid_grant`), Bearer sessions
(401 INVALID_SESSION_ID), sObject create / read / update (`/services/data/vXX.X/sobjects/...`),
SOQL queries (the small subset the adapter sends: SELECT fields FROM object WHERE a = 'x' AND
b IN (...) AND c LIKE '...' ORDER BY f LIMIT n, relationship fields such as
ContentDocument.Title, escaped string literals, MALFORMED_QUERY otherwise), and composite
(`/composite`: at most 25 subrequests, referenceId rules, `@{ref.id}` references, allOrNone
rollback with PROCESSING_HALTED on the others). Error bodies are arrays of
{message, errorCode, fields}. Every data API answer carries `Sforce-Limit-Info`; past the
daily allocation the answer is 403 REQUEST_LIMIT_EXCEEDED.

Validation per object: known fields only (INVALID_FIELD), required fields
(REQUIRED_FIELD_MISSING), lengths (STRING_TOO_LONG), restricted picklists, date format,
15/18-character ids with the right key prefix (MALFORMED_ID), references to records that
exist (deleted: ENTITY_IS_DELETED), ContentNote Content in base64, only Title and Content
updatable on ContentNote.

Faults (besides faults.COMMON): "429" / "limit" (403 REQUEST_LIMIT_EXCEEDED, the daily
allocation: Salesforce sends no 429), "concurrent" (the long-running-requests limit), "500",
"503", "lock_row" (UNABLE_TO_LOCK_ROW), "expire_token" (sessions expire before this request),
"delete_deal" (every opportunity, with its tasks and links, is deleted before this request).
"""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import re
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import FaultMiddleware, Faults, Logged

PREFIX = {
    "Opportunity": "006",
    "Contact": "003",
    "Task": "00T",
    "ContentNote": "069",  # a ContentNote's id is its ContentDocument's id
    "ContentDocumentLink": "06A",
    "User": "005",
}


def _text(limit: int) -> dict[str, Any]:
    return {"kind": "text", "limit": limit}


FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "Opportunity": {
        "Name": _text(120),
        "StageName": _text(255),
        "CloseDate": {"kind": "date"},
        "NextStep": _text(255),
        "Amount": {"kind": "number"},
    },
    "Contact": {
        "FirstName": _text(40),
        "LastName": _text(80),
        "Email": _text(80),
        "AccountId": {"kind": "id", "to": ()},
    },
    "Task": {
        "Subject": _text(255),
        "Description": _text(32_000),
        "WhatId": {"kind": "id", "to": ("Opportunity",)},
        "WhoId": {"kind": "id", "to": ("Contact",)},
        "OwnerId": {"kind": "id", "to": ("User",)},
        "Status": {
            "kind": "picklist",
            "values": (
                "Not Started",
                "In Progress",
                "Completed",
                "Waiting on someone else",
                "Deferred",
            ),
        },
        "Priority": {"kind": "picklist", "values": ("High", "Normal", "Low")},
        "ActivityDate": {"kind": "date"},
    },
    "ContentNote": {"Title": _text(255), "Content": {"kind": "base64"}},
    "ContentDocumentLink": {
        "ContentDocumentId": {"kind": "id", "to": ("ContentNote",)},
        "LinkedEntityId": {"kind": "id", "to": ("Opportunity", "Contact")},
        "ShareType": {"kind": "picklist", "values": ("V", "C", "I")},
        "Visibility": {"kind": "picklist", "values": ("AllUsers", "InternalUsers", "SharedUsers")},
    },
}
REQUIRED = {
    "Opportunity": ("Name", "StageName", "CloseDate"),
    "Contact": ("LastName",),
    "ContentNote": ("Title",),
    "ContentDocumentLink": ("ContentDocumentId", "LinkedEntityId"),
    "Task": (),
}
DEFAULTS = {
    "Task": {"Status": "Not Started", "Priority": "Normal"},
    "ContentDocumentLink": {"ShareType": "V", "Visibility": "InternalUsers"},
}
UPDATABLE = {
    "ContentNote": {"Title", "Content"},
    "ContentDocumentLink": {"ShareType", "Visibility"},
}
ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
REFERENCE = re.compile(r"@\{([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z_.]+)\}")
HALTED = [
    {
        "errorCode": "PROCESSING_HALTED",
        "message": "The transaction was rolled back since another operation in the same transaction failed.",
    }
]


def _errors(message: str, code: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": fields or []}]


class Outcome(Exception):
    """An error answer of one operation: status and the Salesforce error array."""

    def __init__(self, status: int, body: list[dict[str, Any]]) -> None:
        super().__init__(body[0]["message"])
        self.status = status
        self.body = body


class SalesforceFake:
    FAULTS = ("429", "limit", "concurrent", "500", "503", "lock_row", "expire_token", "delete_deal")

    def __init__(self, *, daily_allocation: int = 100_000) -> None:
        self.clients = {"3MVG9-consumer-key": "consumer-secret"}
        self.refresh_tokens = {"5Aep861-refresh-token"}
        self.sessions: set[str] = set()
        self.rotate_refresh_tokens = False
        self.instance_url = ""  # set by tests to the served base URL (returned from the token flow)
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PREFIX}
        self.deleted: set[str] = set()
        self.daily_allocation = daily_allocation
        self.used = 0
        self.renewals = 0
        self.query_page_size = 2000
        # An admin's validation rules: sobject -> fields -> error message or None.
        self.validation_rules: dict[str, Callable[[dict[str, Any]], str | None]] = {}
        self._pages: dict[str, list[dict[str, Any]]] = {}
        self._counter = itertools.count(1)
        self.faults = Faults(self.FAULTS)
        self.log: list[Logged] = []
        routes = [
            Route("/services/oauth2/token", self.token, methods=["POST"]),
            Route("/services/data/v{version}/query", self.query, methods=["GET"]),
            Route("/services/data/v{version}/query/", self.query, methods=["GET"]),
            Route("/services/data/v{version}/query/{locator}", self.query_more, methods=["GET"]),
            Route("/services/data/v{version}/composite", self.composite, methods=["POST"]),
            Route("/services/data/v{version}/composite/", self.composite, methods=["POST"]),
            Route("/services/data/v{version}/sobjects/{sobject}", self.sobjects, methods=["POST"]),
            Route(
                "/services/data/v{version}/sobjects/{sobject}/{id}",
                self.sobject,
                methods=["GET", "PATCH", "DELETE"],
            ),
        ]
        self.app = FaultMiddleware(Starlette(routes=routes), self.faults, self._fault, self.log)

    # ------------------------------------------------------------------ test helpers

    def script(self, faults: list[str], *, on: str | None = None) -> None:
        self.faults.script(faults, on=on)

    def new_id(self, sobject: str) -> str:
        return f"{PREFIX[sobject]}5g00000{next(self._counter):05d}AAQ"

    def add(self, sobject: str, **fields: Any) -> str:
        record_id = self.new_id(sobject)
        self.records[sobject][record_id] = {"Id": record_id, **DEFAULTS.get(sobject, {}), **fields}
        return record_id

    def add_opportunity(self, name: str = "Acme rollout") -> str:
        return self.add(
            "Opportunity", Name=name, StageName="Prospecting", CloseDate="2026-12-31", NextStep=None
        )

    def add_contact(self, email: str, last_name: str = "Buyer") -> str:
        return self.add("Contact", Email=email, LastName=last_name)

    def new_session(self) -> str:
        token = f"00D5g000004ABCD!AQ{uuid.uuid4().hex}"
        self.sessions.add(token)
        return token

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def delete(self, record_id: str) -> None:
        """Delete a record; an opportunity takes its tasks and document links with it."""
        self.deleted.add(record_id)
        for task in self.records["Task"].values():
            if task.get("WhatId") == record_id:
                self.deleted.add(task["Id"])
        for link in self.records["ContentDocumentLink"].values():
            if record_id in (link.get("LinkedEntityId"), link.get("ContentDocumentId")):
                self.deleted.add(link["Id"])

    def live(self, sobject: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.records[sobject].items() if k not in self.deleted}

    def linked_notes(self, record_id: str) -> list[dict[str, Any]]:
        notes = self.live("ContentNote")
        return [
            notes[link["ContentDocumentId"]]
            for link in self.live("ContentDocumentLink").values()
            if link["LinkedEntityId"] == record_id and link["ContentDocumentId"] in notes
        ]

    # ------------------------------------------------------------------ faults, auth, limits

    def _fault(self, fault: str, request: Request) -> Response | None:
        if fault == "expire_token":
            self.expire_sessions()
            return None
        if fault == "delete_deal":
            for record_id in list(self.records["Opportunity"]):
                self.delete(record_id)
            return None
        if fault in ("429", "limit"):
            return JSONResponse(
                _errors("TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED"), 403
            )
        if fault == "concurrent":
            return JSONResponse(
                _errors("ConcurrentPerOrgLongTxn Limit exceeded.", "REQUEST_LIMIT_EXCEEDED"), 403
            )
        if fault == "lock_row":
            return JSONResponse(
                _errors(
                    "unable to obtain exclusive access to this record or 1 records: 0065g000",
                    "UNABLE_TO_LOCK_ROW",
                ),
                400,
            )
        if fault == "503":
            return JSONResponse(_errors("Server unavailable", "SERVER_UNAVAILABLE"), 503)
        return JSONResponse(
            _errors(
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)",
                "UNKNOWN_EXCEPTION",
            ),
            500,
        )

    async def _guard(self, request: Request, handler: Callable[[], Any]) -> Response:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.sessions:
            return JSONResponse(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401
            )
        if self.used >= self.daily_allocation:
            return JSONResponse(
                _errors("TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED"), 403
            )
        self.used += 1  # a composite request counts as one call
        response: Response = await handler()
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.used}/{self.daily_allocation}"
        return response

    # ------------------------------------------------------------------ OAuth

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "refresh_token":
            return JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                400,
            )
        client = str(form.get("client_id") or "")
        if client not in self.clients:
            return JSONResponse(
                {"error": "invalid_client_id", "error_description": "client identifier invalid"},
                400,
            )
        if form.get("client_secret") not in (None, self.clients[client]):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "invalid client credentials"}, 400
            )
        refresh = str(form.get("refresh_token") or "")
        if refresh not in self.refresh_tokens:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "expired access/refresh token"}, 400
            )
        self.renewals += 1
        answer = {
            "access_token": self.new_session(),
            "signature": base64.b64encode(uuid.uuid4().bytes).decode(),
            "scope": "refresh_token api",
            "instance_url": self.instance_url,
            "id": "https://login.salesforce.com/id/00D5g000004ABCDEAA/0055g00000AbCdEAAV",
            "token_type": "Bearer",
            "issued_at": "1795000000000",
        }
        if self.rotate_refresh_tokens:
            self.refresh_tokens.discard(refresh)
            answer["refresh_token"] = f"5Aep861-{uuid.uuid4().hex}"
            self.refresh_tokens.add(answer["refresh_token"])
        return JSONResponse(answer)

    # ------------------------------------------------------------------ sObjects

    async def sobjects(self, request: Request) -> Response:
        async def handle() -> Response:
            body = await self._body(request)
            return self._answer(lambda: self.create(request.path_params["sobject"], body))

        return await self._guard(request, handle)

    async def sobject(self, request: Request) -> Response:
        sobject, record_id = request.path_params["sobject"], request.path_params["id"]

        async def handle() -> Response:
            if request.method == "GET":
                fields = [f for f in (request.query_params.get("fields") or "").split(",") if f]
                return self._answer(lambda: self.read(sobject, record_id, fields))
            if request.method == "DELETE":
                return self._answer(lambda: self.remove(sobject, record_id))
            body = await self._body(request)
            return self._answer(lambda: self.update(sobject, record_id, body))

        return await self._guard(request, handle)

    async def _body(self, request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    def _answer(self, operation: Callable[[], tuple[int, Any]]) -> Response:
        try:
            status, body = operation()
        except Outcome as outcome:
            return JSONResponse(outcome.body, outcome.status)
        return Response(status_code=204) if status == 204 else JSONResponse(body, status)

    def _sobject(self, sobject: str) -> str:
        if sobject not in FIELDS:
            raise Outcome(
                404,
                _errors(
                    f"The requested resource does not exist: sObject type '{sobject}' is not supported.",
                    "NOT_FOUND",
                ),
            )
        return sobject

    def _existing(self, sobject: str, record_id: str) -> dict[str, Any]:
        if not ID.match(record_id) or not record_id.startswith(PREFIX[sobject]):
            raise Outcome(
                404,
                _errors(
                    f"Provided external ID field does not exist or is not accessible: {record_id}",
                    "NOT_FOUND",
                ),
            )
        if record_id in self.deleted:
            raise Outcome(404, _errors("entity is deleted", "ENTITY_IS_DELETED"))
        found = self.records[sobject].get(record_id)
        if found is None:
            raise Outcome(404, _errors("The requested resource does not exist", "NOT_FOUND"))
        return found

    def _check(self, sobject: str, body: Any, *, create: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Outcome(
                400,
                _errors("Unexpected character: was expecting a JSON object", "JSON_PARSER_ERROR"),
            )
        fields = FIELDS[sobject]
        for name, value in body.items():
            if name == "attributes":
                continue
            spec = fields.get(name)
            if spec is None:
                raise Outcome(
                    400,
                    _errors(
                        f"No such column '{name}' on sobject of type {sobject}",
                        "INVALID_FIELD",
                        [name],
                    ),
                )
            if not create and sobject in UPDATABLE and name not in UPDATABLE[sobject]:
                raise Outcome(
                    400,
                    _errors(
                        f"Unable to create/update fields: {name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        [name],
                    ),
                )
            if value is None:
                continue
            kind = spec["kind"]
            if kind == "text" and (not isinstance(value, str) or len(value) > spec["limit"]):
                raise Outcome(
                    400,
                    _errors(
                        f"{name}: data value too large: {str(value)[:40]} (max length={spec['limit']})",
                        "STRING_TOO_LONG",
                        [name],
                    ),
                )
            if kind == "picklist" and value not in spec["values"]:
                raise Outcome(
                    400,
                    _errors(
                        f"{name}: bad value for restricted picklist field: {value}",
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        [name],
                    ),
                )
            if kind == "date":
                try:
                    date.fromisoformat(str(value))
                except ValueError:
                    raise Outcome(
                        400,
                        _errors(
                            f"Cannot deserialize instance of date from VALUE_STRING value {value}",
                            "JSON_PARSER_ERROR",
                        ),
                    ) from None
            if kind == "base64":
                try:
                    base64.b64decode(str(value), validate=True)
                except (binascii.Error, ValueError):
                    raise Outcome(
                        400,
                        _errors(
                            f"{name}: value not of required type: {str(value)[:40]}",
                            "FIELD_INTEGRITY_EXCEPTION",
                            [name],
                        ),
                    ) from None
            if kind == "id":
                value = str(value)
                targets = [t for t in spec["to"] if value.startswith(PREFIX[t])]
                if not ID.match(value) or not targets:
                    raise Outcome(
                        400,
                        _errors(
                            f"{name}: id value of incorrect type: {value}", "MALFORMED_ID", [name]
                        ),
                    )
                if value in self.deleted:
                    raise Outcome(400, _errors("entity is deleted", "ENTITY_IS_DELETED", [name]))
                if not any(value in self.records[t] for t in targets):
                    raise Outcome(
                        400,
                        _errors(
                            f"{name}: id value of incorrect type: {value}",
                            "FIELD_INTEGRITY_EXCEPTION",
                            [name],
                        ),
                    )
        if create:
            missing = [f for f in REQUIRED[sobject] if body.get(f) in (None, "")]
            if missing:
                raise Outcome(
                    400,
                    _errors(
                        f"Required fields are missing: [{', '.join(missing)}]",
                        "REQUIRED_FIELD_MISSING",
                        missing,
                    ),
                )
        rule = self.validation_rules.get(sobject)
        problem = rule(body) if rule else None
        if problem:
            raise Outcome(400, _errors(problem, "FIELD_CUSTOM_VALIDATION_EXCEPTION"))
        return {k: v for k, v in body.items() if k != "attributes"}

    def create(self, sobject: str, body: Any) -> tuple[int, Any]:
        fields = self._check(self._sobject(sobject), body, create=True)
        record_id = self.add(sobject, **fields)
        return 201, {"id": record_id, "success": True, "errors": []}

    def read(self, sobject: str, record_id: str, fields: list[str]) -> tuple[int, Any]:
        found = self._existing(self._sobject(sobject), record_id)
        shown = {k: v for k, v in found.items() if not fields or k in fields}
        url = f"/services/data/v66.0/sobjects/{sobject}/{record_id}"
        return 200, {"attributes": {"type": sobject, "url": url}} | shown

    def update(self, sobject: str, record_id: str, body: Any) -> tuple[int, Any]:
        found = self._existing(self._sobject(sobject), record_id)
        found.update(self._check(sobject, body, create=False))
        return 204, None

    def remove(self, sobject: str, record_id: str) -> tuple[int, Any]:
        self._existing(self._sobject(sobject), record_id)
        self.delete(record_id)
        return 204, None

    # ------------------------------------------------------------------ SOQL

    async def query(self, request: Request) -> Response:
        async def handle() -> Response:
            soql = request.query_params.get("q") or ""
            try:
                rows = self._run_soql(soql)
            except Outcome as outcome:
                return JSONResponse(outcome.body, outcome.status)
            return JSONResponse(self._page(rows, request.path_params["version"]))

        return await self._guard(request, handle)

    async def query_more(self, request: Request) -> Response:
        async def handle() -> Response:
            rows = self._pages.pop(request.path_params["locator"], None)
            if rows is None:
                return JSONResponse(_errors("invalid query locator", "INVALID_QUERY_LOCATOR"), 400)
            return JSONResponse(self._page(rows, request.path_params["version"]))

        return await self._guard(request, handle)

    def _page(self, rows: list[dict[str, Any]], version: str) -> dict[str, Any]:
        page, rest = rows[: self.query_page_size], rows[self.query_page_size :]
        answer: dict[str, Any] = {"totalSize": len(rows), "done": not rest, "records": page}
        if rest:
            locator = f"01g5g{uuid.uuid4().hex[:10]}-{len(page)}"
            self._pages[locator] = rest
            answer["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}"
        return answer

    def _run_soql(self, soql: str) -> list[dict[str, Any]]:
        match = re.fullmatch(
            r"\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
            r"(?:\s+ORDER\s+BY\s+(?P<order>[\w.]+)(?:\s+(?:ASC|DESC))?)?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*",
            soql,
            flags=re.IGNORECASE | re.DOTALL,
        )
        if not match or match["object"] not in FIELDS:
            raise Outcome(400, _errors(f"unexpected token: {soql[:60]}", "MALFORMED_QUERY"))
        sobject = match["object"]
        fields = [f.strip() for f in match["fields"].split(",")]
        conditions = parse_where(match["where"] or "")
        rows = []
        for record in self.live(sobject).values():
            if all(self._holds(sobject, record, c) for c in conditions):
                rows.append(self._project(sobject, record, fields))
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        return rows

    def _value(self, sobject: str, record: dict[str, Any], field: str) -> Any:
        if "." in field:
            relation, name = field.split(".", 1)
            target = self.records["ContentNote"].get(record.get(f"{relation}Id") or "")
            return (target or {}).get(name)
        if field != "Id" and field not in FIELDS[sobject] and field != "CreatedDate":
            raise Outcome(
                400, _errors(f"No such column '{field}' on entity '{sobject}'", "INVALID_FIELD")
            )
        return record.get(field)

    def _holds(self, sobject: str, record: dict[str, Any], condition: tuple[str, str, Any]) -> bool:
        field, op, wanted = condition
        value = str(
            self._value(sobject, record, field) or ""
        ).lower()  # SOQL compares text case-insensitively
        if op == "=":
            return value == str(wanted).lower()
        if op == "IN":
            return value in {str(w).lower() for w in wanted}
        pattern = "".join(
            ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in str(wanted).lower()
        )
        return re.fullmatch(pattern, value, flags=re.DOTALL) is not None

    def _project(self, sobject: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v66.0/sobjects/{sobject}/{record['Id']}",
            }
        }
        for field in fields:
            value = self._value(sobject, record, field)
            if "." in field:
                relation, name = field.split(".", 1)
                row.setdefault(relation, {"attributes": {"type": "ContentDocument"}})[name] = value
            else:
                row[field] = value
        return row

    # ------------------------------------------------------------------ composite

    async def composite(self, request: Request) -> Response:
        async def handle() -> Response:
            body = await self._body(request)
            subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
            if not isinstance(subrequests, list) or not subrequests:
                return JSONResponse(
                    _errors("compositeRequest is required", "JSON_PARSER_ERROR"), 400
                )
            if len(subrequests) > 25:
                return JSONResponse(
                    _errors("Maximum number of subrequests (25) exceeded", "INVALID_BATCH_REQUEST"),
                    400,
                )
            refs = [s.get("referenceId") for s in subrequests]
            if any(
                not isinstance(r, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", r)
                for r in refs
            ) or len(set(refs)) != len(refs):
                return JSONResponse(
                    _errors(
                        "referenceIds must be unique and start with a letter", "JSON_PARSER_ERROR"
                    ),
                    400,
                )
            all_or_none = bool(body.get("allOrNone"))
            snapshot = (copy.deepcopy(self.records), set(self.deleted))
            results: dict[str, Any] = {}
            answers = []
            failed = False
            for sub in subrequests:
                ref = sub["referenceId"]
                if failed and all_or_none:
                    answers.append(
                        {
                            "body": HALTED,
                            "httpHeaders": {},
                            "httpStatusCode": 400,
                            "referenceId": ref,
                        }
                    )
                    continue
                try:
                    status, answer = self._subrequest(sub, results)
                except Outcome as outcome:
                    failed = True
                    answers.append(
                        {
                            "body": outcome.body,
                            "httpHeaders": {},
                            "httpStatusCode": outcome.status,
                            "referenceId": ref,
                        }
                    )
                    continue
                results[ref] = answer
                headers = {"Location": f"{sub['url']}/{answer['id']}"} if status == 201 else {}
                answers.append(
                    {
                        "body": answer,
                        "httpHeaders": headers,
                        "httpStatusCode": status,
                        "referenceId": ref,
                    }
                )
            if failed and all_or_none:
                self.records, self.deleted = snapshot
                for answer in answers:
                    if answer["httpStatusCode"] < 400:
                        answer.update(body=HALTED, httpHeaders={}, httpStatusCode=400)
            return JSONResponse({"compositeResponse": answers})

        return await self._guard(request, handle)

    def _subrequest(self, sub: dict[str, Any], results: dict[str, Any]) -> tuple[int, Any]:
        def resolve(value: Any) -> Any:
            if isinstance(value, str):

                def replace(found: re.Match[str]) -> str:
                    ref, path = found.group(1), found.group(2)
                    target = results.get(ref)
                    if not isinstance(target, dict) or path not in target:
                        raise Outcome(
                            400,
                            _errors(
                                f"Invalid reference specified. No value for {ref}.{path} found in {ref}.",
                                "PROCESSING_HALTED",
                            ),
                        )
                    return str(target[path])

                return REFERENCE.sub(replace, value)
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            if isinstance(value, list):
                return [resolve(v) for v in value]
            return value

        url = resolve(str(sub.get("url") or ""))
        method = str(sub.get("method") or "")
        found = re.fullmatch(r"/services/data/v\d+\.\d/sobjects/(\w+)(?:/(\w+))?", url)
        if not found:
            raise Outcome(
                404, _errors(f"The requested resource does not exist: {url}", "NOT_FOUND")
            )
        sobject, record_id = found.group(1), found.group(2)
        body = resolve(sub.get("body"))
        if method == "POST" and not record_id:
            return self.create(sobject, body)
        if method == "PATCH" and record_id:
            return self.update(sobject, record_id, body)
        if method == "GET" and record_id:
            return self.read(sobject, record_id, [])
        raise Outcome(
            405,
            _errors(
                f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE",
                "METHOD_NOT_ALLOWED",
            ),
        )


def parse_where(where: str) -> list[tuple[str, str, Any]]:
    """`a = 'x' AND b IN ('y', 'z') AND c LIKE '%w%'` -> [(field, op, value)]; MALFORMED_QUERY."""
    tokens = re.findall(r"'(?:[^'\\]|\\.)*'|\(|\)|,|!=|=|[\w.]+", where)
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", where):
        raise Outcome(400, _errors(f"unexpected token in: {where[:60]}", "MALFORMED_QUERY"))

    def literal(token: str) -> str:
        if not (token.startswith("'") and token.endswith("'")):
            raise Outcome(400, _errors(f"unexpected token: {token}", "MALFORMED_QUERY"))
        return re.sub(
            r"\\(.)",
            lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)),
            token[1:-1],
        )

    conditions: list[tuple[str, str, Any]] = []
    position = 0
    while position < len(tokens):
        field, op = (
            tokens[position],
            tokens[position + 1].upper() if position + 1 < len(tokens) else "",
        )
        if op in ("=", "LIKE"):
            conditions.append((field, op, literal(tokens[position + 2])))
            position += 3
        elif op == "IN" and tokens[position + 2] == "(":
            end = tokens.index(")", position)
            values = [literal(t) for t in tokens[position + 3 : end] if t != ","]
            conditions.append((field, "IN", values))
            position = end + 1
        else:
            raise Outcome(400, _errors(f"unexpected token: {op or field}", "MALFORMED_QUERY"))
        if position < len(tokens):
            if tokens[position].upper() != "AND":
                raise Outcome(
                    400, _errors(f"unexpected token: {tokens[position]}", "MALFORMED_QUERY")
                )
            position += 1
    return conditions
