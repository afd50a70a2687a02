"""HubSpot (CRM v3 objects, v4 associations): one note, one task per open plan item, next step.

Connection settings (`HubSpot.fields`; secrets are encrypted at rest):

    access_token    a private app access token, or the current OAuth access token
    client_id       OAuth: the public app's client id           } with a refresh token the
    client_secret   OAuth: the public app's client secret       } adapter renews the access
    refresh_token   OAuth: the refresh token from the install   } token itself (save_config)
    portal_id       the HubSpot account id, for links to the deal ("Hub ID")
    api_base        default https://api.hubapi.com (tests point it at a fake)
    objects_path    default /crm/v3/objects (the date-versioned API: /crm/objects/2026-03)

`token_expires_at` (epoch seconds) is kept beside the OAuth tokens, so the token is renewed
before it expires: HubSpot says a 401 is not a reliable sign of expiry, we still renew once on one.

One export, with the deal id the room is linked to:
  1. read the deal (a 404 stops: the deal was deleted or merged);
  2. find the buyer committee's contacts by email (search API, IN filter, 100 a request);
  3. the summary note (hs_note_body = the HTML with `summary.marker`) associated with the deal
     and the contacts: updated when its id is known, else found by its marker among the deal's
     notes (a crash after the create), else created;
  4. one task per open plan item (`Summary.task_marker` in hs_task_body), associated with the
     deal (and the buyer who owns it); a done item completes its remote task;
  5. the deal's `hs_next_step`.
Remote ids: "note", "task:<task id>".

Retries follow HubSpot's own clients: the search API's per-second limit is waited out here
(1 s × attempt), as are 5xx answers and 423 Locked on reads and updates (0.2 s × attempt, 2 s);
the ten-second limit, DAILY and anything unknown after a create go back to the worker
(`RetryableError` with retry_after: Retry-After when sent, else 10 s; DAILY: an hour, because
the daily quota resets at midnight in the portal's time zone, which we don't know).
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from ..i18n import _, using
from .base import (
    Checkpoint,
    ExportError,
    ExportResult,
    PermanentError,
    RetryableError,
    Summary,
    TaskSummary,
)
from .vendor import VendorTarget, clip, jittered, json_body, markers_in, retry_after

API_BASE = "https://api.hubapi.com"
OBJECTS_PATH = "/crm/v3/objects"
APP_BASE = "https://app.hubspot.com"
NOTE_LIMIT = 65_536  # hs_note_body, characters
SEARCH_IN_LIMIT = 100  # values in one IN filter
BATCH_READ_LIMIT = 100
# HUBSPOT_DEFINED association type ids (API-NOTES 1.3); the portal's labels endpoint wins.
DEFAULT_TYPES = {
    ("notes", "deals"): 214,
    ("notes", "contacts"): 202,
    ("tasks", "deals"): 216,
    ("tasks", "contacts"): 204,
}
RETRIES = 3  # attempts of one idempotent request inside an export
RENEW_MARGIN = 120  # seconds before expiry at which an OAuth token is renewed


class HubSpot(VendorTarget):
    kind = "hubspot"
    vendor = "HubSpot"
    fields = {
        "access_token": True,
        "client_id": False,
        "client_secret": True,
        "refresh_token": True,
        "portal_id": False,
        "api_base": False,
        "objects_path": False,
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._types: dict[tuple[str, str], int] = {}
        self._renewed = False

    # ------------------------------------------------------------------ the export

    def export(
        self, summary: Summary, *, previous: Mapping[str, str], checkpoint: Checkpoint
    ) -> ExportResult:
        with using(summary.language):
            self._renewed = False
            ids = dict(previous)
            deal_id = self._deal_id(summary)
            self._read_deal(deal_id)
            contacts = self._contacts(_emails(summary))
            try:
                self._note(summary, deal_id, contacts, ids, checkpoint)
                self._tasks(summary, deal_id, contacts, ids, checkpoint)
                if summary.next_steps.strip():
                    self._call(
                        "PATCH",
                        f"{self._objects}/deals/{deal_id}",
                        json={"properties": {"hs_next_step": summary.next_steps.strip()}},
                        on_404=self._deal_gone,
                    )
            except PermanentError as error:
                # A write refused because the deal vanished mid-run says so, not "rejected".
                try:
                    self._read_deal(deal_id)
                except RetryableError:
                    pass
                except PermanentError as gone:
                    raise gone from error
                raise
            return ExportResult(remote_ids=ids, url=self.deal_url(deal_id))

    def test_connection(self) -> str:
        self._call("GET", f"{self._objects}/deals", params={"limit": "1"})
        portal = self.setting("portal_id")
        if portal:
            return _("HubSpot account %(portal)s", portal=portal)
        return _("HubSpot account")

    def deal_url(self, deal_id: str) -> str:
        portal = self.setting("portal_id")
        return f"{APP_BASE}/contacts/{portal}/record/0-3/{deal_id}" if portal else ""

    # ------------------------------------------------------------------ steps

    def _deal_id(self, summary: Summary) -> str:
        deal_id = summary.crm_record_id.strip()
        if not deal_id.isdigit():
            raise PermanentError(
                _("This room is not linked to a HubSpot deal."),
                fix=_("Link the room to a HubSpot deal (its numeric record id) and export again."),
            )
        return deal_id

    def _deal_gone(self) -> ExportError:
        return PermanentError(
            _("The HubSpot deal this room is linked to no longer exists (deleted or merged)."),
            fix=_("Link the room to an existing deal"),
        )

    def _read_deal(self, deal_id: str) -> dict[str, Any]:
        return self._call(
            "GET",
            f"{self._objects}/deals/{deal_id}",
            params={"properties": "dealname,hs_next_step"},
            on_404=self._deal_gone,
        )

    def _contacts(self, emails: list[str]) -> dict[str, str]:
        """email (lowercase) -> contact id, for the emails HubSpot knows."""
        found: dict[str, str] = {}
        for start in range(0, len(emails), SEARCH_IN_LIMIT):
            chunk = emails[start : start + SEARCH_IN_LIMIT]
            after = "0"
            while True:
                page = self._call(
                    "POST",
                    f"{self._objects}/contacts/search",
                    json={
                        "filterGroups": [
                            {
                                "filters": [
                                    {"propertyName": "email", "operator": "IN", "values": chunk}
                                ]
                            }
                        ],
                        "properties": ["email"],
                        "limit": SEARCH_IN_LIMIT,
                        "after": after,
                        "sorts": [],
                    },
                    search=True,
                )
                for row in page.get("results", []):
                    email = str((row.get("properties") or {}).get("email") or "").lower()
                    if email and email not in found:
                        found[email] = str(row["id"])
                after = str(((page.get("paging") or {}).get("next") or {}).get("after") or "")
                if not after:
                    break
        return found

    def _note(
        self,
        summary: Summary,
        deal_id: str,
        contacts: dict[str, str],
        ids: dict[str, str],
        checkpoint: Checkpoint,
    ) -> None:
        properties = {
            "hs_note_body": note_body(summary),
            "hs_timestamp": _iso(summary.generated_at),
        }
        wanted = sorted(set(contacts.values()))
        note_id = ids.get("note") or self._ours("notes", deal_id, "hs_note_body").get(
            summary.marker
        )
        if note_id:
            updated = self._call(
                "PATCH",
                f"{self._objects}/notes/{note_id}",
                json={"properties": properties},
                on_404=None,
            )
            if updated:
                if ids.get("note") != note_id:
                    ids["note"] = note_id
                    checkpoint(dict(ids))
                self._associate("notes", note_id, "contacts", wanted)
                return
        associations = [self._to(deal_id, "notes", "deals")] + [
            self._to(contact, "notes", "contacts") for contact in wanted
        ]
        created = self._call(
            "POST",
            f"{self._objects}/notes",
            json={"properties": properties, "associations": associations},
            idempotent=False,
        )
        ids["note"] = str(created["id"])
        checkpoint(dict(ids))

    def _tasks(
        self,
        summary: Summary,
        deal_id: str,
        contacts: dict[str, str],
        ids: dict[str, str],
        checkpoint: Checkpoint,
    ) -> None:
        found: dict[str, str] | None = None
        for task in summary.tasks:
            key = f"task:{task.id}"
            task_id = ids.get(key)
            if not task_id:
                if found is None:  # one reconciliation for all the tasks, only when needed
                    found = self._ours("tasks", deal_id, "hs_task_body")
                task_id = found.get(Summary.task_marker(task.id))
                if task_id:
                    ids[key] = task_id
                    checkpoint(dict(ids))
            done = task.status == "done"
            if task_id:
                properties = (
                    {"hs_task_status": "COMPLETED"} if done else task_properties(summary, task)
                )
                if self._call(
                    "PATCH",
                    f"{self._objects}/tasks/{task_id}",
                    json={"properties": properties},
                    on_404=None,
                ):
                    continue
                ids.pop(key, None)  # deleted in HubSpot: an open item gets a new task
            if done:
                continue
            associations = [self._to(deal_id, "tasks", "deals")]
            owner = contacts.get(task.owner_email.lower()) if task.owner_side == "buyer" else None
            if owner:
                associations.append(self._to(owner, "tasks", "contacts"))
            created = self._call(
                "POST",
                f"{self._objects}/tasks",
                json={"properties": task_properties(summary, task), "associations": associations},
                idempotent=False,
            )
            ids[key] = str(created["id"])
            checkpoint(dict(ids))

    def _ours(self, object_type: str, deal_id: str, prop: str) -> dict[str, str]:
        """marker -> id of the deal's notes or tasks that carry one of our markers.

        Reads the deal's associations, then the objects (batch read): unlike the search API
        this is not eventually consistent, so an object created just before a crash is seen."""
        related: list[str] = []
        after = ""
        while True:
            params = {"limit": "500"} | ({"after": after} if after else {})
            page = self._call(
                "GET",
                f"{self._v4}/objects/deals/{deal_id}/associations/{object_type}",
                params=params,
                on_404=self._deal_gone,
            )
            related += [str(row["toObjectId"]) for row in page.get("results", [])]
            after = str(((page.get("paging") or {}).get("next") or {}).get("after") or "")
            if not after:
                break
        found: dict[str, str] = {}
        for start in range(0, len(related), BATCH_READ_LIMIT):
            batch = self._call(
                "POST",
                f"{self._objects}/{object_type}/batch/read",
                json={
                    "properties": [prop],
                    "propertiesWithHistory": [],
                    "inputs": [
                        {"id": object_id} for object_id in related[start : start + BATCH_READ_LIMIT]
                    ],
                },
            )
            rows = sorted(batch.get("results", []), key=lambda row: int(row["id"]))
            for row in rows:  # the oldest wins, should a duplicate ever exist
                for marker in markers_in(str((row.get("properties") or {}).get(prop) or "")):
                    found.setdefault(marker, str(row["id"]))
        return found

    def _associate(self, from_type: str, from_id: str, to_type: str, to_ids: list[str]) -> None:
        """Add the associations that are missing (new buyers since the last export)."""
        if not to_ids:
            return
        page = self._call(
            "GET",
            f"{self._v4}/objects/{from_type}/{from_id}/associations/{to_type}",
            params={"limit": "500"},
        )
        have = {str(row["toObjectId"]) for row in page.get("results", [])}
        spec = [
            {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": self._type(from_type, to_type),
            }
        ]
        for to_id in to_ids:
            if to_id not in have:
                self._call(
                    "PUT",
                    f"{self._v4}/objects/{from_type}/{from_id}/associations/{to_type}/{to_id}",
                    json=spec,
                )

    def _to(self, to_id: str, from_type: str, to_type: str) -> dict[str, Any]:
        return {
            "to": {"id": to_id},
            "types": [
                {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": self._type(from_type, to_type),
                }
            ],
        }

    def _type(self, from_type: str, to_type: str) -> int:
        """The portal's unlabelled HUBSPOT_DEFINED type id (read once per export)."""
        key = (from_type, to_type)
        if key not in self._types:
            self._types[key] = DEFAULT_TYPES[key]
            try:
                labels = self._call("GET", f"{self._v4}/associations/{from_type}/{to_type}/labels")
            except PermanentError:
                labels = {}  # e.g. a scope without schema access: the documented defaults
            for row in labels.get("results", []):
                if row.get("category") == "HUBSPOT_DEFINED" and not row.get("label"):
                    self._types[key] = int(row["typeId"])
                    break
        return self._types[key]

    # ------------------------------------------------------------------ HTTP

    @property
    def _base(self) -> str:
        return self.setting("api_base", API_BASE).rstrip("/")

    @property
    def _objects(self) -> str:
        return self._base + "/" + self.setting("objects_path", OBJECTS_PATH).strip("/")

    @property
    def _v4(self) -> str:
        return self._base + "/crm/v4"

    @property
    def _oauth(self) -> bool:
        return all(self.setting(k) for k in ("client_id", "client_secret", "refresh_token"))

    def _call(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool = True,
        search: bool = False,
        on_404: Any = "error",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One API call, with the waits and the token renewal HubSpot's rules allow.

        `on_404`: a function returning the error to raise, None to return {} ("gone"), or
        "error" to treat it like any other refusal."""
        if self._oauth and not self._renewed and self._token_expiring():
            self._renew()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.send(method, url, headers=self._headers(), **kwargs)
            except RetryableError:
                if not idempotent or attempt >= RETRIES:
                    raise
                continue
            status = response.status_code
            if status < 300:
                body = json_body(response)
                return body if isinstance(body, dict) else {"ok": True}
            if status == 401 and self._oauth and not self._renewed:
                self._renew()
                continue
            if status == 404 and on_404 != "error":
                if on_404 is None:
                    return {}
                raise on_404()
            wait = self._wait(response, attempt, idempotent=idempotent, search=search)
            if wait is None:
                raise self._error(response)
            self.sleep(wait)

    def _wait(
        self, response: httpx.Response, attempt: int, *, idempotent: bool, search: bool
    ) -> float | None:
        """How long to wait before trying again inside this export, or None to give up."""
        if attempt >= RETRIES:
            return None
        status = response.status_code
        if status == 429:
            body = json_body(response) or {}
            # The search API's own per-second limit (no rate-limit headers): 1 s × attempt.
            secondly = body.get("policyName") == "SECONDLY" or "your secondly limit" in str(
                body.get("message", "")
            )
            return float(attempt) if search and secondly else None
        if not idempotent:
            return None  # the create may have happened: the next attempt reconciles first
        if status == 423:
            return 2.0
        if status >= 500:
            return 0.2 * attempt
        return None

    def _headers(self) -> dict[str, str]:
        token = self.setting("access_token")
        if not token:
            raise PermanentError(
                _("The HubSpot connection has no access token."),
                fix=_(
                    "Enter a private app access token or connect HubSpot with OAuth in the connection settings."
                ),
            )
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def _token_expiring(self) -> bool:
        if not self.setting("access_token"):
            return True
        try:
            expires_at = float(self.setting("token_expires_at") or "inf")
        except ValueError:
            return True
        return expires_at - time.time() < RENEW_MARGIN

    def _renew(self) -> None:
        """Trade the refresh token for a new access token (once per export) and save both."""
        self._renewed = True
        response = self.send(
            "POST",
            f"{self._base}/oauth/v1/token",
            data={
                "grant_type": "refresh_token",
                "client_id": self.setting("client_id"),
                "client_secret": self.setting("client_secret"),
                "refresh_token": self.setting("refresh_token"),
            },
            headers={"Accept": "application/json"},
        )
        body = json_body(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(
                _("HubSpot could not renew the access token; the export will be retried.")
            )
        if (
            response.status_code != 200
            or not isinstance(body, dict)
            or not body.get("access_token")
        ):
            raise PermanentError(
                _("HubSpot no longer accepts this connection's authorization."),
                fix=_(
                    "Reconnect HubSpot in the connection settings (an admin of the HubSpot account must approve it)."
                ),
            )
        changes = {
            "access_token": str(body["access_token"]),
            "token_expires_at": str(int(time.time() + float(body.get("expires_in") or 1800))),
        }
        if body.get("refresh_token"):
            changes["refresh_token"] = str(body["refresh_token"])
        if body.get("hub_id") and not self.setting("portal_id"):
            changes["portal_id"] = str(body["hub_id"])
        self.config.update(changes)
        self.save_config(changes)

    def _error(self, response: httpx.Response) -> ExportError:
        status = response.status_code
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        detail = str(body.get("message") or "")[:300]
        if status == 429:
            if body.get("policyName") == "DAILY":
                return RetryableError(
                    _(
                        "HubSpot's daily API limit for this account is used up; the export will continue later."
                    ),
                    retry_after=retry_after(response) or 3600.0,
                )
            return RetryableError(
                _("HubSpot is limiting how fast we may send; the export will be retried shortly."),
                retry_after=retry_after(response) or jittered(10.0),
            )
        if status == 423 or status == 477 or status >= 500:
            return RetryableError(
                _(
                    "HubSpot is temporarily unavailable (HTTP %(status)s); the export will be retried.",
                    status=status,
                ),
                retry_after=retry_after(response) or (2.0 if status == 423 else None),
            )
        if status == 401:
            if self._oauth:
                return PermanentError(
                    _("HubSpot no longer accepts this connection's authorization."),
                    fix=_(
                        "Reconnect HubSpot in the connection settings (an admin of the HubSpot account must approve it)."
                    ),
                )
            return PermanentError(
                _("HubSpot did not accept the access token."),
                fix=_(
                    "Create a private app access token in HubSpot (Settings › Integrations › Private apps) and paste it in the HubSpot connection settings."
                ),
            )
        if status == 403:
            return PermanentError(
                _("HubSpot refused the request: the app is missing a permission."),
                fix=_(
                    "Give the HubSpot app the scopes crm.objects.contacts.read, crm.objects.contacts.write, crm.objects.deals.read and crm.objects.deals.write."
                ),
            )
        return PermanentError(
            _("HubSpot rejected the export: %(detail)s", detail=detail or f"HTTP {status}"),
            fix=_(
                "Check the HubSpot connection settings; if it keeps happening, send this message and the reference %(ref)s to support.",
                ref=str(body.get("correlationId") or "-"),
            ),
        )


# ---------------------------------------------------------------------- payloads


def _emails(summary: Summary) -> list[str]:
    emails = [person.email for person in summary.committee]
    emails += [task.owner_email for task in summary.tasks if task.owner_side == "buyer"]
    return sorted({email.strip().lower() for email in emails if "@" in email})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def note_body(summary: Summary) -> str:
    """The summary HTML with our marker, within HubSpot's note size."""
    marker = f"<p>{html.escape(summary.marker)}</p>"
    body = summary.html if summary.marker in summary.html else summary.html + marker
    if len(body) <= NOTE_LIMIT:
        return body
    # Cut after a whole tag, so no half tag is left for HubSpot's sanitizer to guess at.
    cut = summary.html.rfind(">", 0, NOTE_LIMIT - len(marker) - 16) + 1
    return summary.html[:cut] + "<p>…</p>" + marker


def task_properties(summary: Summary, task: TaskSummary) -> dict[str, str]:
    when = task.due_date
    # Noon UTC keeps the due date on the same calendar day from UTC-11 to UTC+11.
    timestamp = f"{when.isoformat()}T12:00:00.000Z" if when else _iso(summary.generated_at)
    lines = [
        f"<p>{html.escape(task.milestone)}</p>" if task.milestone else "",
        "<p>"
        + html.escape(
            _(
                "Owner: %(owner)s · Status: %(status)s",
                owner=task.owner_name or _("nobody"),
                status=task.status_label,
            )
        )
        + "</p>",
        f'<p><a href="{html.escape(summary.room_url)}">{html.escape(_("Open the deal room"))}</a></p>',
        f"<p>{html.escape(Summary.task_marker(task.id))}</p>",
    ]
    return {
        "hs_task_subject": clip(task.title, 255),
        "hs_task_body": "".join(lines),
        "hs_task_status": "COMPLETED" if task.status == "done" else "NOT_STARTED",
        "hs_task_priority": "HIGH" if task.overdue else "MEDIUM",
        "hs_task_type": "TODO",
        "hs_timestamp": timestamp,
    }
