"""The signed webhook: Standard Webhooks signatures (checked here by an independent HMAC), the
same webhook-id on every retry of a run, backoff through the export worker, and SSRF refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
from datetime import timedelta

import httpx
import pytest

from dealroom import exports
from dealroom.crm import webhook
from dealroom.crm.base import PermanentError
from dealroom.crm.webhook import WebhookTarget, address_problem, check_url
from tests import factories
from tests.conftest import TEST_SECRET
from tests.crm.receiver import Receiver
from tests.fakes.server import serving

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (Standard Webhooks 1.0), written here from the spec."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [
        s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, sig) for sig in offered)


@pytest.fixture
def receiver():
    hook = Receiver(timeout_seconds=1.5)
    with serving(hook.app) as base_url:
        hook.url = base_url + "/hook"
        yield hook


@pytest.fixture
def vault():
    return exports.Vault(TEST_SECRET)


@pytest.fixture
def deal(session, services, receiver, vault):
    admin = factories.seller(session)
    room = factories.room(session, admin)
    exports.save_connection(
        session,
        user=admin,
        kind="webhook",
        data={"url": receiver.url, "secret": SECRET},
        vault=vault,
    )
    exports.set_allow_private_webhooks(session, user=admin, allow=True)
    session.flush()
    return {"admin": admin, "room": room}


def work(services, vault, *, now=None, client=None):
    return exports.run_due(
        services.db,
        storage=services.storage,
        links=services.links,
        vault=vault,
        now=now,
        client=client,
    )


def test_a_delivery_is_signed_and_carries_the_summary(session, services, deal, receiver, vault):
    run = exports.request_export(session, room=deal["room"], user=deal["admin"], kind="webhook")
    session.flush()

    finished = work(services, vault)

    assert finished.status == "done", finished.error
    (delivery,) = receiver.deliveries
    assert delivery.headers["webhook-id"] == run.public_id
    assert delivery.headers["content-type"] == "application/json"
    assert verify(SECRET, delivery.headers, delivery.body)
    assert not verify(
        "whsec_" + base64.b64encode(b"x" * 32).decode(), delivery.headers, delivery.body
    )
    payload = json.loads(delivery.body)
    assert payload["type"] == "dealroom.summary"
    assert payload["data"]["room_id"] == deal["room"].public_id
    assert payload["data"]["schema_version"] == "1"
    assert finished.ids == {"delivery": run.public_id}


def test_retries_keep_the_webhook_id_until_done(
    session, services, deal, receiver, vault, monkeypatch
):
    monkeypatch.setattr(webhook, "TIMEOUT", 0.5)
    receiver.script(["500", "timeout", "429", "ok"])
    run = exports.request_export(session, room=deal["room"], user=deal["admin"], kind="webhook")
    session.flush()

    first = work(services, vault)
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.error == "The webhook answered HTTP 500."
    assert first.next_attempt_at > first.created_at
    # Not due yet: nothing runs.
    assert work(services, vault) is None
    seen = [first]
    for _ in range(3):
        seen.append(work(services, vault, now=seen[-1].next_attempt_at + timedelta(seconds=1)))
    assert [r.status for r in seen] == ["queued", "queued", "queued", "done"]
    assert "did not answer within" in seen[1].error
    # 429 with Retry-After: 1 is honoured (never sooner), backoff grows with jitter.
    assert seen[3].attempts == 4 and seen[3].error == ""
    ids = {d.headers["webhook-id"] for d in receiver.deliveries}
    assert ids == {run.public_id}
    assert [d.answer for d in receiver.deliveries] == ["500", "timeout", "429", "ok"]
    assert all(verify(SECRET, d.headers, d.body) for d in receiver.deliveries)


def test_gone_endpoint_fails_with_a_fix(session, services, deal, receiver, vault):
    receiver.script(["410"])
    exports.request_export(session, room=deal["room"], user=deal["admin"], kind="webhook")
    session.flush()
    run = work(services, vault)
    assert run.status == "failed"
    assert "410 Gone" in run.error and "Integrations" in run.fix
    assert run.active_key is None and run.finished_at is not None


def test_retries_give_up_with_a_clear_message(session, services, deal, receiver, vault):
    receiver.script(["503"] * exports.MAX_ATTEMPTS)
    exports.request_export(session, room=deal["room"], user=deal["admin"], kind="webhook")
    session.flush()
    run = work(services, vault)
    while run.status == "queued":
        run = work(services, vault, now=run.next_attempt_at)
    assert run.status == "failed" and run.attempts == exports.MAX_ATTEMPTS
    assert run.error == (
        f"Gave up after {exports.MAX_ATTEMPTS} attempts. The last error: The webhook answered HTTP 503."
    )
    assert len(receiver.deliveries) == exports.MAX_ATTEMPTS


def test_private_targets_are_refused_unless_allowed(session, services, deal, receiver, vault):
    exports.set_allow_private_webhooks(session, user=deal["admin"], allow=False)
    exports.request_export(session, room=deal["room"], user=deal["admin"], kind="webhook")
    session.flush()
    run = work(services, vault)
    assert run.status == "failed"
    assert "Refused to send the webhook to 127.0.0.1" in run.error and "loopback" in run.error
    assert "allow private network targets" in run.fix
    assert receiver.deliveries == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/hook",  # a name that resolves to loopback
        "http://[::ffff:127.0.0.1]/hook",
        "http://192.168.1.10/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT, not public
        "http://0.0.0.0/hook",
    ],
)
def test_ssrf_targets_are_refused(url):
    with pytest.raises(PermanentError) as refused:
        check_url(url, allow_private=False)
    assert "Refused to send the webhook" in refused.value.message
    assert refused.value.fix


def test_a_hostname_is_checked_on_every_address_it_resolves_to(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(PermanentError, match="127.0.0.1"):
        check_url("https://hooks.example.com/x", allow_private=False)


def test_allowing_private_targets_still_refuses_cloud_metadata():
    assert check_url("http://127.0.0.1:9/x", allow_private=True) == "http://127.0.0.1:9/x"
    assert address_problem(ipaddress.ip_address("10.1.2.3"), allow_private=True) is None
    for address in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"):
        assert address_problem(ipaddress.ip_address(address), allow_private=True) == (
            "cloud metadata address"
        )
    assert address_problem(ipaddress.ip_address("93.184.215.14"), allow_private=False) is None


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///x", "example.com/hook"])
def test_malformed_urls_are_refused(url):
    with pytest.raises(PermanentError, match="must start with"):
        check_url(url, allow_private=True)


def test_redirects_are_not_followed():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://169.254.169.254/"})

    target = WebhookTarget(
        config={"url": "http://127.0.0.1:9/hook", "secret": SECRET, "allow_private": "1"},
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(PermanentError, match="redirect"):
        target.test_connection()


def test_the_secret_must_be_a_standard_webhooks_secret():
    assert WebhookTarget.check_config({"url": "https://x.example/h", "secret": SECRET}) == {}
    errors = WebhookTarget.check_config({"url": "nope", "secret": "hunter2"})
    assert set(errors) == {"url", "secret"}
    assert webhook.new_secret().startswith("whsec_")
    assert len(webhook.secret_bytes(webhook.new_secret())) == 32
