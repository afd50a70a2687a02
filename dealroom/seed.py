"""`seed-demo`: a demo workspace on first run, so a newcomer has something to click."""

from __future__ import annotations

import io
from dataclasses import dataclass

from sqlmodel import Session

from . import accounts, chat, content, invites, notes, rooms, roomtemplates, tasks
from .content import Upload
from .db import utcnow
from .links import Links
from .notify import MailRenderer
from .pdfgen import simple_pdf
from .storage import Storage

DEMO_EMAIL = "demo@dealroom.local"
DEMO_PASSWORD = "dealroom-demo"  # noqa: S105 - a published demo login, only created by seed-demo
# The demo template's plan when the demo room has none: (milestone, title, owner, due).
DEMO_TEMPLATE_PLAN = (
    ("Kick-off", "Introductory call with the champion", "seller", "+2 days"),
    ("Kick-off", "Share requirements and success criteria", "buyer", "+1 week"),
    ("Technical validation", "Security review", "buyer", "+2 weeks"),
    ("Commercials", "Send the order form", "seller", "+4 weeks"),
)


@dataclass
class DemoWorkspace:
    created: bool
    email: str
    password: str
    room_url: str
    buyer_link: str


def seed_demo(
    session: Session, *, storage: Storage, links: Links, renderer: MailRenderer
) -> DemoWorkspace:
    """Create the demo workspace when it is missing; either way, return how to log in."""
    user = accounts.find_user_by_email(session, DEMO_EMAIL)
    created = user is None
    if user is None:
        user = accounts.create_user(
            session,
            email=DEMO_EMAIL,
            password=DEMO_PASSWORD,
            org_name="Northwind Software",
            role="admin",
            name="Dana Demo",
        )
        org = accounts.get_org(session, user.org_id)
        room = rooms.create_room(
            session,
            user=user,
            data={
                "name": "Acme Corp · Platform rollout",
                "buyer_company": "Acme Corp",
                "stage": "evaluation",
                "welcome_message": "Welcome! Everything for your evaluation lives here: the proposal, "
                "the security overview and our next steps.",
                "allowed_domains": "acme.example",
            },
        )
        for title, section_title, stages, pages in (
            (
                "Proposal",
                "Proposal",
                "evaluation,decision",
                [["Northwind for Acme Corp", "Proposal"], ["Scope and timeline"], ["Pricing"]],
            ),
            (
                "Security overview",
                "Security",
                "evaluation",
                [
                    ["Security overview", "SOC 2 Type II, ISO 27001"],
                    ["Data residency: Tokyo region"],
                ],
            ),
        ):
            data = simple_pdf(pages)
            content.add_file(
                session,
                storage=storage,
                room=room,
                user=user,
                org_public_id=org.public_id,
                upload=Upload(filename=f"{title}.pdf", file=io.BytesIO(data), size=len(data)),
                title=title,
                section=content.section_named(session, room=room, title=section_title),
                stages_=stages,
            )
        # A library video, shared by every room that adds it.
        tour = content.create_link_document(
            session,
            user=user,
            url="https://www.youtube.com/watch?v=aqz-KE-bpKQ",
            title="Product tour (video)",
            stages_="discovery,evaluation",
        )
        content.place(session, room=room, document=tour, user=user)
        for email, name, role in (
            ("kato@acme.example", "Kato Haruki", "champion"),
            ("suzuki@acme.example", "Suzuki Aya", "economic_buyer"),
        ):
            invites.create_invite(
                session,
                room=room,
                seller=user,
                email=email,
                name=name,
                role=role,
                links=links,
                renderer=renderer,
                send=False,
            )
        # A shared meeting note, a plan and a first chat message, so every panel has something.
        notes.create_note(
            session,
            room=room,
            user=user,
            data={
                "title": "Kick-off call",
                "meeting_date": utcnow().date().isoformat(),
                "attendees": "Dana Demo, Kato Haruki, Suzuki Aya",
                "body": "- Goals: roll out to **3 regions** by Q2\n- Next: security review and pricing",
                "visibility": "shared",
            },
        )
        tasks.apply_plan(
            session,
            room=room,
            user=user,
            plan=[
                dict(zip(("milestone", "title", "owner", "due"), row, strict=True))
                for row in DEMO_TEMPLATE_PLAN
            ],
        )
        chat.post_message(
            session,
            room=room,
            author=user,
            body="Welcome to your deal room! Ask anything here — everyone on both teams sees it.",
        )
        # Last, so it holds everything above: a room template made from the demo room, which
        # "New room" offers (its uploads are the room's own, so the template keeps the video).
        saved = roomtemplates.save_as_template(
            session, user=user, room=room, data={"name": "Enterprise evaluation"}
        )
        if not roomtemplates.load_template(session, template=saved.template).tasks:
            for milestone, title, owner, due in DEMO_TEMPLATE_PLAN:
                roomtemplates.add_task(
                    session,
                    template=saved.template,
                    data={"milestone": milestone, "title": title, "owner": owner, "due": due},
                )
    # The demo room may have been archived or emptied since; then there is no link to print.
    room_url = buyer_link = ""
    for demo_room in rooms.list_rooms(session, org_id=user.org_id, limit=1):
        room_url = links.seller_room(demo_room)
        for invite in invites.list_invites(session, room=demo_room, include_revoked=False)[:1]:
            buyer_link = links.invite(invite)
    return DemoWorkspace(created, DEMO_EMAIL, DEMO_PASSWORD, room_url, buyer_link)
