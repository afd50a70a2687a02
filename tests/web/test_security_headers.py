"""Security headers on every response, HSTS only over https, and uploaded files that can never
run script in our origin (refused at upload, and served sandboxed as attachments if one ever got
stored by another path)."""

from __future__ import annotations

import io

import pytest
from sqlmodel import select

from dealroom import accounts, content
from dealroom.app import build_services, create_app
from dealroom.content import Document, DocumentVersion, StoredFile, Upload
from dealroom.pdfgen import simple_pdf
from tests import factories

SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(document.cookie)</script><circle r='5'/></svg>"
)
HTML = b"<!doctype html><html><body><script>fetch('/api/v1/rooms')</script>Hi</body></html>"


def _directives(csp: str) -> dict[str, str]:
    parts = [p.strip() for p in csp.split(";") if p.strip()]
    return {p.split(" ", 1)[0]: (p.split(" ", 1) + [""])[1] for p in parts}


@pytest.mark.parametrize("path", ["/login", "/healthz", "/no/such/page", "/api/v1/rooms"])
def test_every_response_has_the_security_headers(client, path):
    response = client.get(path)
    csp = _directives(response.headers["content-security-policy"])
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    # Plain http (the test client): no HSTS.
    assert "strict-transport-security" not in response.headers


def _app(settings, db, storage, **changes):
    return create_app(services=build_services(settings.replace(**changes), db=db, storage=storage))


def test_hsts_only_over_https(settings, db, storage, services):
    from starlette.testclient import TestClient

    with TestClient(_app(settings, db, storage), base_url="https://testserver") as tls:
        assert tls.get("/login").headers["strict-transport-security"].startswith("max-age=31536000")
    # Over plain http a client's X-Forwarded-Proto means nothing unless we trust a proxy...
    with TestClient(_app(settings, db, storage), base_url="http://testserver") as plain:
        spoofed = plain.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in spoofed.headers
    # ... and behind a trusted load balancer that terminated TLS, it does.
    behind = _app(settings, db, storage, trust_proxy=True)
    with TestClient(behind, base_url="http://testserver") as proxied:
        assert (
            "strict-transport-security"
            in proxied.get("/login", headers={"X-Forwarded-Proto": "https"}).headers
        )
        assert (
            "strict-transport-security"
            not in proxied.get("/login", headers={"X-Forwarded-Proto": "http"}).headers
        )


# ---------------------------------------------------------------- uploaded files


@pytest.fixture
def deal(session, services):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    invite = factories.invite(session, services, room, seller)
    session.flush()
    return seller, room, invite


def _upload(browser, room, filename, data, kind):
    return browser.post(
        f"/rooms/{room.public_id}/content?csrf_token={browser.csrf}",
        files={"file": (filename, data, kind)},
        data={"title": filename},
        follow_redirects=False,
    )


@pytest.mark.parametrize(
    ("filename", "data", "kind"),
    [
        ("logo.svg", SVG, "image/svg+xml"),
        ("logo.png", SVG, "image/png"),  # lying about its type
        ("page.html", HTML, "text/html"),
        ("notes.txt", HTML, "text/plain"),
        ("pricing.pdf", HTML, "application/pdf"),
    ],
)
def test_markup_uploads_are_refused(client, session, deal, filename, data, kind):
    seller, room, _invite = deal
    client.login(seller.email, factories.PASSWORD)
    response = _upload(client, room, filename, data, kind)
    assert response.status_code == 422
    assert response.context["content_panel"].errors
    assert session.exec(select(StoredFile)).all() == []


def _placeholder(pdf: bytes) -> Upload:
    return Upload(filename="placeholder.pdf", file=io.BytesIO(pdf), size=len(pdf))


def _rewrite(session, services, document, *, data: bytes, content_type: str, filename: str):
    version = session.exec(
        select(DocumentVersion).where(DocumentVersion.document_id == document.id)
    ).one()
    stored = session.get(StoredFile, version.file_id)
    services.storage.put(stored.key, io.BytesIO(data), content_type=content_type)
    stored.content_type, stored.filename, stored.size = content_type, filename, len(data)


def _smuggle(session, services, seller, room, **active):
    """A room item and a library document whose stored files are active content, as if written
    by some other path (an import, an older version of the app): the upload checks cannot be the
    only defence."""
    org = accounts.get_org(session, seller.org_id)
    pdf = simple_pdf([["placeholder"]])
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        org_public_id=org.public_id,
        upload=_placeholder(pdf),
        title="Smuggled",
    )
    library_doc = content.create_file_document(
        session, storage=services.storage, user=seller, upload=_placeholder(pdf), title="Lib"
    )
    for document in (session.get(Document, item.document_id), library_doc):
        _rewrite(session, services, document, **active)
    session.flush()
    return item, library_doc


@pytest.mark.parametrize(
    ("data", "content_type", "filename"),
    [(SVG, "image/svg+xml", "evil.svg"), (HTML, "text/html; charset=utf-8", "evil.html")],
)
def test_active_content_is_always_a_sandboxed_attachment(
    session, services, deal, new_browser, data, content_type, filename
):
    seller, room, invite = deal
    item, document = _smuggle(
        session, services, seller, room, data=data, content_type=content_type, filename=filename
    )
    seller_browser = new_browser()
    seller_browser.login(seller.email, factories.PASSWORD)
    buyer = new_browser()
    buyer.enter(services.links.invite(invite))
    answers = {
        "seller": seller_browser.get(f"/rooms/{room.public_id}/content/{item.public_id}/file"),
        "library": seller_browser.get(f"/library/{document.public_id}/file"),
        "buyer": buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file"),
        "buyer stream": buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file?stream=1"),
    }
    for who, response in answers.items():
        assert response.status_code == 200, who
        assert response.content == data, who
        # Never rendered as a page: saved as a file...
        assert response.headers["content-disposition"].startswith("attachment;"), who
        assert response.headers["x-content-type-options"] == "nosniff", who
        # ... and even a browser that rendered it would run it in an opaque sandbox, no script.
        csp = _directives(response.headers["content-security-policy"])
        assert "sandbox" in csp and csp["sandbox"] == "", (
            who
        )  # no allow-scripts, no allow-same-origin
        assert csp["default-src"] == "'none'", who
        assert "script-src" not in csp, who


def test_text_files_are_shown_as_plain_text(client, session, deal, services, new_browser):
    seller, room, invite = deal
    client.login(seller.email, factories.PASSWORD)
    markdown = b"# Plan\n\n| a | b |\n"
    assert _upload(client, room, "plan.md", markdown, "text/markdown").status_code == 303
    item = content.room_content(session, room=room).items[0]
    buyer = new_browser()
    buyer.enter(services.links.invite(invite))
    shown = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file")
    assert shown.headers["content-type"] == "text/plain; charset=utf-8"
    assert shown.headers["content-disposition"].startswith("inline")
    assert "sandbox" in shown.headers["content-security-policy"]
    saved = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file?download=1")
    assert saved.headers["content-type"].startswith("text/markdown")


def test_file_routes_send_no_cookies_to_other_origins(client, session, deal):
    seller, room, _invite = deal
    client.login(seller.email, factories.PASSWORD)
    pdf = simple_pdf([["x"]])
    assert _upload(client, room, "x.pdf", pdf, "application/pdf").status_code == 303
    item = content.room_content(session, room=room).items[0]
    response = client.get(f"/rooms/{room.public_id}/content/{item.public_id}/file")
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
    assert response.headers["cache-control"] == "private, no-store"
