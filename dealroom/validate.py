"""Small input checks shared by the domain modules. Each raises InvalidInput naming the field."""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import InvalidInput
from .i18n import _

_EMAIL = re.compile(
    r"^[^@\s<>\"',;]+@([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)$"
)
MAX_DOMAINS_LENGTH = 2000  # the width of rooms.allowed_domains
_DOMAIN = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)


def storable(value: object, field: str) -> str:
    """Text every database can store: no NUL (PostgreSQL refuses it) and no lone surrogates
    (valid in JSON as "\\ud800", but not encodable as UTF-8)."""
    result = str(value or "")
    if "\x00" in result:
        raise InvalidInput(fields={field: _("Must not contain NUL characters.")})
    try:
        result.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(fields={field: _("Must not contain unpaired surrogates.")}) from None
    return result


def email(value: object, field: str = "email") -> str:
    text = storable(value, field).strip().lower()
    if not text:
        raise InvalidInput(fields={field: _("Enter an email address.")})
    if len(text) > 254 or not _EMAIL.match(text):
        raise InvalidInput(
            fields={field: _("“%(value)s” is not a valid email address.", value=text[:80])}
        )
    return text


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def domains(value: object, field: str = "allowed_domains") -> list[str]:
    """Comma, space or newline separated domains; `@acme.com` and `ACME.com` are accepted."""
    raw = storable(value, field)
    items = [d.strip().lstrip("@").lower() for d in re.split(r"[\s,;]+", raw) if d.strip()]
    bad = [d for d in items if not _DOMAIN.match(d)]
    if bad:
        raise InvalidInput(
            fields={field: _("Not a domain: %(domains)s.", domains=", ".join(bad[:3]))}
        )
    result = sorted(set(items))
    if len(",".join(result)) > MAX_DOMAINS_LENGTH:
        raise InvalidInput(
            fields={
                field: _(
                    "Too many domains: at most %(max)s characters in all.", max=MAX_DOMAINS_LENGTH
                )
            }
        )
    return result


def text(
    value: object, field: str, *, label: str, max_length: int = 200, required: bool = True
) -> str:
    result = " ".join(storable(value, field).split())
    if required and not result:
        raise InvalidInput(fields={field: _("%(label)s is required.", label=label)})
    if len(result) > max_length:
        raise InvalidInput(fields={field: _too_long(label, max_length)})
    return result


def _too_long(label: str, max_length: int) -> str:
    return _("%(label)s must be at most %(max)s characters.", label=label, max=max_length)


def long_text(value: object, field: str, *, label: str, max_length: int = 5000) -> str:
    result = storable(value, field).replace("\r\n", "\n").strip()
    if len(result) > max_length:
        raise InvalidInput(fields={field: _too_long(label, max_length)})
    return result


def choice(
    value: object, field: str, *, label: str, options: tuple[str, ...], default: str | None = None
) -> str:
    result = str(value or "").strip() or default
    if result not in options:
        raise InvalidInput(
            fields={
                field: _(
                    "%(label)s must be one of: %(options)s.",
                    label=label,
                    options=", ".join(options),
                )
            }
        )
    return result


def password(value: object, field: str = "password") -> str:
    result = str(value or "")
    if len(result) < 10:
        raise InvalidInput(fields={field: _("Use at least 10 characters for the password.")})
    if len(result) > 256:
        raise InvalidInput(fields={field: _("The password is too long (256 characters at most).")})
    return result


def integer(value: object, field: str, *, label: str, minimum: int, maximum: int) -> int:
    try:
        result = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(
            fields={field: _("%(label)s must be a whole number.", label=label)}
        ) from None
    if not minimum <= result <= maximum:
        raise InvalidInput(
            fields={
                field: _(
                    "%(label)s must be between %(min)s and %(max)s.",
                    label=label,
                    min=minimum,
                    max=maximum,
                )
            }
        )
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
