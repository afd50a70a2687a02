"""Uploading room documents and delivering them: sniffed types, limits, downloads, S3 redirects."""

from __future__ import annotations

from sqlmodel import select

from dealroom.app import build_services, create_app
from dealroom.content import ContentItem, StoredFile
from dealroom.pdfgen import simple_pdf
from dealroom.storage.s3 import S3Storage
from tests import factories
from tests.conftest import make_browser
from tests.harness.s3 import moto_server, s3_client

PDF = simple_pdf([["Proposal"], ["Pricing"], ["Terms"]])


def upload(browser, room, filename, data, title=""):
    return browser.post(
        f"/rooms/{room.public_id}/content?csrf_token={browser.csrf}",
        files={"file": (filename, data, "application/pdf")},
        data={"title": title},
        follow_redirects=False,
    )


def test_seller_uploads_a_pdf_and_a_buyer_reads_it(client, session, services, new_browser):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    invite = factories.invite(session, services, room, seller)
    session.flush()
    client.login(seller.email, factories.PASSWORD)
    assert upload(client, room, "proposal.pdf", PDF, title="Proposal").status_code == 303
    item = session.exec(select(ContentItem).where(ContentItem.room_id == room.id)).one()
    stored = session.get(StoredFile, item.file_id)
    assert (item.title, item.file_kind, item.pages) == ("Proposal", "pdf", 3)
    assert (stored.backend, stored.content_type, stored.size) == (
        "local",
        "application/pdf",
        len(PDF),
    )

    buyer = new_browser()
    buyer.enter(services.links.invite(invite))
    room_page = buyer.get(f"/r/{room.public_id}")
    assert "Proposal" in room_page.text
    inline = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file")
    assert inline.status_code == 200
    assert inline.content == PDF
    assert inline.headers["content-disposition"].startswith("inline")
    assert "sandbox" in inline.headers["content-security-policy"]
    download = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file?download=1")
    assert download.headers["content-disposition"].startswith("attachment")

    client.submit(
        f"/rooms/{room.public_id}/content/{item.public_id}/download", {"allow_download": "0"}
    )
    refused = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file?download=1")
    assert refused.status_code == 403
    assert buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file").status_code == 200
    assert "Download" not in buyer.get(f"/r/{room.public_id}").text


def test_an_executable_renamed_pdf_is_refused_and_nothing_is_saved(client, session, storage):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    session.flush()
    client.login(seller.email, factories.PASSWORD)
    response = upload(client, room, "proposal.pdf", b"MZ\x90\x00" + b"\x00" * 200)
    assert response.status_code == 422
    assert "proposal.pdf" in response.context["upload_errors"]["file"]
    assert session.exec(select(ContentItem)).all() == []
    assert not any(storage.root.rglob("*")) if storage.root.exists() else True


def test_empty_and_missing_files_are_refused(client, session):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    session.flush()
    client.login(seller.email, factories.PASSWORD)
    assert "empty" in upload(client, room, "x.pdf", b"").text
    missing = client.post(
        f"/rooms/{room.public_id}/content?csrf_token={client.csrf}",
        data={"title": "x"},
        files={"other": ("a", b"a")},
    )
    assert missing.status_code == 422


def test_uploads_over_the_limit_are_refused_with_413(services, session):
    small = services.settings.replace(max_upload_mb=1)
    small_services = build_services(small, db=services.db, storage=services.storage)
    seller = factories.seller(session)
    room = factories.room(session, seller)
    session.flush()
    with make_browser(create_app(services=small_services), small_services) as browser:
        browser.login(seller.email, factories.PASSWORD)
        big = PDF + b"0" * (2 * 1024 * 1024 + 10)
        response = upload(browser, room, "big.pdf", big)
        assert response.status_code == 413
    assert session.exec(select(ContentItem)).all() == []


def test_files_in_s3_are_served_through_short_lived_presigned_urls(services, session, new_browser):
    with moto_server() as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket="dealroom-web-test")
        s3_services = build_services(
            services.settings, db=services.db, storage=S3Storage(client, "dealroom-web-test")
        )
        seller = factories.seller(session)
        room = factories.room(session, seller)
        session.flush()
        with make_browser(create_app(services=s3_services), s3_services) as browser:
            browser.login(seller.email, factories.PASSWORD)
            assert upload(browser, room, "proposal.pdf", PDF).status_code == 303
            item = session.exec(select(ContentItem)).one()
            assert session.get(StoredFile, item.file_id).backend == "s3"
            redirect = browser.get(
                f"/rooms/{room.public_id}/content/{item.public_id}/file", follow_redirects=False
            )
            assert redirect.status_code == 303
            url = redirect.headers["location"]
            assert url.startswith(endpoint) and "X-Amz-Expires=300" in url
            import httpx

            fetched = httpx.get(url)
            assert fetched.content == PDF
