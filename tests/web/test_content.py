"""Room content on the web: uploads (sniffed, limited, versioned), links and embeds, sections and
order, tags, the library, the buyer's viewer and badges, file delivery (local and S3), the API."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from sqlmodel import select

from dealroom import accounts, content
from dealroom.app import build_services, create_app
from dealroom.audit import AuditEvent
from dealroom.content import Document, DocumentVersion, RoomItem, Section, StoredFile, Upload
from dealroom.pdfgen import simple_pdf
from dealroom.storage.s3 import S3Storage
from tests import factories
from tests.conftest import make_browser
from tests.harness.s3 import moto_server, s3_client

PDF = simple_pdf([["Proposal"], ["Pricing"], ["Terms"]])
YOUTUBE = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


def upload(browser, room, filename, data, title="", **fields):
    return browser.post(
        f"/rooms/{room.public_id}/content?csrf_token={browser.csrf}",
        files={"file": (filename, data, "application/pdf")},
        data={"title": title, **fields},
        follow_redirects=False,
    )


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.fixture
def setup(session, services):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    invite = factories.invite(session, services, room, seller)
    session.flush()
    return seller, room, invite


@pytest.fixture
def seller_browser(client, setup):
    seller, _room, _invite = setup
    client.login(seller.email, factories.PASSWORD)
    return client


@pytest.fixture
def buyer(new_browser, services, setup):
    _seller, _room, invite = setup
    browser = new_browser()
    browser.enter(services.links.invite(invite))
    return browser


def only_item(session, room) -> RoomItem:
    return session.exec(select(RoomItem).where(RoomItem.room_id == room.id)).one()


def add_pdf(session, services, room, seller, title="Proposal", data=PDF, **kw) -> RoomItem:
    return content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        upload=Upload(filename=f"{title}.pdf", file=io.BytesIO(data), size=len(data)),
        title=title,
        **kw,
    )


# ---------------------------------------------------------------- uploads and delivery


def test_seller_uploads_a_pdf_and_a_buyer_reads_it(seller_browser, session, setup, buyer):
    _seller, room, _invite = setup
    response = upload(seller_browser, room, "proposal.pdf", PDF, title="Proposal")
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"/rooms/{room.public_id}#content")
    item = only_item(session, room)
    document = session.get(Document, item.document_id)
    version = session.exec(
        select(DocumentVersion).where(DocumentVersion.document_id == document.id)
    ).one()
    stored = session.get(StoredFile, version.file_id)
    assert (document.title, document.file_kind, document.room_id, version.pages) == (
        "Proposal",
        "pdf",
        room.id,
        3,
    )
    assert (stored.backend, stored.content_type, stored.size) == (
        "local",
        "application/pdf",
        len(PDF),
    )

    room_page = buyer.get(f"/r/{room.public_id}")
    assert room_page.template.name == "buyer/room.html"
    assert [v.title for v in room_page.context["content_panel"].content.items] == ["Proposal"]
    assert "Proposal" in room_page.text
    inline = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file")
    assert inline.status_code == 200
    assert inline.content == PDF
    assert inline.headers["content-disposition"].startswith("inline")
    assert "sandbox" in inline.headers["content-security-policy"]
    download = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file?download=1")
    assert download.headers["content-disposition"].startswith("attachment")

    seller_browser.submit(
        f"/rooms/{room.public_id}/content/{item.public_id}/download", {"allow_download": "0"}
    )
    refused = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file?download=1")
    assert refused.status_code == 403
    assert buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file").status_code == 200
    assert "Download" not in buyer.get(f"/r/{room.public_id}").text
    viewer = buyer.get(f"/r/{room.public_id}/content/{item.public_id}")
    assert viewer.context["can_download"] is False
    assert "?download=1" not in viewer.text


def test_an_executable_renamed_pdf_is_refused_and_nothing_is_saved(
    seller_browser, session, setup, storage
):
    _seller, room, _invite = setup
    response = upload(seller_browser, room, "proposal.pdf", b"MZ\x90\x00" + b"\x00" * 200)
    assert response.status_code == 422
    assert response.template.name == "rooms/detail.html"
    assert "proposal.pdf" in response.context["content_panel"].errors["file"]
    assert session.exec(select(Document)).all() == []
    assert session.exec(select(StoredFile)).all() == []
    assert not storage.root.exists() or not any(p.is_file() for p in storage.root.rglob("*"))


def test_a_broken_pdf_is_refused_with_a_clear_message(seller_browser, session, setup, storage):
    _seller, room, _invite = setup
    response = upload(seller_browser, room, "deck.pdf", PDF[: len(PDF) // 3])
    assert response.status_code == 422
    assert "damaged" in response.context["content_panel"].errors["file"]
    assert "damaged" in response.text
    assert session.exec(select(RoomItem)).all() == []
    assert not storage.root.exists() or not any(p.is_file() for p in storage.root.rglob("*"))


def test_a_failure_after_the_file_is_stored_deletes_it_again(
    seller_browser, session, setup, storage, monkeypatch
):
    _seller, room, _invite = setup

    def broken_place(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(content, "place", broken_place)
    with pytest.raises(RuntimeError):
        upload(seller_browser, room, "proposal.pdf", PDF)
    assert not storage.root.exists() or not any(p.is_file() for p in storage.root.rglob("*"))


def test_empty_and_missing_files_are_refused(seller_browser, setup):
    _seller, room, _invite = setup
    assert "empty" in upload(seller_browser, room, "x.pdf", b"").text
    missing = seller_browser.post(
        f"/rooms/{room.public_id}/content?csrf_token={seller_browser.csrf}",
        data={"title": "x"},
        files={"other": ("a", b"a")},
    )
    assert missing.status_code == 422
    assert missing.context["content_panel"].errors == {"file": "Choose a file to upload."}


def test_uploads_over_the_limit_are_refused_with_413(services, session, setup):
    seller, room, _invite = setup
    small = services.settings.replace(max_upload_mb=1)
    small_services = build_services(small, db=services.db, storage=services.storage)
    with make_browser(create_app(services=small_services), small_services) as browser:
        browser.login(seller.email, factories.PASSWORD)
        big = PDF + b"0" * (2 * 1024 * 1024 + 10)
        response = upload(browser, room, "big.pdf", big)
        assert response.status_code == 413
    assert session.exec(select(Document)).all() == []


def test_upload_takes_section_and_tags(seller_browser, session, setup):
    _seller, room, _invite = setup
    section = content.add_section(session, room=room, title="Proposal")
    session.flush()
    response = upload(
        seller_browser,
        room,
        "proposal.pdf",
        PDF,
        section=section.public_id,
        stages=["evaluation", "decision"],
        roles=["economic_buyer"],
    )
    assert response.status_code == 303
    item = only_item(session, room)
    assert (item.section_id, item.stages, item.roles) == (
        section.id,
        "evaluation,decision",
        "economic_buyer",
    )
    page = seller_browser.get(f"/rooms/{room.public_id}")
    assert "Economic buyer" in page.text


def test_unknown_tags_are_refused_by_name(seller_browser, session, setup):
    _seller, room, _invite = setup
    response = upload(seller_browser, room, "p.pdf", PDF, stages=["negotiation"])
    assert response.status_code == 422
    assert "negotiation" in response.context["content_panel"].errors["stages"]
    assert session.exec(select(StoredFile)).all() == []


def test_files_in_s3_are_served_through_short_lived_presigned_urls(services, session, setup):
    seller, room, invite = setup
    with moto_server() as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket="dealroom-web-test")
        s3_services = build_services(
            services.settings, db=services.db, storage=S3Storage(client, "dealroom-web-test")
        )
        app = create_app(services=s3_services)
        with make_browser(app, s3_services) as browser, make_browser(app, s3_services) as buyer:
            browser.login(seller.email, factories.PASSWORD)
            assert upload(browser, room, "proposal.pdf", PDF).status_code == 303
            item = only_item(session, room)
            version = session.exec(select(DocumentVersion)).one()
            assert session.get(StoredFile, version.file_id).backend == "s3"
            redirect = browser.get(
                f"/rooms/{room.public_id}/content/{item.public_id}/file", follow_redirects=False
            )
            assert redirect.status_code == 303
            url = redirect.headers["location"]
            assert url.startswith(endpoint) and "X-Amz-Expires=300" in url
            import httpx

            fetched = httpx.get(url)
            assert fetched.content == PDF

            # Images and videos load from the bucket: the viewer's CSP names its origin. The PDF
            # viewer fetches with script, so its PDF streams through the app (no CORS needed).
            buyer.enter(s3_services.links.invite(invite))
            viewer = buyer.get(f"/r/{room.public_id}/content/{item.public_id}")
            csp = viewer.headers["content-security-policy"]
            assert f"media-src 'self' {endpoint}" in csp and "connect-src 'self';" in csp
            data_src = re.search(r'data-src="([^"]+)"', viewer.text).group(1)
            streamed = buyer.get(data_src, follow_redirects=False)
            assert streamed.status_code == 200 and streamed.content == PDF


def test_office_files_are_not_served_when_downloads_are_off(
    seller_browser, session, services, setup, buyer
):
    seller, room, _invite = setup
    data = docx()
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        upload=Upload("terms.docx", io.BytesIO(data), len(data)),
    )
    content.set_download(session, item=item, allowed=False)
    session.flush()
    base = f"/r/{room.public_id}/content/{item.public_id}"
    assert buyer.get(f"{base}/file").status_code == 403
    assert buyer.get(f"{base}/file?download=1").status_code == 403
    viewer = buyer.get(base)
    assert "turned off downloads" in viewer.text


# ---------------------------------------------------------------- versions and badges


def test_a_new_version_shows_as_updated_until_the_buyer_opens_it(
    seller_browser, session, services, setup, buyer
):
    seller, room, _invite = setup
    item = add_pdf(session, services, room, seller)
    session.flush()

    def badge():
        page = buyer.get(f"/r/{room.public_id}")
        return page.context["content_panel"].content.items[0].badge

    assert badge() == "new"
    assert buyer.get(f"/r/{room.public_id}/content/{item.public_id}").status_code == 200
    assert badge() == ""

    v2 = simple_pdf([["Proposal v2"], ["Pricing"], ["Terms"], ["Appendix"]])
    response = seller_browser.post(
        f"/rooms/{room.public_id}/content/{item.public_id}/version?csrf_token={seller_browser.csrf}",
        files={"file": ("proposal-v2.pdf", v2, "application/pdf")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert badge() == "updated"
    page = buyer.get(f"/r/{room.public_id}")
    assert "Updated" in page.text
    viewer = buyer.get(f"/r/{room.public_id}/content/{item.public_id}")
    assert viewer.context["item"].pages == 4
    assert buyer.get(f"/r/{room.public_id}/content/{item.public_id}/file").content == v2
    assert badge() == ""


def test_a_broken_new_version_keeps_the_old_one(seller_browser, session, services, setup):
    seller, room, _invite = setup
    item = add_pdf(session, services, room, seller)
    session.flush()
    response = seller_browser.post(
        f"/rooms/{room.public_id}/content/{item.public_id}/version?csrf_token={seller_browser.csrf}",
        files={"file": ("v2.pdf", b"%PDF-1.7\ngarbage", "application/pdf")},
    )
    assert response.status_code == 422
    assert "damaged" in response.context["content_panel"].errors["file"]
    session.expire_all()
    assert session.get(Document, item.document_id).current_version == 1


def test_seller_preview_sets_no_badges_and_records_nothing(
    seller_browser, session, services, setup
):
    seller, room, _invite = setup
    item = add_pdf(session, services, room, seller)
    session.flush()
    preview = seller_browser.get(f"/r/{room.public_id}/content/{item.public_id}")
    assert preview.status_code == 200 and preview.context["preview"] is True
    assert session.exec(select(content.ItemSeen)).all() == []


# ---------------------------------------------------------------- the viewer


def test_pdf_viewer_loads_pdfjs_from_self_with_a_worker(session, services, setup, buyer):
    seller, room, _invite = setup
    item = add_pdf(session, services, room, seller)
    session.flush()
    response = buyer.get(f"/r/{room.public_id}/content/{item.public_id}")
    assert response.template.name == "content/viewer.html"
    csp = response.headers["content-security-policy"]
    assert "worker-src 'self'" in csp and "script-src 'self';" in csp
    assert "frame-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert re.search(r'<script type="module" src="[^"]*/static/viewer\.js">', response.text)
    pdfjs = re.search(r'data-pdfjs="([^"]+)"', response.text).group(1)
    worker = re.search(r'data-worker="([^"]+)"', response.text).group(1)
    for path in (pdfjs, worker, "/static/viewer.js"):
        asset = buyer.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["content-type"].startswith("text/javascript"), path
    assert "Previous page" in response.text and "Next page" in response.text
    # Page turning starts disabled: viewer.js enables it once it listens, so no click is lost.
    assert re.search(r'<button type="button" data-pdf="prev" disabled>', response.text)
    assert re.search(r'<button type="button" data-pdf="next" disabled>', response.text)


@pytest.mark.parametrize(
    ("filename", "data", "needle"),
    [
        ("chart.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, '<img class="viewer-image"'),
        ("demo.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "<video"),
        ("notes.txt", b"plain notes\n", "Open it in a new tab"),
    ],
)
def test_viewer_shows_images_videos_and_text(
    session, services, setup, buyer, filename, data, needle
):
    seller, room, _invite = setup
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        upload=Upload(filename, io.BytesIO(data), len(data)),
    )
    session.flush()
    response = buyer.get(f"/r/{room.public_id}/content/{item.public_id}")
    assert response.status_code == 200
    assert needle in response.text


def test_youtube_link_is_embedded_with_exactly_its_host_in_the_csp(
    seller_browser, session, setup, buyer
):
    _seller, room, _invite = setup
    response = seller_browser.submit(
        f"/rooms/{room.public_id}/content/link", {"url": YOUTUBE, "title": "Product demo"}
    )
    assert response.status_code == 303
    item = only_item(session, room)
    viewer = buyer.get(f"/r/{room.public_id}/content/{item.public_id}")
    assert viewer.context["embed"].kind == "youtube"
    assert 'src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"' in viewer.text
    assert 'title="Product demo"' in viewer.text
    csp = viewer.headers["content-security-policy"]
    assert "frame-src https://www.youtube-nocookie.com;" in csp
    assert "vimeo" not in csp and "loom" not in csp


def test_web_links_open_through_a_redirect_that_records_the_click(
    seller_browser, session, setup, buyer
):
    _seller, room, invite = setup
    seller_browser.submit(
        f"/rooms/{room.public_id}/content/link", {"url": "acme.example/roi-calculator"}
    )
    item = only_item(session, room)
    page = buyer.get(f"/r/{room.public_id}")
    assert f"/r/{room.public_id}/content/{item.public_id}/open" in page.text
    opened = buyer.get(f"/r/{room.public_id}/content/{item.public_id}/open", follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == "https://acme.example/roi-calculator"
    events = session.exec(
        select(AuditEvent).where(AuditEvent.action == "content.link_opened")
    ).all()
    assert [(e.actor, e.target) for e in events] == [(invite.public_id, item.public_id)]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>x</script>",
        "ftp://x.example/f",
        "http://",
    ],
)
def test_unsafe_or_malformed_links_are_refused(seller_browser, session, setup, url):
    _seller, room, _invite = setup
    response = seller_browser.submit(f"/rooms/{room.public_id}/content/link", {"url": url})
    assert response.status_code == 422
    assert response.context["content_panel"].errors["url"]
    assert session.exec(select(Document)).all() == []


# ---------------------------------------------------------------- sections and order


def test_sections_are_created_renamed_reordered_and_deleted(
    seller_browser, session, services, setup
):
    seller, room, _invite = setup
    base = f"/rooms/{room.public_id}"
    assert (
        seller_browser.submit(f"{base}/sections", {"section_title": "Proposal"}).status_code == 303
    )
    assert (
        seller_browser.submit(f"{base}/sections", {"section_title": "Security"}).status_code == 303
    )
    blank = seller_browser.submit(f"{base}/sections", {"section_title": "  "})
    assert blank.status_code == 422 and blank.context["content_panel"].errors["section_title"]
    proposal, security = content.list_sections(session, room=room)
    item = add_pdf(session, services, room, seller, section=proposal)
    session.flush()

    seller_browser.submit(f"{base}/sections/{security.public_id}/move", {"direction": "up"})
    assert [s.title for s in content.list_sections(session, room=room)] == ["Security", "Proposal"]
    seller_browser.submit(f"{base}/sections/{proposal.public_id}/edit", {"section_title": "Offer"})
    session.expire_all()
    assert session.get(Section, proposal.id).title == "Offer"

    proposal_id, item_id = proposal.id, item.id
    seller_browser.submit(f"{base}/sections/{proposal.public_id}/remove")
    session.expire_all()
    assert session.get(Section, proposal_id) is None
    assert session.get(RoomItem, item_id).section_id is None  # fell back to unsectioned


def test_items_move_with_buttons_and_with_drag_and_drop(seller_browser, session, services, setup):
    seller, room, _invite = setup
    base = f"/rooms/{room.public_id}"
    a, b, c = (add_pdf(session, services, room, seller, title=t) for t in "ABC")
    section = content.add_section(session, room=room, title="Later")
    session.flush()

    def order():
        session.expire_all()
        return [
            (g.section.title if g.section else "", [v.title for v in g.items])
            for g in content.room_content(session, room=room).sections
        ]

    seller_browser.submit(f"{base}/content/{c.public_id}/move", {"direction": "up"})
    assert order() == [("", ["A", "C", "B"]), ("Later", [])]
    response = seller_browser.submit(
        f"{base}/content/order",
        {"items": f"{section.public_id}:{b.public_id},:{c.public_id},:{a.public_id}"},
    )
    assert response.status_code == 303
    assert order() == [("", ["C", "A"]), ("Later", ["B"])]
    stale = seller_browser.submit(f"{base}/content/order", {"items": f":{a.public_id}"})
    assert stale.status_code == 422
    assert order() == [("", ["C", "A"]), ("Later", ["B"])]


def test_htmx_requests_get_the_panel_fragment(seller_browser, session, services, setup):
    seller, room, _invite = setup
    item = add_pdf(session, services, room, seller)
    session.flush()
    response = seller_browser.post(
        f"/rooms/{room.public_id}/content/{item.public_id}/move",
        data={"direction": "down"},
        headers={"HX-Request": "true", "X-CSRF-Token": seller_browser.csrf},
    )
    assert response.status_code == 200
    assert response.template.name == "rooms/_content.html"
    assert response.text.lstrip().startswith('<section id="content"')


def test_room_page_groups_content_by_section_for_seller_and_buyer(
    seller_browser, session, services, setup, buyer
):
    seller, room, _invite = setup
    section = content.add_section(session, room=room, title="Security pack")
    add_pdf(session, services, room, seller, title="Overview")
    add_pdf(session, services, room, seller, title="SOC 2 report", section=section)
    session.flush()
    seller_page = seller_browser.get(f"/rooms/{room.public_id}")
    assert 'data-section-drag="' + section.public_id in seller_page.text
    assert "Move up" in seller_page.text and "Move down" in seller_page.text
    buyer_page = buyer.get(f"/r/{room.public_id}")
    text = buyer_page.text
    assert text.index("Overview") < text.index("Security pack") < text.index("SOC 2 report")


def test_editing_an_item_sets_its_tags_and_section(seller_browser, session, services, setup):
    seller, room, _invite = setup
    section = content.add_section(session, room=room, title="Pricing")
    item = add_pdf(session, services, room, seller)
    session.flush()
    response = seller_browser.post(
        f"/rooms/{room.public_id}/content/{item.public_id}/edit",
        data={
            "csrf_token": seller_browser.csrf,
            "tags": "1",
            "title": "Commercial proposal",
            "section": section.public_id,
            "stages": ["decision"],
            "roles": ["economic_buyer", "legal_procurement"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    session.expire_all()
    item = session.get(RoomItem, item.id)
    assert (item.section_id, item.stages, item.roles) == (
        section.id,
        "decision",
        "economic_buyer,legal_procurement",
    )
    assert session.get(Document, item.document_id).title == "Commercial proposal"
    cleared = seller_browser.submit(
        f"/rooms/{room.public_id}/content/{item.public_id}/edit", {"tags": "1"}
    )
    assert cleared.status_code == 303
    session.expire_all()
    assert session.get(RoomItem, item.id).roles == ""


def test_empty_states(seller_browser, setup, buyer):
    _seller, room, _invite = setup
    assert "No content yet" in seller_browser.get(f"/rooms/{room.public_id}").text
    assert "Nothing shared here yet" in buyer.get(f"/r/{room.public_id}").text
    assert "The library is empty" in seller_browser.get("/library").text


# ---------------------------------------------------------------- the library


def test_library_document_reaches_every_room_and_its_new_version_too(
    seller_browser, session, services, setup, new_browser
):
    seller, room, invite = setup
    other_room = factories.room(session, seller, name="Globex rollout")
    other_invite = factories.invite(session, services, other_room, seller, email="g@globex.example")
    session.flush()
    response = seller_browser.post(
        f"/library/upload?csrf_token={seller_browser.csrf}",
        files={"file": ("case-study.pdf", PDF, "application/pdf")},
        data={"title": "Case study", "stages": "evaluation"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    document = session.exec(select(Document).where(Document.title == "Case study")).one()
    assert document.room_id is None and document.stages == "evaluation"
    for target in (room, other_room):
        added = seller_browser.submit(
            f"/library/{document.public_id}/add",
            {"room": target.public_id, "section_title": "Proof"},
        )
        assert added.status_code == 303
    again = seller_browser.submit(f"/library/{document.public_id}/add", {"room": room.public_id})
    assert again.status_code == 422 and "already in this room" in again.text

    buyers = []
    for target, person in ((room, invite), (other_room, other_invite)):
        browser = new_browser()
        browser.enter(services.links.invite(person))
        item = browser.get(f"/r/{target.public_id}").context["content_panel"].content.items[0]
        assert item.item.stages == "evaluation"
        browser.get(f"/r/{target.public_id}/content/{item.public_id}")
        buyers.append((browser, target))

    v2 = simple_pdf([["Case study 2026"], ["Results"]])
    response = seller_browser.post(
        f"/library/{document.public_id}/version?csrf_token={seller_browser.csrf}",
        files={"file": ("case-study.pdf", v2, "application/pdf")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    for browser, target in buyers:
        item = browser.get(f"/r/{target.public_id}").context["content_panel"].content.items[0]
        assert (item.badge, item.pages) == ("updated", 2)
        assert browser.get(f"/r/{target.public_id}/content/{item.public_id}/file").content == v2
    page = seller_browser.get(f"/library/{document.public_id}")
    assert [v.version for v, _f in page.context["versions"]] == [2, 1]
    assert {r.public_id for r in page.context["using"]} == {room.public_id, other_room.public_id}


def test_library_search_archive_and_add_from_the_room(seller_browser, session, setup):
    seller, room, _invite = setup
    for url, title, roles in (
        ("https://vimeo.com/76979871", "Onboarding video", "end_user"),
        ("https://acme.example/roi", "ROI calculator", "economic_buyer"),
    ):
        content.create_link_document(session, user=seller, url=url, title=title, roles_=roles)
    session.flush()
    found = seller_browser.get("/library?q=economic buyer")
    assert [e.document.title for e in found.context["entries"]] == ["ROI calculator"]
    found = seller_browser.get("/library?q=onboard")
    assert [e.document.title for e in found.context["entries"]] == ["Onboarding video"]
    video = found.context["entries"][0].document

    response = seller_browser.submit(
        f"/rooms/{room.public_id}/content/library", {"document": video.public_id}
    )
    assert response.status_code == 303
    item = only_item(session, room)
    assert item.document_id == video.id and item.roles == "end_user"

    seller_browser.submit(f"/library/{video.public_id}/archive")
    assert seller_browser.get("/library?q=onboard").context["entries"] == []
    assert [
        e.document.title for e in seller_browser.get("/library?archived=1").context["entries"]
    ] == ["Onboarding video"]
    other = factories.room(session, seller, name="Other")
    session.flush()
    refused = seller_browser.submit(f"/library/{video.public_id}/add", {"room": other.public_id})
    assert refused.status_code == 422 and "archived" in refused.text
    bad = seller_browser.submit(
        f"/rooms/{other.public_id}/content/library", {"document": "doc_nothing"}
    )
    assert bad.status_code == 422 and bad.context["content_panel"].errors["document"]


def test_library_link_form_refuses_unsafe_links(seller_browser, session):
    response = seller_browser.submit("/library/links", {"url": "javascript:alert(1)"})
    assert response.status_code == 422
    assert response.template.name == "content/library.html"
    assert "javascript:" in response.context["errors"]["url"]
    assert session.exec(select(Document)).all() == []


def test_another_organisations_library_is_a_404(seller_browser, session, services):
    other = factories.seller(session, org="Elsewhere")
    document = content.create_link_document(session, user=other, url="https://x.example/a")
    session.flush()
    assert seller_browser.get(f"/library/{document.public_id}").status_code == 404
    assert seller_browser.submit(f"/library/{document.public_id}/archive").status_code == 404
    assert document.public_id not in seller_browser.get("/library").text


# ---------------------------------------------------------------- the API


@pytest.fixture
def api(session, client, services):
    from tests.web.test_api import Api

    seller = factories.seller(session, org="Northwind")
    room = factories.room(session, seller)
    _token, plaintext = accounts.create_api_token(session, user=seller, name="CRM sync")
    session.flush()
    document = client.get("/api/v1/openapi.json").json()
    return Api(client, document, plaintext), room


def test_api_uploads_a_file_into_a_new_section(api, session):
    client, room = api
    response = client.post(
        f"/rooms/{room.public_id}/content",
        files={"file": ("proposal.pdf", PDF, "application/pdf")},
        data={"title": "Proposal", "section": "Commercial", "stages": "decision", "roles": ""},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["title"], body["pages"], body["version"]) == (
        "file",
        "Proposal",
        3,
        1,
    )
    assert body["id"].startswith("item_") and body["section"] == "Commercial"
    assert body["stages"] == ["decision"]
    assert [s.title for s in content.list_sections(session, room=room)] == ["Commercial"]
    listed = client.get(f"/rooms/{room.public_id}/content").json()["data"]
    assert [i["id"] for i in listed] == [body["id"]]
    assert "ContentItem" in client.checked and "ContentItemList" in client.checked


def test_api_adds_a_link_as_json(api):
    client, room = api
    response = client.post(
        f"/rooms/{room.public_id}/content",
        json={"kind": "link", "url": "https://youtu.be/dQw4w9WgXcQ", "title": "Demo"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["link_kind"], body["pages"], body["version"]) == (
        "link",
        "youtube",
        None,
        1,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "link", "url": "javascript:alert(1)"}, "url"),
        ({"kind": "link"}, "url"),
        ({"kind": "file", "url": "https://x.example"}, "kind"),
        ({"kind": "link", "url": "https://x.example", "stages": "later"}, "stages"),
        ({"kind": "link", "url": "https://x.example", "extra": 1}, "extra"),
    ],
)
def test_api_content_validation_names_the_field(api, body, field):
    client, room = api
    response = client.post(f"/rooms/{room.public_id}/content", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]


def test_api_upload_of_a_broken_file_is_a_422(api, session):
    client, room = api
    response = client.post(
        f"/rooms/{room.public_id}/content",
        files={"file": ("proposal.pdf", b"MZ\x90\x00" + b"\x00" * 100, "application/pdf")},
    )
    assert response.status_code == 422
    assert "file" in response.json()["error"]["fields"]
    assert session.exec(select(StoredFile)).all() == []


def test_files_are_served_in_byte_ranges_for_video_players(client, session, services):
    from dealroom.web.content import byte_range

    assert byte_range("", 100) is None
    assert byte_range("bytes=0-9", 100) == (0, 9)
    assert byte_range("bytes=90-", 100) == (90, 99)
    assert byte_range("bytes=-10", 100) == (90, 99)
    assert byte_range("bytes=95-200", 100) == (95, 99)
    assert byte_range("bytes=100-", 100) == "unsatisfiable"
    assert byte_range("bytes=5-2", 100) == "unsatisfiable"
    assert byte_range("bytes=0-1,5-6", 100) is None
    assert byte_range("items=0-1", 100) is None

    seller = factories.seller(session)
    room = factories.room(session, seller)
    session.flush()
    client.login(seller.email, factories.PASSWORD)
    assert upload(client, room, "proposal.pdf", PDF).status_code == 303
    item = session.exec(select(RoomItem).where(RoomItem.room_id == room.id)).one()
    url = f"/rooms/{room.public_id}/content/{item.public_id}/file"
    whole = client.get(url)
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=5-14"})
    assert part.status_code == 206
    assert part.content == PDF[5:15]
    assert part.headers["content-range"] == f"bytes 5-14/{len(PDF)}"
    tail = client.get(url, headers={"Range": "bytes=-7"})
    assert tail.content == PDF[-7:]
    assert client.get(url, headers={"Range": f"bytes={len(PDF)}-"}).status_code == 416
