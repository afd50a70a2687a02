"""kintone (Cybozu): add or update a record in the seller's app, then comment the summary on it.

Connection settings (`Kintone.fields`; secrets are encrypted at rest):

    base_url          https://<subdomain>.cybozu.com (or .kintone.com)
    app_id            the app that holds deals
    guest_space_id    only when the app is in a guest space
    api_token         the app's API token (view, add and edit records); several: comma-separated
    username          } password authentication instead of a token
    password          } (X-Cybozu-Authorization)
    field_key         field code of the key field: single-line text or number with "prohibit
                      duplicate values"; receives the room id, so a re-export updates its record
    field_room_name   field codes that receive the room name, the stage, the summary (plain
    field_stage       text), the next steps and the link to the room; leave one empty to skip it
    field_summary
    field_next_steps
    field_room_url

One export: a room linked to a record id updates that record (404 stops: it was deleted);
otherwise the record is upserted by the key field (`PUT /k/v1/records.json` with `upsert`,
kintone since 2025-03), which is idempotent by itself. Then the summary is posted as a record
comment (≤ 65,535 characters), unless one of the record's latest comments is already this very
text: comments cannot be upserted, so a retried export must not post it twice.
Remote ids: "record", "comment".

Errors come as {code, id, message, errors}. Codes decide, not statuses (kintone answers 520 for
many refusals): the concurrency limit (429 GAIA_TO04) is waited out here briefly, other 429s,
5xx and a revision conflict go back to the worker; authentication, permission, app and
validation codes (CB_WA01, CB_AU01, GAIA_IA02, GAIA_NO01, CB_NO02, GAIA_AP01, CB_VA01, ...) stop.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from ..i18n import _, using
from .base import Checkpoint, ExportError, ExportResult, PermanentError, RetryableError, Summary
from .vendor import VendorTarget, clip, json_body, retry_after

COMMENT_LIMIT = 65_535
RECENT_COMMENTS = 10  # the most kintone returns at once
AUTH_CODES = frozenset({"CB_WA01", "CB_AU01", "GAIA_IA02", "GAIA_DA03", "GAIA_IA03"})
PERMISSION_CODES = frozenset({"GAIA_NO01", "CB_NO02"})
RETRYABLE_CODES = frozenset({"GAIA_TO04", "GAIA_CO02"})  # concurrency limit, revision conflict
MAPPED = ("field_room_name", "field_stage", "field_summary", "field_next_steps", "field_room_url")


class Kintone(VendorTarget):
    kind = "kintone"
    vendor = "kintone"
    fields = {
        "base_url": False,
        "app_id": False,
        "guest_space_id": False,
        "api_token": True,
        "username": False,
        "password": True,
        "field_key": False,
        "field_room_name": False,
        "field_stage": False,
        "field_summary": False,
        "field_next_steps": False,
        "field_room_url": False,
    }

    # ------------------------------------------------------------------ the export

    def export(
        self, summary: Summary, *, previous: Mapping[str, str], checkpoint: Checkpoint
    ) -> ExportResult:
        with using(summary.language):
            ids = dict(previous)
            app = self._app()
            record_id = self._save_record(summary, app)
            if ids.get("record") != record_id:
                ids["record"] = record_id
                checkpoint(dict(ids))
            comment = comment_text(summary)
            if not self._already_commented(app, record_id, comment):
                answer = self._call(
                    "POST",
                    "record/comment.json",
                    json={"app": app, "record": int(record_id), "comment": {"text": comment}},
                    idempotent=False,
                )
                ids["comment"] = str(answer["id"])
                checkpoint(dict(ids))
            return ExportResult(remote_ids=ids, url=self.record_url(record_id))

    def test_connection(self) -> str:
        app = self._app()
        answer = self._call("GET", "app.json", params={"id": str(app)})
        return _("kintone app %(app)s: %(name)s", app=app, name=str(answer.get("name") or ""))

    def record_url(self, record_id: str) -> str:
        space = self.setting("guest_space_id")
        where = f"/k/guest/{space}/{self._app()}" if space else f"/k/{self._app()}"
        return f"{self._base}{where}/show#record={record_id}"

    # ------------------------------------------------------------------ steps

    def _app(self) -> int:
        app = self.setting("app_id")
        if not app.isdigit():
            raise PermanentError(
                _("The kintone connection has no app id."),
                fix=_(
                    "Enter the id of the kintone app that holds your deals (the number in its URL)."
                ),
            )
        return int(app)

    def _values(self, summary: Summary) -> dict[str, dict[str, str]]:
        values = {
            "field_room_name": summary.room_name,
            "field_stage": summary.stage_label,
            "field_summary": summary.markdown,
            "field_next_steps": summary.next_steps,
            "field_room_url": summary.room_url,
        }
        return {
            self.setting(name): {"value": values[name]} for name in MAPPED if self.setting(name)
        }

    def _save_record(self, summary: Summary, app: int) -> str:
        record = self._values(summary)
        key = self.setting("field_key")
        linked = summary.crm_record_id.strip()
        if linked:
            if not linked.isdigit():
                raise PermanentError(
                    _(
                        "This room is linked to %(record)s, which is not a kintone record number.",
                        record=linked,
                    ),
                    fix=_(
                        "Link the room to the number of an existing kintone record, or unlink it."
                    ),
                )
            if key:
                record[key] = {"value": summary.room_id}
            self._call(
                "PUT",
                "record.json",
                json={"app": app, "id": int(linked), "record": record},
                gone=_("The kintone record this room is linked to no longer exists."),
            )
            return linked
        if not key:
            raise PermanentError(
                _("The kintone connection has no key field."),
                fix=_(
                    "In the kintone connection settings, name a single-line text field with “prohibit duplicate values” as the key field."
                ),
            )
        answer = self._call(
            "PUT",
            "records.json",
            json={
                "app": app,
                "upsert": True,
                "records": [
                    {"updateKey": {"field": key, "value": summary.room_id}, "record": record}
                ],
            },
        )
        return str(answer["records"][0]["id"])

    def _already_commented(self, app: int, record_id: str, text: str) -> bool:
        answer = self._call(
            "GET",
            "record/comments.json",
            params={"app": str(app), "record": record_id, "limit": str(RECENT_COMMENTS)},
        )
        return any(
            str(c.get("text") or "").strip() == text.strip() for c in answer.get("comments", [])
        )

    # ------------------------------------------------------------------ HTTP

    @property
    def _base(self) -> str:
        url = self.setting("base_url").rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise PermanentError(
                _("The kintone connection has no address."),
                fix=_("Enter your kintone address, e.g. https://example.cybozu.com."),
            )
        return url

    def _url(self, resource: str) -> str:
        space = self.setting("guest_space_id")
        return (
            f"{self._base}/k/guest/{space}/v1/{resource}"
            if space
            else f"{self._base}/k/v1/{resource}"
        )

    def _headers(self) -> dict[str, str]:
        if self.setting("api_token"):
            return {"X-Cybozu-API-Token": self.setting("api_token")}
        if self.setting("username") and self.setting("password"):
            login = f"{self.setting('username')}:{self.setting('password')}".encode()
            return {"X-Cybozu-Authorization": base64.b64encode(login).decode("ascii")}
        raise PermanentError(
            _("The kintone connection has no credentials."),
            fix=_(
                "Enter the app's API token, or a kintone login name and password, in the connection settings."
            ),
        )

    def _call(
        self, method: str, resource: str, *, idempotent: bool = True, gone: str = "", **kwargs: Any
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.send(method, self._url(resource), headers=self._headers(), **kwargs)
            except RetryableError:
                if idempotent and attempt < 2:
                    continue
                raise
            body = json_body(response)
            body = body if isinstance(body, dict) else {}
            if response.status_code == 200:
                return body
            code = str(body.get("code") or "")
            # The 101st concurrent request is refused before it runs: safe to send again.
            if code == "GAIA_TO04" and attempt < 3:
                self.sleep(float(attempt))
                continue
            if (
                idempotent
                and attempt < 2
                and response.status_code >= 500
                and response.status_code != 520
            ):
                self.sleep(1.0)
                continue
            if gone and code == "GAIA_RE01":
                raise PermanentError(gone, fix=_("Link the room to an existing record"))
            raise self._error(response.status_code, code, body, retry_after(response))

    def _error(
        self, status: int, code: str, body: dict[str, Any], wait: float | None
    ) -> ExportError:
        detail = str(body.get("message") or "")[:300]
        if code in AUTH_CODES:
            return PermanentError(
                _("kintone did not accept the connection's credentials (%(code)s).", code=code),
                fix=_(
                    "Check the API token (or login name and password) in the kintone connection settings; after changing a token in kintone, press “Update App”."
                ),
            )
        if code in PERMISSION_CODES:
            return PermanentError(
                _(
                    "kintone refused the request: the API token or user lacks a permission (%(code)s).",
                    code=code,
                ),
                fix=_(
                    "Give the API token the permissions to view, add and edit records, then press “Update App” in kintone."
                ),
            )
        if code == "GAIA_AP01":
            return PermanentError(
                _("The kintone app of this connection no longer exists."),
                fix=_("Enter the id of an existing kintone app in the connection settings."),
            )
        if code in RETRYABLE_CODES or status == 429 or (status >= 500 and status != 520):
            return RetryableError(
                _(
                    "kintone is busy or unavailable (%(code)s); the export will be retried.",
                    code=code or f"HTTP {status}",
                ),
                retry_after=wait,
            )
        problems = "; ".join(
            f"{where}: {' '.join(v.get('messages', []))}"
            for where, v in (body.get("errors") or {}).items()
            if isinstance(v, dict)
        )
        return PermanentError(
            _(
                "kintone rejected the record: %(detail)s",
                detail=" ".join(filter(None, [code, detail, problems])) or f"HTTP {status}",
            ),
            fix=_(
                "Check the field mapping in the kintone connection settings (field codes, and a key field with “prohibit duplicate values”)."
            ),
        )


def comment_text(summary: Summary) -> str:
    """The summary as plain text, within kintone's comment size, ending in our marker."""
    text = summary.markdown.replace(summary.marker, "").strip()
    return clip(text, COMMENT_LIMIT, keep="\n\n" + summary.marker)
