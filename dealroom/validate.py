"""Small input checks shared by the domain modules. Each raises InvalidInput naming the field."""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import InvalidInput

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)$")
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")


def email(value: object, field: str = "email") -> str:
    text = str(value or "").strip().lower()
    if not text:
        raise InvalidInput(fields={field: "Enter an email address."})
    if len(text) > 254 or not _EMAIL.match(text):
        raise InvalidInput(fields={field: f"“{text[:80]}” is not a valid email address."})
    return text


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def domains(value: object, field: str = "allowed_domains") -> list[str]:
    """Comma, space or newline separated domains; `@acme.com` and `ACME.com` are accepted."""
    items = [d.strip().lstrip("@").lower() for d in re.split(r"[\s,;]+", str(value or "")) if d.strip()]
    bad = [d for d in items if not _DOMAIN.match(d)]
    if bad:
        raise InvalidInput(fields={field: f"Not a domain: {', '.join(bad[:3])}."})
    return sorted(set(items))


def text(value: object, field: str, *, label: str, max_length: int = 200, required: bool = True) -> str:
    result = " ".join(str(value or "").split())
    if required and not result:
        raise InvalidInput(fields={field: f"{label} is required."})
    if len(result) > max_length:
        raise InvalidInput(fields={field: f"{label} must be at most {max_length} characters."})
    return result


def long_text(value: object, field: str, *, label: str, max_length: int = 5000) -> str:
    result = str(value or "").replace("\r\n", "\n").strip()
    if len(result) > max_length:
        raise InvalidInput(fields={field: f"{label} must be at most {max_length} characters."})
    return result


def choice(value: object, field: str, *, label: str, options: tuple[str, ...], default: str | None = None) -> str:
    result = str(value or "").strip() or default
    if result not in options:
        raise InvalidInput(fields={field: f"{label} must be one of: {', '.join(options)}."})
    return result


def password(value: object, field: str = "password") -> str:
    result = str(value or "")
    if len(result) < 10:
        raise InvalidInput(fields={field: "Use at least 10 characters for the password."})
    if len(result) > 256:
        raise InvalidInput(fields={field: "The password is too long (256 characters at most)."})
    return result


def integer(value: object, field: str, *, label: str, minimum: int, maximum: int) -> int:
    try:
        result = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(fields={field: f"{label} must be a whole number."}) from None
    if not minimum <= result <= maximum:
        raise InvalidInput(fields={field: f"{label} must be between {minimum} and {maximum}."})
    return result


def gather(checks: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Run every check and report all failing fields at once, not just the first."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name, check in checks.items():
        try:
            values[name] = check()
        except InvalidInput as exc:
            errors.update(exc.fields or {name: exc.message})
    if errors:
        raise InvalidInput(fields=errors)
    return values
