"""Exports on the web: the room page's panel, preview and edit, the status fragment that polls
itself until the run ends, history, download, CRM record links, the admins' Integrations page,
and the JSON API (answers checked against the OpenAPI document)."""

from __future__ import annotations

import base64

import pytest
from markupsafe import escape
from sqlmodel import select

from dealroom import audit, exports
from dealroom.audit import AuditEvent
from tests import factories
from tests.conftest import TEST_SECRET
from tests.crm.receiver import Receiver
from tests.fakes.server import serving
from tests.web.test_api import API, Api, assert_error, connect

WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def admin(session):
    user = factories.seller(session, org="Northwind")
    session.flush()
    return user


@pytest.fixture
def room(session, admin):
    return factories.room(session, admin, name="Acme rollout")


@pytest.fixture
def seller(client, admin):
    client.login(admin.email, factories.PASSWORD)
    return client


@pytest.fixture
def vault():
    return exports.Vault(TEST_SECRET)


def work(services, vault):
    return exports.run_due(services.db, storage=services.storage, links=services.links, vault=vault)


def actions(session, org_id):
    return [e.action for e in audit.recent(session, org_id=org_id)]


# ---------------------------------------------------------------- room page, preview, status


def test_room_page_has_an_export_panel(seller, room):
    page = seller.get(f"/rooms/{room.public_id}")
    assert page.status_code == 200
    panel = page.context["export_panel"]
    assert panel.targets == ["csv", "json", "markdown"]
    assert panel.history == [] and panel.linkable == []
    assert "Export to CSV" in page.text and "Export to Markdown" in page.text
    assert "No exports yet." in page.text


def test_export_then_watch_the_status_until_done(seller, session, services, room, vault):
    queued = seller.submit(f"/rooms/{room.public_id}/exports/new", {"target": "csv"})
    assert queued.status_code == 303
    detail_url = queued.headers["location"]
    run_id = detail_url.rsplit("/", 1)[-1]
    assert run_id.startswith("exp_")

    page = seller.get(detail_url)
    assert page.template.name == "exports/detail.html"
    assert page.context["run"].status == "queued"
    fragment = seller.get(detail_url, headers={"HX-Request": "true"})
    assert fragment.template.name == "exports/_status.html"
    # Still queued: the fragment asks htmx to fetch it again in a second.
    assert 'hx-trigger="load delay:1s"' in fragment.text
    assert f'hx-get="http://testserver/rooms/{room.public_id}/exports/{run_id}"' in fragment.text

    assert work(services, vault).status == "done"

    fragment = seller.get(detail_url, headers={"HX-Request": "true"})
    assert fragment.context["run"].status == "done"
    assert "hx-trigger" not in fragment.text and "hx-get" not in fragment.text  # polling stops
    assert "Download the file" in fragment.text
    download = seller.get(f"{detail_url}/download")
    assert download.status_code == 200
    assert download.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in download.headers["content-disposition"]
    assert ".csv" in download.headers["content-disposition"]

    history = seller.get(f"/rooms/{room.public_id}/exports")
    assert [r.public_id for r in history.context["runs"]] == [run_id]
    assert "export.requested" in actions(session, room.org_id)


def test_a_failed_run_shows_the_error_and_the_fix(seller, session, services, admin, room, vault):
    exports.save_connection(
        session,
        user=admin,
        kind="webhook",
        data={"url": "http://10.0.0.1/h", "secret": WHSEC},
        vault=vault,
    )
    run = exports.request_export(session, room=room, user=admin, kind="webhook")
    session.flush()
    assert work(services, vault).status == "failed"
    fragment = seller.get(
        f"/rooms/{room.public_id}/exports/{run.public_id}", headers={"HX-Request": "true"}
    )
    assert "Refused to send the webhook to 10.0.0.1" in fragment.text
    assert "How to fix it:" in fragment.text and "hx-trigger" not in fragment.text
    assert "Stopped after 1 attempt." in fragment.text


def test_a_retrying_run_shows_attempts_and_next_try(seller, session, services, admin, room, vault):
    receiver = Receiver()
    receiver.script(["503"])
    with serving(receiver.app) as base:
        exports.save_connection(
            session,
            user=admin,
            kind="webhook",
            data={"url": base + "/hook", "secret": WHSEC},
            vault=vault,
        )
        exports.set_allow_private_webhooks(session, user=admin, allow=True)
        run = exports.request_export(session, room=room, user=admin, kind="webhook")
        session.flush()
        assert work(services, vault).status == "queued"
    fragment = seller.get(
        f"/rooms/{room.public_id}/exports/{run.public_id}", headers={"HX-Request": "true"}
    )
    assert "Attempt 1 of 6 did not go through: The webhook answered HTTP 503." in fragment.text
    assert "Next try" in fragment.text and 'hx-trigger="load delay:1s"' in fragment.text


def test_preview_shows_the_summary_and_keeps_the_edits(seller, room):
    page = seller.get(f"/rooms/{room.public_id}/exports/preview?target=markdown")
    assert page.template.name == "exports/preview.html"
    assert page.context["summary"].room_name == "Acme rollout"
    assert "Copy Markdown" in page.text and "exports.js" in page.text
    assert str(escape(page.context["summary"].markdown)) in page.text  # the textarea to copy

    again = seller.submit(
        f"/rooms/{room.public_id}/exports/preview",
        {"target": "markdown", "intro": "Thanks <b>all</b>", "next_steps": "Sign the **MSA**"},
    )
    assert again.status_code == 200
    assert again.context["values"]["intro"] == "Thanks <b>all</b>"
    assert "<strong>MSA</strong>" in again.text and "<b>all</b>" not in again.text


def test_preview_and_export_refuse_bad_input(seller, session, room):
    assert seller.get(f"/rooms/{room.public_id}/exports/preview?target=hubspot").status_code == 422
    refused = seller.submit(
        f"/rooms/{room.public_id}/exports/new", {"target": "json", "intro": "x" * 5001}
    )
    assert refused.status_code == 422
    assert refused.template.name == "exports/preview.html"
    assert "intro" in refused.context["errors"]
    assert exports.room_history(session, room=room) == []
    unknown = seller.submit(f"/rooms/{room.public_id}/exports/new", {"target": "nosuch"})
    assert unknown.status_code == 422
    assert exports.room_history(session, room=room) == []


def test_the_same_export_is_not_queued_twice(seller, session, room):
    first = seller.submit(f"/rooms/{room.public_id}/exports/new", {"target": "json"})
    second = seller.submit(f"/rooms/{room.public_id}/exports/new", {"target": "json"})
    assert first.headers["location"] == second.headers["location"]
    assert len(exports.room_history(session, room=room)) == 1


def test_link_the_room_to_a_crm_record(seller, session, room):
    done = seller.submit(
        f"/rooms/{room.public_id}/crm-link", {"kind": "hubspot", "record_id": "8123"}
    )
    assert done.status_code == 303
    assert exports.room_links(session, room=room) == {"hubspot": "8123"}
    bad = seller.submit(
        f"/rooms/{room.public_id}/crm-link",
        {"kind": "hubspot", "record_id": "x" * 201},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422 and bad.template.name == "exports/_panel.html"
    assert "record_id" in bad.context["export_panel"].errors
    assert exports.room_links(session, room=room) == {"hubspot": "8123"}
    assert "room.crm_linked" in actions(session, room.org_id)


# ---------------------------------------------------------------- integrations (admins)


def test_admin_connects_a_webhook_and_the_secret_is_never_shown(seller, session, admin):
    page = seller.get("/integrations")
    assert page.status_code == 200 and page.template.name == "exports/integrations.html"
    assert "webhook" in [c.kind for c in page.context["connections"]]

    saved = seller.submit(
        "/integrations/webhook", {"url": "https://hooks.example/in", "secret": WHSEC}
    )
    assert saved.status_code == 303
    page = seller.get("/integrations")
    assert WHSEC not in page.text and WHSEC[6:] not in page.text
    assert "•••• set" in page.text and "https://hooks.example/in" in page.text
    raw = exports.get_connection(session, org_id=admin.org_id, kind="webhook")
    assert WHSEC not in raw.secrets and WHSEC not in raw.settings

    # Saving again with the secret left empty keeps it.
    seller.submit("/integrations/webhook", {"url": "https://hooks.example/v2", "secret": ""})
    session.expire_all()
    config = exports.target_config(
        session, org_id=admin.org_id, kind="webhook", vault=exports.Vault(TEST_SECRET)
    )
    assert config["secret"] == WHSEC and config["url"] == "https://hooks.example/v2"

    # The room page now offers the webhook.
    room = factories.room(session, admin)
    assert "webhook" in seller.get(f"/rooms/{room.public_id}").context["export_panel"].targets
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "integration.saved")).all()
    assert len(events) == 2 and all(WHSEC not in e.detail for e in events)


def test_bad_settings_are_refused_without_echoing_secrets(seller, session, admin):
    refused = seller.submit("/integrations/webhook", {"url": "nope", "secret": "hunter2-secret"})
    assert refused.status_code == 422
    assert set(refused.context["errors"]["webhook"]) == {"url", "secret"}
    assert "hunter2-secret" not in refused.text
    assert exports.get_connection(session, org_id=admin.org_id, kind="webhook") is None


def test_test_connection_and_disconnect(seller, session, admin):
    receiver = Receiver()
    with serving(receiver.app) as base:
        seller.submit("/integrations/webhook", {"url": base + "/hook", "secret": WHSEC})
        refused = seller.submit("/integrations/webhook/test")
        assert refused.status_code == 200
        assert not refused.context["tested"]["result"].ok
        assert "Connection failed:" in refused.text and "loopback" in refused.text

        seller.submit("/integrations/settings", {"allow_private_webhooks": "1"})
        session.expire_all()
        assert exports.integration_settings(session, org_id=admin.org_id).allow_private_webhooks
        works = seller.submit("/integrations/webhook/test")
        assert works.context["tested"]["result"].ok
        assert "Connection works:" in works.text
    assert receiver.deliveries[-1].headers["webhook-id"].startswith("msg_")

    seller.submit("/integrations/webhook/disconnect")
    session.expire_all()
    assert exports.get_connection(session, org_id=admin.org_id, kind="webhook") is None
    seller.submit("/integrations/settings", {})
    session.expire_all()
    assert not exports.integration_settings(session, org_id=admin.org_id).allow_private_webhooks
    assert {
        "integration.tested",
        "integration.disconnected",
        "integration.private_webhooks",
    } <= set(actions(session, admin.org_id))
    assert seller.submit("/integrations/csv").status_code == 404


# ---------------------------------------------------------------- API


@pytest.fixture
def document(client):
    return client.get(f"{API}/openapi.json").json()


@pytest.fixture
def api(session, client, document, admin) -> Api:
    return connect(session, client, document, admin)


def test_api_queues_an_export_and_reports_it(api, session, services, room, vault, client):
    created = api.post(f"/rooms/{room.public_id}/exports", json={"target": "csv", "intro": "Hi"})
    assert created.status_code == 202
    body = created.json()
    assert body["status"] == "queued" and body["id"].startswith("exp_")
    assert created.headers["location"] == f"http://testserver{API}/exports/{body['id']}"
    assert "error" not in body and "download_url" not in body

    work(services, vault)
    done = api.get(f"/exports/{body['id']}").json()
    assert done["status"] == "done" and done["target"] == "csv"
    assert done["download_url"] == f"http://testserver{API}/exports/{body['id']}/file"
    file = client.get(done["download_url"], headers={"Authorization": f"Bearer {api.token}"})
    assert file.status_code == 200 and file.content.startswith(b"\xef\xbb\xbf")
    assert client.get(done["download_url"]).status_code == 401
    assert "Export" in api.checked


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "hubspot"}, "target"),  # not connected
        ({"target": "webhook"}, "target"),
        ({"target": "nosuch"}, "target"),
        ({}, "target"),
        ({"target": 5}, "target"),
        ({"target": "csv", "extra": 1}, "extra"),
        ({"target": "csv", "intro": "x" * 5001}, "intro"),
    ],
)
def test_api_refuses_bad_targets(api, session, room, body, field):
    response = api.post(f"/rooms/{room.public_id}/exports", json=body)
    assert field in assert_error(response, 422, "invalid")["fields"]
    assert exports.room_history(session, room=room) == []


def test_api_is_scoped_to_the_organisation(api, session, client, document, room):
    run = api.post(f"/rooms/{room.public_id}/exports", json={"target": "json"}).json()
    outsider = connect(session, client, document, factories.seller(session))
    assert_error(outsider.get(f"/exports/{run['id']}"), 404, "not_found")
    assert_error(
        outsider.post(f"/rooms/{room.public_id}/exports", json={"target": "json"}), 404, "not_found"
    )
    assert_error(api.get("/exports/exp_nosuch"), 404, "not_found")
    assert_error(api.get("/exports/room_x"), 404, "not_found")
