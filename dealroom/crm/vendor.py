"""What the CRM adapters (HubSpot, Salesforce, kintone) share: the HTTP client, waiting,
Retry-After, transport failures mapped to retryable errors, and the marker helpers.

    class HubSpot(VendorTarget): ...
    response = self.send("GET", url, headers=...)   # a timeout becomes RetryableError

Waits inside one export are short and go through `self.sleep`, so tests replace it and assert
the durations; long waits (rate limits, quota) are left to the export worker via
`RetryableError(retry_after=...)`. A request that creates something is never repeated blindly:
its outcome is unknown after a timeout, so the next attempt first looks for our marker.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from ..i18n import _
from .base import RetryableError, Target

DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
# `[dealroom:room_…]` / `[dealroom:task_…]`, as `Summary.marker` and `Summary.task_marker` write.
MARKER = re.compile(r"\[dealroom:[A-Za-z0-9_-]+\]")


class VendorTarget(Target):
    """A target that speaks HTTP to a vendor's API."""

    vendor = ""  # the product name, shown in messages

    def __init__(
        self,
        *,
        config: Mapping[str, str],
        client: httpx.Client | None = None,
        save_config: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        super().__init__(config=config, client=client, save_config=save_config)
        self.http = client if client is not None else httpx.Client(timeout=DEFAULT_TIMEOUT)
        self.sleep: Callable[[float], None] = time.sleep

    def setting(self, name: str, default: str = "") -> str:
        return (self.config.get(name) or default).strip()

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange; a timeout or a broken connection becomes a RetryableError."""
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableError(
                _(
                    "%(vendor)s did not answer in time; the export will be retried.",
                    vendor=self.vendor,
                )
            ) from exc
        except httpx.TransportError as exc:
            raise RetryableError(
                _("Could not reach %(vendor)s; the export will be retried.", vendor=self.vendor)
            ) from exc


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def jittered(seconds: float) -> float:
    """`seconds` plus up to 20 % (at most 1 s), so retrying workers don't arrive in step."""
    return seconds + random.uniform(0, min(1.0, seconds * 0.2))


def json_body(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def markers_in(text: str) -> list[str]:
    return MARKER.findall(text or "")


def clip(text: str, limit: int, *, keep: str = "") -> str:
    """`text` cut to `limit` characters with "…", always ending in `keep` (e.g. our marker)."""
    room = limit - len(keep)
    if len(text) + len(keep) <= limit:
        return text + keep
    return text[: max(0, room - 1)] + "…" + keep
