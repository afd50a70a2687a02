"""Room templates on the web: the list and its empty state, the editor (plain forms and htmx),
one form that makes a room from a template, "Save as template" on the room page, and the API
(`POST /api/v1/rooms {"template_id": …}`, `GET /api/v1/templates`) checked against its document."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from dealroom import content, rooms, roomtemplates, tasks
from dealroom.roomtemplates import RoomTemplate, TemplateSection
from tests import factories
from tests.web.test_api import Api, assert_error, connect
from tests.web.test_tasks import Page

HTMX = {"HX-Request": "true"}


@pytest.fixture
def shop(session):
    """A seller with a library and a template holding a section, a document and a task."""
    seller = factories.seller(session, org="Northwind")
    deck = content.create_link_document(
        session, user=seller, url="https://example.com/deck", title="Company deck"
    )
    security = content.create_link_document(
        session, user=seller, url="https://example.com/security", title="Security overview"
    )
    template = roomtemplates.create_template(
        session,
        user=seller,
        data={"name": "Enterprise", "stage": "evaluation", "welcome_message": "Welcome aboard"},
    )
    section = roomtemplates.add_section(session, template=template, title="Trust")
    roomtemplates.add_item(
        session, template=template, document_id=security.public_id, section_id=section.public_id
    )
    roomtemplates.add_task(
        session,
        template=template,
        data={"milestone": "Kick-off", "title": "Intro call", "owner": "seller", "due": "+3 days"},
    )
    session.flush()
    return {
        "seller": seller,
        "deck": deck,
        "security": security,
        "template": template,
        "section": section,
    }


def login(client, shop):
    client.login(shop["seller"].email, factories.PASSWORD)
    return client


def editor_url(shop, tail=""):
    return f"/templates/{shop['template'].public_id}{tail}"


def room_of(session, location: str) -> rooms.Room:
    room_id = location.split("?")[0].rsplit("/", 1)[-1]
    return session.exec(select(rooms.Room).where(rooms.Room.public_id == room_id)).one()


# ---------------------------------------------------------------- list and editor


def test_the_list_explains_templates_when_there_are_none(client, session):
    seller = factories.seller(session)
    session.flush()
    client.login(seller.email, factories.PASSWORD)

    response = client.get("/templates")

    assert response.status_code == 200
    assert response.template.name == "roomtemplates/list.html"
    assert response.context["summaries"] == []
    assert "No templates yet" in response.text
    assert 'href="http://testserver/templates"' in response.text  # the nav link
    page = Page(response.text)
    assert page.field("Template name")["name"] == "name"
    assert page.field("Deal stage of new rooms")["tag"] == "select"
    assert page.styles == []


def test_the_list_shows_each_template_with_a_use_link(client, session, shop):
    login(client, shop)
    response = client.get("/templates")
    [summary] = response.context["summaries"]
    assert (summary.sections, summary.items, summary.tasks) == (1, 1, 1)
    assert f"/rooms/new?template={shop['template'].public_id}" in response.text


def test_creating_a_template_opens_its_editor(client, session, shop):
    login(client, shop)
    response = client.submit("/templates/new", {"name": "Mid-market", "stage": "discovery"})

    assert response.status_code == 303
    assert response.headers["location"].startswith("http://testserver/templates/tpl_")
    editor = client.get(response.headers["location"])
    assert editor.template.name == "roomtemplates/edit.html"
    assert editor.context["template"].name == "Mid-market"
    assert "Nothing here yet" in editor.text and "No tasks yet" in editor.text
    page = Page(editor.text)
    for label in (
        "Template name",
        "Section title",
        "Document",
        "Milestone",
        "Task",
        "Owner",
        "Due",
    ):
        assert label in page.labels, label
    assert page.field("Owner")["tag"] == "select"
    assert page.styles == []


def test_a_bad_new_template_is_a_422_with_its_errors(client, session, shop):
    login(client, shop)
    response = client.submit("/templates/new", {"name": "", "stage": "won"})
    assert response.status_code == 422
    assert response.template.name == "roomtemplates/list.html"
    assert set(response.context["errors"]) == {"name", "stage"}
    assert session.exec(select(RoomTemplate).where(RoomTemplate.name == "")).first() is None


def test_the_editor_builds_a_template_with_plain_forms(client, session, shop):
    login(client, shop)
    template = shop["template"]

    added = client.submit(editor_url(shop, "/sections"), {"section_title": "Commercial"})
    assert added.status_code == 303
    assert added.headers["location"].endswith(f"{editor_url(shop)}#template-content")
    editor = client.get(editor_url(shop))
    # The select offers the library documents not in the template yet.
    assert [d.title for d in editor.context["library"]] == ["Company deck"]
    commercial = editor.context["view"].sections[1]
    assert (
        client.submit(
            editor_url(shop, "/items"),
            {"document": shop["deck"].public_id, "section": commercial.public_id},
        ).status_code
        == 303
    )
    assert (
        client.submit(
            editor_url(shop, "/tasks"),
            {"milestone": "Kick-off", "title": "Agenda", "owner": "buyer", "due": "+1 week"},
        ).status_code
        == 303
    )
    assert (
        client.submit(
            editor_url(shop, f"/sections/{commercial.public_id}/move"), {"direction": "up"}
        ).status_code
        == 303
    )

    view = roomtemplates.load_template(session, template=template)
    assert [
        (g.section.title if g.section else "", [e.document.title for e in g.items])
        for g in view.groups
    ] == [("", []), ("Commercial", ["Company deck"]), ("Trust", ["Security overview"])]
    assert [(t.title, t.owner, t.due) for t in view.tasks] == [
        ("Intro call", "seller", "+3 days"),
        ("Agenda", "buyer", "+1 week"),
    ]

    first = view.tasks[0]
    client.submit(editor_url(shop, f"/tasks/{first.public_id}/remove"))
    client.submit(editor_url(shop, f"/items/{view.items[0].public_id}/remove"))
    client.submit(editor_url(shop, f"/sections/{commercial.public_id}/remove"))
    view = roomtemplates.load_template(session, template=template)
    assert [t.title for t in view.tasks] == ["Agenda"]
    assert [s.title for s in view.sections] == ["Trust"]
    assert [e.document.title for e in view.items] == ["Security overview"]


def test_htmx_gets_the_refreshed_editor(client, session, shop):
    login(client, shop)
    response = client.submit(
        editor_url(shop, "/sections"), {"section_title": "Pricing"}, headers=HTMX
    )
    assert response.status_code == 200
    assert response.template.name == "roomtemplates/_editor.html"
    assert response.text.lstrip().startswith('<div id="template-editor"')
    assert "Pricing" in response.text


def test_a_bad_plan_task_is_a_422_with_its_errors_and_values(client, session, shop):
    login(client, shop)
    response = client.submit(
        editor_url(shop, "/tasks"),
        {"milestone": "Pilot", "title": "", "owner": "legal", "due": "next week"},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert response.template.name == "roomtemplates/_editor.html"
    assert response.context["form"] == "task"
    assert set(response.context["errors"]) == {"title", "owner", "due"}
    assert "is not a relative date like" in response.text
    assert 'value="next week"' in response.text
    assert len(roomtemplates.load_template(session, template=shop["template"]).tasks) == 1


def test_a_document_of_another_organisation_cannot_be_added(client, session, shop):
    rival = factories.seller(session, org="Contoso")
    theirs = content.create_link_document(
        session, user=rival, url="https://contoso.example/x", title="Their deck"
    )
    session.flush()
    login(client, shop)
    response = client.submit(editor_url(shop, "/items"), {"document": theirs.public_id})
    assert response.status_code == 422
    assert response.context["errors"] == {"document": "Choose a document from the library."}


def test_details_archive_and_restore(client, session, shop):
    login(client, shop)
    response = client.submit(
        editor_url(shop, "/edit"),
        {"name": "Enterprise v2", "description": "", "welcome_message": "Hi", "stage": "decision"},
    )
    assert response.status_code == 303
    template = shop["template"]
    session.refresh(template)
    assert (template.name, template.stage, template.welcome_message) == (
        "Enterprise v2",
        "decision",
        "Hi",
    )
    client.submit(editor_url(shop, "/archive"))
    session.refresh(template)
    assert template.archived
    assert client.get("/templates").context["summaries"] == []
    assert "archived: not offered" in client.get(editor_url(shop)).text
    client.submit(editor_url(shop, "/restore"))
    session.refresh(template)
    assert not template.archived


def test_another_organisations_template_is_not_found(client, session, shop):
    rival = factories.seller(session, org="Contoso")
    session.flush()
    client.login(rival.email, factories.PASSWORD)
    assert client.get(editor_url(shop)).status_code == 404
    assert client.get("/templates/tpl_nope").status_code == 404
    assert client.get("/templates/new").status_code == 404


# ---------------------------------------------------------------- the new-room form


def test_use_template_preselects_it_on_the_new_room_form(client, session, shop):
    login(client, shop)
    response = client.get(f"/rooms/new?template={shop['template'].public_id}")

    assert response.template.name == "rooms/new.html"
    values = response.context["values"]
    assert values["template_id"] == shop["template"].public_id
    assert (values["stage"], values["welcome_message"]) == ("evaluation", "Welcome aboard")
    page = Page(response.text)
    assert page.field("Template")["name"] == "template_id"
    assert f'<option value="{shop["template"].public_id}" selected>' in response.text
    assert "Blank room" in response.text


def test_one_form_makes_the_room_from_the_template_and_opens_it(client, session, shop):
    login(client, shop)
    response = client.submit(
        "/rooms/new",
        {
            "template_id": shop["template"].public_id,
            "name": "Acme rollout",
            "buyer_company": "Acme",
            "stage": "",
            "welcome_message": "",
        },
    )

    assert response.status_code == 303
    room = room_of(session, response.headers["location"])
    assert response.headers["location"] == f"/rooms/{room.public_id}"
    assert (room.stage, room.welcome_message) == ("evaluation", "Welcome aboard")
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    sections = page.context["content_panel"].content.sections
    assert [(g.section.title if g.section else "") for g in sections] == ["", "Trust"]
    assert [v.title for v in sections[1].items] == ["Security overview"]
    assert [t.title for t in tasks.list_tasks(session, room=room)] == ["Intro call"]
    assert "Intro call" in page.text


def test_a_blank_room_still_works_and_its_stage_defaults_to_discovery(client, session, shop):
    login(client, shop)
    form = client.get("/rooms/new")
    assert form.context["values"] == {"stage": "", "template_id": ""}
    assert "As in the template" in form.text
    response = client.submit(
        "/rooms/new", {"template_id": "", "name": "Blank", "buyer_company": "B", "stage": ""}
    )
    room = room_of(session, response.headers["location"])
    assert room.stage == "discovery"
    assert content.room_content(session, room=room).headings == []


def test_without_templates_the_form_has_no_template_select(client, session):
    seller = factories.seller(session)
    session.flush()
    client.login(seller.email, factories.PASSWORD)
    response = client.get("/rooms/new")
    assert response.context["templates"] == []
    assert "Template" not in Page(response.text).labels
    assert "As in the template" not in response.text


@pytest.mark.parametrize("template_id", ["tpl_nope", "room_123", "<script>"])
def test_a_bad_template_is_a_clear_error_and_no_room(client, session, shop, template_id):
    login(client, shop)
    before = rooms.count_rooms(session, org_id=shop["seller"].org_id)
    response = client.submit(
        "/rooms/new", {"template_id": template_id, "name": "", "buyer_company": "Acme"}
    )
    assert response.status_code == 422
    assert response.template.name == "rooms/new.html"
    errors = response.context["errors"]
    assert errors["template_id"] == "Choose one of your organisation's templates."
    assert "name" in errors  # every field's error at once
    assert "Choose one of your organisation" in response.text
    assert rooms.count_rooms(session, org_id=shop["seller"].org_id) == before


def test_an_archived_template_is_refused_with_its_reason(client, session, shop):
    roomtemplates.archive_template(session, template=shop["template"])
    session.flush()
    login(client, shop)
    response = client.submit(
        "/rooms/new",
        {"template_id": shop["template"].public_id, "name": "X", "buyer_company": "Y"},
    )
    assert response.status_code == 422
    assert "archived" in response.context["errors"]["template_id"]


def test_archived_library_documents_are_left_out_with_a_note(client, session, shop):
    content.archive_document(session, document=shop["security"])
    session.flush()
    login(client, shop)
    form = client.get(f"/rooms/new?template={shop['template'].public_id}")
    assert form.context["template_skipped"] == ["Security overview"]
    assert "archived in the library and will be left out: Security overview" in form.text

    response = client.submit(
        "/rooms/new",
        {"template_id": shop["template"].public_id, "name": "Acme", "buyer_company": "Acme"},
    )
    assert response.headers["location"].endswith("?skipped=1")
    page = client.get(response.headers["location"])
    assert page.context["template_skipped"] == 1
    assert "1 document of the template was left out" in page.text


# ---------------------------------------------------------------- save as template


def test_save_as_template_from_the_room_page(client, session, services, shop):
    seller = shop["seller"]
    room = factories.room(session, seller, name="Globex pilot")
    content.place(session, room=room, document=shop["deck"], user=seller)
    content.add_link(session, room=room, user=seller, url="https://globex.example/notes")
    session.flush()
    login(client, shop)

    page = client.get(f"/rooms/{room.public_id}")
    assert f'action="http://testserver/rooms/{room.public_id}/save-as-template"' in page.text
    response = client.submit(f"/rooms/{room.public_id}/save-as-template")

    assert response.status_code == 303
    assert response.headers["location"].endswith("?saved=1&uploads=1&archived=0")
    editor = client.get(response.headers["location"])
    assert editor.context["template"].name == "Globex pilot"
    assert [e.document.title for e in editor.context["view"].items] == ["Company deck"]
    assert "1 document uploaded into the room only was left out" in editor.text


def test_forged_counts_in_the_note_are_ignored(client, session, shop):
    login(client, shop)
    editor = client.get(editor_url(shop, "?saved=1&uploads=-3&archived=99999999999"))
    assert (editor.context["skipped_uploads"], editor.context["skipped_archived"]) == (0, 0)


# ---------------------------------------------------------------- API


@pytest.fixture
def api(session, client, document, shop) -> Api:
    return connect(session, client, document, shop["seller"])


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").json()


def test_api_lists_templates(api, shop):
    response = api.get("/templates")
    assert response.status_code == 200
    [entry] = response.json()["data"]
    assert entry["id"] == shop["template"].public_id
    assert (entry["sections"], entry["documents"], entry["tasks"]) == (1, 1, 1)
    assert "TemplateList" in api.checked


def test_api_creates_a_room_from_a_template(api, session, shop):
    content.archive_document(session, document=shop["security"])
    session.flush()
    response = api.post(
        "/rooms",
        json={"name": "Acme", "buyer_company": "Acme", "template_id": shop["template"].public_id},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["template_id"] == shop["template"].public_id
    assert body["skipped_documents"] == ["Security overview"]
    assert body["stage"] == "evaluation" and body["welcome_message"] == "Welcome aboard"
    room = room_of(session, body["id"])
    assert [t.title for t in tasks.list_tasks(session, room=room)] == ["Intro call"]
    assert "Room" in api.checked


def test_api_form_fields_win_and_null_means_blank(api, session, shop):
    body = api.post(
        "/rooms",
        json={
            "name": "Acme",
            "buyer_company": "Acme",
            "stage": "decision",
            "template_id": shop["template"].public_id,
        },
    ).json()
    assert body["stage"] == "decision"
    blank = api.post("/rooms", json={"name": "B", "buyer_company": "B", "template_id": None})
    assert blank.status_code == 201
    assert "template_id" not in blank.json()


@pytest.mark.parametrize("template_id", ["tpl_nope", "nonsense", 42, ["tpl_x"]])
def test_api_refuses_a_bad_template_id(api, session, shop, template_id):
    before = rooms.count_rooms(session, org_id=shop["seller"].org_id)
    response = api.post(
        "/rooms", json={"name": "X", "buyer_company": "Y", "template_id": template_id}
    )
    error = assert_error(response, 422, "invalid")
    assert set(error["fields"]) == {"template_id"}
    assert rooms.count_rooms(session, org_id=shop["seller"].org_id) == before


def test_api_refuses_another_organisations_template(session, client, document, shop):
    rival = connect(session, client, document, factories.seller(session, org="Contoso"))
    response = rival.post(
        "/rooms",
        json={"name": "X", "buyer_company": "Y", "template_id": shop["template"].public_id},
    )
    error = assert_error(response, 422, "invalid")
    assert error["fields"] == {"template_id": "Choose one of your organisation's templates."}
    assert rival.get("/templates").json() == {"data": []}


# ---------------------------------------------------------------- renaming and moving sections


def test_a_section_is_renamed_with_a_plain_form_or_htmx(client, session, shop):
    login(client, shop)
    section = shop["section"]
    url = editor_url(shop, f"/sections/{section.public_id}/edit")

    editor = client.get(editor_url(shop))
    page = Page(editor.text)
    field = page.ids[f"rename-{section.public_id}-section_title"]
    assert (field["name"], field["value"]) == ("section_title", "Trust")
    rename = [f for f in page.forms if f.get("action", "").endswith(url)]
    assert len(rename) == 1 and rename[0]["method"] == "post" and rename[0]["hx-post"]

    plain = client.submit(url, {"section_title": "Security and trust"})
    assert plain.status_code == 303
    assert plain.headers["location"].endswith(f"{editor_url(shop)}#template-content")
    htmx = client.submit(url, {"section_title": "Trust center"}, headers=HTMX)
    assert htmx.status_code == 200 and htmx.template.name == "roomtemplates/_editor.html"
    assert "<h3>Trust center</h3>" in htmx.text

    session.expire_all()
    view = roomtemplates.load_template(session, template=shop["template"])
    assert [s.title for s in view.sections] == ["Trust center"]
    assert [e.document.title for e in view.groups[1].items] == ["Security overview"]


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("", "Section title is required."),
        ("x" * 201, "Section title must be at most 200 characters."),
        ("pricing", "This template already has a section with that title."),
    ],
)
def test_a_bad_rename_is_a_422_under_that_section_and_nothing_is_saved(
    client, session, shop, title, message
):
    roomtemplates.add_section(session, template=shop["template"], title="Pricing")
    session.flush()
    login(client, shop)
    section = shop["section"]
    url = editor_url(shop, f"/sections/{section.public_id}/edit")

    for headers in (HTMX, {}):
        response = client.submit(url, {"section_title": title}, headers=headers)

        assert response.status_code == 422
        assert response.context["form"] == f"section:{section.public_id}"
        assert response.context["errors"] == {"section_title": message}
        page = Page(response.text)
        field = page.ids[f"rename-{section.public_id}-section_title"]
        assert field["value"] == title and field["aria-invalid"] == "true"
        assert page.ids[f"rename-{section.public_id}-section_title-error"]["role"] == "alert"
        assert message in response.text
    session.expire_all()
    view = roomtemplates.load_template(session, template=shop["template"])
    assert [s.title for s in view.sections] == ["Trust", "Pricing"]


def test_sections_move_with_keyboard_buttons_that_keep_their_ids(client, session, shop):
    pricing = roomtemplates.add_section(session, template=shop["template"], title="Pricing")
    session.flush()
    login(client, shop)

    editor = Page(client.get(editor_url(shop)).text)
    first, second = shop["section"].public_id, pricing.public_id
    assert "disabled" in editor.ids[f"tsec-{first}-up"]
    assert "disabled" in editor.ids[f"tsec-{second}-down"]
    assert editor.ids[f"tsec-{second}-up"]["aria-label"] == "Move Pricing up"

    moved = client.submit(
        editor_url(shop, f"/sections/{second}/move"), {"direction": "up"}, headers=HTMX
    )

    assert moved.status_code == 200
    after = Page(moved.text)
    # The button that was pressed is still there under its id, for htmx to give focus back.
    assert "disabled" in after.ids[f"tsec-{second}-up"]
    assert "disabled" not in after.ids[f"tsec-{first}-up"]
    session.expire_all()
    view = roomtemplates.load_template(session, template=shop["template"])
    assert [s.title for s in view.sections] == ["Pricing", "Trust"]


def test_another_organisations_section_cannot_be_renamed(client, session, shop):
    rival = factories.seller(session, org="Contoso")
    theirs = roomtemplates.create_template(session, user=rival, data={"name": "Theirs"})
    their_section = roomtemplates.add_section(session, template=theirs, title="Theirs")
    session.flush()
    login(client, shop)

    wrong_template = client.submit(
        f"/templates/{theirs.public_id}/sections/{their_section.public_id}/edit",
        {"section_title": "Mine"},
    )
    wrong_section = client.submit(
        editor_url(shop, f"/sections/{their_section.public_id}/edit"), {"section_title": "Mine"}
    )

    assert wrong_template.status_code == wrong_section.status_code == 404
    session.expire_all()
    assert session.get(TemplateSection, their_section.id).title == "Theirs"
