"""Documents, versions, the library, sections and order, tags, badges, and uploads that leave
nothing behind when they fail."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter
from sqlalchemy import event
from sqlmodel import select

from dealroom import content
from dealroom.content import Document, ItemSeen, RoomItem, StoredFile, Upload
from dealroom.errors import Conflict, InvalidInput, NotFound
from dealroom.pdfgen import simple_pdf
from tests import factories

PDF = simple_pdf([["One"], ["Two"]])


def pdf_upload(data: bytes = PDF, name: str = "deck.pdf") -> Upload:
    return Upload(filename=name, file=io.BytesIO(data), size=len(data))


@pytest.fixture
def seller(session):
    return factories.seller(session)


@pytest.fixture
def room(session, seller):
    return factories.room(session, seller)


def titles(session, room):
    return [
        (group.section.title if group.section else None, [v.title for v in group.items])
        for group in content.room_content(session, room=room).sections
    ]


def add(session, storage, room, seller, title, **kw):
    return content.add_file(
        session,
        storage=storage,
        room=room,
        user=seller,
        upload=pdf_upload(name=f"{title}.pdf"),
        title=title,
        **kw,
    )


# ---------------------------------------------------------------- tags


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("", ""),
        (None, ""),
        ("decision, discovery", "discovery,decision"),
        (["evaluation", "evaluation", " decision "], "evaluation,decision"),
        ([], ""),
    ],
)
def test_stage_tags_are_checked_and_kept_in_canonical_order(value, stored):
    assert content.stages(value) == stored


def test_role_tags_come_from_the_buyer_roles():
    assert content.roles("legal_procurement,champion") == "champion,legal_procurement"
    with pytest.raises(InvalidInput) as caught:
        content.roles(["champion", "ceo"])
    assert "ceo" in caught.value.fields["roles"]


@pytest.mark.parametrize("value", ["closed-won", "Discovery", ["discovery", 3], 42, "x\x00"])
def test_unknown_or_odd_tags_are_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as caught:
        content.stages(value)
    assert list(caught.value.fields) == ["stages"]


# ---------------------------------------------------------------- uploads


def test_pdf_pages_counts_with_a_real_parser():
    assert content.pdf_pages(io.BytesIO(simple_pdf([["a"]] * 7)), "x.pdf") == 7


@pytest.mark.parametrize(
    "data",
    [PDF[: len(PDF) // 2], b"%PDF-1.7\n" + b"\x00garbage" * 50, b"%PDF-1.4\n%%EOF\n"],
)
def test_broken_pdfs_are_refused(data):
    with pytest.raises(InvalidInput) as caught:
        content.pdf_pages(io.BytesIO(data), "deck.pdf")
    assert "deck.pdf" in caught.value.fields["file"]


def test_password_protected_pdfs_are_refused():
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(InvalidInput) as caught:
        content.pdf_pages(buffer, "locked.pdf")
    assert "password" in caught.value.fields["file"]


def test_a_rolled_back_upload_leaves_no_stored_object(session, storage, room, seller):
    item = add(session, storage, room, seller, "Proposal")
    stored = session.exec(select(StoredFile)).one()
    key = stored.key
    assert storage.exists(key)
    session.rollback()
    assert not storage.exists(key)
    assert session.get(RoomItem, item.id) is None


def test_a_committed_upload_keeps_its_object(db, storage, seller, room, session):
    session.flush()
    with db.session() as other:
        item = content.add_file(
            other,
            storage=storage,
            room=other.get(type(room), room.id),
            user=other.get(type(seller), seller.id),
            upload=pdf_upload(),
        )
        key = other.exec(select(StoredFile)).one().key
        assert item.id is not None
    assert storage.exists(key)


def test_nothing_is_stored_when_validation_fails(session, storage, room, seller):
    with pytest.raises(InvalidInput):
        add(session, storage, room, seller, "x" * 300)
    with pytest.raises(InvalidInput):
        content.add_file(
            session,
            storage=storage,
            room=room,
            user=seller,
            upload=pdf_upload(),
            stages_="someday",
        )
    assert session.exec(select(StoredFile)).all() == []
    assert not storage.root.exists() or not any(p.is_file() for p in storage.root.rglob("*"))


def test_title_defaults_to_the_file_name(session, storage, room, seller):
    item = content.add_file(
        session, storage=storage, room=room, user=seller, upload=pdf_upload(name="Q3_pricing.pdf")
    )
    assert session.get(Document, item.document_id).title == "Q3 pricing"


# ---------------------------------------------------------------- versions and the library


def test_new_versions_count_up_and_keep_the_old_files(session, storage, room, seller):
    item = add(session, storage, room, seller, "Proposal")
    document = session.get(Document, item.document_id)
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    version = content.add_version(
        session,
        storage=storage,
        document=document,
        user=seller,
        upload=Upload("proposal.png", io.BytesIO(image), len(image)),
    )
    assert (version.version, version.pages, document.current_version) == (2, None, 2)
    assert document.file_kind == "image"
    history = content.document_versions(session, document=document)
    assert [(v.version, f.content_type) for v, f in history] == [
        (2, "image/png"),
        (1, "application/pdf"),
    ]
    assert all(storage.exists(f.key) for _v, f in history)
    view = content.get_item(session, room=room, item_id=item.public_id)
    assert view.version.version == 2 and view.file.content_type == "image/png"


def test_links_have_no_versions_but_a_new_address_counts_as_an_update(session, seller):
    document = content.create_link_document(session, user=seller, url="https://acme.example/a")
    with pytest.raises(Conflict):
        content.add_version(
            session, storage=None, document=document, user=seller, upload=pdf_upload()
        )
    content.update_document(session, document=document, data={"url": "https://acme.example/a"})
    assert document.current_version == 1
    content.update_document(
        session, document=document, data={"url": "https://youtu.be/dQw4w9WgXcQ"}
    )
    assert (document.current_version, document.link_kind) == (2, "youtube")
    with pytest.raises(InvalidInput):
        content.update_document(session, document=document, data={"url": "javascript:x"})


def test_a_library_version_reaches_every_room_with_an_updated_badge(
    session, services, storage, seller
):
    rooms = [factories.room(session, seller, name=f"Deal {n}") for n in (1, 2)]
    people = [
        factories.invite(session, services, r, seller, email=f"p{n}@acme.example")
        for n, r in enumerate(rooms)
    ]
    document = content.create_file_document(
        session, storage=storage, user=seller, upload=pdf_upload(), title="Case study"
    )
    items = [content.place(session, room=r, document=document, user=seller) for r in rooms]
    for r, person, item in zip(rooms, people, items, strict=True):
        assert [v.badge for v in content.room_content(session, room=r, invite=person).items] == [
            "new"
        ]
        content.mark_seen(
            session, invite=person, view=content.get_item(session, room=r, item_id=item.public_id)
        )
        assert [v.badge for v in content.room_content(session, room=r, invite=person).items] == [""]

    content.add_version(
        session,
        storage=storage,
        document=document,
        user=seller,
        upload=pdf_upload(simple_pdf([["v2"]] * 5)),
    )
    for r, person in zip(rooms, people, strict=True):
        (view,) = content.room_content(session, room=r, invite=person).items
        assert (view.badge, view.pages, view.document.current_version) == ("updated", 5, 2)
    content.mark_seen(
        session,
        invite=people[0],
        view=content.get_item(session, room=rooms[0], item_id=items[0].public_id),
    )
    assert content.room_content(session, room=rooms[0], invite=people[0]).items[0].badge == ""
    assert {r.id for r in content.rooms_using(session, document=document)} == {r.id for r in rooms}


def test_placing_refuses_duplicates_archived_and_foreign_documents(session, storage, room, seller):
    document = content.create_link_document(session, user=seller, url="https://acme.example/")
    content.place(session, room=room, document=document)
    with pytest.raises(Conflict):
        content.place(session, room=room, document=document)
    other_room = factories.room(session, seller, name="Other")
    content.archive_document(session, document=document)
    with pytest.raises(Conflict):
        content.place(session, room=other_room, document=document)
    stranger = factories.seller(session, org="Elsewhere")
    foreign = content.create_link_document(session, user=stranger, url="https://x.example/")
    with pytest.raises(NotFound):
        content.place(session, room=room, document=foreign)
    local = add(session, storage, room, seller, "Only here")
    local_doc = session.get(Document, local.document_id)
    with pytest.raises(NotFound):
        content.place(session, room=other_room, document=local_doc)


def test_library_search_matches_title_description_and_tags(session, seller):
    for title, description, stages, roles in (
        ("Security overview", "SOC 2, ISO 27001", "evaluation", "technical_evaluator"),
        ("Pricing 50% off", "", "decision", "economic_buyer"),
        ("Case study", "Globex saved 50 hours", "", ""),
    ):
        content.create_link_document(
            session,
            user=seller,
            url="https://acme.example/",
            title=title,
            description=description,
            stages_=stages,
            roles_=roles,
        )
    stranger = factories.seller(session, org="Elsewhere")
    content.create_link_document(session, user=stranger, url="https://x.example/", title="Security")

    def found(search):
        entries = content.list_library(session, org_id=seller.org_id, search=search)
        return sorted(e.document.title for e in entries)

    assert found("security") == ["Security overview"]
    assert found("iso 27001") == ["Security overview"]
    assert found("Economic Buyer") == ["Pricing 50% off"]
    assert found("technical_evaluator") == ["Security overview"]
    assert found("50%") == ["Pricing 50% off"]
    assert found("") == ["Case study", "Pricing 50% off", "Security overview"]


def test_archived_documents_leave_the_library_but_not_the_rooms(session, room, seller):
    document = content.create_link_document(session, user=seller, url="https://acme.example/")
    content.place(session, room=room, document=document)
    content.archive_document(session, document=document)
    assert content.list_library(session, org_id=seller.org_id) == []
    assert [
        e.document.id for e in content.list_library(session, org_id=seller.org_id, archived=True)
    ] == [document.id]
    assert len(content.room_content(session, room=room)) == 1
    content.restore_document(session, document=document)
    assert len(content.list_library(session, org_id=seller.org_id)) == 1


# ---------------------------------------------------------------- the listing


def test_the_listing_reads_records_in_two_statements(session, services, storage, room, seller):
    """Room pages list every item on every view: plain records from a fixed number of
    statements, never ORM instances (see room_content)."""
    person = factories.invite(session, services, room, seller)
    intro = content.add_section(session, room=room, title="Intro")
    for n in range(6):
        add(session, storage, room, seller, f"Doc {n}", section=intro if n % 2 else None)
    session.flush()
    statements: list[str] = []
    loaded: list[object] = []

    def count(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    event.listen(session, "loaded_as_persistent", lambda _s, obj: loaded.append(obj))
    try:
        listed = content.room_content(session, room=room, invite=person)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 2 and loaded == []
    assert [v.badge for v in listed.items] == ["new"] * 6
    assert [v.title for v in listed.sections[1].items] == ["Doc 1", "Doc 3", "Doc 5"]
    assert listed.sections[1].items[0].section is listed.headings[0]
    assert listed.items[0].item.role_list == [] and listed.items[0].pages == 2


def test_the_listing_shows_changes_the_session_has_not_written_yet(session, storage, room, seller):
    a, b = (add(session, storage, room, seller, t) for t in "AB")
    session.flush()
    content.set_download(session, item=a, allowed=False)  # pending, as in a request
    content.move_item(session, room=room, item=a, direction="down")
    listed = content.room_content(session, room=room)
    assert [(v.title, v.item.allow_download) for v in listed.items] == [
        ("B", True),
        ("A", False),
    ]
    with session.no_autoflush:  # reads that must not write (see web/chat.py) still don't
        b.allow_download = False
        assert content.room_content(session, room=room).items[0].item.allow_download


# ---------------------------------------------------------------- sections and order


def test_sections_order_and_removal(session, storage, room, seller):
    intro = content.add_section(session, room=room, title="Intro")
    pricing = content.add_section(session, room=room, title="Pricing")
    add(session, storage, room, seller, "Loose")
    add(session, storage, room, seller, "Welcome", section=intro)
    add(session, storage, room, seller, "Quote", section=pricing)
    add(session, storage, room, seller, "Terms", section=pricing)
    assert titles(session, room) == [
        (None, ["Loose"]),
        ("Intro", ["Welcome"]),
        ("Pricing", ["Quote", "Terms"]),
    ]
    content.move_section(session, room=room, section=pricing, direction="up")
    content.move_section(session, room=room, section=pricing, direction="up")  # already first
    assert [s.title for s in content.list_sections(session, room=room)] == ["Pricing", "Intro"]
    content.remove_section(session, room=room, section=pricing)
    assert titles(session, room) == [(None, ["Loose", "Quote", "Terms"]), ("Intro", ["Welcome"])]
    assert [i.position for i in content._items_in(session, room, None)] == [1, 2, 3]
    assert content.section_named(session, room=room, title="intro").id == intro.id
    assert content.section_named(session, room=room, title="Legal").title == "Legal"
    with pytest.raises(InvalidInput):
        content.add_section(session, room=room, title=" ")


def test_moving_items_up_and_down(session, storage, room, seller):
    a, b, c = (add(session, storage, room, seller, t) for t in "ABC")
    content.move_item(session, room=room, item=a, direction="down")
    assert titles(session, room) == [(None, ["B", "A", "C"])]
    content.move_item(session, room=room, item=c, direction="down")  # already last
    content.move_item(session, room=room, item=c, direction="up")
    assert titles(session, room) == [(None, ["B", "C", "A"])]
    with pytest.raises(InvalidInput):
        content.move_item(session, room=room, item=c, direction="sideways")


def test_arrange_applies_a_whole_new_order_or_nothing(session, storage, room, seller):
    one = content.add_section(session, room=room, title="One")
    two = content.add_section(session, room=room, title="Two")
    a, b, c = (add(session, storage, room, seller, t) for t in "ABC")
    content.arrange(
        session,
        room=room,
        sections=[two.public_id, one.public_id],
        items=[
            f"{two.public_id}:{c.public_id}",
            f":{a.public_id}",
            f"{two.public_id}:{b.public_id}",
        ],
    )
    session.flush()
    assert titles(session, room) == [(None, ["A"]), ("Two", ["C", "B"]), ("One", [])]

    before = titles(session, room)
    stale_lists = [
        {"items": [f":{a.public_id}", f":{b.public_id}"]},  # one missing
        {"items": [f":{a.public_id}", f":{b.public_id}", f":{c.public_id}", f":{c.public_id}"]},
        {"items": [f":{a.public_id}", f":{b.public_id}", "item_nothere"]},
        {"items": [f"sec_nope:{a.public_id}", f":{b.public_id}", f":{c.public_id}"]},
        {"sections": [one.public_id]},
    ]
    for stale in stale_lists:
        with pytest.raises(InvalidInput):
            content.arrange(session, room=room, **stale)
    assert titles(session, room) == before


def test_items_of_another_room_cannot_be_arranged_in(session, storage, room, seller):
    a = add(session, storage, room, seller, "A")
    other_room = factories.room(session, seller, name="Other")
    stranger = add(session, storage, other_room, seller, "B")
    with pytest.raises(InvalidInput):
        content.arrange(session, room=room, items=[f":{a.public_id}", f":{stranger.public_id}"])


def test_update_item_moves_sections_and_retags(session, storage, room, seller):
    section = content.add_section(session, room=room, title="S")
    a, b = (add(session, storage, room, seller, t) for t in "AB")
    view = content.get_item(session, room=room, item_id=a.public_id)
    content.update_item(
        session,
        room=room,
        view=view,
        data={"section": section.public_id, "stages": ["decision"], "roles": "champion"},
    )
    assert (a.section_id, a.stages, a.roles) == (section.id, "decision", "champion")
    assert b.position == 1  # the unsectioned list closed the gap
    with pytest.raises(InvalidInput) as caught:
        content.update_item(session, room=room, view=view, data={"section": "sec_elsewhere"})
    assert "section" in caught.value.fields


def test_removing_an_item_archives_a_room_upload_and_forgets_what_was_seen(
    session, services, storage, room, seller
):
    person = factories.invite(session, services, room, seller)
    a, b = (add(session, storage, room, seller, t) for t in "AB")
    view = content.get_item(session, room=room, item_id=a.public_id)
    content.mark_seen(session, invite=person, view=view)
    content.mark_seen(session, invite=person, view=view)  # idempotent
    assert len(session.exec(select(ItemSeen)).all()) == 1
    content.remove_item(session, room=room, view=view)
    session.flush()
    assert session.exec(select(ItemSeen)).all() == []
    assert view.document.archived
    assert titles(session, room) == [(None, ["B"])] and b.position == 1


def test_get_item_is_scoped_to_the_room(session, storage, room, seller):
    item = add(session, storage, room, seller, "A")
    other_room = factories.room(session, seller, name="Other")
    for bad in (item.public_id + "x", "doc_123", "", "item_"):
        with pytest.raises(NotFound):
            content.get_item(session, room=room, item_id=bad)
    with pytest.raises(NotFound):
        content.get_item(session, room=other_room, item_id=item.public_id)
