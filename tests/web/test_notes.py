"""Meeting notes on the web: seller flows (pages and htmx), buyers see shared notes only, markdown
renders inert, and the API's notes collection answers as its OpenAPI document says."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from sqlmodel import select

from dealroom import notes
from dealroom.notes import Note, NoteRevision
from tests import factories
from tests.web.test_api import Api, assert_error, connect

HTMX = {"HX-Request": "true"}
NOTE = {
    "title": "Discovery call",
    "meeting_date": "2026-03-02",
    "attendees": "Kato Ken, Sato Mei",
    "body": "We discussed **pricing** and the rollout.",
    "visibility": "internal",
}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag = tag
        self.attrs = dict(attrs)
        self.text = ""

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"


def elements(html: str, root_id: str | None = None) -> list[Element]:
    """Every element of the page, or inside the element with id `root_id`, with its own text."""
    found: list[Element] = []

    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.inside = root_id is None
            self.open: list[Element] = []  # elements inside the root whose end tag is pending

        def handle_starttag(self, tag, attrs):
            if not self.inside:
                self.inside = root_id is not None and dict(attrs).get("id") == root_id
                return
            element = Element(tag, attrs)
            found.append(element)
            if tag not in VOID:
                self.open.append(element)

        def handle_endtag(self, tag):
            if self.open:
                self.open.pop()
            elif root_id is not None:
                self.inside = False  # the root element itself ended

        def handle_data(self, data):
            if self.open:
                self.open[-1].text += data

    Collect().feed(html)
    return found


def text_of(html: str, root_id: str) -> str:
    return " ".join(" ".join(e.text.split()) for e in elements(html, root_id))


def note_titles(html: str) -> list[str]:
    """Titles of the notes in the page's notes panel, in order."""
    return [e.text.strip() for e in elements(html, "notes") if e.tag == "a" and e.text.strip()]


@pytest.fixture
def seller(session):
    return factories.seller(session, org="Northwind")


@pytest.fixture
def room(session, seller):
    return factories.room(session, seller)


@pytest.fixture
def seller_browser(client, session, seller, room):
    session.flush()
    client.login(seller.email, factories.PASSWORD)
    return client


def add(session, room, user, **fields) -> Note:
    note = notes.create_note(session, room=room, user=user, data={**NOTE, **fields})
    session.flush()
    return note


def base(room) -> str:
    return f"/rooms/{room.public_id}/notes"


# ---------------------------------------------------------------- sellers


def test_the_room_page_shows_an_empty_notes_panel(seller_browser, room):
    page = seller_browser.get(f"/rooms/{room.public_id}")

    assert page.template.name == "rooms/detail.html"
    panel = page.context["notes_panel"]
    assert panel.can_edit and panel.cards == []
    assert "No meeting notes yet" in text_of(page.text, "notes")
    labels = {e.text.strip() for e in elements(page.text, "notes") if e.tag == "label"}
    assert {"Title", "Meeting date", "Attendees", "Notes"} <= labels


def test_a_seller_adds_a_note_with_a_plain_form(seller_browser, session, room, seller):
    response = seller_browser.submit(f"{base(room)}/new", NOTE)

    assert response.status_code == 303
    note = session.exec(select(Note)).one()
    assert response.headers["location"] == f"{base(room)}/{note.public_id}"
    assert (note.title, note.attendee_list, note.visibility) == (
        "Discovery call",
        ["Kato Ken", "Sato Mei"],
        "internal",
    )
    page = seller_browser.get(f"/rooms/{room.public_id}")
    [card] = page.context["notes_panel"].cards
    assert card.note.public_id == note.public_id and card.author == seller.display_name
    chips = [e.text for e in elements(page.text, f"note-{note.public_id}") if e.tag == "li"]
    assert chips == ["Kato Ken", "Sato Mei"]
    strong = [e.text for e in elements(page.text, f"note-{note.public_id}") if e.tag == "strong"]
    assert strong == ["pricing"]


def test_the_new_note_page_works_without_javascript(seller_browser, room):
    page = seller_browser.get(f"{base(room)}/new")

    assert page.template.name == "notes/new.html"
    action = f"http://testserver{base(room)}/new"
    [form] = [e for e in elements(page.text) if e.attrs.get("action") == action]
    assert form.tag == "form" and "hx-post" not in form.attrs
    date_input = next(e for e in elements(page.text) if e.attrs.get("name") == "meeting_date")
    assert date_input.attrs["type"] == "date" and date_input.attrs["value"]


def test_htmx_create_answers_with_the_refreshed_panel(seller_browser, session, room):
    response = seller_browser.post(
        f"{base(room)}/new", data={**NOTE, "csrf_token": seller_browser.csrf}, headers=HTMX
    )

    assert response.status_code == 200
    assert response.template.name == "notes/_panel.html"
    assert response.text.lstrip().startswith('<section id="notes"')
    assert "Discovery call" in note_titles(response.text)
    assert session.exec(select(Note)).one().title == "Discovery call"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"title": "", "body": ""}, {"title", "body"}),
        ({"meeting_date": "31/12/2026"}, {"meeting_date"}),
        ({"meeting_date": "1850-01-01"}, {"meeting_date"}),
        ({"body": "x" * (notes.MAX_BODY + 1)}, {"body"}),
        ({"visibility": "everyone"}, {"visibility"}),
    ],
    ids=["empty", "date-format", "date-range", "too-long", "visibility"],
)
def test_bad_input_is_a_422_with_field_messages_and_saves_nothing(
    seller_browser, session, room, fields, bad
):
    values = {**NOTE, **fields}

    page = seller_browser.submit(f"{base(room)}/new", values)
    fragment = seller_browser.post(
        f"{base(room)}/new", data={**values, "csrf_token": seller_browser.csrf}, headers=HTMX
    )

    assert page.status_code == 422 and page.template.name == "notes/new.html"
    assert set(page.context["errors"]) == bad
    alerts = [e for e in elements(page.text) if e.attrs.get("role") == "alert"]
    assert len(alerts) == len(bad)
    assert fragment.status_code == 422 and fragment.template.name == "notes/_panel.html"
    assert set(fragment.context["notes_panel"].errors) == bad
    details = next(e for e in elements(fragment.text, "notes") if e.tag == "details")
    assert "open" in details.attrs  # the form stays open with the seller's text in it
    title = next(e for e in elements(fragment.text) if e.attrs.get("id") == "note-new-title")
    assert title.attrs["value"] == values["title"]
    assert session.exec(select(Note)).all() == []
    assert session.exec(select(NoteRevision)).all() == []


def test_inline_edit_keeps_history(seller_browser, session, room, seller):
    note = add(session, room, seller)
    edit = f"{base(room)}/{note.public_id}/edit"

    form = seller_browser.get(edit, headers=HTMX)
    assert form.template.name == "notes/_form.html"
    assert form.context["inline"] and form.context["base_revision"] == 1
    [tag] = [e for e in elements(form.text) if e.tag == "form"]
    assert tag.attrs["action"] == tag.attrs["hx-post"] == f"http://testserver{edit}"
    assert tag.attrs["hx-target"] == "#notes"
    assert form.text.lstrip().startswith(f'<div id="note-{note.public_id}"')

    saved = seller_browser.post(
        edit,
        data={
            **NOTE,
            "body": "We discussed **pricing**, legal and the rollout.",
            "visibility": "shared",
            "base_revision": "1",
            "csrf_token": seller_browser.csrf,
        },
        headers=HTMX,
    )

    assert saved.status_code == 200 and saved.template.name == "notes/_panel.html"
    session.refresh(note)
    assert note.revision == 2 and note.visibility == "shared"
    history = seller_browser.get(f"{base(room)}/{note.public_id}")
    assert history.template.name == "notes/detail.html"
    newest, first = history.context["history"]
    assert newest.changed == ["body", "visibility"] and first.created
    versions = [e.attrs.get("id", "") for e in elements(history.text, "history")]
    assert [v for v in versions if v.startswith("version-")] == [
        "version-2",
        "version-1",
    ]
    summary = text_of(history.text, "version-2")
    assert seller.display_name in summary and "internal → shared with the buyer" in summary
    added = [
        e.text for e in elements(history.text, "version-2") if e.attrs.get("class") == "diff-add"
    ]
    assert added == ["+ We discussed **pricing**, legal and the rollout."]


def test_the_full_page_edit_redirects_to_the_note(seller_browser, session, room, seller):
    note = add(session, room, seller)
    edit = f"{base(room)}/{note.public_id}/edit"

    page = seller_browser.get(edit)
    assert page.template.name == "notes/edit.html" and page.context["inline"] is False
    assert all("hx-post" not in e.attrs for e in elements(page.text) if e.tag == "form")

    saved = seller_browser.submit(edit, {**NOTE, "title": "Renamed", "base_revision": "1"})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{base(room)}/{note.public_id}"

    bad = seller_browser.submit(edit, {**NOTE, "title": "", "base_revision": "2"})
    assert bad.status_code == 422 and set(bad.context["errors"]) == {"title"}
    session.refresh(note)
    assert note.title == "Renamed" and note.revision == 2


def test_an_edit_from_a_stale_form_is_refused_and_keeps_the_text(
    seller_browser, session, room, seller
):
    note = add(session, room, seller)
    teammate = factories.seller(session, org="Northwind", role="rep")
    notes.update_note(session, note=note, user=teammate, data={**NOTE, "title": "Theirs"})
    session.flush()
    mine = {**NOTE, "body": "My version", "base_revision": "1"}
    edit = f"{base(room)}/{note.public_id}/edit"

    page = seller_browser.submit(edit, mine)
    fragment = seller_browser.post(
        edit, data={**mine, "csrf_token": seller_browser.csrf}, headers=HTMX
    )

    assert page.status_code == 409 and page.template.name == "notes/edit.html"
    assert teammate.display_name in page.context["errors"]["revision"]
    assert page.context["base_revision"] == 2  # saving again is a deliberate overwrite
    assert fragment.status_code == 422 and fragment.template.name == "notes/_panel.html"
    assert fragment.context["notes_panel"].editing == note.public_id
    textarea = next(
        e for e in elements(fragment.text, f"note-{note.public_id}") if e.tag == "textarea"
    )
    assert textarea.text == "My version"
    session.refresh(note)
    assert (note.title, note.body, note.revision) == ("Theirs", NOTE["body"], 2)


def test_sharing_and_deleting(seller_browser, session, room, seller):
    note = add(session, room, seller)
    url = f"{base(room)}/{note.public_id}"

    shared = seller_browser.post(
        f"{url}/visibility",
        data={"visibility": "shared", "csrf_token": seller_browser.csrf},
        headers=HTMX,
    )
    assert shared.template.name == "notes/_panel.html"
    session.refresh(note)
    assert note.visibility == "shared" and note.revision == 2

    back = seller_browser.submit(f"{url}/visibility", {"visibility": "internal", "from": "note"})
    assert back.status_code == 303 and back.headers["location"] == url
    assert seller_browser.submit(f"{url}/visibility", {"visibility": "nope"}).status_code == 422

    deleted = seller_browser.submit(f"{url}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"/rooms/{room.public_id}#notes"
    session.refresh(note)
    assert note.deleted_at is not None
    assert seller_browser.get(url).status_code == 404
    assert seller_browser.submit(f"{url}/delete").status_code == 404
    assert seller_browser.get(f"/rooms/{room.public_id}").context["notes_panel"].cards == []


def test_a_teammate_may_edit_and_another_organisation_may_not(
    seller_browser, session, room, seller, new_browser
):
    note = add(session, room, seller)
    rep = factories.seller(session, org="Northwind", role="rep")
    rival = factories.seller(session, org="Contoso")
    session.flush()
    teammate = new_browser()
    teammate.login(rep.email, factories.PASSWORD)
    outsider = new_browser()
    outsider.login(rival.email, factories.PASSWORD)
    url = f"{base(room)}/{note.public_id}"

    assert teammate.submit(f"{url}/edit", {**NOTE, "title": "By the rep"}).status_code == 303
    assert outsider.get(url).status_code == 404
    assert outsider.submit(f"{url}/edit", {**NOTE, "title": "Hijack"}).status_code == 404
    assert outsider.submit(f"{url}/delete").status_code == 404
    session.refresh(note)
    assert note.title == "By the rep" and note.deleted_at is None


# ---------------------------------------------------------------- buyers


@pytest.fixture
def buyer(session, services, room, seller, new_browser):
    invite = factories.invite(session, services, room, seller)
    session.flush()
    browser = new_browser()
    assert browser.enter(services.links.invite(invite)).status_code == 303
    return browser


def test_buyers_see_shared_notes_only_newest_meeting_first(session, room, seller, buyer):
    add(session, room, seller, title="Pricing floor", body="Internal: floor is 40k")
    older = add(
        session, room, seller, title="Kick-off", meeting_date="2026-01-05", visibility="shared"
    )
    newer = add(session, room, seller, title="Demo", meeting_date="2026-02-05", visibility="shared")

    page = buyer.get(f"/r/{room.public_id}")

    assert page.template.name == "buyer/room.html"
    panel = page.context["notes_panel"]
    assert not panel.can_edit
    assert [c.note.public_id for c in panel.cards] == [newer.public_id, older.public_id]
    assert note_titles(page.text) == ["Demo", "Kick-off"]
    assert "Pricing floor" not in page.text and "floor is 40k" not in page.text
    inside = elements(page.text, "notes")
    assert not [e for e in inside if e.tag in ("form", "details", "textarea")]
    assert all("/edit" not in e.attrs.get("href", "") for e in inside)
    assert "Internal" not in text_of(page.text, "notes")


def test_the_buyer_note_page_serves_shared_notes_only(session, room, seller, buyer):
    internal = add(session, room, seller, title="Pricing floor")
    shared = add(session, room, seller, title="Kick-off", visibility="shared")

    page = buyer.get(f"/r/{room.public_id}/notes/{shared.public_id}")
    assert page.status_code == 200 and page.template.name == "notes/buyer_note.html"
    assert elements(page.text, f"note-{shared.public_id}")

    hidden = buyer.get(f"/r/{room.public_id}/notes/{internal.public_id}")
    assert hidden.status_code == 404 and "Pricing floor" not in hidden.text

    notes.set_visibility(session, note=shared, user=seller, visibility="internal")
    session.flush()
    assert buyer.get(f"/r/{room.public_id}/notes/{shared.public_id}").status_code == 404
    assert buyer.get(f"/r/{room.public_id}").context["notes_panel"].cards == []


def test_a_shared_note_never_shows_its_internal_past(session, room, seller, buyer):
    note = add(session, room, seller, body="Draft: their budget is 40k")
    notes.update_note(session, note=note, user=seller, data={**NOTE, "visibility": "shared"})
    session.flush()

    for path in (f"/r/{room.public_id}", f"/r/{room.public_id}/notes/{note.public_id}"):
        page = buyer.get(path)
        assert page.status_code == 200 and "budget is 40k" not in page.text
    # The history lives on seller pages only.
    history = buyer.get(f"{base(room)}/{note.public_id}", follow_redirects=False)
    assert history.status_code == 303 and history.headers["location"].startswith("/login")


def test_buyers_see_an_empty_state(room, buyer):
    page = buyer.get(f"/r/{room.public_id}")

    assert "No meeting notes shared yet." in text_of(page.text, "notes")


def test_a_seller_previewing_the_buyer_view_sees_what_buyers_see(
    seller_browser, session, room, seller
):
    add(session, room, seller, title="Pricing floor")
    shared = add(session, room, seller, title="Kick-off", visibility="shared")

    page = seller_browser.get(f"/r/{room.public_id}")

    assert page.context["preview"] is True
    assert [c.note.public_id for c in page.context["notes_panel"].cards] == [shared.public_id]
    assert "Pricing floor" not in page.text


# ---------------------------------------------------------------- markdown renders inert

ATTACK = "\n\n".join(
    [
        "Agenda <script>alert('x')</script>",
        '<img src=x onerror="alert(1)">',
        "[click me](javascript:alert(1))",
        "[also](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)" onclick="alert(2)">raw link</a>',
        "[fine](https://example.com/deck)",
    ]
)


def assert_inert(found: list[Element]) -> None:
    for element in found:
        assert element.tag not in ("script", "iframe", "img", "svg", "object", "embed"), element
        for name, value in element.attrs.items():
            assert not name.startswith("on") and name != "style", element
            assert not (value or "").strip().lower().startswith(("javascript:", "data:")), element


def test_script_event_handlers_and_javascript_links_render_inert(
    seller_browser, session, room, seller, buyer
):
    note = add(
        session, room, seller, title="<script>alert(1)</script>", body=ATTACK, visibility="shared"
    )
    pages = [
        seller_browser.get(f"/rooms/{room.public_id}"),
        seller_browser.get(f"{base(room)}/{note.public_id}"),
        buyer.get(f"/r/{room.public_id}"),
        buyer.get(f"/r/{room.public_id}/notes/{note.public_id}"),
    ]

    for page in pages:
        assert page.status_code == 200
        inside = elements(page.text, f"note-{note.public_id}")
        assert inside, page.template.name
        assert_inert(inside)
        links = {e.text: e.attrs.get("href") for e in inside if e.tag == "a"}
        assert links["fine"] == "https://example.com/deck"
        assert links.get("click me") is None and links.get("also") is None
        # The page's own scripts are the only ones, and they come from our static files.
        scripts = [e for e in elements(page.text) if e.tag == "script"]
        assert scripts and all(
            e.attrs["src"].startswith("http://testserver/static/") for e in scripts
        )
        assert all(not e.text.strip() for e in scripts)
    # The history's rendering of old versions is sanitized too.
    assert_inert(elements(pages[1].text, "history"))


# ---------------------------------------------------------------- API


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").json()


@pytest.fixture
def api(session, client, document, seller) -> Api:
    return connect(session, client, document, seller)


def test_api_creates_and_lists_notes(api, room, session, seller):
    path = f"/rooms/{room.public_id}/notes"
    add(session, room, seller, title="Earlier", meeting_date="2026-01-01", visibility="shared")

    created = api.post(
        path,
        json={
            "title": "Demo",
            "meeting_date": "2026-02-01",
            "attendees": ["Kato Ken", "Sato Mei"],
            "body": "Went **well**.",
        },
    )

    assert created.status_code == 201
    note = created.json()
    assert note["id"].startswith("note_") and note["visibility"] == "internal"
    assert note["attendees"] == ["Kato Ken", "Sato Mei"] and note["revision"] == 1
    assert note["body_html"] == "<p>Went <strong>well</strong>.</p>\n"
    assert created.headers["location"] == f"http://testserver/api/v1{path}/{note['id']}"
    assert api.get(f"{path}/{note['id']}").json() == note
    listed = api.get(path).json()["data"]
    assert [n["title"] for n in listed] == ["Demo", "Earlier"]
    assert [n["title"] for n in api.get(path, params={"visibility": "shared"}).json()["data"]] == [
        "Earlier"
    ]
    assert [
        n["title"] for n in api.get(path, params={"visibility": "internal"}).json()["data"]
    ] == ["Demo"]
    assert {"Note", "NoteList"} <= api.checked
    assert_error(api.get(path, params={"visibility": "all"}), 422, "invalid")


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({"title": "", "meeting_date": "2026-02-01", "body": ""}, {"title", "body"}),
        ({"title": "T", "body": "B"}, {"meeting_date"}),
        ({"title": "T", "meeting_date": "1999-01-01", "body": "B"}, {"meeting_date"}),
        ({"title": "T", "meeting_date": "2026-02-01", "body": 5}, {"body"}),
        (
            {"title": "T", "meeting_date": "2026-02-01", "body": "B", "attendees": [1]},
            {"attendees"},
        ),
        ({"title": "T", "meeting_date": "2026-02-01", "body": "B", "colour": "red"}, {"colour"}),
        (
            {"title": "T", "meeting_date": "2026-02-01", "body": "x" * (notes.MAX_BODY + 1)},
            {"body"},
        ),
    ],
    ids=["empty", "no-date", "old-date", "wrong-type", "bad-attendees", "unknown", "too-long"],
)
def test_api_bad_input_is_a_422_naming_the_fields(api, room, session, body, bad):
    response = api.post(f"/rooms/{room.public_id}/notes", json=body)

    assert set(assert_error(response, 422, "invalid")["fields"]) == bad
    assert session.exec(select(Note)).all() == []


def test_api_refuses_a_body_that_is_not_an_object(api, room):
    assert_error(api.post(f"/rooms/{room.public_id}/notes", json=["x"]), 422, "invalid")


def test_api_of_another_organisation_gets_404(api, session, client, document, room, seller):
    note = add(session, room, seller, visibility="shared")
    rival = connect(session, client, document, factories.seller(session, org="Contoso"))
    path = f"/rooms/{room.public_id}/notes"

    assert_error(rival.get(path), 404, "not_found")
    assert_error(rival.get(f"{path}/{note.public_id}"), 404, "not_found")
    assert_error(rival.post(path, json={**NOTE}), 404, "not_found")
    assert_error(api.get(f"{path}/note_nope"), 404, "not_found")
    assert len(api.get(path).json()["data"]) == 1


def test_a_note_created_through_the_api_stays_internal_for_buyers(api, room, buyer):
    api.post(f"/rooms/{room.public_id}/notes", json={**NOTE, "title": "API internal"})

    assert "API internal" not in buyer.get(f"/r/{room.public_id}").text
