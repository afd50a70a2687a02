"""Room templates: what a room made from one holds, relative due dates, library documents that
keep reaching the room, archived documents left out, organisation scoping, and "save as template"
as the way back."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import func, select

from dealroom import content, rooms, roomtemplates, tasks
from dealroom.content import Upload
from dealroom.errors import Conflict, InvalidInput, NotFound
from dealroom.pdfgen import simple_pdf
from dealroom.roomtemplates import TemplateItem, TemplateSection, TemplateTask
from tests import factories

PLAN = [
    {"milestone": "Kick-off", "title": "Intro call", "owner": "seller", "due": "+2 days"},
    {"milestone": "Kick-off", "title": "Share requirements", "owner": "buyer", "due": "+1 week"},
    {"milestone": "Security review", "title": "Send questionnaire", "owner": "", "due": ""},
]


def pdf_upload(text: str) -> Upload:
    data = simple_pdf([[text]])
    return Upload(filename=f"{text}.pdf", file=io.BytesIO(data), size=len(data))


def library_pdf(session, services, user, title):
    return content.create_file_document(
        session, storage=services.storage, user=user, upload=pdf_upload(title), title=title
    )


def library_link(session, user, title, stages=""):
    return content.create_link_document(
        session,
        user=user,
        url=f"https://example.com/{title.lower().replace(' ', '-')}",
        title=title,
        stages_=stages,
    )


@pytest.fixture
def world(session, services):
    seller = factories.seller(session, org="Northwind")
    rival = factories.seller(session, org="Contoso")
    proposal = library_pdf(session, services, seller, "Proposal")
    security = library_link(session, seller, "Security overview", stages="evaluation")
    tour = library_link(session, seller, "Product tour")
    template = roomtemplates.create_template(
        session,
        user=seller,
        data={
            "name": "Enterprise evaluation",
            "description": "For deals over 50 seats",
            "welcome_message": "Welcome to your evaluation",
            "stage": "evaluation",
        },
    )
    commercial = roomtemplates.add_section(session, template=template, title="Commercial")
    trust = roomtemplates.add_section(session, template=template, title="Trust")
    roomtemplates.add_item(session, template=template, document_id=tour.public_id)
    roomtemplates.add_item(
        session,
        template=template,
        document_id=proposal.public_id,
        section_id=commercial.public_id,
    )
    roomtemplates.add_item(
        session, template=template, document_id=security.public_id, section_id=trust.public_id
    )
    for entry in PLAN:
        roomtemplates.add_task(session, template=template, data=entry)
    session.flush()
    return {
        "seller": seller,
        "rival": rival,
        "proposal": proposal,
        "security": security,
        "tour": tour,
        "template": template,
        "commercial": commercial,
        "trust": trust,
    }


def make_room(session, world, **data):
    fields = {"name": "Acme rollout", "buyer_company": "Acme Corp", **data}
    return roomtemplates.create_room_from_template(
        session, user=world["seller"], template=world["template"], data=fields
    )


def layout(session, room):
    """[(section title or "", [document titles])] as the room shows them."""
    return [
        (group.section.title if group.section else "", [v.title for v in group.items])
        for group in content.room_content(session, room=room).sections
    ]


def plan_of(session, room):
    milestones = {m.id: m.title for m in tasks.list_milestones(session, room=room)}
    return [
        (milestones[t.milestone_id], t.title, t.owner_user_id, t.owner_invite_id, t.due_date)
        for t in tasks.list_tasks(session, room=room)
    ]


# ---------------------------------------------------------------- creating rooms


def test_a_room_from_a_template_gets_its_sections_documents_and_plan(session, world):
    new = make_room(session, world)
    room = new.room

    assert new.skipped == []
    assert (room.name, room.buyer_company, room.stage) == (
        "Acme rollout",
        "Acme Corp",
        "evaluation",
    )
    assert room.welcome_message == "Welcome to your evaluation"
    assert layout(session, room) == [
        ("", ["Product tour"]),
        ("Commercial", ["Proposal"]),
        ("Trust", ["Security overview"]),
    ]
    today = tasks.today()
    seller_id = world["seller"].id
    assert plan_of(session, room) == [
        ("Kick-off", "Intro call", seller_id, None, today + timedelta(days=2)),
        # "buyer" is nobody while nobody is invited yet.
        ("Kick-off", "Share requirements", None, None, today + timedelta(days=7)),
        ("Security review", "Send questionnaire", None, None, None),
    ]
    # The items carry the library documents' tags, as content.place gives them.
    items = {v.title: v.item for v in content.room_content(session, room=room).items}
    assert items["Security overview"].stages == "evaluation"
    assert [i.position for i in items.values()] == [1, 1, 1]


def test_the_forms_own_fields_win_over_the_templates_defaults(session, world):
    room = make_room(session, world, stage="decision", welcome_message="Hi Acme").room
    assert (room.stage, room.welcome_message) == ("decision", "Hi Acme")
    room = make_room(session, world, stage="", welcome_message="  ").room
    assert (room.stage, room.welcome_message) == ("evaluation", "Welcome to your evaluation")


def test_rooms_refer_to_library_documents_so_new_versions_reach_them(session, services, world):
    room = make_room(session, world).room
    proposal = world["proposal"]
    content.add_version(
        session,
        storage=services.storage,
        document=proposal,
        user=world["seller"],
        upload=pdf_upload("Proposal v2"),
    )
    content.update_document(session, document=world["tour"], data={"title": "Product tour 2"})
    session.flush()

    views = {v.document.id: v for v in content.room_content(session, room=room).items}
    assert views[proposal.id].document.current_version == 2
    assert views[proposal.id].version.version == 2
    assert views[world["tour"].id].title == "Product tour 2"
    assert not views[proposal.id].document.room_id  # the library's own document, not a copy


def test_documents_archived_in_the_library_are_left_out_and_reported(session, world):
    content.archive_document(session, document=world["proposal"])
    session.flush()

    view = roomtemplates.load_template(session, template=world["template"])
    assert [e.document.title for e in view.skipped] == ["Proposal"]

    new = make_room(session, world)
    assert new.skipped == ["Proposal"]
    assert layout(session, new.room) == [
        ("", ["Product tour"]),
        ("Commercial", []),
        ("Trust", ["Security overview"]),
    ]


def test_an_empty_template_makes_an_empty_room(session, world):
    empty = roomtemplates.create_template(session, user=world["seller"], data={"name": "Blank"})
    new = roomtemplates.create_room_from_template(
        session,
        user=world["seller"],
        template=empty,
        data={"name": "Deal", "buyer_company": "Acme"},
    )
    assert layout(session, new.room) == [("", [])]
    assert plan_of(session, new.room) == []


def test_creating_from_a_template_costs_the_same_queries_for_4_or_40_documents(
    session, services, world
):
    """Sections and items go in one batch each: no query per document."""

    def statements(template):
        seen = []

        def count(*_args):
            seen.append(1)

        session.flush()  # whatever is pending is not this call's cost
        bind = session.connection().engine
        event.listen(bind, "before_cursor_execute", count)
        try:
            roomtemplates.create_room_from_template(
                session,
                user=world["seller"],
                template=template,
                data={"name": "Deal", "buyer_company": "Acme"},
            )
            session.flush()
        finally:
            event.remove(bind, "before_cursor_execute", count)
        return len(seen)

    def template_with(documents):
        template = roomtemplates.create_template(
            session, user=world["seller"], data={"name": f"{documents} documents"}
        )
        sections = [
            roomtemplates.add_section(session, template=template, title=f"Section {n}")
            for n in range(4)
        ]
        for n in range(documents):
            document = library_link(session, world["seller"], f"Doc {documents}-{n}")
            roomtemplates.add_item(
                session,
                template=template,
                document_id=document.public_id,
                section_id=sections[n % 4].public_id,
            )
        session.flush()
        return template

    small, large = template_with(4), template_with(40)
    assert statements(large) == statements(small)


# ---------------------------------------------------------------- scoping and bad input


def test_templates_belong_to_their_organisation(session, world):
    template_id = world["template"].public_id
    rival = world["rival"]
    with pytest.raises(NotFound):
        roomtemplates.get_template(session, org_id=rival.org_id, template_id=template_id)
    with pytest.raises(NotFound):
        roomtemplates.create_room_from_template(
            session, user=rival, template=world["template"], data={"name": "X"}
        )
    with pytest.raises(InvalidInput) as raised:
        roomtemplates.create_room(
            session,
            user=rival,
            data={"name": "X", "buyer_company": "Y"},
            template_id=template_id,
        )
    assert set(raised.value.fields) == {"template_id"}
    assert roomtemplates.list_templates(session, org_id=rival.org_id) == []


@pytest.mark.parametrize("template_id", ["", "tpl_nope", "room_x", "nonsense", "\x00"])
def test_a_bad_template_and_bad_room_fields_are_reported_together_and_nothing_is_kept(
    session, world, template_id
):
    before = rooms.count_rooms(session, org_id=world["seller"].org_id)
    with pytest.raises(InvalidInput) as raised:
        roomtemplates.create_room(
            session,
            user=world["seller"],
            data={"name": "", "buyer_company": "Acme"},
            template_id=template_id or "tpl_" + "0" * 20,
        )
    assert set(raised.value.fields) == {"name", "template_id"}
    assert rooms.count_rooms(session, org_id=world["seller"].org_id) == before


def test_an_archived_template_cannot_make_rooms(session, world):
    roomtemplates.archive_template(session, template=world["template"])
    with pytest.raises(Conflict):
        make_room(session, world)
    with pytest.raises(InvalidInput) as raised:
        roomtemplates.create_room(
            session,
            user=world["seller"],
            data={"name": "X", "buyer_company": "Y"},
            template_id=world["template"].public_id,
            field="template",
        )
    assert "archived" in raised.value.fields["template"]
    assert roomtemplates.active_templates(session, org_id=world["seller"].org_id) == []
    roomtemplates.restore_template(session, template=world["template"])
    assert make_room(session, world).room.name == "Acme rollout"


def test_only_the_organisations_active_library_documents_go_in(session, services, world):
    template = world["template"]
    rivals_doc = library_link(session, world["rival"], "Rival deck")
    room = factories.room(session, world["seller"])
    upload = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=world["seller"],
        upload=pdf_upload("Room only"),
    )
    archived = library_link(session, world["seller"], "Old deck")
    content.archive_document(session, document=archived)
    for document_id in (rivals_doc.public_id, upload.document_id, "doc_nope", ""):
        with pytest.raises(InvalidInput) as raised:
            roomtemplates.add_item(session, template=template, document_id=str(document_id))
        assert set(raised.value.fields) == {"document"}
    with pytest.raises(InvalidInput, match="archived"):
        roomtemplates.add_item(session, template=template, document_id=archived.public_id)
    with pytest.raises(InvalidInput, match="already in this template"):
        roomtemplates.add_item(session, template=template, document_id=world["tour"].public_id)
    other = roomtemplates.create_template(session, user=world["seller"], data={"name": "Other"})
    other_section = roomtemplates.add_section(session, template=other, title="Elsewhere")
    with pytest.raises(InvalidInput) as raised:
        roomtemplates.add_item(
            session,
            template=template,
            document_id=library_link(session, world["seller"], "New").public_id,
            section_id=other_section.public_id,
        )
    assert set(raised.value.fields) == {"section"}
    assert [d.title for d in roomtemplates.library_choices(session, template=template)] == ["New"]


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"milestone": "", "title": ""}, {"milestone", "title"}),
        ({"milestone": "M", "title": "T", "due": "next week"}, {"due"}),
        ({"milestone": "M", "title": "T", "due": "+9999 weeks"}, {"due"}),
        ({"milestone": "M", "title": "T", "due": "-3 days"}, {"due"}),
        ({"milestone": "M", "title": "T", "owner": "legal"}, {"owner"}),
        ({"milestone": "M" * 201, "title": "T"}, {"milestone"}),
    ],
)
def test_plan_tasks_are_checked_like_the_plan_checks_them(session, world, data, fields):
    with pytest.raises(InvalidInput) as raised:
        roomtemplates.add_task(session, template=world["template"], data=data)
    assert set(raised.value.fields) == fields


def test_plan_tasks_reuse_the_milestones_spelling(session, world):
    task = roomtemplates.add_task(
        session,
        template=world["template"],
        data={"milestone": "kick-OFF", "title": "Agenda", "due": "+3  days"},
    )
    assert (task.milestone, task.due, task.position) == ("Kick-off", "+3 days", 4)
    view = roomtemplates.load_template(session, template=world["template"])
    assert view.milestones == ["Kick-off", "Security review"]


def test_template_fields_are_validated_all_at_once(session, world):
    with pytest.raises(InvalidInput) as raised:
        roomtemplates.create_template(
            session, user=world["seller"], data={"name": "", "stage": "won"}
        )
    assert set(raised.value.fields) == {"name", "stage"}
    roomtemplates.update_template(session, template=world["template"], data={"name": "Renamed"})
    assert world["template"].name == "Renamed"
    assert world["template"].stage == "evaluation"


# ---------------------------------------------------------------- editing


def test_sections_items_and_tasks_reorder_and_go(session, world):
    template = world["template"]
    roomtemplates.move_section(session, template=template, section=world["trust"], direction="up")
    view = roomtemplates.load_template(session, template=template)
    assert [s.title for s in view.sections] == ["Trust", "Commercial"]

    extra = library_link(session, world["seller"], "Pricing")
    priced = roomtemplates.add_item(
        session,
        template=template,
        document_id=extra.public_id,
        section_id=world["commercial"].public_id,
    )
    roomtemplates.move_item(session, template=template, item=priced, direction="up")
    roomtemplates.remove_section(session, template=template, section=world["commercial"])
    view = roomtemplates.load_template(session, template=template)
    assert [
        (g.section.title if g.section else "", [e.document.title for e in g.items])
        for g in view.groups
    ] == [
        ("", ["Product tour", "Pricing", "Proposal"]),
        ("Trust", ["Security overview"]),
    ]
    assert [e.item.position for e in view.groups[0].items] == [1, 2, 3]

    first = view.tasks[0]
    roomtemplates.move_task(session, template=template, task=first, direction="down")
    roomtemplates.remove_task(
        session,
        template=template,
        task=roomtemplates.load_template(session, template=template).tasks[-1],
    )
    view = roomtemplates.load_template(session, template=template)
    assert [(t.title, t.position) for t in view.tasks] == [
        ("Share requirements", 1),
        ("Intro call", 2),
    ]
    with pytest.raises(InvalidInput):
        roomtemplates.move_task(session, template=template, task=view.tasks[0], direction="left")


def test_list_templates_counts_what_each_holds(session, world):
    roomtemplates.create_template(session, user=world["seller"], data={"name": "a blank one"})
    retired = roomtemplates.create_template(session, user=world["seller"], data={"name": "Old"})
    roomtemplates.archive_template(session, template=retired)
    session.flush()
    org_id = world["seller"].org_id
    found = roomtemplates.list_templates(session, org_id=org_id)
    assert [(s.template.name, s.sections, s.items, s.tasks) for s in found] == [
        ("a blank one", 0, 0, 0),
        ("Enterprise evaluation", 2, 3, 3),
    ]
    assert [
        s.template.name for s in roomtemplates.list_templates(session, org_id=org_id, archived=True)
    ] == ["Old"]


# ---------------------------------------------------------------- save as template


def test_save_as_template_round_trips_a_room_made_from_a_template(session, services, world):
    seller = world["seller"]
    room = make_room(session, world).room
    # A document uploaded into this room only cannot go into a template.
    content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller,
        upload=pdf_upload("Acme notes"),
        section=content.section_named(session, room=room, title="Trust"),
    )
    session.flush()

    saved = roomtemplates.save_as_template(session, user=seller, room=room, data={"name": "Copy"})

    assert (saved.uploads, saved.archived) == (1, 0)
    original = roomtemplates.load_template(session, template=world["template"])
    copy = roomtemplates.load_template(session, template=saved.template)
    assert copy.template.name == "Copy"
    assert (copy.template.stage, copy.template.welcome_message) == (
        "evaluation",
        "Welcome to your evaluation",
    )

    def shape(view):
        return [
            (g.section.title if g.section else "", [e.document.id for e in g.items])
            for g in view.groups
        ]

    assert shape(copy) == shape(original)
    assert [(t.milestone, t.title, t.owner, t.due) for t in copy.tasks] == [
        ("Kick-off", "Intro call", "seller", "+2 days"),
        ("Kick-off", "Share requirements", "", "+7 days"),  # nobody owned it in the room
        ("Security review", "Send questionnaire", "", ""),
    ]
    # And a room from the copy has the same plan dates as the first.
    again = roomtemplates.create_room_from_template(
        session, user=seller, template=saved.template, data={"name": "B", "buyer_company": "B"}
    ).room
    assert plan_of(session, again) == plan_of(session, room)


def test_save_as_template_turns_due_dates_into_days_after_the_rooms_first_day(
    session, services, world
):
    seller = world["seller"]
    room = factories.room(session, seller)
    kato = factories.invite(session, services, room, seller, name="Kato")
    start = room.created_at.date()
    milestone = tasks.add_milestone(
        session, room=room, actor=tasks.Actor(user=seller), data={"title": "Pilot"}
    )
    for title, owner, due in (
        ("Set up", kato.public_id, start + timedelta(days=1)),
        ("Review", "", start + timedelta(days=30)),
        ("Backdated", "", start - timedelta(days=3)),
        ("Far", "", start + timedelta(days=5000)),
    ):
        tasks.add_task(
            session,
            room=room,
            actor=tasks.Actor(user=seller),
            data={
                "milestone_id": milestone.public_id,
                "title": title,
                "owner_id": owner,
                "due_date": due.isoformat(),
            },
        )
    archived = library_link(session, seller, "Retired")
    content.place(session, room=room, document=archived, user=seller)
    content.archive_document(session, document=archived)
    session.flush()

    saved = roomtemplates.save_as_template(session, user=seller, room=room)

    assert saved.template.name == room.name
    assert (saved.uploads, saved.archived) == (0, 1)
    view = roomtemplates.load_template(session, template=saved.template)
    assert [(t.title, t.owner, t.due) for t in view.tasks] == [
        ("Set up", "buyer", "+1 day"),
        ("Review", "", "+30 days"),
        ("Backdated", "", ""),
        ("Far", "", "+3650 days"),
    ]


def test_save_as_template_is_for_the_rooms_organisation(session, world):
    room = factories.room(session, world["seller"])
    with pytest.raises(NotFound):
        roomtemplates.save_as_template(session, user=world["rival"], room=room)
    count = session.exec(select(func.count()).select_from(roomtemplates.RoomTemplate)).one()
    assert count == 1


def test_rows_carry_the_templates_organisation(session, world):
    org_id = world["template"].org_id
    for model in (TemplateSection, TemplateItem, TemplateTask):
        assert {row.org_id for row in session.exec(select(model))} == {org_id}


def test_a_section_is_renamed_in_place_with_its_documents(session, world):
    template = world["template"]
    before = template.updated_at

    renamed = roomtemplates.rename_section(
        session, template=template, section=world["commercial"], title="  Pricing   and terms "
    )

    view = roomtemplates.load_template(session, template=template)
    assert renamed is world["commercial"] and renamed.title == "Pricing and terms"
    assert [s.title for s in view.sections] == ["Pricing and terms", "Trust"]
    assert [e.document.title for e in view.groups[1].items] == ["Proposal"]
    assert template.updated_at >= before
    # Its own title in another case is no clash; rooms made from it get the new title.
    roomtemplates.rename_section(
        session, template=template, section=world["commercial"], title="PRICING AND TERMS"
    )
    room = make_room(session, world).room
    assert [title for title, _docs in layout(session, room)][1:] == ["PRICING AND TERMS", "Trust"]


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("", "Section title is required."),
        ("   ", "Section title is required."),
        ("x" * 201, "Section title must be at most 200 characters."),
        ("trust", "This template already has a section with that title."),
        (" TRUST ", "This template already has a section with that title."),
        ("a\x00b", "Must not contain NUL characters."),
    ],
)
def test_a_bad_section_title_is_refused_and_nothing_changes(session, world, title, message):
    with pytest.raises(InvalidInput) as raised:
        roomtemplates.rename_section(
            session, template=world["template"], section=world["commercial"], title=title
        )

    assert raised.value.fields == {"section_title": message}
    session.expire_all()
    view = roomtemplates.load_template(session, template=world["template"])
    assert [s.title for s in view.sections] == ["Commercial", "Trust"]


def test_a_section_of_another_template_is_not_renamed_here(session, world):
    other = roomtemplates.create_template(session, user=world["seller"], data={"name": "Other"})
    elsewhere = roomtemplates.add_section(session, template=other, title="Elsewhere")

    with pytest.raises(NotFound):
        roomtemplates.rename_section(
            session, template=world["template"], section=elsewhere, title="Hijacked"
        )
    assert elsewhere.title == "Elsewhere"
