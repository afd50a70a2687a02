"""Operations: readiness with a broken database or storage, /metrics, request ids and JSON logs,
and the app's half of a graceful shutdown."""

from __future__ import annotations

import io
import json
import logging
import re
import threading

import pytest
from starlette.testclient import TestClient

from dealroom import logs, metrics
from dealroom.app import build_services, create_app
from dealroom.db import Database
from dealroom.storage.local import LocalStorage
from tests import factories

METRICS_TOKEN = "metrics-token-0123456789"  # noqa: S105


def _client(app, client_host: str = "testclient") -> TestClient:
    return TestClient(app, base_url="http://testserver", client=(client_host, 50000))


# ---------------------------------------------------------------- readiness


def test_ready_when_database_and_storage_answer(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}


def test_not_ready_with_a_broken_storage(settings, db, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the storage directory should be")
    app = create_app(services=build_services(settings, db=db, storage=LocalStorage(blocker)))
    with _client(app) as browser:
        assert browser.get("/healthz").status_code == 200  # the process itself is fine
        ready = browser.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/json"
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["storage"].startswith("error: StorageError")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-dir-for-dealroom-tests/sub/x.db",
        "postgresql+psycopg://nobody:nothing@127.0.0.1:1/none?connect_timeout=2",
    ],
    ids=["sqlite", "postgresql"],
)
def test_not_ready_with_an_unreachable_database(settings, tmp_path, url):
    broken = Database.from_url(url)
    try:
        app = create_app(
            services=build_services(settings, db=broken, storage=LocalStorage(tmp_path / "f"))
        )
        with _client(app) as browser:
            ready = browser.get("/readyz")
            # An ordinary page fails too, but as a clear answer, not a hang.
            assert browser.get("/healthz").status_code == 200
    finally:
        broken.dispose()
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"].startswith("error: ")
    assert ready.json()["checks"]["storage"] == "ok"


# ---------------------------------------------------------------- metrics


def test_metrics_are_closed_to_remote_clients_without_a_token(app):
    with _client(app, "203.0.113.9") as remote:
        refused = remote.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"


def test_metrics_from_localhost_but_not_through_a_proxy(app):
    with _client(app, "127.0.0.1") as local:
        page = local.get("/metrics")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        # A proxy on this machine makes every client look local: a forwarded request is not.
        assert local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 403


def test_metrics_token_is_required_once_configured(settings, db, storage):
    app = create_app(
        services=build_services(
            settings.replace(metrics_token=METRICS_TOKEN), db=db, storage=storage
        )
    )
    with _client(app, "127.0.0.1") as local, _client(app, "203.0.113.9") as remote:
        assert local.get("/metrics").status_code == 401  # the token, not the address, decides
        wrong = remote.get("/metrics", headers={"Authorization": "Bearer wrong-token-ñ".encode()})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        ok = remote.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert ok.status_code == 200
        assert "dealroom_http_requests_total" in ok.text


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _sep, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', series))
        if series.split("{")[0] == name and found == labels:
            return float(value)
    return 0.0


def test_requests_are_counted_and_timed_by_route_name(client, session):
    user = factories.seller(session)
    room = factories.room(session, user, name="Metrics deal")
    session.flush()
    client.login(user.email, factories.PASSWORD)
    before = metrics.HTTP_REQUESTS.value(route="rooms:detail", method="GET", status="200")
    timed_before = metrics.HTTP_DURATION.count(route="rooms:detail", method="GET")
    for _ in range(3):
        assert client.get(f"/rooms/{room.public_id}").status_code == 200
    client.get("/no/such/page")
    with _client(client.app, "127.0.0.1") as local:
        text = local.get("/metrics").text
    labels = {"route": "rooms:detail", "method": "GET", "status": "200"}
    assert _sample(text, "dealroom_http_requests_total", **labels) == before + 3
    assert metrics.HTTP_DURATION.count(route="rooms:detail", method="GET") == timed_before + 3
    # Histogram buckets are cumulative and end in +Inf == _count.
    buckets = [
        float(v)
        for v in re.findall(
            r'^dealroom_http_request_duration_seconds_bucket\{route="rooms:detail",method="GET",le="[^"]+"\} (\S+)$',
            text,
            re.M,
        )
    ]
    assert buckets == sorted(buckets) and len(buckets) == len(metrics.DEFAULT_BUCKETS) + 1
    count = _sample(
        text, "dealroom_http_request_duration_seconds_count", route="rooms:detail", method="GET"
    )
    assert buckets[-1] == count >= 3
    # Paths never become labels: ids and personal-link tokens stay out of the metrics.
    assert room.public_id not in text
    assert (
        _sample(text, "dealroom_http_requests_total", route="unmatched", method="GET", status="404")
        >= 1
    )
    for name in ("dealroom_sse_connections", "dealroom_http_requests_in_flight"):
        assert f"# TYPE {name} gauge" in text
    assert "# TYPE dealroom_process_start_time_seconds gauge" in text


def test_collectors_run_at_scrape_time_and_a_failing_one_is_skipped(app):
    calls = []

    def depth(services):
        calls.append(services)
        return 7

    def broken(_services):
        raise RuntimeError("boom")

    metrics.collect("dealroom_test_buffer_depth", "Test collector.", depth)
    metrics.collect(
        "dealroom_test_runs", "Test collector.", lambda s: {"done": 2, "failed": 1}, ("status",)
    )
    metrics.collect("dealroom_test_broken", "Test collector.", broken)
    try:
        with _client(app, "127.0.0.1") as local:
            text = local.get("/metrics").text
    finally:
        for name in ("dealroom_test_buffer_depth", "dealroom_test_runs", "dealroom_test_broken"):
            metrics.REGISTRY.unregister(name)
    assert calls == [app.state.services]
    assert "dealroom_test_buffer_depth 7" in text
    assert 'dealroom_test_runs{status="done"} 2' in text
    assert "dealroom_test_broken" not in text.replace(
        'metric="dealroom_test_broken"', ""
    )  # left out, and counted as an error:
    assert (
        _sample(text, "dealroom_metrics_collector_errors_total", metric="dealroom_test_broken") >= 1
    )


# ---------------------------------------------------------------- request ids and logs


def test_request_id_is_echoed_kept_when_well_formed_and_replaced_otherwise(client):
    fresh = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert client.get("/healthz").headers["x-request-id"] != fresh
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-1234abcd.5"})
    assert kept.headers["x-request-id"] == "lb-1234abcd.5"
    for bad in ("short", "has spaces in it", "x" * 200, "<script>alert(1)</script>", "é" * 10):
        answer = client.get("/healthz", headers={"X-Request-ID": bad.encode()})
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    # Refused requests (CSRF, 404) get one too.
    assert "x-request-id" in client.post("/login", data={}).headers
    assert "x-request-id" in client.get("/no/such/page").headers


@pytest.fixture
def captured_json_logs():
    stream = io.StringIO()
    handler = logs.make_handler("json", stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_every_log_line_of_a_request_carries_its_id(
    client, session, captured_json_logs, monkeypatch
):
    user = factories.seller(session)
    session.flush()
    # A domain log line written in the worker thread that runs the handler.
    from dealroom.web import accounts as web_accounts

    original = web_accounts.accounts.authenticate

    def noisy(*args, **kwargs):
        logging.getLogger("dealroom.accounts").info("checking a login")
        return original(*args, **kwargs)

    monkeypatch.setattr(web_accounts.accounts, "authenticate", noisy)
    response = client.submit(
        "/login",
        {"email": user.email, "password": factories.PASSWORD},
        headers={"X-Request-ID": "req-test-00000001"},
    )
    assert response.headers["x-request-id"] == "req-test-00000001"
    lines = [json.loads(line) for line in captured_json_logs.getvalue().splitlines()]
    ours = [line for line in lines if line["request_id"] == "req-test-00000001"]
    assert {line["logger"] for line in ours} >= {"dealroom.accounts", "dealroom.access"}
    access = next(line for line in ours if line["logger"] == "dealroom.access")
    assert access["route"] == "accounts:login" and access["status"] == 303
    assert access["path"] == "/login" and access["method"] == "POST"
    assert isinstance(access["duration_ms"], float)
    assert {"time", "level", "message"} <= access.keys()


def test_access_log_names_the_route_template_not_the_token(client, services, captured_json_logs):
    token = services.signer.sign("team-invite", {"t": "tinv_nosuchinvite"})
    assert client.get(f"/join/{token}").status_code == 404
    server_side = [
        line
        for line in captured_json_logs.getvalue().splitlines()
        if json.loads(line)["logger"].startswith(("dealroom", "uvicorn"))
    ]
    assert server_side and not [line for line in server_side if token in line]
    assert any('"/join/{token}"' in line for line in server_side)


def test_text_format_carries_the_request_id_too():
    stream = io.StringIO()
    handler = logs.make_handler("text", stream)
    record = logging.LogRecord(
        "dealroom.x", logging.INFO, __file__, 1, "hello %s", ("there",), None
    )
    token = logs.request_id.set("abc12345")
    try:
        handler.handle(record)
    finally:
        logs.request_id.reset(token)
    assert re.search(r"INFO dealroom\.x \[abc12345\] hello there$", stream.getvalue().strip())


def test_log_lines_outside_a_request_carry_a_dash():
    stream = io.StringIO()
    handler = logs.make_handler("json", stream)
    seen = []

    def job():
        handler.handle(
            logging.LogRecord("dealroom.jobs", logging.WARNING, __file__, 1, "tick", (), None)
        )
        seen.append(json.loads(stream.getvalue()))

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert seen[0]["request_id"] == "-" and seen[0]["level"] == "WARNING"


# ---------------------------------------------------------------- shutdown hooks


def test_shutdown_stops_the_scheduler_and_runs_every_hook_once(settings, db, storage):
    services = build_services(settings.replace(run_jobs=True), db=db, storage=storage)
    ran: list[str] = []

    def failing() -> None:
        ran.append("failing")
        raise RuntimeError("flush failed")

    async def async_hook() -> None:
        ran.append("async")

    services.on_shutdown.extend([failing, lambda: ran.append("flush"), async_hook])
    app = create_app(services=services)
    with TestClient(app) as browser:
        assert browser.get("/healthz").status_code == 200
        jobs = services.jobs
        assert jobs is not None and jobs.running
        assert ran == []
    # One failing hook does not keep the others from running.
    assert ran == ["failing", "flush", "async"]
    assert not jobs.running and services.jobs is None


def test_export_runs_by_status_are_read_from_the_database_at_scrape_time(app, session):
    from dealroom.exports import STATUSES, ExportRun

    user = factories.seller(session)
    room = factories.room(session, user)
    session.flush()
    for status in ("done", "done", "failed"):
        session.add(
            ExportRun(
                org_id=user.org_id,
                room_id=room.id,
                user_id=user.id,
                target="webhook",
                status=status,
            )
        )
    session.flush()
    with _client(app, "127.0.0.1") as local:
        text = local.get("/metrics").text
    counts = {status: _sample(text, "dealroom_export_runs", status=status) for status in STATUSES}
    assert counts == {"queued": 0, "running": 0, "done": 2, "failed": 1}
