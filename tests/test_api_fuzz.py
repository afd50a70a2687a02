"""Fuzzing the JSON API with schemathesis, from the description it serves at /api/v1/openapi.json.

Every operation gets generated requests, valid and invalid, sent in process to the app (ASGI) with
a bearer token of a seeded organisation; ids in paths are swapped for the seeded room's, so
handlers are reached beyond their 404. Every response must be a non-5xx that matches the
description (status code, content type, headers, body schema), valid input must be accepted and
invalid input refused with a 4xx.

Bounded for `make test` (FUZZ_EXAMPLES examples per operation, SQLite; well under a minute);
`make fuzz` runs the same with many more examples, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from dealroom import accounts, chat, notes
from dealroom.app import build_services, create_app
from dealroom.db import Database
from dealroom.web.openapi import spec
from tests import factories

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# Not `positive_data_acceptance`: schema-valid input may still break a business rule (an unknown
# template id, a task due before its milestone) and rightly get a 422.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.missing_required_header,
    checks.ignored_auth,
]
DATABASES = os.environ.get("FUZZ_DATABASES", "sqlite").split(",")


@pytest.fixture(params=DATABASES)
def fuzz_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    engine = request.getfixturevalue(f"{request.param}_engine")
    connection = engine.connect()
    outer = connection.begin()
    try:
        yield Database(connection)
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture
def fuzz_world(fuzz_db: Database, settings: Any, storage: Any) -> dict[str, Any]:
    services = build_services(settings, db=fuzz_db, storage=storage)
    session = fuzz_db._factory()
    try:
        seller = factories.seller(session, org="Fuzz Org")
        room = factories.room(session, seller, name="Fuzzed deal")
        invite = factories.invite(session, services, room, seller, email="kato@acme.example")
        note = notes.create_note(
            session,
            room=room,
            user=seller,
            data={"title": "Kickoff", "body": "Agenda", "meeting_date": "2026-03-02"},
        )
        message = chat.post_message(session, room=room, author=seller, body="Hello")
        _row, token = accounts.create_api_token(session, user=seller, name="fuzz")
        session.commit()
        ids = {
            "room_id": room.public_id,
            "invite_id": invite.public_id,
            "note_id": note.public_id,
            "message_id": message.public_id,
        }
    finally:
        session.close()
    return {"app": create_app(services=services), "token": token, "ids": ids}


def _operations() -> list[Any]:
    """Every operation of the description the app serves (checked to be the same below)."""
    loaded = schemathesis.openapi.from_dict(spec("http://testserver"))
    return [result.ok() for result in loaded.get_all_operations()]


OPERATIONS = _operations()
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def _takes_input(operation: Any) -> bool:
    """Anything a client sends that could be made invalid (the bearer token aside)."""
    return bool(len(operation.path_parameters) or len(operation.query) or len(operation.body))


# An operation without input has no negative cases: it is fuzzed positively only.
CASES = [
    (operation, mode)
    for operation in OPERATIONS
    for mode in MODES
    if mode is GenerationMode.POSITIVE or _takes_input(operation)
]


def test_the_fuzzed_description_is_the_served_one(client: Any) -> None:
    assert client.get("/api/v1/openapi.json").json() == spec("http://testserver")


def _with_real_ids(case: Any, ids: dict[str, str]) -> None:
    """Swap a well-formed id for the seeded object's (a malformed one is left: it must be a
    clean 4xx)."""
    for name, value in list((case.path_parameters or {}).items()):
        real = ids.get(name)
        if real and isinstance(value, str) and re.fullmatch(r"[a-z]+_[0-9a-z]+", value):
            case.path_parameters[name] = real


def _known_query_only(case: Any, operation: Any) -> None:
    """Unknown query parameters are ignored, by design (as by most HTTP APIs): drop them, so a
    case is "negative" only for what the API does promise to refuse."""
    if case.query:
        known = {parameter.name for parameter in operation.query}
        case.query = {k: v for k, v in case.query.items() if k in known}


def _invalid_beyond_the_token(case: Any) -> bool:
    components = case.meta.components if case.meta else {}
    return any(
        info.mode is GenerationMode.NEGATIVE
        and str(getattr(location, "value", location)) != "header"
        for location, info in components.items()
    )


@pytest.mark.parametrize(
    ("operation", "mode"), CASES, ids=[f"{o.label}-{m.value}" for o, m in CASES]
)
def test_api_conforms_to_its_description(
    operation: Any, mode: GenerationMode, fuzz_world: dict[str, Any]
) -> None:
    app, token, ids = fuzz_world["app"], fuzz_world["token"], fuzz_world["ids"]
    served = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operation = served[operation.path][operation.method.upper()]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same cases every run: a failure in `make test` is reproducible
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        _with_real_ids(case, ids)
        _known_query_only(case, operation)
        if mode is GenerationMode.NEGATIVE and not _invalid_beyond_the_token(case):
            return  # only the token was spoiled, and we send a good one: nothing to refuse
        # In the case itself (not as an extra header), so the checks know it was sent: the
        # missing-token case is `ignored_auth`'s job.
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        case.call_and_validate(checks=CHECKS)

    check()
