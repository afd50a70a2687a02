"""The kintone adapter against the kintone fake (openapi-core validated) over HTTP."""

from __future__ import annotations

import httpx
import pytest

from dealroom.crm.base import PermanentError, RetryableError
from dealroom.crm.kintone import COMMENT_LIMIT, Kintone
from tests.crm import drive
from tests.fakes.kintone import KintoneFake
from tests.fakes.server import serve_app

MAPPING = {
    "field_key": "dsr_key",
    "field_room_name": "room_name",
    "field_stage": "stage",
    "field_summary": "summary",
    "field_next_steps": "next_steps",
    "field_room_url": "room_url",
}


@pytest.fixture
def http():
    with httpx.Client(timeout=0.5) as client:  # the fakes' "timeout" fault answers after 2 s
        yield client


@pytest.fixture
def kintone():
    fake = KintoneFake()
    base_url, stop = serve_app(fake.app)
    yield fake, base_url
    stop()


def target(base_url, http, **config):
    adapter = Kintone(
        config={"base_url": base_url, "app_id": "12", "api_token": "kintone-token-1"}
        | MAPPING
        | config,
        client=http,
    )
    waits: list[float] = []
    adapter.sleep = waits.append
    return adapter, waits


def assert_exported(fake: KintoneFake, summary, *, comments: int = 1) -> dict:
    """One record keyed by the room, holding the mapped values, with the summary commented."""
    records = fake.by_key(summary.room_id)
    assert len(fake.records) == 1 and len(records) == 1
    record = records[0]
    assert record["room_name"] == summary.room_name
    assert record["stage"] == summary.stage_label
    assert record["summary"] == summary.markdown
    assert record["next_steps"] == summary.next_steps
    assert record["room_url"] == summary.room_url
    posted = fake.comments.get(record["$id"], [])
    assert len(posted) == comments
    assert posted[-1]["text"].endswith(summary.marker)
    return record


def test_first_export_adds_the_record_and_comments_the_summary(kintone, http):
    fake, base_url = kintone
    adapter, _ = target(base_url, http)
    summary = drive.summary()
    checkpoints: list[dict[str, str]] = []

    result = adapter.export(summary, previous={}, checkpoint=checkpoints.append)

    record = assert_exported(fake, summary)
    assert result.remote_ids == {"record": record["$id"], "comment": "1"}
    assert checkpoints == [{"record": record["$id"]}, result.remote_ids]
    assert result.url == f"{base_url}/k/12/show#record={record['$id']}"


def test_re_export_updates_the_same_record_and_never_repeats_a_comment(kintone, http):
    fake, base_url = kintone
    adapter, _ = target(base_url, http)
    saved: dict[str, str] = {}
    drive.run(adapter, drive.summary(), saved)
    drive.run(adapter, drive.summary(), saved)  # nothing changed: no second comment
    assert_exported(fake, drive.summary(), comments=1)

    later = drive.summary(
        stage_label="Decision", markdown="## Week two\n\nSigned soon.", next_steps="Order form"
    )
    result, errors = drive.run(adapter, later, saved)

    assert not errors
    record = assert_exported(fake, later, comments=2)
    assert record["$revision"] == 3
    assert result.remote_ids["record"] == record["$id"]


@pytest.mark.parametrize("route", ["PUT /k/v1/records.json", "POST /k/v1/record/comment.json"])
@pytest.mark.parametrize("fault", ["lost_response", "commit_then_502"])
def test_a_write_whose_answer_is_lost_is_not_repeated(kintone, http, route, fault):
    fake, base_url = kintone
    adapter, _ = target(base_url, http)
    summary = drive.summary()
    fake.script([fault], on=route)
    saved: dict[str, str] = {}

    result, errors = drive.run(adapter, summary, saved)

    # An upsert is safe to send again at once; a comment is checked for on the next attempt.
    assert len(errors) == (1 if "comment" in route else 0)
    assert_exported(fake, summary, comments=1)
    assert saved == result.remote_ids


def test_the_concurrency_limit_is_waited_out_briefly(kintone, http):
    fake, base_url = kintone
    adapter, waits = target(base_url, http)
    summary = drive.summary()
    fake.script(["429", "429"])

    result, errors = drive.run(adapter, summary, {})

    assert not errors and waits == [1.0, 2.0]
    assert_exported(fake, summary)


def test_a_lasting_concurrency_limit_goes_back_to_the_worker(kintone, http):
    fake, base_url = kintone
    adapter, waits = target(base_url, http)
    fake.concurrency_limit = 0  # every request is the 101st

    with pytest.raises(RetryableError) as caught:
        adapter.export(drive.summary(), previous={}, checkpoint=lambda ids: None)

    assert "GAIA_TO04" in caught.value.message
    assert waits == [1.0, 2.0]
    assert not fake.records


@pytest.mark.parametrize("fault", ["500", "503", "timeout"])
def test_server_errors_and_timeouts(kintone, http, fault):
    fake, base_url = kintone
    adapter, _ = target(base_url, http)
    summary = drive.summary()
    fake.script([fault], on="POST /k/v1/record/comment.json")
    fake.script([fault], on="PUT /k/v1/records.json")  # an upsert is retried in place

    result, errors = drive.run(adapter, summary, {})

    assert len(errors) == 1  # the comment: its outcome is checked on the next attempt
    assert_exported(fake, summary)


def test_a_regenerated_api_token_stops_with_a_fix_and_resumes_once_updated(kintone, http):
    fake, base_url = kintone
    adapter, _ = target(base_url, http)
    summary = drive.summary()
    fake.script(["expire_token"], on="POST /k/v1/record/comment.json")
    saved: dict[str, str] = {}

    with pytest.raises(PermanentError) as caught:
        adapter.export(summary, previous={}, checkpoint=saved.update)
    assert "GAIA_IA02" in caught.value.message and "Update App" in caught.value.fix
    assert set(saved) == {"record"}

    fixed, _ = target(base_url, http, api_token=next(iter(fake.tokens)))
    drive.run(fixed, summary, saved)
    assert_exported(fake, summary)


def test_password_authentication(kintone, http):
    fake, base_url = kintone
    adapter, _ = target(base_url, http, api_token="", username="sato", password="s3cret")
    drive.run(adapter, drive.summary(), {})
    assert_exported(fake, drive.summary())

    wrong, _ = target(base_url, http, api_token="", username="sato", password="nope")
    with pytest.raises(PermanentError) as caught:
        wrong.export(drive.summary(), previous={}, checkpoint=lambda ids: None)
    assert "CB_WA01" in caught.value.message


def test_a_token_without_add_permission_is_explained(kintone, http):
    fake, base_url = kintone
    fake.tokens["view-only"] = {"view", "edit"}
    adapter, _ = target(base_url, http, api_token="view-only")

    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(), previous={}, checkpoint=lambda ids: None)

    assert "GAIA_NO01" in caught.value.message and "permissions" in caught.value.fix


def test_a_room_linked_to_a_record_updates_that_record(kintone, http):
    fake, base_url = kintone
    existing = fake.add_record(customer="Acme KK", room_name="old")
    adapter, _ = target(base_url, http)
    summary = drive.summary(crm_record_id=existing)

    result, _ = drive.run(adapter, summary, {})

    assert list(fake.records) == [existing]
    assert fake.records[existing]["customer"] == "Acme KK"
    assert_exported(fake, summary)
    assert result.remote_ids["record"] == existing


def test_a_deleted_linked_record_stops_with_a_fix(kintone, http):
    fake, base_url = kintone
    existing = fake.add_record(customer="Acme KK")
    adapter, _ = target(base_url, http)
    fake.script(["delete_deal"])

    with pytest.raises(PermanentError) as caught:
        adapter.export(
            drive.summary(crm_record_id=existing), previous={}, checkpoint=lambda ids: None
        )

    assert "no longer exists" in caught.value.message
    assert caught.value.fix == "Link the room to an existing record"


def test_a_record_deleted_in_an_unlinked_room_is_added_again(kintone, http):
    fake, base_url = kintone
    adapter, _ = target(base_url, http)
    saved: dict[str, str] = {}
    drive.run(adapter, drive.summary(), saved)
    fake.records.clear()

    result, _ = drive.run(adapter, drive.summary(), saved)

    assert_exported(fake, drive.summary())
    assert result.remote_ids["record"] != "1"


def test_a_deleted_app_stops_with_a_fix(kintone, http):
    fake, base_url = kintone
    adapter, _ = target(base_url, http)
    fake.script(["delete_app"])

    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(), previous={}, checkpoint=lambda ids: None)

    assert "no longer exists" in caught.value.message and "app" in caught.value.fix


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [({"field_stage": "phase"}, "GAIA_FC01"), ({"field_key": "room_name"}, "CB_VA01")],
)
def test_a_wrong_field_mapping_is_explained(kintone, http, mapping, expected):
    fake, base_url = kintone
    adapter, _ = target(base_url, http, **mapping)

    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(), previous={}, checkpoint=lambda ids: None)

    assert expected in caught.value.message and "field mapping" in caught.value.fix
    assert not fake.records


def test_no_key_field_and_no_link_is_refused(kintone, http):
    _, base_url = kintone
    adapter, _ = target(base_url, http, field_key="")
    with pytest.raises(PermanentError) as caught:
        adapter.export(drive.summary(), previous={}, checkpoint=lambda ids: None)
    assert "key field" in caught.value.message


def test_a_guest_space_app(kintone, http):
    fake, base_url = kintone
    adapter, _ = target(base_url, http, guest_space_id="7")

    result, _ = drive.run(adapter, drive.summary(), {})

    assert all(e.path.startswith("/k/guest/7/v1/") for e in fake.log)
    assert result.url.startswith(f"{base_url}/k/guest/7/12/show#record=")
    assert_exported(fake, drive.summary())


def test_a_long_summary_fits_in_one_comment(kintone, http):
    fake, base_url = kintone
    adapter, _ = target(base_url, http)
    summary = drive.summary(markdown="長い要約。" * 20_000)

    drive.run(adapter, summary, {})

    text = next(iter(fake.comments.values()))[0]["text"]
    assert len(text) == COMMENT_LIMIT and text.endswith(summary.marker)


def test_test_connection(kintone, http):
    _, base_url = kintone
    adapter, _ = target(base_url, http)
    assert adapter.test_connection() == "kintone app 12: 商談管理"


def test_the_fake_validates_requests_against_the_openapi_spec(kintone):
    fake, base_url = kintone
    token = {"X-Cybozu-API-Token": "kintone-token-1"}
    with httpx.Client(base_url=base_url, timeout=5) as client:
        record = client.post(
            "/k/v1/record.json",
            headers=token,
            json={"app": 12, "record": {"room_name": {"value": "x"}}},
        ).json()
        empty = client.post(
            "/k/v1/record/comment.json",
            headers=token,
            json={"app": 12, "record": int(record["id"]), "comment": {"text": ""}},
        )
        assert empty.status_code == 400 and empty.json()["code"] == "CB_VA01"
        no_key_value = client.put(
            "/k/v1/records.json",
            headers=token,
            json={
                "app": 12,
                "upsert": True,
                "records": [{"updateKey": {"field": "dsr_key"}, "record": {}}],
            },
        )
        assert no_key_value.json()["code"] == "CB_VA01"
        anonymous = client.get("/k/v1/app.json", params={"id": "12"})
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "CB_AU01"
        bad_token = client.get(
            "/k/v1/app.json", params={"id": "12"}, headers={"X-Cybozu-API-Token": "nope"}
        )
        assert bad_token.json()["code"] == "GAIA_IA02"
        assert set(bad_token.json()) == {"code", "id", "message"}
    assert not fake.comments
