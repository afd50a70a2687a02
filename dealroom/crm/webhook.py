"""The signed webhook target: POST the summary as JSON to a URL the admin sets.

Signed per Standard Webhooks 1.0 (what Svix, n8n and friends verify):

    webhook-id: exp_…                  the export run: the same on every retry, so receivers dedupe
    webhook-timestamp: 1767225600      seconds since the epoch, when this attempt was signed
    webhook-signature: v1,<base64>     HMAC-SHA256(secret, f"{id}.{timestamp}.{body}")

The secret is given as "whsec_" + base64 of the key bytes. A receiver verifies by recomputing
the HMAC over the raw body, comparing in constant time (hmac.compare_digest), and refusing
timestamps more than 5 minutes away from its clock.

Delivery: 2xx is done; 429, 408, 5xx, timeouts and connection errors are retried by the export
worker with backoff (a Retry-After header is honoured); 410 Gone and other 4xx stop with a message;
redirects are not followed (a redirect could lead anywhere, including inside our network).

Server-side request forgery: the host is resolved and every address checked before each attempt;
loopback, private, link-local and other non-public addresses are refused unless the organisation's
admin allows private webhook targets (`allow_private`), and cloud metadata addresses always are.
The check and the connection resolve separately, so a host whose DNS answer changes in between
(DNS rebinding) is not fully covered; a deployment that needs that should also filter egress.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..db import utcnow
from ..i18n import N_, _
from .base import Checkpoint, ExportResult, PermanentError, RetryableError, Summary, Target
from .summary import summary_json

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
MIN_SECRET_BYTES = 24
TIMEOUT = 10.0
EVENT = "dealroom.summary"
PING = "dealroom.ping"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud instance metadata (AWS, GCP, Azure, OpenStack; AWS over IPv6; Alibaba): never reachable.
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a "whsec_<base64>" secret."""
    raw = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.strip().startswith(SECRET_PREFIX) or len(key) < MIN_SECRET_BYTES:
        raise PermanentError(
            _("The webhook secret is not valid."),
            fix=_(
                "Set a secret of the form whsec_ followed by base64 of at least %(bytes)s random bytes.",
                bytes=MIN_SECRET_BYTES,
            ),
        )
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


# ---------------------------------------------------------------- where we may send


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


# Why an address is refused: English phrases, translated where the seller reads them.
METADATA_ADDRESS = N_("cloud metadata address")
NOT_UNICAST = N_("not a unicast address")
LOOPBACK = N_("loopback address")
LINK_LOCAL = N_("link-local address")
PRIVATE = N_("private network address")
NOT_PUBLIC = N_("not a public address")


def address_problem(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why we must not connect to `ip` (one of the phrases above), or None."""
    for candidate in (ip, _embedded_ipv4(ip)):
        if candidate is None:
            continue
        if candidate in METADATA:
            return METADATA_ADDRESS
        if candidate.is_multicast or candidate.is_unspecified:
            return NOT_UNICAST
        if allow_private:
            continue
        if candidate.is_loopback:
            return LOOPBACK
        if candidate.is_link_local:
            return LINK_LOCAL
        if candidate.is_private:
            return PRIVATE
        if not candidate.is_global:
            return NOT_PUBLIC
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        return [literal]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RetryableError(
            _("The webhook host %(host)s could not be resolved.", host=host),
            fix=_("Check the webhook URL in Integrations."),
        ) from exc
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may receive webhooks now, else PermanentError saying why and what to do."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentError(
            _("The webhook URL must start with https:// or http:// and name a host."),
            fix=_("Set a full webhook URL in Integrations."),
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise PermanentError(
            _("The webhook URL has an invalid port."),
            fix=_("Check the webhook URL in Integrations."),
        ) from None
    for address in resolve(parts.hostname, port):
        problem = address_problem(address, allow_private=allow_private)
        if problem:
            raise PermanentError(
                _(
                    "Refused to send the webhook to %(host)s: it resolves to %(address)s, a %(problem)s.",
                    host=parts.hostname,
                    address=str(address),
                    problem=_(problem),
                ),
                fix=_(
                    "Webhooks go to public internet addresses only. An admin can allow private "
                    "network targets in Integrations (cloud metadata addresses stay refused)."
                ),
            )
    return url.strip()


# ---------------------------------------------------------------- the target


def _flag(value: object) -> bool:
    return str(value or "").lower() in ("1", "true", "yes", "on")


class WebhookTarget(Target):
    kind = "webhook"
    fields = {"url": False, "secret": True}
    # Keys the export worker adds to the stored config (never entered by an admin).
    ALLOW_PRIVATE = "allow_private"
    DELIVERY_ID = "delivery_id"

    @staticmethod
    def check_config(config: Mapping[str, str]) -> dict[str, str]:
        """Per-field problems of a connection's settings, checked when an admin saves them."""
        errors = {}
        url = urlsplit(str(config.get("url", "")).strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            errors["url"] = _("Enter a full URL starting with https:// or http://.")
        try:
            secret_bytes(str(config.get("secret", "")))
        except PermanentError as exc:
            errors["secret"] = f"{exc.message} {exc.fix}"
        return errors

    def _post(self, event: str, msg_id: str, data: dict[str, Any]) -> httpx.Response:
        url = check_url(
            str(self.config.get("url", "")),
            allow_private=_flag(self.config.get(self.ALLOW_PRIVATE)),
        )
        secret = str(self.config.get("secret", ""))
        body = json.dumps(
            {"type": event, "timestamp": utcnow().isoformat(), "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "Dealroom-Webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body),
        }
        client = self.client or httpx.Client(timeout=TIMEOUT)
        try:
            response = client.post(
                url, content=body, headers=headers, timeout=TIMEOUT, follow_redirects=False
            )
        except httpx.TimeoutException as exc:
            raise RetryableError(
                _("The webhook did not answer within %(seconds)s seconds.", seconds=int(TIMEOUT))
            ) from exc
        except httpx.TransportError as exc:
            raise RetryableError(
                _("Could not connect to the webhook: %(error)s", error=type(exc).__name__)
            ) from exc
        finally:
            if self.client is None:
                client.close()
        self._check_answer(response)
        return response

    @staticmethod
    def _check_answer(response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (408, 425, 429) or status >= 500:
            raise RetryableError(
                _("The webhook answered HTTP %(status)s.", status=status),
                retry_after=_retry_after(response.headers.get("retry-after")),
            )
        if status == 410:
            raise PermanentError(
                _("The webhook answered 410 Gone: the receiver no longer accepts deliveries."),
                fix=_("Set a new webhook URL in Integrations, or disconnect the webhook."),
            )
        if 300 <= status < 400:
            raise PermanentError(
                _("The webhook answered with a redirect (HTTP %(status)s).", status=status),
                fix=_("Set the final URL in Integrations: redirects are not followed."),
            )
        raise PermanentError(
            _("The webhook refused the delivery with HTTP %(status)s.", status=status),
            fix=_("Check the receiver's logs and the secret set in Integrations."),
        )

    def export(
        self, summary: Summary, *, previous: Mapping[str, str], checkpoint: Checkpoint
    ) -> ExportResult:
        msg_id = str(self.config.get(self.DELIVERY_ID) or "msg_" + secrets.token_hex(12))
        self._post(EVENT, msg_id, summary_json(summary))
        return ExportResult(remote_ids={"delivery": msg_id})

    def test_connection(self) -> str:
        response = self._post(PING, "msg_" + secrets.token_hex(12), {"ping": True})
        return _("The webhook answered HTTP %(status)s.", status=response.status_code)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
