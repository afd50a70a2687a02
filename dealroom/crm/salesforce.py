"""Salesforce (REST API): a ContentNote on the opportunity and one Task per open plan item,
written together in one composite request (allOrNone), plus the opportunity's NextStep.

Connection settings (`Salesforce.fields`; secrets are encrypted at rest):

    instance_url    https://<MyDomain>.my.salesforce.com (updated from each token renewal)
    login_url       default https://login.salesforce.com (a sandbox: https://test.salesforce.com)
    api_version     default 66.0 (Spring '26)
    access_token    the current OAuth access token
    client_id       the connected app's consumer key        } with a refresh token the adapter
    client_secret   the connected app's consumer secret     } renews the session itself on
    refresh_token   the refresh token from the OAuth flow   } 401 INVALID_SESSION_ID

One export, with the opportunity id the room is linked to:
  1. read the opportunity (404 / ENTITY_IS_DELETED stops: it was deleted or merged);
  2. find the buyers' contacts by email (SOQL, values escaped);
  3. when some remote id is not known yet (first export, or a crash after a write), find ours:
     the note by the marker in its Title (via ContentDocumentLink), the tasks by the marker
     in their Subject (long-text Description cannot be filtered in SOQL);
  4. one composite request with allOrNone: ContentNote (Content = base64 of the HTML) +
     ContentDocumentLink, or a PATCH of the known note; a Task per open item (WhatId = the
     opportunity, WhoId = the owner's contact, else the first committee contact), PATCHed when
     known; a done item's task set to Completed; NextStep on the opportunity. More than 25
     subrequests are split over several composites, the note and its link never apart.
Remote ids: "note" (the ContentDocument id), "task:<task id>".

Salesforce has no 429 on the REST API: 403 REQUEST_LIMIT_EXCEEDED is its rate limit (the daily
allocation, or too many long concurrent requests), retried by the worker after a long wait.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
from .vendor import VendorTarget, clip, json_body, markers_in, retry_after

LOGIN_URL = "https://login.salesforce.com"
API_VERSION = "66.0"
COMPOSITE_LIMIT = 25
TEXT_LIMIT = 255  # Subject, Title, NextStep
DESCRIPTION_LIMIT = 32_000
EMAILS_PER_QUERY = 100
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
STATUS = {
    "todo": "Not Started",
    "in_progress": "In Progress",
    "blocked": "Waiting on someone else",
    "done": "Completed",
}
GONE = frozenset({"NOT_FOUND", "ENTITY_IS_DELETED"})
HALTED = "PROCESSING_HALTED"
USAGE_CEILING = 0.95  # leave the org's last 5 % of its daily allocation to its own integrations


@dataclass
class Sub:
    """One composite subrequest; `key` is the remote id it creates ("note", "task:…")."""

    ref: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    key: str = ""
    stale: str = ""  # the remote id key whose object this PATCH assumes still exists


class Salesforce(VendorTarget):
    kind = "salesforce"
    vendor = "Salesforce"
    fields = {
        "instance_url": False,
        "login_url": False,
        "api_version": False,
        "access_token": True,
        "client_id": False,
        "client_secret": True,
        "refresh_token": True,
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._renewed = False
        self.usage: tuple[int, int] | None = None  # from Sforce-Limit-Info: (used, allocation)

    # ------------------------------------------------------------------ the export

    def export(
        self, summary: Summary, *, previous: Mapping[str, str], checkpoint: Checkpoint
    ) -> ExportResult:
        with using(summary.language):
            self._renewed = False
            ids = dict(previous)
            opportunity = self._opportunity_id(summary)
            self._call(
                "GET",
                f"{self._data}/sobjects/Opportunity/{opportunity}",
                params={"fields": "Id,Name"},
                gone=True,
            )
            if self.usage and self.usage[0] >= USAGE_CEILING * self.usage[1]:
                raise RetryableError(
                    _(
                        "Your Salesforce organisation has nearly used up its daily API requests; the export will continue later."
                    ),
                    retry_after=3600.0,
                )
            contacts = self._contacts(summary)
            for _attempt in range(2):  # once more after dropping ids deleted remotely
                self._reconcile(summary, opportunity, ids, checkpoint)
                stale = self._write(
                    self._plan(summary, opportunity, contacts, ids), ids, checkpoint
                )
                if not stale:
                    break
                for key in stale:  # deleted in Salesforce since the last export: write anew
                    ids.pop(key, None)
                checkpoint(dict(ids))
            return ExportResult(
                remote_ids=ids, url=f"{self._instance}/lightning/r/Opportunity/{opportunity}/view"
            )

    def test_connection(self) -> str:
        self._query("SELECT Id FROM Opportunity LIMIT 1")
        return _(
            "Salesforce organisation at %(host)s",
            host=urlsplit(self._instance).hostname or self._instance,
        )

    # ------------------------------------------------------------------ steps

    def _opportunity_id(self, summary: Summary) -> str:
        record = summary.crm_record_id.strip()
        if not SALESFORCE_ID.match(record) or not record.startswith("006"):
            raise PermanentError(
                _("This room is not linked to a Salesforce opportunity."),
                fix=_(
                    "Link the room to a Salesforce opportunity (its id starts with 006) and export again."
                ),
            )
        return record

    def _gone(self) -> ExportError:
        return PermanentError(
            _(
                "The Salesforce opportunity this room is linked to no longer exists (deleted or merged)."
            ),
            fix=_("Link the room to an existing opportunity"),
        )

    def _contacts(self, summary: Summary) -> dict[str, str]:
        """email (lowercase) -> Contact id."""
        emails = sorted(
            {
                e.strip().lower()
                for e in [p.email for p in summary.committee]
                + [t.owner_email for t in summary.tasks]
                if "@" in e
            }
        )
        found: dict[str, str] = {}
        for start in range(0, len(emails), EMAILS_PER_QUERY):
            values = ", ".join(soql_string(e) for e in emails[start : start + EMAILS_PER_QUERY])
            for row in self._query(
                f"SELECT Id, Email FROM Contact WHERE Email IN ({values}) ORDER BY CreatedDate"  # noqa: S608 - soql_string escapes
            ):
                found.setdefault(str(row.get("Email") or "").lower(), str(row["Id"]))
        return found

    def _reconcile(
        self, summary: Summary, opportunity: str, ids: dict[str, str], checkpoint: Checkpoint
    ) -> None:
        """Find what an earlier, interrupted export created but could not record."""
        before = dict(ids)
        if "note" not in ids:
            for row in self._query(
                "SELECT ContentDocumentId, ContentDocument.Title FROM ContentDocumentLink "  # noqa: S608
                f"WHERE LinkedEntityId = {soql_string(opportunity)}"
            ):
                title = str((row.get("ContentDocument") or {}).get("Title") or "")
                if summary.marker in markers_in(title):
                    ids["note"] = str(row["ContentDocumentId"])
                    break
        if any(f"task:{t.id}" not in ids for t in summary.tasks):
            for row in self._query(
                f"SELECT Id, Subject FROM Task WHERE WhatId = {soql_string(opportunity)} "  # noqa: S608
                "AND Subject LIKE '%[dealroom:%' ORDER BY CreatedDate"
            ):
                for marker in markers_in(str(row.get("Subject") or "")):
                    key = "task:" + marker.removeprefix("[dealroom:").removesuffix("]")
                    ids.setdefault(key, str(row["Id"]))
        if ids != before:
            checkpoint(dict(ids))

    def _plan(
        self, summary: Summary, opportunity: str, contacts: dict[str, str], ids: dict[str, str]
    ) -> list[list[Sub]]:
        """The subrequests, in groups that must share one composite."""
        base = self._data
        groups: list[list[Sub]] = []
        title = clip(summary.title or _("Deal room summary"), TEXT_LIMIT, keep=" " + summary.marker)
        note = {
            "Title": title,
            "Content": base64.b64encode(note_html(summary).encode()).decode("ascii"),
        }
        if ids.get("note"):
            groups.append(
                [
                    Sub(
                        "note",
                        "PATCH",
                        f"{base}/sobjects/ContentNote/{ids['note']}",
                        note,
                        stale="note",
                    )
                ]
            )
        else:
            link = {
                "ContentDocumentId": "@{note.id}",
                "LinkedEntityId": opportunity,
                "ShareType": "V",
                "Visibility": "AllUsers",
            }
            groups.append(
                [
                    Sub("note", "POST", f"{base}/sobjects/ContentNote", note, key="note"),
                    Sub("note_link", "POST", f"{base}/sobjects/ContentDocumentLink", link),
                ]
            )
        primary = next(
            (contacts[p.email.lower()] for p in summary.committee if p.email.lower() in contacts),
            "",
        )
        for index, task in enumerate(summary.tasks):
            key = f"task:{task.id}"
            ref = f"task_{index}"
            known = ids.get(key)
            if task.status == "done":
                if known:
                    groups.append(
                        [
                            Sub(
                                ref,
                                "PATCH",
                                f"{base}/sobjects/Task/{known}",
                                {"Status": STATUS["done"]},
                                stale=key,
                            )
                        ]
                    )
                continue
            fields = task_fields(summary, task)
            who = contacts.get(task.owner_email.lower()) if task.owner_side == "buyer" else None
            if who or primary:
                fields["WhoId"] = who or primary
            if known:
                groups.append(
                    [Sub(ref, "PATCH", f"{base}/sobjects/Task/{known}", fields, stale=key)]
                )
            else:
                fields["WhatId"] = opportunity
                groups.append([Sub(ref, "POST", f"{base}/sobjects/Task", fields, key=key)])
        if summary.next_steps.strip():
            next_step = {"NextStep": clip(summary.next_steps.strip(), TEXT_LIMIT)}
            groups.append(
                [
                    Sub(
                        "opportunity",
                        "PATCH",
                        f"{base}/sobjects/Opportunity/{opportunity}",
                        next_step,
                    )
                ]
            )
        return groups

    def _write(
        self, groups: list[list[Sub]], ids: dict[str, str], checkpoint: Checkpoint
    ) -> list[str]:
        """Send the groups in composites of at most 25; return the keys found stale, if any."""
        batches: list[list[Sub]] = [[]]
        for group in groups:
            if len(batches[-1]) + len(group) > COMPOSITE_LIMIT:
                batches.append([])
            batches[-1].extend(group)
        for batch in batches:
            stale = self._composite(batch, ids, checkpoint)
            if stale:
                return stale
        return []

    def _composite(
        self, batch: list[Sub], ids: dict[str, str], checkpoint: Checkpoint
    ) -> list[str]:
        body = {
            "allOrNone": True,
            "compositeRequest": [
                {"method": s.method, "url": s.path, "referenceId": s.ref}
                | ({"body": s.body} if s.body is not None else {})
                for s in batch
            ],
        }
        answer = self._call("POST", f"{self._data}/composite", json=body, idempotent=False)
        results = {r.get("referenceId"): r for r in (answer or {}).get("compositeResponse", [])}
        failures = []
        for sub in batch:
            result = results.get(sub.ref) or {}
            status = int(result.get("httpStatusCode") or 0)
            raw = result.get("body")
            errors: list[Any] = raw if isinstance(raw, list) else []
            codes = {str(e.get("errorCode")) for e in errors if isinstance(e, dict)}
            if status >= 400 and codes != {HALTED}:
                failures.append((sub, status, errors, codes))
        if not failures:
            for sub in batch:
                result = results.get(sub.ref) or {}
                if sub.key and isinstance(result.get("body"), dict) and result["body"].get("id"):
                    ids[sub.key] = str(result["body"]["id"])
            checkpoint(dict(ids))
            return []
        # allOrNone: nothing was written. A vanished note or task is written anew; a vanished
        # opportunity stops the export; anything else is explained.
        for sub, _status, errors, codes in failures:
            fields = {f for e in errors if isinstance(e, dict) for f in e.get("fields") or []}
            if codes & GONE and (sub.ref == "opportunity" or fields & {"WhatId", "LinkedEntityId"}):
                raise self._gone()
        stale = [
            sub.stale for sub, _status, _errors, codes in failures if sub.stale and codes & GONE
        ]
        if len(stale) == len(failures):
            return stale
        sub, status, errors, codes = next(f for f in failures if not (f[0].stale and f[3] & GONE))
        raise self._refusal(status, errors)

    # ------------------------------------------------------------------ HTTP

    @property
    def _instance(self) -> str:
        url = self.setting("instance_url").rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise PermanentError(
                _("The Salesforce connection has no instance URL."),
                fix=_(
                    "Connect Salesforce again, or enter your My Domain URL (https://…my.salesforce.com)."
                ),
            )
        return url

    @property
    def _data(self) -> str:
        """The data API path; `_call` puts the (possibly renewed) instance URL in front."""
        return f"/services/data/v{self.setting('api_version', API_VERSION).removeprefix('v')}"

    def _query(self, soql: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        answer = self._call("GET", f"{self._data}/query", params={"q": soql})
        while True:
            rows += answer.get("records", [])
            next_url = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not next_url:
                return rows
            answer = self._call("GET", str(next_url))

    def _call(
        self, method: str, path: str, *, idempotent: bool = True, gone: bool = False, **kwargs: Any
    ) -> Any:
        attempt = 0
        while True:
            attempt += 1
            headers = {
                "Authorization": f"Bearer {self.setting('access_token')}",
                "Accept": "application/json",
            }
            try:
                response = self.send(method, self._instance + path, headers=headers, **kwargs)
            except RetryableError:
                if idempotent and attempt < 2:
                    continue
                raise
            self._note_usage(response)
            status = response.status_code
            if status < 300:
                return json_body(response) if status != 204 else {}
            errors = json_body(response)
            errors = errors if isinstance(errors, list) else []
            codes = {str(e.get("errorCode")) for e in errors if isinstance(e, dict)}
            if status == 401 and not self._renewed and self.setting("refresh_token"):
                self._renew()
                continue
            if gone and (status == 404 or codes & GONE):
                raise self._gone()
            if idempotent and attempt < 2 and (status >= 500 or "UNABLE_TO_LOCK_ROW" in codes):
                self.sleep(1.0)
                continue
            raise self._refusal(status, errors, response)

    def _note_usage(self, response: httpx.Response) -> None:
        info = response.headers.get("Sforce-Limit-Info", "")
        found = re.search(r"api-usage=(\d+)/(\d+)", info)
        if found:
            self.usage = (int(found.group(1)), int(found.group(2)))

    def _renew(self) -> None:
        """The refresh token flow, once per export; the new session (and instance) is saved."""
        self._renewed = True
        form = {
            "grant_type": "refresh_token",
            "client_id": self.setting("client_id"),
            "refresh_token": self.setting("refresh_token"),
        }
        if self.setting("client_secret"):
            form["client_secret"] = self.setting("client_secret")
        login = self.setting("login_url", LOGIN_URL).rstrip("/")
        response = self.send(
            "POST",
            f"{login}/services/oauth2/token",
            data=form,
            headers={"Accept": "application/json"},
        )
        body = json_body(response)
        if response.status_code >= 500:
            raise RetryableError(
                _("Salesforce could not renew the session; the export will be retried.")
            )
        if (
            response.status_code != 200
            or not isinstance(body, dict)
            or not body.get("access_token")
        ):
            raise PermanentError(
                _("Salesforce no longer accepts this connection's authorization."),
                fix=_("Reconnect Salesforce in the connection settings."),
            )
        changes = {"access_token": str(body["access_token"])}
        if body.get("instance_url"):
            changes["instance_url"] = str(body["instance_url"])
        if body.get("refresh_token"):  # refresh-token rotation: the old one is dead now
            changes["refresh_token"] = str(body["refresh_token"])
        self.config.update(changes)
        self.save_config(changes)

    def _refusal(
        self, status: int, errors: list[Any], response: httpx.Response | None = None
    ) -> ExportError:
        first = next((e for e in errors if isinstance(e, dict)), {})
        wait = retry_after(response) if response is not None else None
        code = str(first.get("errorCode") or "")
        detail = str(first.get("message") or "")[:300]
        if code == "REQUEST_LIMIT_EXCEEDED":
            daily = "TotalRequests" in detail
            return RetryableError(
                _(
                    "Salesforce's API request limit for your organisation is reached; the export will continue later."
                ),
                retry_after=wait or (3600.0 if daily else 300.0),
            )
        if status >= 500 or code in ("UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"):
            return RetryableError(
                _(
                    "Salesforce is temporarily unavailable (%(code)s); the export will be retried.",
                    code=code or f"HTTP {status}",
                ),
                retry_after=wait,
            )
        if status == 401:
            return PermanentError(
                _("Salesforce no longer accepts this connection's authorization."),
                fix=_("Reconnect Salesforce in the connection settings."),
            )
        if status == 403 or code.startswith("INSUFFICIENT_ACCESS"):
            return PermanentError(
                _("Salesforce refused the request: the integration user lacks a permission."),
                fix=_(
                    "Give the Salesforce integration user access to opportunities, contacts, tasks and notes."
                ),
            )
        return PermanentError(
            _(
                "Salesforce rejected the export: %(detail)s",
                detail=f"{code} {detail}".strip() or f"HTTP {status}",
            ),
            fix=_(
                "Ask your Salesforce admin about this message (a validation rule or a required field may block it)."
            ),
        )


# ---------------------------------------------------------------------- payloads


def soql_string(value: str) -> str:
    """A SOQL string literal: backslashes and quotes escaped (no injection through an email)."""
    escaped = (
        value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    )
    return f"'{escaped}'"


def note_html(summary: Summary) -> str:
    return (
        summary.html if summary.marker in summary.html else f"{summary.html}<p>{summary.marker}</p>"
    )


def task_fields(summary: Summary, task: TaskSummary) -> dict[str, Any]:
    marker = Summary.task_marker(task.id)
    lines = [
        task.milestone,
        _(
            "Owner: %(owner)s · Status: %(status)s",
            owner=task.owner_name or _("nobody"),
            status=task.status_label,
        ),
        summary.room_url,
        marker,
    ]
    return {
        "Subject": clip(task.title, TEXT_LIMIT, keep=" " + marker),
        "Description": clip("\n".join(line for line in lines if line), DESCRIPTION_LIMIT),
        "Status": STATUS.get(task.status, "Not Started"),
        "Priority": "High" if task.overdue else "Normal",
        "ActivityDate": task.due_date.isoformat() if task.due_date else None,
    }
