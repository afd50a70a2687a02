"""Prefixed, unguessable public ids (`room_…`, `inv_…`) so buyer URLs never carry sequential integers."""

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: no i/l/o/u confusion


def new_id(prefix: str, length: int = 20) -> str:
    """`length` base32 characters carry 100 bits of randomness at the default length."""
    # One call to the OS random source per id, not one per character (ids are made in bulk).
    number = int.from_bytes(secrets.token_bytes((length * 5 + 7) // 8))
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_" + "".join(chars)


def has_prefix(value: str, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix + "_") and len(value) <= 64
