"""Domain errors. The web layer maps each to a page or a JSON error; none of them is a 500.

DealroomError                 code          HTTP
 ├── NotFound                 not_found     404  (also: another tenant's data; never 403, never data)
 ├── PermissionDenied         forbidden     403
 │    └── AccessRevoked       revoked       403
 ├── InvalidInput             invalid       422  (carries per-field messages)
 ├── Conflict                 conflict      409
 ├── TooLarge                 too_large     413
 ├── RateLimited              rate_limited  429  (carries retry_after seconds)
 ├── Unavailable              unavailable   503  (database or file storage down; retry_after)
 └── LinkProblem              link_*        400/404/410 (tampered, unknown, expired invite links)
"""

from __future__ import annotations


class DealroomError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class MalformedRequest(DealroomError):
    code = "malformed_json"
    status = 400


class NotFound(DealroomError):
    code = "not_found"
    status = 404


class PermissionDenied(DealroomError):
    code = "forbidden"
    status = 403


class AccessRevoked(PermissionDenied):
    code = "revoked"


class InvalidInput(DealroomError):
    code = "invalid"
    status = 422

    def __init__(self, message: str = "", fields: dict[str, str] | None = None) -> None:
        super().__init__(message or "; ".join(fields.values() if fields else []))
        self.fields = fields or {}


class Conflict(DealroomError):
    code = "conflict"
    status = 409


class TooLarge(DealroomError):
    code = "too_large"
    status = 413


class RateLimited(DealroomError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Unavailable(DealroomError):
    """Something we depend on (the database, the file storage) is down or full: not the
    visitor's fault, nothing was saved, and trying again later may work."""

    code = "unavailable"
    status = 503

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class LinkProblem(DealroomError):
    """An invite link that cannot be used; `kind` is tampered, unknown or expired."""

    STATUS = {"tampered": 400, "unknown": 404, "expired": 410}

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.code = f"link_{kind}"
        self.status = self.STATUS[kind]
