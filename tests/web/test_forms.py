"""Bodies that cannot be parsed get our own clear answer (a page, or JSON for the API), never
Starlette's bare plain-text 400 (found by the API fuzzer)."""

from __future__ import annotations

from dealroom import accounts
from tests import factories

BOUNDARY = "0d37f771f3609e9baf6be26654101f5f"
BROKEN = f"--{BOUNDARY}\r\nTrue--{BOUNDARY}--\r\n".encode()
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def test_a_broken_multipart_upload_to_the_api_is_a_json_422(client, session):
    user = factories.seller(session)
    room = factories.room(session, user)
    _row, token = accounts.create_api_token(session, user=user)
    session.flush()
    response = client.post(
        f"/api/v1/rooms/{room.public_id}/content",
        content=BROKEN,
        headers={"Authorization": f"Bearer {token}", "Content-Type": MULTIPART},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["message"].startswith("The upload could not be read")


def test_a_broken_multipart_form_is_a_friendly_page(client, session):
    user = factories.seller(session)
    room = factories.room(session, user)
    session.flush()
    client.login(user.email, factories.PASSWORD)
    for path in (f"/rooms/{room.public_id}/content", f"/rooms/{room.public_id}/notes/new"):
        response = client.post(
            f"{path}?csrf_token={client.csrf}",
            content=BROKEN,
            headers={"Content-Type": MULTIPART},
            follow_redirects=False,
        )
        assert response.status_code == 422, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "could not be read" in response.text, path
