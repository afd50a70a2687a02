"""The mutual action plan on the web: seller and buyer flows (plain forms and htmx), what each side
may change, accessible markup without inline styles, and the tasks API checked against its
OpenAPI document."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlmodel import select

from dealroom import tasks
from dealroom.invites import revoke_invite
from dealroom.tasks import Actor, Task, TaskComment
from tests import factories
from tests.web.test_api import Api, assert_error, connect

HTMX = {"HX-Request": "true"}


# ---------------------------------------------------------------- helpers


class Page(HTMLParser):
    """Labels (by their `for`), element ids and inline styles of an HTML document or fragment."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.labels: dict[str, str] = {}  # label text -> the id it points at
        self.styles: list[str] = []
        self.forms: list[dict[str, str | None]] = []
        self._label: str | None = None
        self._text = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "style" in values:
            self.styles.append(tag)
        if values.get("id"):
            self.ids[str(values["id"])] = {"tag": tag, **values}
        if tag == "form":
            self.forms.append(values)
        if tag == "label":
            self._label, self._text = values.get("for"), ""

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label is not None:
            self.labels[" ".join(self._text.split())] = self._label
            self._label = None

    def field(self, label: str) -> dict[str, str | None]:
        """The control a label names (tests find fields as people do: by their label)."""
        return self.ids[self.labels[label]]


@pytest.fixture
def deal(session, services):
    seller = factories.seller(session, org="Northwind")
    room = factories.room(session, seller)
    kato = factories.invite(session, services, room, seller, email="kato@acme.example", name="Kato")
    mei = factories.invite(session, services, room, seller, email="mei@acme.example", name="Mei")
    session.flush()
    milestone = tasks.add_milestone(
        session, room=room, actor=Actor(user=seller), data={"title": "Technical validation"}
    )
    session.flush()
    return {"seller": seller, "room": room, "kato": kato, "mei": mei, "milestone": milestone}


def add_task(session, deal, actor=None, **data) -> Task:
    values = {"milestone_id": deal["milestone"].public_id, "title": "Security review", **data}
    task = tasks.add_task(
        session, room=deal["room"], actor=actor or Actor(user=deal["seller"]), data=values
    )
    session.flush()
    return task


def as_seller(client, deal):
    client.login(deal["seller"].email, factories.PASSWORD)
    return client


def as_buyer(new_browser, services, invite):
    browser = new_browser()
    assert browser.enter(services.links.invite(invite)).status_code == 303
    return browser


def seller_url(deal, tail=""):
    return f"/rooms/{deal['room'].public_id}/plan{tail}"


def buyer_url(deal, tail=""):
    return f"/r/{deal['room'].public_id}/plan{tail}"


def reload(session, task: Task) -> Task | None:
    """The task as the database has it now (None once deleted)."""
    task_id = task.id
    session.expire_all()
    return session.exec(select(Task).where(Task.id == task_id)).first()


# ---------------------------------------------------------------- the panel on the room pages


def test_an_empty_room_shows_the_empty_state_and_the_milestone_form(client, session):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    session.flush()
    client.login(seller.email, factories.PASSWORD)

    response = client.get(f"/rooms/{room.public_id}")

    assert response.template.name == "rooms/detail.html"
    panel = response.context["plan_panel"]
    assert panel.view.empty and panel.can_manage and not panel.can_add
    assert "No plan yet" in response.text
    page = Page(response.text)
    assert page.field("Milestone")["id"] == "new-ms-title"
    assert page.field("Target date (optional)")["type"] == "date"


def test_the_buyer_sees_an_empty_state_too(session, services, new_browser):
    seller = factories.seller(session)
    room = factories.room(session, seller)
    invite = factories.invite(session, services, room, seller)
    session.flush()
    buyer = as_buyer(new_browser, services, invite)

    response = buyer.get(f"/r/{room.public_id}")

    assert response.template.name == "buyer/room.html"
    assert response.context["plan_panel"].view.empty
    assert "No plan yet" in response.text
    assert "Add a milestone" not in response.text


def test_seller_builds_a_plan_with_plain_forms(client, session, deal):
    as_seller(client, deal)
    room = deal["room"]

    added = client.submit(seller_url(deal, "/milestones"), {"title": "Signature", "due_date": ""})
    assert added.status_code == 303
    assert added.headers["location"] == f"/rooms/{room.public_id}#plan"
    signature = tasks.list_milestones(session, room=room)[-1]
    response = client.submit(
        seller_url(deal, "/tasks"),
        {
            "milestone_id": signature.public_id,
            "title": "Countersign the order form",
            "owner_id": deal["kato"].public_id,
            "due_date": "2026-04-30",
            "notes": "Legal has the draft.",
        },
    )

    assert response.status_code == 303
    [task] = tasks.list_tasks(session, room=room)
    assert (task.title, task.owner_invite_id, task.due_date.isoformat(), task.notes) == (
        "Countersign the order form",
        deal["kato"].id,
        "2026-04-30",
        "Legal has the draft.",
    )
    page = client.get(f"/rooms/{room.public_id}")
    assert "Countersign the order form" in page.text
    assert "Owner: Kato (buyer)" in page.text


def test_adding_with_htmx_answers_the_refreshed_panel(client, session, deal):
    as_seller(client, deal)

    response = client.submit(
        seller_url(deal, "/tasks"),
        {"milestone_id": deal["milestone"].public_id, "title": "Pen test report"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert response.template.name == "tasks/_plan.html"
    assert response.text.lstrip().startswith('<section id="plan"')
    assert "Pen test report" in response.text
    assert response.context["plan"].view.progress.total == 1


def test_a_bad_task_is_a_422_with_every_error_and_nothing_saved(client, session, deal):
    as_seller(client, deal)
    rival = factories.seller(session, org="Contoso")
    session.flush()

    response = client.submit(
        seller_url(deal, "/tasks"),
        {
            "milestone_id": deal["milestone"].public_id,
            "title": "",
            "owner_id": rival.public_id,
            "due_date": "2026-02-30",
        },
        headers=HTMX,
    )

    assert response.status_code == 422
    assert response.template.name == "tasks/_plan.html"
    panel = response.context["plan"]
    assert set(panel.errors) == {"title", "owner_id", "due_date"}
    assert "member of this room" in response.text
    page = Page(response.text)
    assert page.field("Task")["aria-invalid"] == "true"
    assert page.field("Due date (optional)")["value"] == "2026-02-30"  # kept for correcting
    assert tasks.list_tasks(session, room=deal["room"]) == []


def test_a_bad_task_without_javascript_shows_the_plan_page(client, session, deal):
    as_seller(client, deal)

    response = client.submit(seller_url(deal, "/tasks"), {"milestone_id": "ms_x", "title": "x"})

    assert response.status_code == 422
    assert response.template.name == "tasks/page.html"
    assert "No such milestone in this room." in response.text


def test_seller_changes_status_and_the_roll_ups_follow(client, session, deal):
    task = add_task(session, deal)
    add_task(session, deal, title="Second")
    as_seller(client, deal)

    response = client.submit(
        seller_url(deal, f"/tasks/{task.public_id}/status"), {"status": "done"}, headers=HTMX
    )

    assert response.status_code == 200
    view = response.context["plan"].view
    assert (view.progress.done, view.progress.total, view.progress.percent) == (1, 2, 50)
    assert reload(session, task).completed_at is not None
    assert "1 of 2 tasks done (50%)" in response.text


def test_an_unknown_status_is_a_422(client, session, deal):
    task = add_task(session, deal)
    as_seller(client, deal)

    response = client.submit(
        seller_url(deal, f"/tasks/{task.public_id}/status"), {"status": "won"}, headers=HTMX
    )

    assert response.status_code == 422
    assert "Status must be one of" in response.text
    assert reload(session, task).status == "todo"


def test_seller_edits_a_task_on_its_page(client, session, deal):
    task = add_task(session, deal, owner_id=deal["kato"].public_id, due_date="2026-05-01")
    as_seller(client, deal)

    form = client.get(seller_url(deal, f"/tasks/{task.public_id}"))
    assert form.template.name == "tasks/edit.html"
    page = Page(form.text)
    assert page.field("Task")["value"] == "Security review"
    assert page.field("Due date (optional)")["value"] == "2026-05-01"
    assert form.context["values"]["owner_id"] == deal["kato"].public_id

    saved = client.submit(
        seller_url(deal, f"/tasks/{task.public_id}"),
        {**form.context["values"], "title": "Security review (v2)", "owner_id": ""},
    )

    assert saved.status_code == 303
    assert saved.headers["location"] == f"/rooms/{deal['room'].public_id}#task-{task.public_id}"
    task = reload(session, task)
    assert (task.title, task.owner_invite_id) == ("Security review (v2)", None)


def test_a_bad_edit_is_a_422_on_the_edit_page(client, session, deal):
    task = add_task(session, deal)
    as_seller(client, deal)

    response = client.submit(
        seller_url(deal, f"/tasks/{task.public_id}"),
        {"milestone_id": deal["milestone"].public_id, "title": "", "owner_id": "inv_nobody"},
    )

    assert response.status_code == 422
    assert response.template.name == "tasks/edit.html"
    assert set(response.context["errors"]) == {"title", "owner_id"}
    assert reload(session, task).title == "Security review"


def test_seller_renames_and_deletes_a_milestone(client, session, deal):
    add_task(session, deal)
    as_seller(client, deal)
    milestone = deal["milestone"].public_id

    renamed = client.submit(
        seller_url(deal, f"/milestones/{milestone}"),
        {"title": "Security", "due_date": "2026-06-01"},
        headers=HTMX,
    )
    assert renamed.status_code == 200 and "Security" in renamed.text

    deleted = client.submit(seller_url(deal, f"/milestones/{milestone}/delete"), headers=HTMX)

    assert deleted.status_code == 200
    assert deleted.context["plan"].view.empty
    assert session.exec(select(Task)).all() == []


def test_overdue_tasks_are_flagged_and_the_plan_is_overdue(client, session, deal):
    yesterday = tasks.today() - timedelta(days=1)
    add_task(session, deal, title="Late one", due_date=yesterday.isoformat())
    as_seller(client, deal)

    response = client.get(f"/rooms/{deal['room'].public_id}")

    view = response.context["plan_panel"].view
    assert view.health == "overdue" and view.overdue == 1
    assert re.search(r'class="badge danger">Overdue<', response.text)
    assert 'class="badge health-overdue">Overdue<' in response.text
    assert "1 task overdue" in response.text


def test_a_blocked_task_puts_the_plan_at_risk(client, session, deal):
    add_task(session, deal, status="blocked")
    as_seller(client, deal)

    response = client.get(f"/rooms/{deal['room'].public_id}")

    assert 'class="badge health-at_risk">At risk<' in response.text


def test_progress_bars_are_labelled_progress_elements_without_inline_styles(client, session, deal):
    add_task(session, deal, status="done")
    add_task(session, deal, title="Open")
    as_seller(client, deal)

    response = client.get(seller_url(deal), headers=HTMX)

    page = Page(response.text)
    overall = page.field("Overall progress")
    assert (overall["tag"], overall["max"], overall["value"]) == ("progress", "2", "1")
    milestone = page.field("Progress of Technical validation")
    assert milestone["tag"] == "progress"
    assert page.styles == []
    assert all(form.get("method") == "post" and form.get("action") for form in page.forms)
    assert all(form.get("hx-post") == form.get("action") for form in page.forms)


def test_the_plan_page_works_on_its_own(client, session, deal):
    add_task(session, deal)
    as_seller(client, deal)

    response = client.get(seller_url(deal))

    assert response.template.name == "tasks/page.html"
    assert "Security review" in response.text


# ---------------------------------------------------------------- buyers


def test_buyer_adds_ticks_and_comments(session, services, new_browser, deal):
    buyer = as_buyer(new_browser, services, deal["kato"])
    room = deal["room"]

    page = buyer.get(f"/r/{room.public_id}")
    assert page.context["plan_panel"].side == "buyer"
    fields = Page(page.text)
    owner = fields.field("Owner")
    assert owner["tag"] == "select"
    assert "Add a milestone" not in page.text
    added = buyer.submit(
        buyer_url(deal, "/tasks"),
        {
            "milestone_id": deal["milestone"].public_id,
            "title": "Share the SSO metadata",
            "owner_id": deal["kato"].public_id,
        },
    )
    assert added.status_code == 303
    assert added.headers["location"] == f"/r/{room.public_id}#plan"
    [task] = tasks.list_tasks(session, room=room)
    assert task.created_by_invite_id == deal["kato"].id

    ticked = buyer.submit(
        buyer_url(deal, f"/tasks/{task.public_id}/status"), {"status": "done"}, headers=HTMX
    )
    assert ticked.status_code == 200
    assert reload(session, task).status == "done"

    commented = buyer.submit(
        buyer_url(deal, f"/tasks/{task.public_id}/comments"),
        {"body": "Sent to **IT** <script>alert(1)</script>"},
        headers=HTMX,
    )
    assert commented.status_code == 200
    assert commented.context["plan"].open_task == task.public_id
    assert "<strong>IT</strong>" in commented.text and "<script>alert" not in commented.text
    assert '<details class="task-comments" open>' in commented.text
    [comment] = session.exec(select(TaskComment)).all()
    assert comment.author_invite_id == deal["kato"].id


def test_buyer_cannot_change_a_sellers_task(session, services, new_browser, deal):
    task = add_task(session, deal, owner_id=deal["seller"].public_id)
    buyer = as_buyer(new_browser, services, deal["kato"])

    page = buyer.get(f"/r/{deal['room'].public_id}")
    [item] = page.context["plan_panel"].view.milestones[0].tasks
    assert not item.can_set_status and not item.can_edit
    assert f'id="status-{task.public_id}"' not in page.text

    status = buyer.submit(buyer_url(deal, f"/tasks/{task.public_id}/status"), {"status": "done"})
    edit_form = buyer.get(buyer_url(deal, f"/tasks/{task.public_id}"))
    edit = buyer.submit(buyer_url(deal, f"/tasks/{task.public_id}"), {"title": "Hijacked"})
    delete = buyer.submit(buyer_url(deal, f"/tasks/{task.public_id}/delete"))

    assert [status.status_code, edit_form.status_code, edit.status_code, delete.status_code] == [
        403,
        403,
        403,
        403,
    ]
    task = reload(session, task)
    assert (task.status, task.title) == ("todo", "Security review")


def test_buyer_cannot_use_the_sellers_routes(session, services, new_browser, deal):
    buyer = as_buyer(new_browser, services, deal["kato"])

    response = buyer.submit(seller_url(deal, "/milestones"), {"title": "Buyer milestone"})

    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert len(tasks.list_milestones(session, room=deal["room"])) == 1


def test_buyer_edits_a_task_they_added(session, services, new_browser, deal):
    task = add_task(session, deal, Actor(invite=deal["kato"]))
    buyer = as_buyer(new_browser, services, deal["kato"])

    form = buyer.get(buyer_url(deal, f"/tasks/{task.public_id}"))
    assert form.template.name == "tasks/edit.html"
    saved = buyer.submit(
        buyer_url(deal, f"/tasks/{task.public_id}"),
        {**form.context["values"], "title": "Security review by Acme IT"},
    )

    assert saved.status_code == 303
    assert saved.headers["location"].startswith(f"/r/{deal['room'].public_id}#task-")
    assert reload(session, task).title == "Security review by Acme IT"
    deleted = buyer.submit(buyer_url(deal, f"/tasks/{task.public_id}/delete"))
    assert deleted.status_code == 303 and reload(session, task) is None


def test_another_buyer_cannot_tick_someone_elses_task(session, services, new_browser, deal):
    task = add_task(session, deal, owner_id=deal["kato"].public_id)
    mei = as_buyer(new_browser, services, deal["mei"])

    response = mei.submit(buyer_url(deal, f"/tasks/{task.public_id}/status"), {"status": "done"})

    assert response.status_code == 403
    assert reload(session, task).status == "todo"
    # ... but may comment on it.
    commented = mei.submit(buyer_url(deal, f"/tasks/{task.public_id}/comments"), {"body": "+1"})
    assert commented.status_code == 303


def test_a_revoked_buyer_can_do_nothing(session, services, new_browser, deal):
    task = add_task(session, deal, owner_id=deal["kato"].public_id)
    buyer = as_buyer(new_browser, services, deal["kato"])
    revoke_invite(session, room=deal["room"], seller=deal["seller"], invite=deal["kato"])
    session.flush()

    answers = [
        buyer.get(buyer_url(deal)).status_code,
        buyer.get(buyer_url(deal, f"/tasks/{task.public_id}")).status_code,
        buyer.submit(
            buyer_url(deal, "/tasks"),
            {"milestone_id": deal["milestone"].public_id, "title": "Sneaky"},
        ).status_code,
        buyer.submit(
            buyer_url(deal, f"/tasks/{task.public_id}/status"), {"status": "done"}
        ).status_code,
        buyer.submit(
            buyer_url(deal, f"/tasks/{task.public_id}/comments"), {"body": "hi"}
        ).status_code,
        buyer.submit(buyer_url(deal, f"/tasks/{task.public_id}/delete")).status_code,
    ]

    assert answers == [403] * 6
    assert [t.title for t in tasks.list_tasks(session, room=deal["room"])] == ["Security review"]
    assert reload(session, task).status == "todo"
    assert session.exec(select(TaskComment)).all() == []


def test_a_buyer_cannot_name_a_revoked_buyer_as_owner(session, services, new_browser, deal):
    revoke_invite(session, room=deal["room"], seller=deal["seller"], invite=deal["mei"])
    session.flush()
    buyer = as_buyer(new_browser, services, deal["kato"])

    response = buyer.submit(
        buyer_url(deal, "/tasks"),
        {
            "milestone_id": deal["milestone"].public_id,
            "title": "For Mei",
            "owner_id": deal["mei"].public_id,
        },
        headers=HTMX,
    )

    assert response.status_code == 422
    assert "owner_id" in response.context["plan"].errors
    assert deal["mei"].public_id not in [m.id for m in response.context["plan"].view.members]


def test_the_sellers_preview_of_the_buyer_view_is_read_only(client, session, deal):
    task = add_task(session, deal)
    as_seller(client, deal)

    page = client.get(f"/r/{deal['room'].public_id}")

    panel = page.context["plan_panel"]
    assert page.template.name == "buyer/room.html"
    assert panel.actor is None and not panel.can_add and not panel.can_comment
    assert "Security review" in page.text
    assert 'id="new-task-title"' not in page.text
    refused = client.submit(buyer_url(deal, f"/tasks/{task.public_id}/status"), {"status": "done"})
    assert refused.status_code == 403
    assert reload(session, task).status == "todo"


def test_a_seller_of_another_org_gets_404(client, session, deal):
    task = add_task(session, deal)
    rival = factories.seller(session, org="Contoso")
    session.flush()
    client.login(rival.email, factories.PASSWORD)

    assert client.get(seller_url(deal)).status_code == 404
    assert (
        client.submit(seller_url(deal, f"/tasks/{task.public_id}/status"), {"status": "done"})
    ).status_code == 404
    assert client.get(buyer_url(deal)).status_code == 404


def test_a_task_id_of_another_room_is_a_404(client, session, deal):
    other = factories.room(session, deal["seller"], name="Other")
    session.flush()
    milestone = tasks.add_milestone(
        session, room=other, actor=Actor(user=deal["seller"]), data={"title": "Other plan"}
    )
    theirs = tasks.add_task(
        session,
        room=other,
        actor=Actor(user=deal["seller"]),
        data={"milestone_id": milestone.public_id, "title": "Elsewhere"},
    )
    session.flush()
    as_seller(client, deal)

    response = client.submit(
        seller_url(deal, f"/tasks/{theirs.public_id}/status"), {"status": "done"}
    )

    assert response.status_code == 404
    assert client.get(seller_url(deal, "/tasks/42")).status_code == 404


# ---------------------------------------------------------------- API


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").json()


@pytest.fixture
def api(session, client, document, deal) -> Api:
    return connect(session, client, document, deal["seller"])


def test_api_lists_the_plan(api, session, deal):
    add_task(session, deal, owner_id=deal["kato"].public_id, due_date="2026-04-01")
    add_task(session, deal, title="Done one", status="done")

    response = api.get(f"/rooms/{deal['room'].public_id}/tasks")

    assert response.status_code == 200
    body = response.json()
    assert [t["title"] for t in body["data"]] == ["Security review", "Done one"]
    first = body["data"][0]
    assert first["owner"] == {"id": deal["kato"].public_id, "name": "Kato", "side": "buyer"}
    assert first["milestone"] == {
        "id": deal["milestone"].public_id,
        "title": "Technical validation",
    }
    assert (first["due_date"], first["status"]) == ("2026-04-01", "todo")
    assert body["plan"]["done"] == 1 and body["plan"]["total"] == 2
    assert "TaskList" in api.checked


def test_api_creates_a_task(api, session, deal):
    response = api.post(
        f"/rooms/{deal['room'].public_id}/tasks",
        json={
            "milestone_id": deal["milestone"].public_id,
            "title": "Security review",
            "owner_id": deal["seller"].public_id,
            "due_date": "2026-04-01",
            "notes": "Questionnaire v3",
        },
    )

    assert response.status_code == 201
    created = response.json()
    assert created["id"].startswith("task_")
    assert created["owner"]["side"] == "seller"
    assert "Task" in api.checked
    assert [t.public_id for t in tasks.list_tasks(session, room=deal["room"])] == [created["id"]]


def test_api_creates_the_milestone_it_names(api, session, deal):
    response = api.post(
        f"/rooms/{deal['room'].public_id}/tasks",
        json={"milestone": "Signature", "title": "Sign", "owner_id": None, "due_date": None},
    )

    assert response.status_code == 201
    assert response.json()["milestone"]["title"] == "Signature"
    again = api.post(
        f"/rooms/{deal['room'].public_id}/tasks",
        json={"milestone": "signature", "title": "Countersign"},
    )
    assert again.json()["milestone"]["id"] == response.json()["milestone"]["id"]


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"title": "No milestone"}, "milestone_id"),
        ({"milestone": "M", "title": ""}, "title"),
        ({"milestone": "M", "title": "T", "owner_id": "usr_notamember"}, "owner_id"),
        ({"milestone": "M", "title": "T", "due_date": "next week"}, "due_date"),
        ({"milestone": "M", "title": "T", "status": "won"}, "status"),
        ({"milestone": "M", "title": 42}, "title"),
        ({"milestone": "M", "title": "T", "colour": "red"}, "colour"),
        ({"milestone": "M", "milestone_id": "ms_x", "title": "T"}, "milestone"),
        ({"milestone": "", "title": "T"}, "milestone"),
    ],
)
def test_api_refuses_bad_tasks_and_saves_nothing(api, session, deal, body, field_name):
    response = api.post(f"/rooms/{deal['room'].public_id}/tasks", json=body)

    assert field_name in assert_error(response, 422, "invalid")["fields"]
    assert tasks.list_tasks(session, room=deal["room"]) == []
    assert len(tasks.list_milestones(session, room=deal["room"])) == 1


def test_api_owner_from_another_org_is_refused(api, session, deal):
    rival = factories.seller(session, org="Contoso")
    session.flush()

    response = api.post(
        f"/rooms/{deal['room'].public_id}/tasks",
        json={"milestone": "M", "title": "T", "owner_id": rival.public_id},
    )

    assert "owner_id" in assert_error(response, 422, "invalid")["fields"]


def test_api_tasks_of_another_org_are_a_404(session, client, document, deal):
    add_task(session, deal)
    rival = connect(session, client, document, factories.seller(session, org="Contoso"))

    assert_error(rival.get(f"/rooms/{deal['room'].public_id}/tasks"), 404, "not_found")
    assert_error(
        rival.post(f"/rooms/{deal['room'].public_id}/tasks", json={"milestone": "M", "title": "T"}),
        404,
        "not_found",
    )
    assert len(tasks.list_tasks(session, room=deal["room"])) == 1


# ---------------------------------------------------------------- reordering


@pytest.fixture
def three(session, deal):
    """Tasks A, B, C in "Technical validation", and an empty "Commercials" milestone."""
    made = {t: add_task(session, deal, title=t) for t in "ABC"}
    made["commercials"] = tasks.add_milestone(
        session, room=deal["room"], actor=Actor(user=deal["seller"]), data={"title": "Commercials"}
    )
    session.flush()
    return made


def order(session, deal) -> dict[str, list[str]]:
    session.expire_all()
    plan = tasks.load_plan(session, room=deal["room"], actor=None)
    return {m.milestone.title: [i.task.title for i in m.tasks] for m in plan.milestones}


def move_url(deal, task) -> str:
    return seller_url(deal, f"/tasks/{task.public_id}/move")


def test_the_seller_panel_has_move_buttons_in_real_forms(client, session, deal, three):
    as_seller(client, deal)

    response = client.get(f"/rooms/{deal['room'].public_id}")

    assert response.template.name == "rooms/detail.html"
    panel = response.context["plan_panel"]
    assert panel.can_reorder
    page = Page(response.text)
    first, last = three["A"].public_id, three["C"].public_id
    assert "disabled" in page.ids[f"task-{first}-up"]  # nothing above the first
    assert "disabled" not in page.ids[f"task-{first}-down"]
    assert "disabled" in page.ids[f"task-{last}-down"]
    assert page.ids[f"task-{first}-up"]["aria-label"] == "Move A up"
    moves = [f for f in page.forms if f.get("action", "").endswith(f"/tasks/{first}/move")]
    assert len(moves) == 3 and all(f["method"] == "post" and f["hx-post"] for f in moves)
    target = page.field("Move “A” to milestone")
    assert target["tag"] == "select" and target["name"] == "milestone_id"
    milestone = three["commercials"].public_id
    assert "disabled" in page.ids[f"ms-{milestone}-down"]
    assert page.ids[f"ms-{milestone}-up"]["aria-label"] == "Move milestone Commercials up"
    assert page.styles == []
    assert '<script src="http://testserver/static/plan.js" defer></script>' in response.text


def test_a_plain_form_moves_a_task_and_redirects_to_it(client, session, deal, three):
    as_seller(client, deal)

    response = client.submit(move_url(deal, three["C"]), {"direction": "up"})

    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/rooms/{deal['room'].public_id}#task-{three['C'].public_id}"
    )
    assert order(session, deal)["Technical validation"] == ["A", "C", "B"]


def test_htmx_moves_answer_the_refreshed_plan(client, session, deal, three):
    as_seller(client, deal)

    down = client.submit(move_url(deal, three["A"]), {"direction": "down"}, headers=HTMX)
    across = client.submit(
        move_url(deal, three["B"]),
        {"milestone_id": three["commercials"].public_id},
        headers=HTMX,
    )

    for response in (down, across):
        assert response.status_code == 200
        assert response.template.name == "tasks/_plan.html"
        assert response.text.lstrip().startswith('<section id="plan"')
    assert order(session, deal) == {"Technical validation": ["A", "C"], "Commercials": ["B"]}
    html = across.text
    assert html.index(">A<") < html.index(">C<") < html.index(">B<")


def test_a_dragged_task_lands_at_its_place(client, session, deal, three):
    """What static/plan.js posts after a drop."""
    as_seller(client, deal)
    into = {"milestone_id": deal["milestone"].public_id, "position": "1"}

    response = client.submit(move_url(deal, three["C"]), into, headers=HTMX)

    assert response.status_code == 200
    assert order(session, deal)["Technical validation"] == ["C", "A", "B"]


def test_milestones_move_with_buttons(client, session, deal, three):
    as_seller(client, deal)
    url = seller_url(deal, f"/milestones/{three['commercials'].public_id}/move")

    plain = client.submit(url, {"direction": "up"})
    assert plain.status_code == 303
    assert plain.headers["location"].endswith(f"#ms-{three['commercials'].public_id}")
    assert list(order(session, deal)) == ["Commercials", "Technical validation"]

    htmx = client.submit(url, {"direction": "down"}, headers=HTMX)
    assert htmx.status_code == 200 and htmx.template.name == "tasks/_plan.html"
    assert list(order(session, deal)) == ["Technical validation", "Commercials"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"direction": "sideways"}, "Direction must be one of: up, down."),
        ({}, "Choose where to move the task."),
        ({"milestone_id": "ms_gone"}, "No such milestone in this room."),
        ({"milestone_id": "MILESTONE", "position": "first"}, "Position must be a whole number."),
    ],
)
def test_a_bad_move_is_a_422_that_says_why(client, session, deal, three, data, message):
    as_seller(client, deal)
    data = {k: deal["milestone"].public_id if v == "MILESTONE" else v for k, v in data.items()}

    response = client.submit(move_url(deal, three["B"]), data, headers=HTMX)
    plain = client.submit(move_url(deal, three["B"]), data)

    assert response.status_code == plain.status_code == 422
    assert response.template.name == "tasks/_plan.html"
    assert plain.template.name == "tasks/page.html"
    assert message in response.text and message in plain.text
    assert order(session, deal)["Technical validation"] == ["A", "B", "C"]


def test_buyers_see_the_order_but_get_no_move_controls(session, services, new_browser, deal, three):
    buyer = as_buyer(new_browser, services, deal["kato"])
    theirs = add_task(session, deal, actor=Actor(invite=deal["kato"]), title="D")

    page = buyer.get(f"/r/{deal['room'].public_id}")
    refused = buyer.submit(move_url(deal, theirs), {"direction": "up"})

    assert page.template.name == "buyer/room.html"
    assert not page.context["plan_panel"].can_reorder
    assert "Move up" not in page.text and "data-move-url" not in page.text
    assert "plan.js" not in page.text
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    assert order(session, deal)["Technical validation"] == ["A", "B", "C", "D"]


def test_an_archived_room_has_no_move_controls_and_refuses_moves(client, session, deal, three):
    from dealroom.rooms import archive_room

    archive_room(session, room=deal["room"])
    session.flush()
    as_seller(client, deal)

    page = client.get(seller_url(deal))
    refused = client.submit(move_url(deal, three["C"]), {"direction": "up"})

    assert not page.context["plan"].can_reorder and "Move up" not in page.text
    assert refused.status_code == 409
    assert order(session, deal)["Technical validation"] == ["A", "B", "C"]
