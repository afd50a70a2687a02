"""Signing namespaces, expiry, password hashing and id shapes."""

from __future__ import annotations

import time
from unittest import mock

import pytest

from dealroom.ids import has_prefix, new_id
from dealroom.security import Signer, TokenExpired, TokenInvalid, hash_password, verify_password


def test_a_value_signed_for_one_purpose_is_refused_for_another():
    signer = Signer("k" * 40)
    token = signer.sign("invite", {"i": "inv_x"})
    assert signer.unsign("invite", token, max_age=60) == {"i": "inv_x"}
    with pytest.raises(TokenInvalid):
        signer.unsign("viewer", token, max_age=60)
    with pytest.raises(TokenInvalid):
        Signer("other-key" * 5).unsign("invite", token, max_age=60)
    with pytest.raises(ValueError):
        signer.sign("made-up", 1)


def test_expired_tokens_say_so_and_keep_their_payload():
    signer = Signer("k" * 40)
    with mock.patch("itsdangerous.timed.time.time", return_value=time.time() - 3600):
        token = signer.sign("team-invite", {"t": "tinv_1"})
    with pytest.raises(TokenExpired) as caught:
        signer.unsign("team-invite", token, max_age=60)
    assert caught.value.payload == {"t": "tinv_1"}
    payload, signed_at = signer.unsign_timed("team-invite", token)
    assert payload == {"t": "tinv_1"}
    assert signed_at.tzinfo is not None


def test_passwords_are_argon2_and_verify():
    hashed = hash_password("a-long-password")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "a-long-password")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("", "anything")
    assert not verify_password("not-a-hash", "anything")


def test_public_ids_are_prefixed_and_unguessable():
    ids = {new_id("room") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(has_prefix(i, "room") and len(i) == 25 for i in ids)
    assert not has_prefix("inv_abc", "room")
    assert not has_prefix("room_" + "x" * 100, "room")
