"""The audit log on the web: what gets recorded as people work, the admin's filtered, paged view,
and the CSV export (admins only)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from dealroom import accounts, audit, content, invites
from dealroom.audit import AuditEvent
from dealroom.content import Upload
from dealroom.pdfgen import simple_pdf
from tests import factories

PDF = simple_pdf([["Proposal"]])


def _actions(session, org_id):
    events = session.exec(select(AuditEvent).where(AuditEvent.org_id == org_id)).all()
    return [(e.actor, e.action, e.target) for e in events]


def test_who_did_what_is_recorded_as_people_work(client, session, services, new_browser):
    admin = factories.seller(session, org="Recorded Org")
    rep = factories.seller(session, org="Recorded Org", role="rep")
    org = accounts.get_org(session, admin.org_id)
    room = factories.room(session, admin, name="Audit deal")
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=admin,
        org_public_id=org.public_id,
        upload=Upload(filename="p.pdf", file=io.BytesIO(PDF), size=len(PDF)),
        title="Proposal",
    )
    library_doc = content.create_file_document(
        session,
        storage=services.storage,
        user=admin,
        upload=Upload(filename="l.pdf", file=io.BytesIO(PDF), size=len(PDF)),
        title="Library PDF",
    )
    session.flush()
    client.login(admin.email, factories.PASSWORD)
    rid = room.public_id

    assert client.submit(f"/rooms/{rid}/edit", {"stage": "evaluation"}).status_code == 303
    client.submit(f"/rooms/{rid}/invites", {"email": "kato@acme.example", "name": "Kato"})
    [kato] = invites.list_invites(session, room=room)
    buyer = new_browser()
    buyer.enter(services.links.invite(kato))
    assert buyer.get(f"/r/{rid}/content/{item.public_id}/file?download=1").status_code == 200
    assert client.get(f"/rooms/{rid}/content/{item.public_id}/file?download=1").status_code == 200
    assert client.get(f"/rooms/{rid}/content/{item.public_id}/file").status_code == 200  # a view
    assert client.get(f"/library/{library_doc.public_id}/file?download=1").status_code == 200
    assert client.submit(f"/rooms/{rid}/invites/{kato.public_id}/revoke").status_code in (200, 303)
    assert client.submit(f"/team/{rep.public_id}/role", {"role": "manager"}).status_code == 303
    created = client.submit("/settings/tokens", {"name": "CRM sync"})
    token = accounts.list_api_tokens(session, user=admin)[0]
    assert created.status_code == 200
    client.submit(f"/settings/tokens/{token.public_id}/revoke")
    client.submit(f"/rooms/{rid}/archive")
    client.submit(f"/rooms/{rid}/restore")

    recorded = _actions(session, admin.org_id)
    me, kato_id = admin.public_id, kato.public_id
    for expected in [
        (me, "room.updated", rid),
        (me, "invite.created", kato_id),
        (kato_id, "content.downloaded", item.public_id),
        (me, "content.downloaded", item.public_id),
        (me, "library.downloaded", library_doc.public_id),
        (me, "invite.revoked", kato_id),
        (me, "team.role_changed", rep.public_id),
        (me, "api_token.created", token.public_id),
        (me, "api_token.revoked", token.public_id),
        (me, "room.archived", rid),
        (me, "room.restored", rid),
    ]:
        assert expected in recorded, expected
    # Viewing a file is not a download.
    assert [a for a in recorded if a[1] == "content.downloaded"] == [
        (kato_id, "content.downloaded", item.public_id),
        (me, "content.downloaded", item.public_id),
    ]


def test_rooms_made_and_changed_through_the_api_are_recorded(client, session):
    admin = factories.seller(session)
    _token, plain = accounts.create_api_token(session, user=admin)
    session.flush()
    headers = {"Authorization": f"Bearer {plain}"}
    made = client.post(
        "/api/v1/rooms", json={"name": "API deal", "buyer_company": "Acme"}, headers=headers
    )
    assert made.status_code == 201
    rid = made.json()["id"]
    client.patch(f"/api/v1/rooms/{rid}", json={"stage": "evaluation"}, headers=headers)
    client.delete(f"/api/v1/rooms/{rid}", headers=headers)
    events = [
        (e.action, e.target, audit.json.loads(e.detail))
        for e in session.exec(select(AuditEvent).where(AuditEvent.org_id == admin.org_id))
    ]
    assert ("room.created", rid, {"via": "api"}) in events
    assert ("room.updated", rid, {"via": "api", "fields": ["stage"]}) in events
    assert ("room.archived", rid, {"via": "api"}) in events


def _seed(session, admin, count, action="test.seeded", start=None):
    start = start or datetime(2026, 2, 1, 9, tzinfo=UTC)
    for n in range(count):
        session.add(
            AuditEvent(
                org_id=admin.org_id,
                actor=admin.public_id,
                action=action,
                target=f"room_{n:04d}",
                created_at=start + timedelta(minutes=n),
                detail=audit.json.dumps({"n": n}),
            )
        )
    session.flush()


def test_admins_filter_and_page_the_log(client, session):
    admin = factories.seller(session)
    _seed(session, admin, 60)
    _seed(session, admin, 3, action="invite.revoked", start=datetime(2026, 2, 10, tzinfo=UTC))
    client.login(admin.email, factories.PASSWORD)

    first = client.get("/team/audit")
    assert first.status_code == 200 and first.template.name == "team/audit.html"
    page = first.context["page"]
    assert len(page.entries) == 50 and page.has_more and page.number == 1
    assert "invite.revoked" in first.context["actions"]
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text

    second = client.get("/team/audit?page=2")
    assert len(second.context["page"].entries) == 13 and not second.context["page"].has_more

    only = client.get("/team/audit?action=invite.revoked")
    assert [e.event.action for e in only.context["page"].entries] == ["invite.revoked"] * 3
    family = client.get("/team/audit?action=invite&from=2026-02-10&to=2026-02-10")
    assert len(family.context["page"].entries) == 3
    by_person = client.get(f"/team/audit?actor={admin.email}&action=test.seeded&page=2")
    assert len(by_person.context["page"].entries) == 10
    # The pager keeps the filters.
    assert "action=test.seeded" in by_person.text and "page=1" in by_person.text
    none = client.get("/team/audit?action=invite&from=2030-01-01")
    assert none.context["page"].entries == [] and "Nothing matches these filters." in none.text

    bad = client.get("/team/audit?from=2026-02-31&to=soon")
    assert bad.status_code == 422
    assert set(bad.context["errors"]) == {"from", "to"}
    assert 'aria-invalid="true"' in bad.text
    # Junk page numbers fall back to the first page.
    assert client.get("/team/audit?page=-3").context["page"].number == 1


def test_admins_export_the_filtered_log_as_csv(client, session):
    admin = factories.seller(session)
    _seed(session, admin, 5)
    session.add(
        AuditEvent(
            org_id=admin.org_id,
            actor="=cmd|' /C calc'!A0",
            action="access_request.created",
            target="areq_1",
            detail="{}",
        )
    )
    session.flush()
    client.login(admin.email, factories.PASSWORD)
    export = client.get("/team/audit.csv?action=test.seeded")
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert export.headers["content-disposition"].startswith('attachment; filename="audit-log-')
    assert export.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0] == list(audit.CSV_COLUMNS)
    assert [r[3] for r in rows[1:]] == ["test.seeded"] * 5
    assert [r[4] for r in rows[1:]] == [f"room_{n:04d}" for n in (4, 3, 2, 1, 0)]

    everything = client.get("/team/audit.csv").content.decode("utf-8-sig")
    assert "'=cmd|" in everything and "\n=cmd" not in everything and ",=cmd" not in everything
    # The export itself is recorded, with its filters.
    exported = session.exec(select(AuditEvent).where(AuditEvent.action == "audit.exported")).all()
    assert sorted(
        (d["rows"], d["filters"]) for d in (audit.json.loads(e.detail) for e in exported)
    ) == [
        (5, {"action": "test.seeded"}),
        (7, {}),
    ]
    assert client.get("/team/audit.csv?from=nope").status_code == 422


def test_only_admins_read_or_export_the_log(client, session):
    admin = factories.seller(session, org="Roles Org")
    for role in ("rep", "manager"):
        member = factories.seller(session, org="Roles Org", role=role)
        session.flush()
        client.cookies.clear()
        client.login(member.email, factories.PASSWORD)
        assert client.get("/team/audit").status_code == 403
        assert client.get("/team/audit.csv").status_code == 403
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "audit.exported")).all() == []
    client.cookies.clear()
    client.login(admin.email, factories.PASSWORD)
    assert client.get("/team/audit.csv").status_code == 200
