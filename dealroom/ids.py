"""Prefixed, unguessable public ids (`room_…`, `inv_…`) so buyer URLs never carry sequential integers."""

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: no i/l/o/u confusion


def new_id(prefix: str, length: int = 20) -> str:
    """`length` base32 characters carry 100 bits of randomness at the default length."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def has_prefix(value: str, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix + "_") and len(value) <= 64
