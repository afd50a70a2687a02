"""Passwords, signed tokens and secret hashing.

Each purpose signs in its own namespace (itsdangerous salt), so a value signed as an invite can
never be replayed as a buyer session, a seller session or a team invitation.

Key rotation: the Signer signs with the current key and also accepts values signed with the
previous keys (`DEALROOM_SECRET_KEY_PREVIOUS`), so changing the key logs nobody out; drop a previous
key once everything signed with it has expired (sessions: `DEALROOM_SESSION_DAYS`; viewer cookies:
90 days; invite links: their room's expiry).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

NAMESPACES = frozenset(
    {
        "seller-session",  # seller login cookie
        "viewer",  # buyer session cookie (rooms this browser may enter, as whom)
        "device",  # random id of this browser, to notice forwarded invite links
        "invite",  # personal invite links
        "team-invite",  # teammate invitations
        "csrf",  # CSRF token cookie
        "download",  # short-lived download links for locally stored files
        "verify",  # pending email verification for a forwarded link
        "track",  # one page load's tracking stream (the beacon's proof of origin)
    }
)

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend comparable time so a missing account is not told apart by timing.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


class TokenInvalid(Exception):
    """Signature does not match: tampered, or signed for another purpose."""


class TokenExpired(TokenInvalid):
    def __init__(self, payload: Any) -> None:
        super().__init__("expired")
        self.payload = payload


class Signer:
    def __init__(self, secret_key: str, previous: Sequence[str] = ()) -> None:
        # itsdangerous signs with the last key of the list and verifies with any of them.
        self._keys = [*reversed([key for key in previous if key]), secret_key]

    @property
    def keys(self) -> list[str]:
        """Every key a signature is checked against: the current one first."""
        return list(reversed(self._keys))

    def _serializer(self, namespace: str) -> URLSafeTimedSerializer:
        if namespace not in NAMESPACES:
            raise ValueError(f"unknown signing namespace {namespace!r}")
        return URLSafeTimedSerializer(self._keys, salt=f"dealroom.{namespace}")

    def sign(self, namespace: str, payload: Any) -> str:
        return self._serializer(namespace).dumps(payload)

    def unsign_timed(self, namespace: str, token: str) -> tuple[Any, datetime]:
        """Payload and signing time, without an age check: for links whose lifetime is a
        per-room setting that may change after the link was sent."""
        try:
            payload, signed_at = self._serializer(namespace).loads(token, return_timestamp=True)
        except BadSignature as exc:
            raise TokenInvalid(str(exc)) from exc
        return payload, signed_at.astimezone(UTC)

    def unsign(self, namespace: str, token: str, *, max_age: int | None) -> Any:
        serializer = self._serializer(namespace)
        try:
            return serializer.loads(token, max_age=max_age)
        except SignatureExpired as exc:
            # The signature is good: expose the payload so callers can tell who the link was for.
            payload = serializer.loads_unsafe(token)[1]
            raise TokenExpired(payload) from exc
        except BadSignature as exc:
            raise TokenInvalid(str(exc)) from exc


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def keyed_hash(secret_key: str, value: str) -> str:
    """HMAC for values we look up but must not store in the clear (codes, device ids)."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def six_digit_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
