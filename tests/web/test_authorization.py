"""The authorization matrix, built from the router itself: a route without a rule fails here.

Every route is requested, with every method it accepts, by people who must not see the target
room's data: an anonymous visitor, a buyer of another room, a revoked buyer of this room, and a
seller of another organisation. None of them may see the room's data or change anything.
"""

from __future__ import annotations

import io
import time

import pytest
from sqlmodel import select
from starlette.routing import Mount, Route

from dealroom import (
    accounts,
    champion,
    chat,
    content,
    exports,
    invites,
    notes,
    notifications,
    roomtemplates,
    scores,
    since,
    suggestions,
    tasks,
    tracking,
)
from dealroom.audit import AuditEvent
from dealroom.content import Upload
from dealroom.pdfgen import simple_pdf
from tests import factories

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
SECRET = "Zephyr-Secret-Deal"

# Who may use each route. "seller": a logged-in seller of the room's organisation; "admin": an
# admin of it; "buyer": an invited buyer of the room (or a seller previewing it); "link": whoever
# holds the signed link in the URL; "public": anyone; "api": a bearer token of the organisation;
# "manager": a manager or admin of it; "operator": the metrics token, or a request from 127.0.0.1.
RULES = {
    "home": "public",
    "healthz": "public",
    "readyz": "public",
    "metrics": "operator",
    "accounts:signup": "public",
    "accounts:login": "public",
    "accounts:logout": "public",
    "accounts:outbox": "seller",
    "accounts:tokens": "seller",
    "accounts:revoke_token": "seller",
    "team:page": "seller",
    "team:invite": "admin",
    "team:role": "admin",
    "team:audit": "admin",
    "team:audit_csv": "admin",
    "team:join": "link",
    "rooms:list": "seller",
    "rooms:new": "seller",
    "rooms:detail": "seller",
    "rooms:edit": "seller",
    "rooms:archive": "seller",
    "rooms:restore": "seller",
    "rooms:logo": "seller",
    "rooms:invite": "seller",
    "rooms:invite_resend": "seller",
    "rooms:invite_revoke": "seller",
    "rooms:request_approve": "seller",
    "rooms:request_deny": "seller",
    "analytics:room": "seller",
    "analytics:events_csv": "seller",
    "analytics:pages_csv": "seller",
    "analytics:daily_csv": "seller",
    "analytics:items_csv": "seller",
    "analytics:viewer_export": "seller",
    "analytics:viewer_erase": "seller",
    "dashboard:mine": "seller",
    "dashboard:feed": "seller",
    "dashboard:room": "seller",
    "dashboard:team": "manager",
    "dashboard:rooms_csv": "manager",
    "dashboard:daily_csv": "manager",
    "dashboard:heatmap_csv": "manager",
    "dashboard:stages_csv": "manager",
    "dashboard:content_csv": "manager",
    "dashboard:settings": "admin",
    "content:upload": "seller",
    "content:add_link": "seller",
    "content:add_from_library": "seller",
    "content:arrange": "seller",
    "content:edit": "seller",
    "content:version": "seller",
    "content:move": "seller",
    "content:remove": "seller",
    "content:toggle_download": "seller",
    "content:seller_file": "seller",
    "content:section_add": "seller",
    "content:section_rename": "seller",
    "content:section_remove": "seller",
    "content:section_move": "seller",
    "content:view": "buyer",
    "content:buyer_file": "buyer",
    "content:open": "buyer",
    "library:list": "seller",
    "library:upload": "seller",
    "library:add_link": "seller",
    "library:document": "seller",
    "library:edit": "seller",
    "library:version": "seller",
    "library:archive": "seller",
    "library:restore": "seller",
    "library:add": "seller",
    "library:file": "seller",
    "buyer:open": "link",
    "buyer:renew": "link",
    "buyer:verify": "link",
    "buyer:code": "link",
    "buyer:room": "buyer",
    "buyer:logo": "buyer",
    "tracking:beacon": "buyer",
    "tracking:mine": "buyer",
    "tracking:set": "buyer",
    "tasks:page": "seller",
    "tasks:add_milestone": "seller",
    "tasks:edit_milestone": "seller",
    "tasks:delete_milestone": "seller",
    "tasks:move_milestone": "seller",
    "tasks:add_task": "seller",
    "tasks:edit_task": "seller",
    "tasks:status": "seller",
    "tasks:delete_task": "seller",
    "tasks:move_task": "seller",
    "tasks:comment": "seller",
    "tasks:buyer_page": "buyer",
    "tasks:buyer_add_task": "buyer",
    "tasks:buyer_edit_task": "buyer",
    "tasks:buyer_status": "buyer",
    "tasks:buyer_delete_task": "buyer",
    "tasks:buyer_comment": "buyer",
    "api:tasks": "api",
    "notes:list": "seller",
    "notes:new": "seller",
    "notes:detail": "seller",
    "notes:edit": "seller",
    "notes:visibility": "seller",
    "notes:delete": "seller",
    "notes:buyer_note": "buyer",
    "api:notes": "api",
    "api:note": "api",
    "chat:seller": "seller",
    "chat:seller_events": "seller",
    "chat:buyer": "buyer",
    "chat:buyer_events": "buyer",
    "api:messages": "api",
    "api:message": "api",
    "preferences:page": "seller",
    "notifications:settings": "seller",
    "preferences:language": "public",
    "api:openapi": "public",
    "api:rooms": "api",
    "api:room": "api",
    "api:invites": "api",
    "api:invite": "api",
    "api:content": "api",
    "api:analytics": "api",
    "api:events_csv": "api",
    "api:analytics_rooms": "api",
    "api:analytics_content": "api",
    "templates:list": "seller",
    "templates:new": "seller",
    "templates:edit": "seller",
    "templates:update": "seller",
    "templates:archive": "seller",
    "templates:restore": "seller",
    "templates:section_add": "seller",
    "templates:section_rename": "seller",
    "templates:section_remove": "seller",
    "templates:section_move": "seller",
    "templates:item_add": "seller",
    "templates:item_remove": "seller",
    "templates:item_move": "seller",
    "templates:task_add": "seller",
    "templates:task_remove": "seller",
    "templates:task_move": "seller",
    "templates:save_room": "seller",
    "api:templates": "api",
    "exports:history": "seller",
    "exports:create": "seller",
    "exports:preview": "seller",
    "exports:detail": "seller",
    "exports:download": "seller",
    "exports:link": "seller",
    "integrations:page": "admin",
    "integrations:policy": "admin",
    "integrations:save": "admin",
    "integrations:test": "admin",
    "integrations:disconnect": "admin",
    "api:exports": "api",
    "api:export": "api",
    "api:export_file": "api",
    "suggestions:panel": "buyer",
    "suggestions:dismiss": "buyer",
    "suggestions:switch": "buyer",
    "suggestions:actions": "seller",
    "suggestions:dismiss_action": "seller",
    "suggestions:pin": "seller",
    "suggestions:unpin": "seller",
    "api:suggestions": "api",
    "api:next_actions": "api",
    "since:dismiss": "buyer",
    "champion:view": "buyer",
    "champion:notice": "buyer",
    "champion:setting": "seller",
    "champion:items": "seller",
    "api:pins": "api",
    "api:pin": "api",
    "api:suggestion_lift": "api",
}


def app_routes(app):
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # static files
        assert isinstance(route, Route), route
        yield route


def test_every_route_has_a_rule(app):
    names = {route.name for route in app_routes(app)}
    missing = sorted(names - set(RULES))
    assert not missing, f"routes without an authorization rule: {missing}"
    assert not sorted(set(RULES) - names), "rules for routes that no longer exist"


@pytest.fixture
def world(session, services):
    """Org A with a room full of data; org B with its own seller, room and buyer."""
    seller_a = factories.seller(session, org="Org A")
    member_a = factories.seller(session, org="Org A", role="rep")
    room = factories.room(session, seller_a, name=SECRET, welcome_message=f"{SECRET} welcome")
    org_a = accounts.get_org(session, seller_a.org_id)
    # The logo carries the secret in its bytes, so serving it to an outsider is caught too.
    logo = PNG + SECRET.encode()
    content.set_logo(
        session,
        storage=services.storage,
        room=room,
        upload=Upload(filename="logo.png", file=io.BytesIO(logo), size=len(logo)),
    )
    pdf = simple_pdf([[SECRET]])
    section = content.add_section(session, room=room, title=SECRET)
    item = content.add_file(
        session,
        storage=services.storage,
        room=room,
        user=seller_a,
        org_public_id=org_a.public_id,
        upload=Upload(filename="secret.pdf", file=io.BytesIO(pdf), size=len(pdf)),
        title=SECRET,
        section=section,
    )
    library_doc = content.create_link_document(
        session, user=seller_a, url=f"https://{SECRET.lower()}.example/", title=SECRET
    )
    content.place(session, room=room, document=library_doc, user=seller_a)
    revoked = factories.invite(
        session, services, room, seller_a, email="gone@acme.example", name=SECRET
    )
    active = factories.invite(
        session, services, room, seller_a, email="kato@acme.example", name=SECRET
    )
    request_row = invites.AccessRequest(
        org_id=room.org_id,
        room_id=room.id,
        email="x@else.example",
        name=SECRET,
        via_invite_id=active.id,
    )
    session.add(request_row)
    token_row, _plain = accounts.create_api_token(session, user=seller_a, name=SECRET)
    notifications.update_preferences(  # a seller's own settings, never another's
        session, user=seller_a, data={"slack_url": f"https://hooks.slack.com/services/{SECRET}"}
    )
    note_fields = {"meeting_date": "2026-03-02", "attendees": SECRET}
    internal_note = notes.create_note(
        session,
        room=room,
        user=seller_a,
        data={**note_fields, "title": f"{SECRET} internal", "body": f"{SECRET} floor price"},
    )
    shared_note = notes.create_note(
        session,
        room=room,
        user=seller_a,
        data={**note_fields, "title": SECRET, "body": f"{SECRET} recap", "visibility": "shared"},
    )
    # The revoked buyer added and owns this task: were revocation ignored, they could change it.
    milestone = tasks.add_milestone(
        session, room=room, actor=tasks.Actor(user=seller_a), data={"title": SECRET}
    )
    # A second milestone and template section, so a refused "move down" would show if it ran.
    later = tasks.add_milestone(
        session, room=room, actor=tasks.Actor(user=seller_a), data={"title": "Later"}
    )
    task = tasks.add_task(
        session,
        room=room,
        actor=tasks.Actor(invite=revoked),
        data={
            "milestone_id": milestone.public_id,
            "title": SECRET,
            "notes": SECRET,
            "owner_id": revoked.public_id,
        },
    )
    tasks.add_comment(session, room=room, actor=tasks.Actor(user=seller_a), task=task, body=SECRET)
    chat.post_message(session, room=room, author=seller_a, body=f"{SECRET} hello")
    chat.post_message(session, room=room, author=active, body=f"{SECRET} question")
    internal_message = chat.post_message(
        session, room=room, author=seller_a, body=f"{SECRET} floor price", internal=True
    )
    template = roomtemplates.create_template(
        session, user=seller_a, data={"name": SECRET, "description": SECRET}
    )
    template_section = roomtemplates.add_section(session, template=template, title=SECRET)
    roomtemplates.add_section(session, template=template, title="Later")
    template_item = roomtemplates.add_item(
        session,
        template=template,
        document_id=library_doc.public_id,
        section_id=template_section.public_id,
    )
    template_task = roomtemplates.add_task(
        session, template=template, data={"milestone": SECRET, "title": SECRET, "due": "+7 days"}
    )

    # Exports: a webhook connection and a CRM record link holding the secret, and a finished
    # file export whose file (the room's summary) holds it too.
    vault = exports.Vault(services.settings.secret_key)
    exports.save_connection(
        session,
        user=seller_a,
        kind="webhook",
        data={"url": f"https://hooks.example/{SECRET}", "secret": "whsec_" + "QUJD" * 8},
        vault=vault,
    )
    exports.set_allow_private_webhooks(session, user=seller_a, allow=True)
    exports.link_record(session, room=room, user=seller_a, kind="hubspot", record_id=SECRET)
    exports.request_export(session, room=room, user=seller_a, kind="csv", intro=SECRET)
    session.flush()
    export_run = exports.run_due(
        services.db, storage=services.storage, links=services.links, vault=vault
    )
    assert export_run is not None and export_run.status == "done"

    # Tracking: the active buyer (named with the secret) read the secret PDF for 20 s.
    tracking.show_notice(active)
    session.flush()
    now = time.time()
    read = tracking.ItemTime(item.public_id, 20, page=1)
    beat = tracking.Beat(now, room.public_id, active.public_id, "authz", now - 30, 1, (read,), 1)
    assert tracking.apply_beats(session, [beat], drops=tracking.DropCounter()) == 1

    # Deal-health thresholds of org A: nobody outside may change them.
    scores.update_health_settings(
        session,
        user=seller_a,
        data={
            "at_risk_score": "61",
            "cold_score": "31",
            "at_risk_silence_days": "6",
            "cold_silence_days": "13",
        },
    )

    # Suggestions: the seller pinned the secret item for the active buyer.
    pin = suggestions.pin(
        session, room=room, user=seller_a, item_id=item.public_id, target=active.public_id
    )
    actions = suggestions.next_actions(session, room=room)
    action_id = actions[0].key if actions else "na_0123456789abcdef"

    # The champion view is on and the active buyer was told; their "since" banner is open.
    champion.set_enabled(session, room=room, user=seller_a, enabled=True)
    champion.set_key_items(session, room=room, user=seller_a, item_ids=[item.public_id])
    champion.notice(session, room=room, invite=active)
    since.open_room(session, room=room, invite=active)

    seller_b = factories.seller(session, org="Org B")
    room_b = factories.room(session, seller_b, name="B deal")
    buyer_b = factories.invite(session, services, room_b, seller_b, email="buyer@b.example")
    _token_b, plain_b = accounts.create_api_token(session, user=seller_b)
    session.flush()
    return {
        "room": room,
        "item": item,
        "section": section,
        "library_doc": library_doc,
        "revoked": revoked,
        "active": active,
        "request": request_row,
        "token_row": token_row,
        "internal_note": internal_note,
        "shared_note": shared_note,
        "milestone": milestone,
        "later": later,
        "task": task,
        "internal_message": internal_message,
        "template": template,
        "template_section": template_section,
        "template_item": template_item,
        "template_task": template_task,
        "member": member_a,
        "seller_a": seller_a,
        "seller_b": seller_b,
        "buyer_b": buyer_b,
        "room_b": room_b,
        "api_b": plain_b,
        "export_run": export_run,
        "pin": pin,
        "action_id": action_id,
    }


def _path(route, world, services):
    params = {
        "room_id": world["room"].public_id,
        "invite_id": world["active"].public_id,
        "item_id": world["item"].public_id,
        "section_id": world["section"].public_id,
        "doc_id": world["library_doc"].public_id,
        "request_id": world["request"].public_id,
        "user_id": world["member"].public_id,
        "token_id": world["token_row"].public_id,
        "milestone_id": world["milestone"].public_id,
        "task_id": world["task"].public_id,
        "message_id": world["internal_message"].public_id,
        "template_id": world["template"].public_id,
        "tsec_id": world["template_section"].public_id,
        "titem_id": world["template_item"].public_id,
        "ttask_id": world["template_task"].public_id,
        # The shared note: even the note a legitimate buyer may read is closed to outsiders.
        "note_id": world["shared_note"].public_id,
        # Link routes get a link to *another* room: holding one link proves nothing about this room.
        "export_id": world["export_run"].public_id,
        "pin_id": world["pin"].public_id,
        "action_id": world["action_id"],
        # An integration kind names no object: those routes act on the caller's organisation.
        "kind": "webhook",
        "token": services.links.invite(world["buyer_b"]).rsplit("/", 1)[-1],
    }
    return route.path_format.format(
        **{k: v for k, v in params.items() if "{" + k + "}" in route.path_format}
    )


def _personas(world, services, new_browser, session):
    anonymous = new_browser()

    other_buyer = new_browser()
    other_buyer.enter(services.links.invite(world["buyer_b"]))

    revoked_buyer = new_browser()
    revoked_buyer.enter(services.links.invite(world["revoked"]))
    invites.revoke_invite(
        session, room=world["room"], seller=world["seller_a"], invite=world["revoked"]
    )
    session.flush()

    other_seller = new_browser()
    other_seller.login(world["seller_b"].email, factories.PASSWORD)
    other_seller.headers["Authorization"] = f"Bearer {world['api_b']}"
    return {
        "anonymous": anonymous,
        "buyer of another room": other_buyer,
        "revoked buyer": revoked_buyer,
        "seller of another org": other_seller,
    }


ALLOWED = {
    # What a person without rights may get back from a route of each rule.
    "seller": {303, 403, 404},  # 303 only to the login page
    "admin": {303, 403, 404},
    "buyer": {403, 404},
    "api": {401, 404},
    "manager": {303, 403, 404},
    "operator": {401, 403},
}


def test_nobody_outside_sees_or_changes_the_room(world, services, new_browser, session, app):
    personas = _personas(world, services, new_browser, session)
    events_before = session.exec(select(tracking.TrackEvent)).all()
    failures = []
    # Log-out last, or it would end the other seller's session halfway through the matrix.
    for route in sorted(app_routes(app), key=lambda r: r.name == "accounts:logout"):
        rule = RULES[route.name]
        path = _path(route, world, services)
        # Collections (/rooms, /api/v1/rooms) serve a seller's *own* organisation: only the
        # data check applies to them; routes naming a target object must refuse outright.
        targets_room_a = "{" in route.path_format.replace("{kind}", "")
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD":
                continue
            for who, browser in personas.items():
                if method == "GET":
                    response = browser.get(path, follow_redirects=False)
                elif route.name.startswith("api:"):
                    response = browser.request(
                        method,
                        path,
                        json={"name": "hijack", "email": "h@x.example"},
                        headers={"X-CSRF-Token": browser.csrf},
                    )
                else:
                    response = browser.request(
                        method,
                        path,
                        data={
                            "csrf_token": browser.csrf,
                            "name": "hijack",
                            "stage": "closed-lost",
                            "role": "admin",
                            "approve": "1",
                            "title": "hijack",
                            "section_title": "hijack",
                            "direction": "down",
                            "position": "1",
                        },
                        follow_redirects=False,
                    )
                if SECRET in response.text:
                    failures.append(
                        f"{who} saw the room's data at {method} {path} ({response.status_code})"
                    )
                own_collection = who == "seller of another org" and not targets_room_a
                # The beacon cannot look up a revocation without the database (it never touches
                # it): a revoked buyer's beat is refused when the batch is written; checked below.
                late_refusal = (
                    route.name == "tracking:beacon"
                    and who == "revoked buyer"
                    and response.status_code in (204, 400)
                )
                if (
                    rule in ALLOWED
                    and not own_collection
                    and not late_refusal
                    and response.status_code not in ALLOWED[rule]
                ):
                    failures.append(
                        f"{who} got {response.status_code} at {method} {path} (rule {rule})"
                    )
                # Only a seller's own collection (e.g. creating in their own org) may redirect
                # elsewhere than to the login page.
                if (
                    response.status_code == 303
                    and rule in ("seller", "admin")
                    and not own_collection
                ):
                    if not response.headers["location"].startswith("/login"):
                        failures.append(
                            f"{who} was redirected to {response.headers['location']} at {method} {path}"
                        )
    assert not failures, "\n".join(failures)

    # And nothing changed.
    services.ingest.flush()
    assert session.exec(select(tracking.TrackEvent)).all() == events_before
    session.expire_all()
    room = world["room"]
    session.refresh(room)
    assert room.name == SECRET and room.stage == "discovery" and room.archived_at is None
    item = session.get(content.RoomItem, world["item"].id)
    assert item is not None and item.allow_download and item.section_id == world["section"].id
    assert session.get(content.Section, world["section"].id).title == SECRET
    library_doc = session.get(content.Document, world["library_doc"].id)
    assert library_doc.archived_at is None and library_doc.title == SECRET
    assert [v.title for v in content.room_content(session, room=room).items] == [SECRET, SECRET]
    active = session.exec(
        select(invites.Invite).where(invites.Invite.id == world["active"].id)
    ).one()
    assert active.revoked_at is None
    assert session.get(invites.AccessRequest, world["request"].id).status == "pending"
    member = session.get(accounts.User, world["member"].id)
    assert member.role == "rep"
    assert session.get(accounts.ApiToken, world["token_row"].id).revoked_at is None
    assert [(m.title, m.public_id) for m in tasks.list_milestones(session, room=room)] == [
        (SECRET, world["milestone"].public_id),
        ("Later", world["later"].public_id),
    ]
    [task] = tasks.list_tasks(session, room=room)
    assert (task.public_id, task.title, task.status) == (world["task"].public_id, SECRET, "todo")
    assert [c.body for c in session.exec(select(tasks.TaskComment))] == [SECRET]
    for key, visibility in (("internal_note", "internal"), ("shared_note", "shared")):
        note = session.get(notes.Note, world[key].id)
        assert (note.visibility, note.revision, note.deleted_at) == (visibility, 1, None)
    assert len(session.exec(select(notes.NoteRevision)).all()) == 2
    assert sorted(m.body for m in session.exec(select(chat.Message))) == [
        f"{SECRET} floor price",
        f"{SECRET} hello",
        f"{SECRET} question",
    ]
    template = session.get(roomtemplates.RoomTemplate, world["template"].id)
    assert (template.name, template.stage, template.archived_at) == (SECRET, "discovery", None)
    view = roomtemplates.load_template(session, template=template)
    assert [s.title for s in view.sections] == [SECRET, "Later"]
    assert [e.item.id for e in view.items] == [world["template_item"].id]
    assert [(t.title, t.due) for t in view.tasks] == [(SECRET, "+7 days")]
    org_a_templates = select(roomtemplates.RoomTemplate).where(
        roomtemplates.RoomTemplate.org_id == room.org_id
    )
    assert len(session.exec(org_a_templates).all()) == 1
    vault = exports.Vault(services.settings.secret_key)
    assert exports.target_config(session, org_id=room.org_id, kind="webhook", vault=vault) == {
        "url": f"https://hooks.example/{SECRET}",
        "secret": "whsec_" + "QUJD" * 8,
        "allow_private": "1",
    }
    assert exports.room_links(session, room=room) == {"hubspot": SECRET}
    runs = exports.room_history(session, room=room)
    assert [(r.public_id, r.status) for r in runs] == [(world["export_run"].public_id, "done")]
    # Nobody erased the buyer's tracking data.
    stat = select(tracking.ViewerStat.active_seconds).where(
        tracking.ViewerStat.invite_id == world["active"].id
    )
    assert session.exec(stat).one() == 20
    thresholds = scores.health_settings(session, org_id=room.org_id)
    assert (thresholds.at_risk_score, thresholds.cold_silence_days) == (61, 13)
    # Nobody removed the seller's pin, dismissed or switched off the buyer's suggestions.
    assert [p.public_id for p in suggestions.list_pins(session, room=room)] == [
        world["pin"].public_id
    ]
    states = session.exec(select(suggestions.SuggestionItem)).all()
    assert not [s for s in states if s.dismissed_at is not None]
    assert not session.exec(select(suggestions.NextActionDismissal)).all()
    assert not [v for v in session.exec(select(suggestions.SuggestionViewer)) if v.off]
    # Nobody switched the champion view, changed its key items, answered its notice or closed
    # a buyer's banner.
    assert champion.enabled_at(session, room=room) is not None
    assert champion.key_items(session, room=room) == {world["item"].id}
    assert not [n for n in session.exec(select(champion.ChampionNotice)) if n.answered_at]
    assert not [m for m in session.exec(select(since.RoomMark)) if m.dismissed_at]


# Inside the organisation: who is refused each role-restricted rule.
REFUSED_ROLES = {"admin": ("rep", "manager"), "manager": ("rep",)}


def test_roles_inside_the_organisation(world, services, new_browser, session, app):
    """Every route whose rule names a role, from the router: lower roles get 403 for every
    method, and change nothing; the role itself may open it."""
    manager = factories.seller(session, org="Org A", role="manager")
    session.flush()
    browsers = {}
    for who, user in (("rep", world["member"]), ("manager", manager), ("admin", world["seller_a"])):
        browsers[who] = new_browser()
        browsers[who].login(user.email, factories.PASSWORD)
    audit_before = len(
        session.exec(
            select(AuditEvent).where(AuditEvent.actor != world["seller_a"].public_id)
        ).all()
    )
    failures = []
    checked = set()
    for route in app_routes(app):
        rule = RULES[route.name]
        if rule not in REFUSED_ROLES:
            continue
        checked.add(rule)
        path = _path(route, world, services)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            for who in REFUSED_ROLES[rule]:
                response = browsers[who].request(
                    method,
                    path,
                    data={
                        "csrf_token": browsers[who].csrf,
                        "email": "new@northwind.example",
                        "role": "admin",
                        "name": "hijack",
                    }
                    if method != "GET"
                    else None,
                    follow_redirects=False,
                )
                if response.status_code != 403:
                    failures.append(f"{who} got {response.status_code} at {method} {path}")
            if method == "GET":
                allowed = [w for w in ("rep", "manager", "admin") if w not in REFUSED_ROLES[rule]]
                for who in allowed:
                    status = browsers[who].get(path, follow_redirects=False).status_code
                    if status >= 400:
                        failures.append(f"{who} ({rule} rule) got {status} at GET {path}")
    assert "admin" in checked
    assert not failures, "\n".join(failures)
    session.expire_all()
    assert session.get(accounts.User, world["member"].id).role == "rep"
    assert accounts.pending_team_invites(session, org_id=world["seller_a"].org_id) == []
    # Refused attempts record nothing (only the admin's own allowed reads, e.g. an export).
    others = select(AuditEvent).where(AuditEvent.actor != world["seller_a"].public_id)
    assert len(session.exec(others).all()) == audit_before


def test_a_rep_cannot_use_admin_routes(world, new_browser, session):
    rep = new_browser()
    rep.login(world["member"].email, factories.PASSWORD)
    assert (
        rep.submit("/team/invite", {"email": "new@northwind.example", "role": "admin"}).status_code
        == 403
    )
    assert (
        rep.submit(f"/team/{world['seller_a'].public_id}/role", {"role": "rep"}).status_code == 403
    )
    assert rep.get("/team/audit").status_code == 403
    assert rep.get("/integrations").status_code == 403
    assert rep.submit("/integrations/webhook", {"url": "https://x.example/"}).status_code == 403
    assert rep.submit("/integrations/settings", {"allow_private_webhooks": "1"}).status_code == 403
    # ... but may work on the organisation's rooms.
    assert rep.get(f"/rooms/{world['room'].public_id}").status_code == 200


def test_a_buyer_of_the_room_reads_shared_notes_but_never_internal_ones(
    world, services, new_browser
):
    buyer = new_browser()
    assert buyer.enter(services.links.invite(world["active"])).status_code == 303
    room_id = world["room"].public_id
    internal = world["internal_note"].public_id
    shared = world["shared_note"].public_id

    page = buyer.get(f"/r/{room_id}")
    assert page.status_code == 200
    assert [c.note.public_id for c in page.context["notes_panel"].cards] == [shared]
    assert f"{SECRET} recap" in page.text
    assert shared_page_ok(buyer.get(f"/r/{room_id}/notes/{shared}"))

    # Every other way in to the internal note: the buyer page, the seller pages and actions, the
    # API (no cookie works there), with and without htmx.
    attempts = [
        buyer.get(f"/r/{room_id}/notes/{internal}"),
        buyer.get(f"/r/{room_id}/notes/{internal}", headers={"HX-Request": "true"}),
        buyer.get(f"/rooms/{room_id}/notes", follow_redirects=False),
        buyer.get(f"/rooms/{room_id}/notes/{internal}", follow_redirects=False),
        buyer.get(f"/rooms/{room_id}/notes/{internal}/edit", follow_redirects=False),
        buyer.submit(f"/rooms/{room_id}/notes/{internal}/visibility", {"visibility": "shared"}),
        buyer.get(f"/api/v1/rooms/{room_id}/notes"),
        buyer.get(f"/api/v1/rooms/{room_id}/notes/{internal}"),
    ]
    for response in attempts:
        assert response.status_code in (303, 401, 404), response.request.url
        assert "floor price" not in response.text and f"{SECRET} internal" not in response.text
    assert "floor price" not in page.text and f"{SECRET} internal" not in page.text
    assert world["internal_note"].visibility == "internal"


def shared_page_ok(response) -> bool:
    return (
        response.status_code == 200
        and f"{SECRET} recap" in response.text
        and "floor price" not in response.text
    )


def test_dashboards_and_analytics_api_rep_versus_manager(world, session, new_browser):
    """A rep's token and dashboard cover the rep's own rooms; a manager's, every room of the
    organisation; another organisation's, none of them."""
    rep = world["member"]
    own = factories.room(session, rep, name="Rep's own deal")
    manager = factories.seller(session, org="Org A", role="manager")
    _t, rep_token = accounts.create_api_token(session, user=rep)
    _t, manager_token = accounts.create_api_token(session, user=manager)
    session.flush()
    browser = new_browser()

    def names(token, path="/api/v1/analytics/rooms"):
        response = browser.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return sorted(row.get("name", row.get("title")) for row in response.json())

    assert names(rep_token) == ["Rep's own deal"]
    # A rep asking for someone else's rooms still gets only their own.
    assert names(rep_token + "", f"/api/v1/analytics/rooms?rep={world['seller_a'].public_id}") == [
        "Rep's own deal"
    ]
    assert names(manager_token) == sorted([SECRET, "Rep's own deal"])
    assert names(world["api_b"]) == ["B deal"]
    assert names(manager_token, "/api/v1/analytics/content") == [SECRET]
    assert names(rep_token, "/api/v1/analytics/content") == []
    assert names(world["api_b"], "/api/v1/analytics/content") == []

    rep_browser = new_browser()
    rep_browser.login(rep.email, factories.PASSWORD)
    mine = rep_browser.get("/dashboard")
    assert mine.status_code == 200
    assert [s.room for s in mine.context["scored"]] == [own]
    assert SECRET not in mine.text
    assert rep_browser.get("/dashboard/team").status_code == 403
    assert rep_browser.get("/dashboard/team/rooms.csv").status_code == 403
    manager_browser = new_browser()
    manager_browser.login(manager.email, factories.PASSWORD)
    team = manager_browser.get("/dashboard/team")
    assert team.status_code == 200 and SECRET in team.text
    assert manager_browser.get("/dashboard/settings").status_code == 403
