"""The buyer's busiest pages (the room page, a document's viewer) only read in their own
transaction: what showing them records is written in a short transaction of its own
(web.tracking.page_marks), so on SQLite a page never upgrades a read to a write, never runs twice
and never holds the write lock while it renders."""

from __future__ import annotations

import io
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlmodel import select

from dealroom import accounts, content, since
from dealroom.content import ItemSeen, Upload
from dealroom.invites import Invite
from dealroom.pdfgen import simple_pdf
from dealroom.tracking import TrackEvent
from tests import factories


@pytest.fixture
def deal(session, services, new_browser):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    invite = factories.invite(session, services, room, seller)
    data = simple_pdf([["Proposal"], ["Pricing"]])
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        upload=Upload(filename="Proposal.pdf", file=io.BytesIO(data), size=len(data)),
        title="Proposal",
    )
    session.flush()
    browser = new_browser()
    browser.enter(services.links.invite(invite))
    return room, invite, item, browser


def watch_transactions(services, monkeypatch) -> list[tuple[bool, bool]]:
    """(opened as a writer, wrote anything) for each transaction the app opens from now on:
    every INSERT, UPDATE or DELETE is put down to the innermost transaction open."""
    seen: list[tuple[bool, bool]] = []
    open_now: list[list[bool]] = []
    real = services.db.session

    def statement(_conn, _cursor, sql, *_args) -> None:
        if open_now and sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            open_now[-1].append(True)

    event.listen(services.db.bind, "before_cursor_execute", statement)

    @contextmanager
    def session(*, write: bool = True):
        wrote: list[bool] = []
        open_now.append(wrote)
        try:
            with real(write=write) as opened:
                yield opened
        finally:
            open_now.pop()
        seen.append((write, bool(wrote)))

    monkeypatch.setattr(services.db, "session", session)
    return seen


def test_viewer_page_reads_and_records_the_opening_apart(deal, session, services, monkeypatch):
    room, invite, item, browser = deal
    seen = watch_transactions(services, monkeypatch)
    page = browser.get(f"/r/{room.public_id}/content/{item.public_id}")
    assert page.status_code == 200 and page.template.name == "content/viewer.html"
    assert page.context["track"]["item"] == item.public_id
    # The GET's own transaction wrote nothing; short writers did (the marks, the last-seen touch).
    assert (False, False) in seen and (False, True) not in seen
    assert (True, True) in seen
    session.expire_all()
    assert session.exec(select(ItemSeen).where(ItemSeen.invite_id == invite.id)).one()
    opened = session.exec(
        select(TrackEvent).where(TrackEvent.invite_id == invite.id, TrackEvent.kind == "open")
    ).all()
    assert len(opened) == 1
    assert session.get(Invite, invite.id).tracking_notice_at is not None


def test_room_page_reads_and_moves_the_visit_marker_apart(deal, session, services, monkeypatch):
    room, invite, _item, browser = deal
    seen = watch_transactions(services, monkeypatch)
    page = browser.get(f"/r/{room.public_id}")
    assert page.status_code == 200 and page.template.name == "buyer/room.html"
    assert page.context["since_changes"] is None  # a first visit: nothing "since" yet
    assert (False, True) not in seen
    session.expire_all()
    mark = session.exec(select(since.RoomMark).where(since.RoomMark.invite_id == invite.id))
    assert mark.one().room_id == room.id
    assert session.get(Invite, invite.id).tracking_notice_at is not None


def test_seller_preview_records_nothing(deal, session, services, monkeypatch, client):
    room, _invite, item, _browser = deal
    seller = session.get(accounts.User, room.owner_id)
    client.login(seller.email, factories.PASSWORD)
    seen = watch_transactions(services, monkeypatch)
    assert client.get(f"/r/{room.public_id}").context["preview"] is True
    assert client.get(f"/r/{room.public_id}/content/{item.public_id}").status_code == 200
    assert all(not wrote for write, wrote in seen if not write)
    session.expire_all()
    assert session.exec(select(TrackEvent).where(TrackEvent.kind == "open")).all() == []


def test_a_request_that_already_writes_records_in_its_own_transaction(tmp_path, settings, storage):
    """A form, or a page run again as a writer, holds SQLite's write lock: a second connection
    would wait for it (and the pool) forever, so the marks go into the request's transaction."""
    from dealroom.app import build_services
    from dealroom.db import Database, load_models
    from dealroom.web.handler import Req
    from dealroom.web.tracking import page_marks

    db = Database.from_url(f"sqlite:///{tmp_path / 'marks.db'}")
    load_models().metadata.create_all(db.engine)
    services = build_services(settings, db=db, storage=storage)
    try:
        with db.session() as session:  # a writer (BEGIN IMMEDIATE)
            seller = factories.seller(session)
            room = factories.room(session, seller)
            invite = factories.invite(session, services, room, seller)
            session.flush()
            with page_marks(Req(None, session, services), invite) as (marks, mine):  # type: ignore[arg-type]
                assert marks is session and mine is invite
            assert invite.tracking_notice_at is not None
    finally:
        db.dispose()
