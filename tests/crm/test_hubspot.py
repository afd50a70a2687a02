"""The HubSpot adapter against the HubSpot fake over HTTP: what HubSpot holds in the end."""

from __future__ import annotations

import time

import httpx
import pytest

from dealroom.crm.base import PermanentError, RetryableError
from dealroom.crm.hubspot import HubSpot
from tests.crm import drive
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.server import serve_app

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


@pytest.fixture
def http():
    with httpx.Client(timeout=0.5) as client:  # the fakes' "timeout" fault answers after 2 s
        yield client


@pytest.fixture
def hubspot():
    fake = HubSpotFake()
    base_url, stop = serve_app(fake.app)
    yield fake, base_url
    stop()


@pytest.fixture
def world(hubspot):
    fake, base_url = hubspot
    deal = fake.add_deal()
    contacts = {
        "hana@acme.example": fake.add_contact("hana@acme.example", "Hana", "Sato"),
        "ken@acme.example": fake.add_contact("Ken@Acme.example", "Ken", "Ito"),
    }
    fake.add_contact("someone@else.example")
    return fake, base_url, deal, contacts


def target(base_url, http, **config):
    saved: list[dict[str, str]] = []
    adapter = HubSpot(
        config={"api_base": base_url, "access_token": TOKEN, "portal_id": "4242"} | config,
        client=http,
        save_config=saved.append,
    )
    waits: list[float] = []
    adapter.sleep = waits.append
    return adapter, saved, waits


def assert_exported(fake: HubSpotFake, deal: str, contacts: dict[str, str], summary) -> None:
    """Exactly one note and one task per open item, associated as they should be."""
    notes = fake.live("notes")
    assert len(notes) == 1
    (note_id, note) = next(iter(notes.items()))
    assert summary.marker in note["properties"]["hs_note_body"]
    assert fake.associated("notes", note_id, "deals") == {deal}
    assert fake.associated("notes", note_id, "contacts") == set(contacts.values())
    tasks = fake.live("tasks")
    bodies = {t["properties"]["hs_task_body"]: t for t in tasks.values()}
    for item in summary.tasks:
        matching = [b for b in bodies if f"[dealroom:{item.id}]" in b]
        if item.status == "done" and not matching:
            continue
        assert len(matching) == 1, item.id
        remote = bodies[matching[0]]
        expected = "COMPLETED" if item.status == "done" else "NOT_STARTED"
        assert remote["properties"]["hs_task_status"] == expected
        assert fake.associated("tasks", remote["id"], "deals") == {deal}
    assert fake.objects["deals"][deal]["properties"]["hs_next_step"] == summary.next_steps


def test_first_export_writes_one_note_one_task_per_open_item_and_the_next_step(world, http):
    fake, base_url, deal, contacts = world
    adapter, _, _ = target(base_url, http)
    summary = drive.summary(crm_record_id=deal)
    checkpoints: list[dict[str, str]] = []

    result = adapter.export(summary, previous={}, checkpoint=checkpoints.append)

    assert_exported(fake, deal, contacts, summary)
    assert len(fake.live("tasks")) == 2  # the done item gets no task
    assert set(result.remote_ids) == {"note", "task:task_sec1", "task:task_leg2"}
    assert checkpoints[-1] == result.remote_ids  # saved as each object was created
    assert [len(c) for c in checkpoints] == [1, 2, 3]
    assert result.url == f"https://app.hubspot.com/contacts/4242/record/0-3/{deal}"
    security = fake.objects["tasks"][result.remote_ids["task:task_sec1"]]
    assert security["properties"]["hs_task_subject"] == "Send the security questionnaire"
    assert security["properties"]["hs_timestamp"] == "2026-12-01T12:00:00.000Z"
    # The buyer who owns the item is on the task too; the overdue one is flagged.
    assert fake.associated("tasks", security["id"], "contacts") == {contacts["hana@acme.example"]}
    legal = fake.objects["tasks"][result.remote_ids["task:task_leg2"]]
    assert legal["properties"]["hs_task_priority"] == "HIGH"


def test_re_export_updates_in_place_and_completes_done_tasks(world, http):
    fake, base_url, deal, contacts = world
    adapter, _, _ = target(base_url, http)
    saved: dict[str, str] = {}
    drive.run(adapter, drive.summary(crm_record_id=deal), saved)
    first = dict(saved)

    newcomer = fake.add_contact("mei@acme.example")
    later = drive.summary(
        crm_record_id=deal,
        html="<p>Week two</p><p>[dealroom:room_acme42]</p>",
        next_steps="Sign the order form",
        committee=[*drive.summary().committee, drive.person("Mei", "mei@acme.example")],
        tasks=[
            drive.task("task_sec1", "Send the security questionnaire", status="done"),
            drive.task("task_leg2", "Legal review of the MSA"),
            drive.task("task_new4", "Pilot sign-off"),
        ],
    )
    result, errors = drive.run(adapter, later, saved)

    assert not errors
    assert result.remote_ids["note"] == first["note"]
    assert result.remote_ids["task:task_sec1"] == first["task:task_sec1"]
    assert_exported(fake, deal, contacts | {"mei@acme.example": newcomer}, later)
    assert len(fake.live("notes")) == 1 and len(fake.live("tasks")) == 3
    assert "Week two" in fake.objects["notes"][first["note"]]["properties"]["hs_note_body"]
    assert (
        fake.objects["tasks"][first["task:task_sec1"]]["properties"]["hs_task_status"]
        == "COMPLETED"
    )


def test_a_task_done_after_a_crash_is_found_by_its_marker_and_completed(world, http):
    fake, base_url, deal, contacts = world
    adapter, _, _ = target(base_url, http)
    drive.run(adapter, drive.summary(crm_record_id=deal), {})  # its ids were never saved
    done = drive.summary(
        crm_record_id=deal,
        tasks=[drive.task("task_sec1", "Send the security questionnaire", status="done")],
    )

    result, _ = drive.run(adapter, done, {})

    assert len(fake.live("notes")) == 1 and len(fake.live("tasks")) == 2
    assert (
        fake.objects["tasks"][result.remote_ids["task:task_sec1"]]["properties"]["hs_task_status"]
        == "COMPLETED"
    )


@pytest.mark.parametrize("fault", ["lost_response", "commit_then_502"])
@pytest.mark.parametrize("route", ["POST /crm/v3/objects/notes", "POST /crm/v3/objects/tasks"])
def test_a_create_whose_answer_is_lost_is_not_repeated(world, http, fault, route):
    fake, base_url, deal, contacts = world
    adapter, _, _ = target(base_url, http)
    summary = drive.summary(crm_record_id=deal)
    fake.script([fault], on=route)
    saved: dict[str, str] = {}

    result, errors = drive.run(adapter, summary, saved)

    assert len(errors) == 1 and "retried" in errors[0].message
    assert_exported(fake, deal, contacts, summary)
    assert len(fake.live("tasks")) == 2
    assert saved == result.remote_ids
    creates = [e for e in fake.log if e.method == "POST" and e.path == route.split(" ")[1]]
    assert len(creates) == (1 if route.endswith("notes") else 2)  # each object created once


def test_rate_limit_bursts_go_back_to_the_worker_with_a_wait(world, http):
    fake, base_url, deal, contacts = world
    adapter, _, _ = target(base_url, http)
    summary = drive.summary(crm_record_id=deal)
    fake.script(["ok", "ok", "ok", "ok", "ok", "429", "429", "ok", "ok", "ok", "429"])

    result, errors = drive.run(adapter, summary, {})

    assert len(errors) == 3
    assert all(10 <= e.retry_after <= 11 for e in errors)  # HubSpot's clients wait 10 s
    assert_exported(fake, deal, contacts, summary)


def test_the_ten_second_limit_of_the_fake_really_applies(world, http):
    fake, base_url, deal, _ = world
    adapter, _, _ = target(base_url, http)
    fake.per_ten_seconds = 3

    with pytest.raises(RetryableError) as caught:
        adapter.export(drive.summary(crm_record_id=deal), previous={}, checkpoint=lambda ids: None)

    assert 10 <= caught.value.retry_after <= 11
    counted = [e.status for e in fake.log if "search" not in e.path]
    assert counted == [200, 200, 200, 429]
    assert not fake.writes() or all(e.status == 429 for e in fake.writes())


def test_retry_after_is_honoured_when_sent(world, http):
    fake, base_url, deal, _ = world
    adapter, _, _ = target(base_url, http)
    fake.retry_after = "7"
    fake.script(["429"])

    with pytest.raises(RetryableError) as caught:
        adapter.export(drive.summary(crm_record_id=deal), previous={}, checkpoint=lambda ids: None)

    assert caught.value.retry_after == 7


def test_the_daily_limit_defers_the_export_for_an_hour(world, http):
    fake, base_url, deal, _ = world
    adapter, _, _ = target(base_url, http)
    fake.script(["429_daily"])

    with pytest.raises(RetryableError) as caught:
        adapter.export(drive.summary(crm_record_id=deal), previous={}, checkpoint=lambda ids: None)

    assert caught.value.retry_after == 3600
    assert "daily" in caught.value.message


def test_the_search_limit_is_waited_out_inside_the_export(world, http):
    fake, base_url, deal, contacts = world
    adapter, _, waits = target(base_url, http)
    summary = drive.summary(crm_record_id=deal)
    fake.script(["429_secondly", "429_secondly"], on="POST /crm/v3/objects/contacts/search")

    result, errors = drive.run(adapter, summary, {})

    assert not errors
    assert waits == [1.0, 2.0]  # 1 s × attempt, as HubSpot's own clients do
    assert_exported(fake, deal, contacts, summary)


def test_server_errors_and_timeouts_on_reads_are_retried_inside_the_export(world, http):
    fake, base_url, deal, contacts = world
    adapter, _, waits = target(base_url, http)
    summary = drive.summary(crm_record_id=deal)
    fake.script(["500", "503"], on="GET /crm/v3/objects/deals/*")
    fake.script(["timeout"], on="PATCH /crm/v3/objects/deals/*")

    result, errors = drive.run(adapter, summary, {})

    assert not errors
    assert waits == pytest.approx([0.2, 0.4])
    assert_exported(fake, deal, contacts, summary)


@pytest.mark.parametrize("fault", ["500", "502", "timeout"])
def test_server_errors_and_timeouts_on_creates_go_back_to_the_worker(world, http, fault):
    fake, base_url, deal, contacts = world
    adapter, _, _ = target(base_url, http)
    summary = drive.summary(crm_record_id=deal)
    fake.script([fault], on="POST /crm/v3/objects/tasks")
    saved: dict[str, str] = {}

    with pytest.raises(RetryableError):
        adapter.export(summary, previous={}, checkpoint=saved.update)
    assert set(saved) == {"note"}  # what exists is remembered before the failure

    drive.run(adapter, summary, saved)
    assert_exported(fake, deal, contacts, summary)
    assert len(fake.live("tasks")) == 2


def test_an_expired_oauth_token_is_renewed_once_and_saved(world, http):
    fake, base_url, deal, contacts = world
    access = fake.issue_oauth()
    fake.rotate_refresh_tokens = True
    adapter, saved_config, _ = target(
        base_url,
        http,
        access_token=access,
        client_id="client-id-1",
        client_secret="client-secret-1",
        refresh_token="refresh-token-1",
        token_expires_at=str(int(time.time()) + 1800),
    )
    summary = drive.summary(crm_record_id=deal)
    fake.script(["ok", "ok", "expire_token"])  # expires mid-run

    result, errors = drive.run(adapter, summary, {})

    assert not errors
    assert fake.renewals == 1
    assert len(saved_config) == 1
    changes = saved_config[0]
    assert changes["access_token"] != access and changes["access_token"] in fake.access_tokens
    assert changes["refresh_token"] in fake.refresh_tokens  # rotated and kept
    assert int(changes["token_expires_at"]) > time.time() + 1000
    assert [e.status for e in fake.log].count(401) == 1
    assert_exported(fake, deal, contacts, summary)


def test_an_oauth_token_about_to_expire_is_renewed_before_use(world, http):
    fake, base_url, deal, _ = world
    adapter, saved_config, _ = target(
        base_url,
        http,
        access_token=fake.issue_oauth(expires_in=30),
        client_id="client-id-1",
        client_secret="client-secret-1",
        refresh_token="refresh-token-1",
        token_expires_at=str(int(time.time()) + 30),
    )

    adapter.export(drive.summary(crm_record_id=deal), previous={}, checkpoint=lambda ids: None)

    assert fake.renewals == 1 and len(saved_config) == 1
    assert fake.log[0].path == "/oauth/v1/token"
    assert 401 not in [e.status for e in fake.log]


def test_a_revoked_refresh_token_asks_to_reconnect(world, http):
    fake, base_url, deal, _ = world
    fake.refresh_tokens.clear()
    adapter, saved_config, _ = target(
        base_url,
        http,
        access_token="oauth-expired",
        client_id="client-id-1",
        client_secret="client-secret-1",
        refresh_token="refresh-token-1",
    )

    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(crm_record_id=deal), previous={}, checkpoint=lambda ids: None)

    assert "Reconnect HubSpot" in caught.value.fix
    assert not saved_config
    assert [e.path for e in fake.log] == [
        f"/crm/v3/objects/deals/{deal}",
        "/oauth/v1/token",
    ]  # no loop


def test_a_bad_private_app_token_stops_with_a_fix(world, http):
    fake, base_url, deal, _ = world
    adapter, _, _ = target(base_url, http, access_token="pat-na1-revoked")

    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(crm_record_id=deal), previous={}, checkpoint=lambda ids: None)

    assert caught.value.message == "HubSpot did not accept the access token."
    assert "Private apps" in caught.value.fix
    assert len(fake.log) == 1


def test_a_deleted_deal_stops_before_anything_is_written(world, http):
    fake, base_url, deal, _ = world
    fake.delete_deal(deal)
    adapter, _, _ = target(base_url, http)

    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(crm_record_id=deal), previous={}, checkpoint=lambda ids: None)

    assert "no longer exists" in caught.value.message
    assert caught.value.fix == "Link the room to an existing deal"
    assert not fake.writes()


def test_a_deal_deleted_mid_run_is_reported_as_deleted(world, http):
    fake, base_url, deal, _ = world
    adapter, _, _ = target(base_url, http)
    fake.script(["delete_deal"], on="POST /crm/v3/objects/notes")

    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(crm_record_id=deal), previous={}, checkpoint=lambda ids: None)

    assert "no longer exists" in caught.value.message
    assert not fake.live("notes")


def test_messages_are_in_the_sellers_language(world, http):
    fake, base_url, deal, _ = world
    fake.delete_deal(deal)
    adapter, _, _ = target(base_url, http)

    with pytest.raises(PermanentError) as caught:
        adapter.export(
            drive.summary(crm_record_id=deal, language="ja"),
            previous={},
            checkpoint=lambda ids: None,
        )

    assert "HubSpot" in caught.value.message and "取引" in caught.value.message


def test_an_unlinked_room_is_refused(world, http):
    _, base_url, _, _ = world
    adapter, _, _ = target(base_url, http)

    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(crm_record_id=""), previous={}, checkpoint=lambda ids: None)

    assert "not linked" in caught.value.message


def test_a_note_deleted_in_hubspot_is_created_again(world, http):
    fake, base_url, deal, contacts = world
    adapter, _, _ = target(base_url, http)
    saved: dict[str, str] = {}
    drive.run(adapter, drive.summary(crm_record_id=deal), saved)
    fake.objects["notes"][saved["note"]]["archived"] = True

    result, _ = drive.run(adapter, drive.summary(crm_record_id=deal), saved)

    assert result.remote_ids["note"] != [k for k in fake.objects["notes"]][0]
    assert_exported(fake, deal, contacts, drive.summary(crm_record_id=deal))


def test_test_connection(world, http):
    fake, base_url, _, _ = world
    adapter, _, _ = target(base_url, http)
    assert adapter.test_connection() == "HubSpot account 4242"
    bad, _, _ = target(base_url, http, access_token="nope")
    with pytest.raises(PermanentError):
        bad.test_connection()


def test_the_fake_holds_the_documented_contract(world):
    """The fake refuses what HubSpot refuses, with HubSpot's error bodies."""
    fake, base_url, deal, _ = world
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base_url, timeout=2) as client:
        anonymous = client.post("/crm/v3/objects/notes", json={})
        assert anonymous.status_code == 401
        assert anonymous.json()["category"] == "INVALID_AUTHENTICATION"
        numeric = client.post(
            "/crm/v3/objects/notes",
            headers=auth,
            json={
                "properties": {"hs_timestamp": 1700000000000, "hs_note_body": "x"},
                "associations": [],
            },
        )
        assert numeric.status_code == 400 and numeric.json()["category"] == "VALIDATION_ERROR"
        no_associations = client.post(
            "/crm/v3/objects/notes",
            headers=auth,
            json={"properties": {"hs_timestamp": "1700000000000"}},
        )
        assert "associations" in no_associations.json()["message"]
        wrong_type = client.post(
            "/crm/v3/objects/notes",
            headers=auth,
            json={
                "properties": {"hs_timestamp": "1700000000000"},
                "associations": [
                    {
                        "to": {"id": deal},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 216}
                        ],
                    }
                ],
            },
        )
        assert wrong_type.status_code == 400
        search = client.post(
            "/crm/v3/objects/contacts/search", headers=auth, json={"filterGroups": []}
        )
        assert search.status_code == 400 and "sorts" in search.json()["message"]
        ok = client.get(f"/crm/v3/objects/deals/{deal}", headers=auth)
        assert ok.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert not fake.live("notes")
