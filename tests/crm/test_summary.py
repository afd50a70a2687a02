"""The deal summary: committee with engagement, shared notes of the period, plan status, open
questions, the seller's free text, in the seller's language, as HTML, Markdown and JSON."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest

from dealroom import chat, content, notes, tasks, tracking
from dealroom.content import Upload
from dealroom.crm.summary import build_summary, md_escape, open_questions, summary_json
from dealroom.db import utcnow
from dealroom.pdfgen import simple_pdf
from dealroom.tracking import Beat, DropCounter, ItemTime
from tests import factories

PDF = simple_pdf([["p"]] * 4)


@pytest.fixture
def deal(session, services):
    seller = factories.seller(session)
    seller.name = "Aiko Mori"
    room = factories.room(session, seller, name="Acme rollout", buyer_company="Acme Corp")
    kato = factories.invite(
        session, services, room, seller, email="kato@acme.example", name="Kato", role="champion"
    )
    sato = factories.invite(
        session, services, room, seller, email="sato@acme.example", name="Sato <b>"
    )
    gone = factories.invite(session, services, room, seller, email="gone@acme.example", name="Gone")
    from dealroom import invites

    invites.revoke_invite(session, room=room, seller=seller, invite=gone)
    tracking.show_notice(kato)
    pdf = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        upload=Upload("pricing.pdf", io.BytesIO(PDF), len(PDF)),
        title="Pricing",
    )
    session.flush()
    t0 = utcnow().timestamp() - 60
    drops = DropCounter()
    tracking.apply_beats(
        session,
        [
            Beat(
                received_at=t0 + at,
                room=room.public_id,
                invite=kato.public_id,
                stream="s1",
                issued_at=t0 - 10,
                seq=seq,
                events=(ItemTime(pdf.public_id, 9, page=page),),
                inputs=3,
                final=False,
            )
            for seq, (at, page) in enumerate([(0, 1), (10, 3), (20, 3)], start=1)
        ],
        drops=drops,
    )
    seller_actor = tasks.Actor(user=seller)
    milestone = tasks.add_milestone(
        session, room=room, actor=seller_actor, data={"title": "Technical validation"}
    )
    late = tasks.add_task(
        session,
        room=room,
        actor=seller_actor,
        data={
            "milestone_id": milestone.public_id,
            "title": "Security review",
            "owner_id": kato.public_id,
            "due_date": (date.today() - timedelta(days=3)).isoformat(),
        },
    )
    done = tasks.add_task(
        session,
        room=room,
        actor=seller_actor,
        data={"milestone_id": milestone.public_id, "title": "Kick-off call"},
    )
    tasks.set_status(session, room=room, actor=seller_actor, task=done, status="done")
    notes.create_note(
        session,
        room=room,
        user=seller,
        data={
            "title": "Discovery call",
            "meeting_date": "2026-03-02",
            "body": "Budget **approved**.\n\n<script>alert(1)</script>",
            "visibility": "shared",
        },
    )
    notes.create_note(
        session,
        room=room,
        user=seller,
        data={"title": "Floor price", "meeting_date": "2026-03-02", "body": "internal only"},
    )
    chat.post_message(session, room=room, author=kato, body="Does it support SSO?")
    chat.post_message(session, room=room, author=seller, body="Yes, SAML and OIDC.")
    chat.post_message(session, room=room, author=kato, body="Great, thanks")
    chat.post_message(session, room=room, author=sato, body="What about 請求書払い？")
    chat.post_message(session, room=room, author=seller, body="Checking", internal=True)
    session.flush()
    return {"seller": seller, "room": room, "kato": kato, "late": late, "done": done}


def test_summary_holds_the_room(session, services, deal):
    summary = build_summary(
        session,
        room=deal["room"],
        user=deal["seller"],
        links=services.links,
        intro="Thanks for a great week.",
        next_steps="Send the *order form*.",
        crm_record_id="8123",
    )

    assert summary.room_id == deal["room"].public_id
    assert summary.stage == "discovery" and summary.stage_label == "Discovery"
    assert summary.room_url == f"http://testserver/rooms/{deal['room'].public_id}"
    assert summary.crm_record_id == "8123"
    assert summary.title.startswith("Dealroom summary: Acme rollout (")
    # Revoked people are not in the committee; the engaged one comes first.
    assert [p.name for p in summary.committee] == ["Kato", "Sato <b>"]
    kato = summary.committee[0]
    assert kato.role == "champion" and kato.role_label == "Champion"
    assert kato.active_seconds == 27 and kato.visits == 1
    assert [(i.title, i.pages) for i in kato.top_items] == [("Pricing", (3, 1))]
    assert [n.title for n in summary.notes] == ["Discovery call"]  # never the internal one
    assert [(t.title, t.status, t.overdue, t.owner_email) for t in summary.tasks] == [
        ("Security review", "todo", True, "kato@acme.example"),
        ("Kick-off call", "done", False, ""),
    ]
    assert [t.id for t in summary.open_tasks] == [deal["late"].public_id]
    # Kato's question was answered by the seller; Sato's is still open (internal notes don't answer).
    assert summary.questions == ["What about 請求書払い？"]


def test_html_is_escaped_and_sanitized(session, services, deal):
    summary = build_summary(
        session,
        room=deal["room"],
        user=deal["seller"],
        links=services.links,
        next_steps="<img src=x onerror=alert(1)> **now**",
    )
    html = summary.html
    assert "Sato &lt;b&gt;" in html and "<b>" not in html
    assert "<script" not in html and "<img" not in html  # shown as text, never as markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<strong>approved</strong>" in html and "<strong>now</strong>" in html
    assert f'href="{summary.room_url}"' in html
    assert "Overdue" in html and "Security review" in html
    assert "1 of 2 tasks done, 1 overdue." in html


def test_markdown_escapes_names_and_keeps_note_markdown(session, services, deal):
    summary = build_summary(session, room=deal["room"], user=deal["seller"], links=services.links)
    md = summary.markdown
    assert md.startswith("## Dealroom summary: Acme rollout")
    assert "**Sato \\<b\\>**" in md
    assert "Budget **approved**." in md
    assert "- [ ] **Overdue:** Security review (Technical validation)" in md
    assert "- [x] Kick-off call (Technical validation)" in md
    assert f"]({summary.room_url})" in md
    assert md_escape("*a* [b](c)") == "\\*a\\* \\[b\\](c)"


def test_japanese_seller_gets_a_japanese_summary(session, services, deal):
    deal["seller"].locale = "ja"
    summary = build_summary(session, room=deal["room"], user=deal["seller"], links=services.links)
    assert summary.language == "ja"
    assert summary.stage_label == "ヒアリング"
    assert summary.committee[0].role_label != "Champion"
    assert summary.title.startswith("Dealroom サマリー: Acme rollout")
    assert "<h3>購買関係者</h3>" in summary.html and "### 購買関係者" in summary.markdown
    assert "タスク 2 件中 1 件完了、期限超過 1 件。" in summary.html
    assert "Buying committee" not in summary.html
    # An explicit language wins over the seller's setting.
    english = build_summary(
        session, room=deal["room"], user=deal["seller"], links=services.links, language="en"
    )
    assert "Buying committee" in english.html


def test_notes_period_starts_at_the_previous_successful_export(session, services, deal):
    later = utcnow() + timedelta(hours=1)
    summary = build_summary(
        session, room=deal["room"], user=deal["seller"], links=services.links, since=later
    )
    assert summary.notes == []
    assert "No shared meeting notes in this period." in summary.html


def test_open_questions_rule(session, deal):
    room = deal["room"]
    chat.post_message(session, room=room, author=deal["seller"], body="Any other questions?")
    session.flush()
    # A seller's message answers everything before it, even a seller's own question mark.
    assert open_questions(session, room=room) == []
    chat.post_message(session, room=room, author=deal["kato"], body="  Pricing for 500 seats ?  ")
    session.flush()
    assert open_questions(session, room=room) == ["Pricing for 500 seats ?"]


def test_json_form_is_versioned_and_serializable(session, services, deal):
    summary = build_summary(session, room=deal["room"], user=deal["seller"], links=services.links)
    body = summary_json(summary)
    assert body["schema_version"] == "1"
    assert body["marker"] == f"[dealroom:{deal['room'].public_id}]"
    assert body["committee"][0]["top_items"][0]["pages"] == [3, 1]
    assert body["tasks"][0]["due_date"] == (date.today() - timedelta(days=3)).isoformat()
    assert json.loads(json.dumps(body)) == body
