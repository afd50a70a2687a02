"""The Salesforce adapter against the Salesforce fake over HTTP: what the org holds in the end."""

from __future__ import annotations

import base64

import httpx
import pytest

from dealroom.crm.base import PermanentError, RetryableError
from dealroom.crm.salesforce import Salesforce, soql_string
from tests.crm import drive
from tests.fakes.salesforce import SalesforceFake
from tests.fakes.server import serve_app

CREDENTIALS = {
    "client_id": "3MVG9-consumer-key",
    "client_secret": "consumer-secret",
    "refresh_token": "5Aep861-refresh-token",
}


@pytest.fixture
def http():
    with httpx.Client(timeout=0.5) as client:  # the fakes' "timeout" fault answers after 2 s
        yield client


@pytest.fixture
def salesforce():
    fake = SalesforceFake()
    base_url, stop = serve_app(fake.app)
    fake.instance_url = base_url  # what the token flow answers
    yield fake, base_url
    stop()


@pytest.fixture
def world(salesforce):
    fake, base_url = salesforce
    opportunity = fake.add_opportunity()
    contacts = {
        "hana@acme.example": fake.add_contact("hana@acme.example", "Sato"),
        "ken@acme.example": fake.add_contact("Ken@Acme.example", "Ito"),
    }
    return fake, base_url, opportunity, contacts


def target(fake, base_url, http, **config):
    saved: list[dict[str, str]] = []
    adapter = Salesforce(
        config={"instance_url": base_url, "login_url": base_url, "access_token": fake.new_session()}
        | CREDENTIALS
        | config,
        client=http,
        save_config=saved.append,
    )
    waits: list[float] = []
    adapter.sleep = waits.append
    return adapter, saved, waits


def composites(fake: SalesforceFake) -> list:
    return [e for e in fake.log if e.path.endswith("/composite")]


def assert_exported(fake: SalesforceFake, opportunity: str, summary) -> None:
    """One note linked to the opportunity, one task per open item (done ones completed)."""
    notes = fake.linked_notes(opportunity)
    assert len(notes) == 1 and len(fake.live("ContentNote")) == 1
    assert summary.marker in notes[0]["Title"]
    assert summary.marker in base64.b64decode(notes[0]["Content"]).decode()
    tasks = list(fake.live("Task").values())
    for item in summary.tasks:
        matching = [t for t in tasks if f"[dealroom:{item.id}]" in t["Subject"]]
        if item.status == "done" and not matching:
            continue
        assert len(matching) == 1, item.id
        assert matching[0]["WhatId"] == opportunity
        assert matching[0]["Status"] == (
            "Completed" if item.status == "done" else drive_status(item.status)
        )
    assert fake.records["Opportunity"][opportunity]["NextStep"] == summary.next_steps


def drive_status(status: str) -> str:
    return {
        "todo": "Not Started",
        "in_progress": "In Progress",
        "blocked": "Waiting on someone else",
    }[status]


def test_first_export_writes_note_link_and_tasks_in_one_composite(world, http):
    fake, base_url, opportunity, contacts = world
    adapter, _, _ = target(fake, base_url, http)
    summary = drive.summary(crm_record_id=opportunity)
    checkpoints: list[dict[str, str]] = []

    result = adapter.export(summary, previous={}, checkpoint=checkpoints.append)

    assert_exported(fake, opportunity, summary)
    assert len(fake.live("Task")) == 2
    writes = [e for e in fake.log if e.method in ("POST", "PATCH")]
    assert len(writes) == 1 and writes[0].path == "/services/data/v66.0/composite"
    assert set(result.remote_ids) == {"note", "task:task_sec1", "task:task_leg2"}
    assert checkpoints[-1] == result.remote_ids
    assert result.url == f"{base_url}/lightning/r/Opportunity/{opportunity}/view"
    security = fake.records["Task"][result.remote_ids["task:task_sec1"]]
    assert security["WhoId"] == contacts["hana@acme.example"]  # the buyer who owns it
    assert security["ActivityDate"] == "2026-12-01"
    assert security["Subject"] == "Send the security questionnaire [dealroom:task_sec1]"
    legal = fake.records["Task"][result.remote_ids["task:task_leg2"]]
    assert legal["WhoId"] == contacts["hana@acme.example"]  # the primary contact
    assert legal["Priority"] == "High"
    link = next(iter(fake.live("ContentDocumentLink").values()))
    assert (link["ShareType"], link["Visibility"]) == ("V", "AllUsers")


def test_re_export_patches_instead_of_duplicating(world, http):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    saved: dict[str, str] = {}
    drive.run(adapter, drive.summary(crm_record_id=opportunity), saved)
    first = dict(saved)
    later = drive.summary(
        crm_record_id=opportunity,
        html="<p>Week two</p>",
        next_steps="Sign the order form",
        tasks=[
            drive.task("task_sec1", "Send the security questionnaire", status="done"),
            drive.task("task_leg2", "Legal review of the MSA", status="blocked"),
            drive.task("task_new4", "Pilot sign-off"),
        ],
    )

    result, errors = drive.run(adapter, later, saved)

    assert not errors
    assert_exported(fake, opportunity, later)
    assert len(fake.live("Task")) == 3 and len(fake.live("ContentDocumentLink")) == 1
    assert result.remote_ids["note"] == first["note"]
    assert (
        "Week two"
        in base64.b64decode(fake.records["ContentNote"][first["note"]]["Content"]).decode()
    )
    assert fake.records["Task"][first["task:task_sec1"]]["Status"] == "Completed"
    assert len(composites(fake)) == 2


@pytest.mark.parametrize("fault", ["lost_response", "commit_then_502"])
def test_a_composite_whose_answer_is_lost_is_found_by_its_markers(world, http, fault):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    summary = drive.summary(crm_record_id=opportunity)
    fake.script([fault], on="POST /services/data/v66.0/composite")
    saved: dict[str, str] = {}

    result, errors = drive.run(adapter, summary, saved)

    assert len(errors) == 1
    assert_exported(fake, opportunity, summary)
    assert len(fake.live("Task")) == 2
    assert saved == result.remote_ids and set(saved) == {"note", "task:task_sec1", "task:task_leg2"}


@pytest.mark.parametrize(("fault", "wait"), [("limit", 3600), ("429", 3600), ("concurrent", 300)])
def test_request_limit_exceeded_is_retried_after_a_long_wait(world, http, fault, wait):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    summary = drive.summary(crm_record_id=opportunity)
    fake.script([fault], on="POST /services/data/v66.0/composite")

    with pytest.raises(RetryableError) as caught:
        adapter.export(summary, previous={}, checkpoint=lambda ids: None)
    assert caught.value.retry_after == wait

    drive.run(adapter, summary, {})
    assert_exported(fake, opportunity, summary)


def test_the_daily_allocation_of_the_fake_really_applies(world, http):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    fake.daily_allocation = fake.used + 2

    with pytest.raises(RetryableError) as caught:
        adapter.export(
            drive.summary(crm_record_id=opportunity), previous={}, checkpoint=lambda ids: None
        )

    assert caught.value.retry_after == 3600
    assert not fake.live("Task")


def test_an_org_near_its_daily_allocation_is_spared(world, http):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    fake.used = 96_000

    with pytest.raises(RetryableError) as caught:
        adapter.export(
            drive.summary(crm_record_id=opportunity), previous={}, checkpoint=lambda ids: None
        )

    assert caught.value.retry_after == 3600
    assert len(fake.log) == 1  # stopped after reading the opportunity


def test_server_errors_on_reads_are_retried_and_on_writes_handed_back(world, http):
    fake, base_url, opportunity, _ = world
    adapter, _, waits = target(fake, base_url, http)
    summary = drive.summary(crm_record_id=opportunity)
    fake.script(["500"], on="GET /services/data/v66.0/query")
    fake.script(["503", "timeout"], on="POST /services/data/v66.0/composite")

    result, errors = drive.run(adapter, summary, {})

    assert waits == [1.0]
    assert len(errors) == 2
    assert_exported(fake, opportunity, summary)


def test_lock_contention_is_retryable(world, http):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    summary = drive.summary(crm_record_id=opportunity)
    fake.script(["lock_row"], on="POST /services/data/v66.0/composite")

    result, errors = drive.run(adapter, summary, {})

    assert len(errors) == 1 and "UNABLE_TO_LOCK_ROW" in errors[0].message
    assert_exported(fake, opportunity, summary)


def test_an_expired_session_is_renewed_once_and_saved(world, http):
    fake, base_url, opportunity, _ = world
    fake.rotate_refresh_tokens = True
    adapter, saved_config, _ = target(fake, base_url, http)
    summary = drive.summary(crm_record_id=opportunity)
    fake.script(["expire_token"], on="POST /services/data/v66.0/composite")

    result, errors = drive.run(adapter, summary, {})

    assert not errors
    assert fake.renewals == 1
    assert len(saved_config) == 1
    changes = saved_config[0]
    assert changes["access_token"] in fake.sessions
    assert changes["instance_url"] == base_url
    assert changes["refresh_token"] in fake.refresh_tokens
    assert [e.status for e in fake.log].count(401) == 1
    assert_exported(fake, opportunity, summary)


def test_a_revoked_refresh_token_asks_to_reconnect(world, http):
    fake, base_url, opportunity, _ = world
    fake.refresh_tokens.clear()
    adapter, saved_config, _ = target(fake, base_url, http, access_token="00D!expired")

    with pytest.raises(PermanentError) as caught:
        adapter.export(
            drive.summary(crm_record_id=opportunity), previous={}, checkpoint=lambda ids: None
        )

    assert caught.value.fix == "Reconnect Salesforce in the connection settings."
    assert not saved_config
    assert [e.path for e in fake.log][-1] == "/services/oauth2/token" and len(fake.log) == 2


def test_a_deleted_opportunity_stops_before_anything_is_written(world, http):
    fake, base_url, opportunity, _ = world
    fake.delete(opportunity)
    adapter, _, _ = target(fake, base_url, http)

    with pytest.raises(PermanentError) as caught:
        adapter.export(
            drive.summary(crm_record_id=opportunity), previous={}, checkpoint=lambda ids: None
        )

    assert "no longer exists" in caught.value.message
    assert caught.value.fix == "Link the room to an existing opportunity"
    assert not composites(fake)


def test_an_opportunity_deleted_mid_run_rolls_everything_back(world, http):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    fake.script(["delete_deal"], on="POST /services/data/v66.0/composite")

    with pytest.raises(PermanentError) as caught:
        adapter.export(
            drive.summary(crm_record_id=opportunity), previous={}, checkpoint=lambda ids: None
        )

    assert "no longer exists" in caught.value.message
    assert not fake.live("ContentNote") and not fake.live("Task")


def test_a_validation_rule_rolls_back_the_whole_composite(world, http):
    fake, base_url, opportunity, _ = world
    fake.validation_rules["Task"] = lambda fields: (
        "Legal tasks need an owner" if "Legal" in str(fields.get("Subject")) else None
    )
    adapter, _, _ = target(fake, base_url, http)

    with pytest.raises(PermanentError) as caught:
        adapter.export(
            drive.summary(crm_record_id=opportunity), previous={}, checkpoint=lambda ids: None
        )

    assert "Legal tasks need an owner" in caught.value.message
    assert "admin" in caught.value.fix
    assert (
        not fake.live("ContentNote")
        and not fake.live("Task")
        and not fake.live("ContentDocumentLink")
    )


def test_a_task_deleted_in_salesforce_is_written_anew(world, http):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    saved: dict[str, str] = {}
    summary = drive.summary(crm_record_id=opportunity)
    drive.run(adapter, summary, saved)
    deleted = saved["task:task_leg2"]
    fake.delete(deleted)

    result, errors = drive.run(adapter, summary, saved)

    assert not errors
    assert_exported(fake, opportunity, summary)
    assert len(fake.live("Task")) == 2
    assert result.remote_ids["task:task_leg2"] not in (deleted, "")


def test_many_items_are_split_over_composites_of_25(world, http):
    fake, base_url, opportunity, _ = world
    adapter, _, _ = target(fake, base_url, http)
    summary = drive.summary(
        crm_record_id=opportunity, tasks=[drive.task(f"task_n{i}", f"Item {i}") for i in range(30)]
    )

    result, _ = drive.run(adapter, summary, {})

    assert len(composites(fake)) == 2
    assert len(fake.live("Task")) == 30
    assert_exported(fake, opportunity, summary)


def test_emails_are_escaped_in_soql(world, http):
    fake, base_url, opportunity, _ = world
    tricky = fake.add_contact("o'brien\\x@acme.example", "O'Brien")
    adapter, _, _ = target(fake, base_url, http)
    summary = drive.summary(
        crm_record_id=opportunity,
        committee=[drive.person("Pat O'Brien", "o'brien\\x@acme.example")],
        tasks=[drive.task("task_sec1", "Questionnaire")],
    )

    result, _ = drive.run(adapter, summary, {})

    assert fake.records["Task"][result.remote_ids["task:task_sec1"]]["WhoId"] == tricky
    assert soql_string("a'b\\c") == "'a\\'b\\\\c'"


def test_an_unlinked_room_is_refused(world, http):
    fake, base_url, _, _ = world
    adapter, _, _ = target(fake, base_url, http)
    with pytest.raises(PermanentError) as caught:
        adapter.export(
            drive.summary(crm_record_id="12345"), previous={}, checkpoint=lambda ids: None
        )
    assert "not linked" in caught.value.message
    assert not fake.log


def test_test_connection(world, http):
    fake, base_url, _, _ = world
    adapter, _, _ = target(fake, base_url, http)
    assert adapter.test_connection() == "Salesforce organisation at 127.0.0.1"


def test_the_fake_holds_the_documented_contract(world):
    fake, base_url, opportunity, _ = world
    auth = {"Authorization": f"Bearer {fake.new_session()}"}
    with httpx.Client(base_url=base_url, timeout=2) as client:
        anonymous = client.get("/services/data/v66.0/query", params={"q": "SELECT Id FROM Task"})
        assert anonymous.status_code == 401
        assert anonymous.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
        missing = client.post(
            "/services/data/v66.0/sobjects/ContentNote", headers=auth, json={"Content": "aGk="}
        )
        assert (
            missing.status_code == 400
            and missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
        )
        unknown = client.post(
            "/services/data/v66.0/sobjects/Task", headers=auth, json={"Bogus__c": "x"}
        )
        assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
        picklist = client.post(
            "/services/data/v66.0/sobjects/Task", headers=auth, json={"Status": "Done"}
        )
        assert picklist.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        malformed = client.get(
            "/services/data/v66.0/query",
            headers=auth,
            params={"q": "SELECT Id FROM Task WHERE Subject = 'x' OR 1=1"},
        )
        assert malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
        too_many = client.post(
            "/services/data/v66.0/composite",
            headers=auth,
            json={
                "allOrNone": True,
                "compositeRequest": [
                    {
                        "method": "GET",
                        "url": "/services/data/v66.0/sobjects/Task/x",
                        "referenceId": f"r{i}",
                    }
                    for i in range(26)
                ],
            },
        )
        assert too_many.status_code == 400
        ok = client.get(f"/services/data/v66.0/sobjects/Opportunity/{opportunity}", headers=auth)
        assert ok.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert not fake.live("Task")
