"""The JSON API v1: rooms and invites over bearer tokens, scoped to the token owner's organisation.

Every call goes through `Api`, which checks each answer against the schema the OpenAPI document
(/api/v1/openapi.json) gives for that operation and status: the tests check the document too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx  # what starlette.testclient speaks
import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from sqlmodel import select
from starlette.routing import Route

from dealroom import accounts
from dealroom.db import utcnow
from dealroom.notify import OutboxMail
from tests import factories
from tests.conftest import Browser

API = "/api/v1"
ONE_MB = 1024 * 1024
ROOM = {"name": "Acme rollout", "buyer_company": "Acme Corp"}
BUYER = "kato@acme.example"


# ---------------------------------------------------------------- the OpenAPI document as a checker


def resolve(document: dict[str, Any], node: Any) -> Any:
    """`node` with each `#/...` reference replaced by its target (the schemas never recurse)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(document, target)
        return {key: resolve(document, value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(document, item) for item in node]
    return node


def assert_matches(document: dict[str, Any], schema: dict[str, Any], body: Any) -> None:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER  # date-time and email are checked
    jsonschema.Draft202012Validator(resolve(document, schema), format_checker=checker).validate(
        body
    )


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The documented operation that `method path` (a concrete path, ids filled in) reaches."""
    for template, item in document["paths"].items():
        pattern = "[^/]+".join(re.escape(part) for part in re.split(r"\{[^}]+\}", template))
        if re.fullmatch(pattern, path):
            return item.get(method.lower())
    return None


@dataclass
class Api:
    """A seller's integration: sends its bearer token and checks every answer against the document."""

    client: Browser
    document: dict[str, Any]
    token: str | None = None
    # Names of the component schemas that answers were validated against.
    checked: set[str] = field(default_factory=set)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        response = self.client.request(method, API + path, headers=headers, **kwargs)
        self._check(method, API + path.partition("?")[0], response)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def _check(self, method: str, path: str, response: httpx.Response) -> None:
        assert response.headers["content-type"] == "application/json", response.text
        op = operation(self.document, method, path)
        if op is None:
            assert response.status_code in (404, 405), f"{method} {path}: {response.status_code}"
            schema = {"$ref": "#/components/schemas/Error"}
        else:
            status = str(response.status_code)
            assert status in op["responses"], f"{method} {path} answered {status}, undocumented"
            schema = op["responses"][status]["content"]["application/json"]["schema"]
        assert_matches(self.document, schema, response.json())
        if "$ref" in schema:
            self.checked.add(schema["$ref"].rsplit("/", 1)[-1])


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def document(client: Browser) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.json()


def connect(session: Any, client: Browser, document: dict[str, Any], user: accounts.User) -> Api:
    _token, plaintext = accounts.create_api_token(session, user=user, name="CRM sync")
    session.flush()
    return Api(client, document, plaintext)


@pytest.fixture
def seller(session: Any) -> accounts.User:
    user = factories.seller(session, org="Northwind")
    session.flush()
    return user


@pytest.fixture
def api(session: Any, client: Browser, document: dict[str, Any], seller: accounts.User) -> Api:
    return connect(session, client, document, seller)


@pytest.fixture
def rival(session: Any, client: Browser, document: dict[str, Any]) -> Api:
    """A seller of another organisation, with a valid token of their own."""
    return connect(session, client, document, factories.seller(session, org="Contoso"))


@pytest.fixture
def anonymous(client: Browser, document: dict[str, Any]) -> Api:
    return Api(client, document)


def create_room(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/rooms", json={**ROOM, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def invite(api: Api, room: dict[str, Any], email: str = BUYER, **fields: Any) -> dict[str, Any]:
    response = api.post(
        f"/rooms/{room['id']}/invites", json={"email": email, "send_email": False, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


def enter(new_browser: Any, link: str) -> tuple[Browser, str]:
    """A buyer opens their personal link in a fresh browser; returns it and the room's path."""
    buyer = new_browser()
    opened = buyer.enter(link)
    assert opened.status_code == 303, opened.text
    room_path = opened.headers["location"]
    assert re.fullmatch(r"/r/room_[0-9a-z]+", room_path)
    assert buyer.get(room_path).status_code == 200
    return buyer, room_path


def mail_to(session: Any, address: str) -> list[OutboxMail]:
    return list(session.exec(select(OutboxMail).where(OutboxMail.to_addr == address)))


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


# ---------------------------------------------------------------- rooms


def test_create_room_answers_201_with_the_room(api: Api) -> None:
    response = api.post("/rooms", json=ROOM)

    assert response.status_code == 201
    room = response.json()
    assert room["id"].startswith("room_")
    assert (room["name"], room["buyer_company"], room["stage"]) == (
        "Acme rollout",
        "Acme Corp",
        "discovery",
    )
    assert room["url"] == f"http://testserver/rooms/{room['id']}"
    assert room["archived"] is False
    assert response.headers["location"] == f"http://testserver{API}/rooms/{room['id']}"


def test_create_room_takes_every_documented_field(api: Api) -> None:
    room = create_room(
        api,
        stage="evaluation",
        welcome_message="Welcome!",
        allowed_domains=["acme.example", "@ACME.io"],
        invite_expiry_days=14,
    )

    assert room["stage"] == "evaluation"
    assert room["welcome_message"] == "Welcome!"
    assert room["allowed_domains"] == ["acme.example", "acme.io"]
    assert room["invite_expiry_days"] == 14


def test_list_rooms_returns_the_organisations_open_rooms(api: Api) -> None:
    first, second = create_room(api, name="First deal"), create_room(api, name="Second deal")

    response = api.get("/rooms")

    assert response.status_code == 200
    assert {room["id"] for room in response.json()["data"]} == {first["id"], second["id"]}


def test_list_rooms_searches_deal_name_and_buyer_company(api: Api) -> None:
    rollout = create_room(api, name="Acme rollout", buyer_company="Acme Corp")
    pilot = create_room(api, name="Pilot", buyer_company="Globex")

    def found(q: str) -> list[str]:
        return [room["id"] for room in api.get("/rooms", params={"q": q}).json()["data"]]

    assert found("ROLLOUT") == [rollout["id"]]
    assert found("globex") == [pilot["id"]]
    assert found("initech") == []


def test_get_room(api: Api) -> None:
    room = create_room(api)

    response = api.get(f"/rooms/{room['id']}")

    assert response.status_code == 200
    assert response.json() == room


def test_patch_room_changes_only_the_fields_sent(api: Api) -> None:
    room = create_room(api, welcome_message="Hello")

    response = api.patch(
        f"/rooms/{room['id']}", json={"stage": "decision", "name": "Acme expansion"}
    )

    assert response.status_code == 200
    changed = api.get(f"/rooms/{room['id']}").json()
    assert (changed["stage"], changed["name"]) == ("decision", "Acme expansion")
    assert (changed["buyer_company"], changed["welcome_message"]) == ("Acme Corp", "Hello")


def test_patch_room_validates_like_create(api: Api) -> None:
    room = create_room(api)

    response = api.patch(f"/rooms/{room['id']}", json={"name": "", "stage": "won"})

    assert set(assert_error(response, 422, "invalid")["fields"]) == {"name", "stage"}
    assert api.get(f"/rooms/{room['id']}").json()["name"] == "Acme rollout"


def test_delete_room_archives_it(api: Api) -> None:
    room = create_room(api)

    response = api.delete(f"/rooms/{room['id']}")

    assert response.status_code == 200
    assert response.json()["archived"] is True
    assert api.get(f"/rooms/{room['id']}").json()["archived"] is True
    assert api.get("/rooms").json()["data"] == []
    assert [r["id"] for r in api.get("/rooms", params={"archived": "true"}).json()["data"]] == [
        room["id"]
    ]


def test_archived_room_refuses_its_buyers(api: Api, new_browser: Any) -> None:
    room = create_room(api)
    link = invite(api, room)["link"]
    buyer, room_path = enter(new_browser, link)

    api.delete(f"/rooms/{room['id']}")

    assert buyer.get(room_path).status_code == 403
    assert new_browser().get(link, follow_redirects=False).status_code == 403


# ---------------------------------------------------------------- invites


def test_create_invite_answers_201_with_a_personal_link(api: Api) -> None:
    room = create_room(api)

    response = api.post(
        f"/rooms/{room['id']}/invites", json={"email": "Kato@Acme.example", "role": "champion"}
    )

    assert response.status_code == 201
    created = response.json()
    assert created["id"].startswith("inv_")
    assert (created["email"], created["role"], created["status"]) == (BUYER, "champion", "invited")
    assert created["link"].startswith("http://testserver/i/")
    assert (
        response.headers["location"]
        == f"http://testserver{API}/rooms/{room['id']}/invites/{created['id']}"
    )


def test_invite_link_lets_a_fresh_browser_into_the_room(api: Api, new_browser: Any) -> None:
    room = create_room(api)

    _buyer, room_path = enter(new_browser, invite(api, room)["link"])

    assert room_path == f"/r/{room['id']}"


def test_create_invite_emails_the_link(api: Api, session: Any) -> None:
    room = create_room(api)

    link = api.post(f"/rooms/{room['id']}/invites", json={"email": BUYER}).json()["link"]

    [mail] = mail_to(session, BUYER)
    signed_payload = link.split(".")[0]  # the signature's timestamp may differ by a second
    assert signed_payload + "." in mail.text_body


def test_create_invite_with_send_email_false_queues_no_mail(api: Api, session: Any) -> None:
    room = create_room(api)

    response = api.post(f"/rooms/{room['id']}/invites", json={"email": BUYER, "send_email": False})

    assert response.status_code == 201
    assert mail_to(session, BUYER) == []


def test_list_invites(api: Api) -> None:
    room = create_room(api)
    first, second = invite(api, room), invite(api, room, email="mei@acme.example")

    response = api.get(f"/rooms/{room['id']}/invites")

    assert response.status_code == 200
    listed = response.json()["data"]
    assert [i["id"] for i in listed] == [first["id"], second["id"]]
    assert all("link" not in i for i in listed)


def test_get_invite_shows_whether_the_buyer_joined(api: Api, new_browser: Any) -> None:
    room = create_room(api)
    created = invite(api, room)
    assert api.get(f"/rooms/{room['id']}/invites/{created['id']}").json()["status"] == "invited"

    enter(new_browser, created["link"])

    joined = api.get(f"/rooms/{room['id']}/invites/{created['id']}").json()
    assert joined["status"] == "joined" and joined["first_opened_at"] is not None


def test_inviting_the_same_email_twice_is_a_conflict(api: Api) -> None:
    room = create_room(api)
    invite(api, room)

    response = api.post(f"/rooms/{room['id']}/invites", json={"email": BUYER.upper()})

    assert_error(response, 409, "conflict")


def test_inviting_to_an_archived_room_is_a_conflict(api: Api) -> None:
    room = create_room(api)
    api.delete(f"/rooms/{room['id']}")

    response = api.post(f"/rooms/{room['id']}/invites", json={"email": BUYER})

    assert_error(response, 409, "conflict")


def test_revoking_an_invite_locks_the_buyer_out(api: Api, new_browser: Any) -> None:
    room = create_room(api)
    created = invite(api, room)
    buyer, room_path = enter(new_browser, created["link"])

    response = api.delete(f"/rooms/{room['id']}/invites/{created['id']}")

    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert buyer.get(room_path).status_code == 403
    assert buyer.get(created["link"], follow_redirects=False).status_code == 403


def test_inviting_a_revoked_person_again_restores_their_access(api: Api, new_browser: Any) -> None:
    room = create_room(api)
    created = invite(api, room)
    api.delete(f"/rooms/{room['id']}/invites/{created['id']}")

    again = invite(api, room)

    assert again["id"] == created["id"] and again["status"] == "invited"
    enter(new_browser, again["link"])


# ---------------------------------------------------------------- validation and malformed requests


def test_missing_name_names_the_field(api: Api) -> None:
    response = api.post("/rooms", json={"buyer_company": "Acme Corp"})

    error = assert_error(response, 422, "invalid")
    assert set(error["fields"]) == {"name"}


def test_unknown_stage_is_invalid(api: Api) -> None:
    response = api.post("/rooms", json={**ROOM, "stage": "won"})

    assert "stage" in assert_error(response, 422, "invalid")["fields"]


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"email": "kato at acme"}, "email"),
        ({}, "email"),
        ({"email": BUYER, "role": "ceo"}, "role"),
        ({"email": BUYER, "name": "K" * 201}, "name"),
    ],
    ids=["bad-email", "no-email", "bad-role", "long-name"],
)
def test_invalid_invite_names_the_field(api: Api, body: dict[str, Any], field_name: str) -> None:
    room = create_room(api)

    response = api.post(f"/rooms/{room['id']}/invites", json=body)

    assert field_name in assert_error(response, 422, "invalid")["fields"]
    assert api.get(f"/rooms/{room['id']}/invites").json()["data"] == []


def test_unknown_field_is_invalid(api: Api) -> None:
    response = api.post("/rooms", json={**ROOM, "colour": "blue"})

    assert assert_error(response, 422, "invalid")["fields"] == {"colour": "Unknown field."}


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({**ROOM, "name": 42}, "name"),
        ({**ROOM, "name": None}, "name"),
        ({**ROOM, "allowed_domains": [1, 2]}, "allowed_domains"),
        ({**ROOM, "invite_expiry_days": True}, "invite_expiry_days"),
        ({**ROOM, "invite_expiry_days": 1.5}, "invite_expiry_days"),
        ({**ROOM, "invite_expiry_days": 0}, "invite_expiry_days"),
    ],
)
def test_values_of_the_wrong_type_are_invalid(
    api: Api, body: dict[str, Any], field_name: str
) -> None:
    response = api.post("/rooms", json=body)

    assert field_name in assert_error(response, 422, "invalid")["fields"]


def test_send_email_must_be_a_boolean(api: Api, session: Any) -> None:
    room = create_room(api)

    response = api.post(f"/rooms/{room['id']}/invites", json={"email": BUYER, "send_email": "no"})

    assert "send_email" in assert_error(response, 422, "invalid")["fields"]
    assert mail_to(session, BUYER) == []


@pytest.mark.parametrize(
    "raw",
    [b'"Acme rollout"', b"[]", b"42", b"null"],
    ids=["string", "array", "number", "null"],
)
def test_body_that_is_not_an_object_is_invalid(api: Api, raw: bytes) -> None:
    response = api.post("/rooms", content=raw, headers={"content-type": "application/json"})

    assert_error(response, 422, "invalid")


@pytest.mark.parametrize(
    "raw",
    [b'{"name": ', b"name=Acme", b'{"name": "\xff"}', b"[" * 100_000 + b"]" * 100_000],
    ids=["truncated", "form-encoded", "not-utf8", "nested-too-deep"],
)
def test_body_that_is_not_json_is_a_400(api: Api, raw: bytes) -> None:
    response = api.post("/rooms", content=raw, headers={"content-type": "application/json"})

    assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize(
    "text", ["Acme\x00rollout", "Acme\ud800rollout"], ids=["nul", "lone-surrogate"]
)
def test_text_the_database_cannot_store_is_invalid(api: Api, text: str) -> None:
    raw = json.dumps({**ROOM, "name": text})  # ASCII-escaped: the client cannot encode "\ud800"

    response = api.post("/rooms", content=raw, headers={"content-type": "application/json"})

    assert "name" in assert_error(response, 422, "invalid")["fields"]


def test_too_many_allowed_domains_is_invalid(api: Api) -> None:
    domains = [f"subsidiary-{n}.acme.example" for n in range(100)]

    response = api.post("/rooms", json={**ROOM, "allowed_domains": domains})

    assert "allowed_domains" in assert_error(response, 422, "invalid")["fields"]


def test_body_over_1_mb_is_refused_by_content_length(api: Api) -> None:
    response = api.post(
        "/rooms", content=b" " * (ONE_MB + 1), headers={"content-type": "application/json"}
    )

    assert response.request.headers["content-length"] == str(ONE_MB + 1)
    assert_error(response, 413, "too_large")


def test_body_over_1_mb_is_refused_while_it_streams(api: Api) -> None:
    chunks = iter([b" " * ONE_MB, b" "])  # chunked: no Content-Length to check up front

    response = api.post("/rooms", content=chunks, headers={"content-type": "application/json"})

    assert "content-length" not in response.request.headers
    assert_error(response, 413, "too_large")


def test_unsupported_method_is_a_json_405(api: Api) -> None:
    response = api.request("PUT", "/rooms", json=ROOM)

    assert_error(response, 405, "method_not_allowed")


# ---------------------------------------------------------------- authentication


def test_request_without_a_token_is_a_401_with_a_challenge(anonymous: Api) -> None:
    response = anonymous.get("/rooms")

    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer drt_not-a-real-token", "Bearer something-else", "Basic dXNlcjpwYXNz", "Bearer "],
)
def test_wrong_token_is_a_401(anonymous: Api, authorization: str) -> None:
    response = anonymous.get("/rooms", headers={"Authorization": authorization})

    assert_error(response, 401, "unauthorized")


def test_revoked_token_is_a_401(
    session: Any, client: Browser, document: dict[str, Any], seller: accounts.User
) -> None:
    token, plaintext = accounts.create_api_token(session, user=seller, name="Old sync")
    accounts.revoke_api_token(session, user=seller, token_id=token.public_id)
    session.flush()

    response = Api(client, document, plaintext).get("/rooms")

    assert_error(response, 401, "unauthorized")


def test_token_of_a_disabled_user_is_a_401(session: Any, api: Api, seller: accounts.User) -> None:
    seller.disabled_at = utcnow()
    session.flush()

    assert_error(api.get("/rooms"), 401, "unauthorized")


def test_seller_session_cookie_does_not_authenticate_the_api(
    client: Browser, anonymous: Api, seller: accounts.User
) -> None:
    client.login(seller.email, factories.PASSWORD)
    assert client.get("/rooms").status_code == 200  # the cookie works for the web app

    response = anonymous.post("/rooms", json=ROOM)

    assert_error(response, 401, "unauthorized")


# ---------------------------------------------------------------- tenant isolation


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"name": "Taken over"}), ("DELETE", None)],
)
def test_another_organisations_room_is_a_404(api: Api, rival: Api, method: str, body: Any) -> None:
    room = create_room(api)

    response = rival.request(method, f"/rooms/{room['id']}", json=body)

    assert_error(response, 404, "not_found")
    assert api.get(f"/rooms/{room['id']}").json() == room


def test_another_organisations_rooms_are_not_listed(api: Api, rival: Api) -> None:
    create_room(api, name="Acme secret deal")

    assert rival.get("/rooms").json()["data"] == []
    assert rival.get("/rooms", params={"q": "secret"}).json()["data"] == []


def test_another_organisations_invites_are_a_404(api: Api, rival: Api, session: Any) -> None:
    room = create_room(api)
    created = invite(api, room)

    assert_error(rival.get(f"/rooms/{room['id']}/invites"), 404, "not_found")
    assert_error(
        rival.post(f"/rooms/{room['id']}/invites", json={"email": "spy@contoso.example"}),
        404,
        "not_found",
    )
    assert_error(rival.get(f"/rooms/{room['id']}/invites/{created['id']}"), 404, "not_found")
    assert_error(rival.delete(f"/rooms/{room['id']}/invites/{created['id']}"), 404, "not_found")
    assert [i["status"] for i in api.get(f"/rooms/{room['id']}/invites").json()["data"]] == [
        "invited"
    ]
    assert mail_to(session, "spy@contoso.example") == []


def test_invite_id_under_your_own_room_is_a_404_when_it_belongs_elsewhere(
    api: Api, rival: Api
) -> None:
    theirs = invite(api, create_room(api))
    own_room = create_room(rival)

    response = rival.delete(f"/rooms/{own_room['id']}/invites/{theirs['id']}")

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/rooms/123",
        "/rooms/room_",
        "/rooms/room_../../x",  # the client resolves the dot segments: /rooms/x
        "/rooms/room_..%2F..%2Fx",
        "/rooms/room_" + "a" * 100,
        "/rooms/inv_0123456789abcdefghjk",
        "/rooms/room_0123456789abcdefghjk/invites",
        "/rooms/room_0123456789abcdefghjk/invites/123",
        "/rooms/%00",
    ],
)
def test_garbage_ids_are_a_json_404(api: Api, path: str) -> None:
    assert_error(api.get(path), 404, "not_found")


def test_garbage_invite_id_in_a_real_room_is_a_json_404(api: Api) -> None:
    room = create_room(api)

    assert_error(api.get(f"/rooms/{room['id']}/invites/room_{room['id']}"), 404, "not_found")
    assert_error(api.delete(f"/rooms/{room['id']}/invites/42"), 404, "not_found")


# ---------------------------------------------------------------- the OpenAPI document


def test_openapi_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate_openapi(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://testserver"}]


def test_openapi_document_is_served_without_a_token(anonymous: Api) -> None:
    assert anonymous.get("/openapi.json").status_code == 200


def test_openapi_document_and_routes_agree(app: Any, document: dict[str, Any]) -> None:
    routed = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in methods
    }

    assert documented == routed


def test_answers_match_the_documented_schemas(api: Api, rival: Api, anonymous: Api) -> None:
    """Every `Api` call validates its answer; this one makes sure each schema gets exercised."""
    room = create_room(api)
    api.get("/rooms")
    api.patch(f"/rooms/{room['id']}", json={"stage": "decision"})
    created = invite(api, room)
    api.get(f"/rooms/{room['id']}/invites")
    api.delete(f"/rooms/{room['id']}/invites/{created['id']}")
    anonymous.get("/rooms")
    rival.get(f"/rooms/{room['id']}")

    assert {"Room", "RoomList", "Invite", "InviteList"} <= api.checked
    assert anonymous.checked == rival.checked == {"Error"}
