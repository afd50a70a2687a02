"""Settings, read once from `DEALROOM_*` environment variables or a `.env` file.

Every setting is declared in `SETTINGS` with its default and a one-line description; the README's
settings table is checked against this list by a test, so the two cannot drift apart.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_SECRET = "dev-insecure-change-me"  # noqa: S105 - the known placeholder we refuse in production


@dataclass(frozen=True)
class Setting:
    name: str  # attribute name; the variable is DEALROOM_<NAME upper>
    default: str
    help: str

    @property
    def env(self) -> str:
        return "DEALROOM_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "env",
        "development",
        "`development` or `production`; production refuses a placeholder secret key.",
    ),
    Setting(
        "secret_key",
        PLACEHOLDER_SECRET,
        "Signs cookies, invite links and tokens. Set a long random value in production.",
    ),
    Setting(
        "secret_key_previous",
        "",
        "Earlier secret keys, comma separated, still accepted when checking signatures (never used to sign): rotate the key without logging anyone out.",
    ),
    Setting(
        "base_url",
        "http://127.0.0.1:8000",
        "Public URL of the app, used in invite links and emails.",
    ),
    Setting(
        "database_url",
        "",
        "SQLAlchemy URL. Empty means SQLite at `storage/dealroom.db` (WAL mode).",
    ),
    Setting(
        "storage",
        "local",
        "Where uploaded files live: `local` (files under `storage_dir`) or `s3`.",
    ),
    Setting(
        "storage_dir",
        str(PROJECT_ROOT / "storage" / "files"),
        "Directory for the `local` storage backend.",
    ),
    Setting("s3_endpoint_url", "", "S3 endpoint (e.g. `http://minio:9000`); empty means AWS."),
    Setting("s3_bucket", "dealroom", "S3 bucket for uploaded files."),
    Setting("s3_region", "us-east-1", "S3 region."),
    Setting("s3_access_key", "", "S3 access key id; empty uses the default AWS credential chain."),
    Setting("s3_secret_key", "", "S3 secret access key."),
    Setting("s3_prefix", "", "Key prefix inside the bucket, e.g. `dealroom/`."),
    Setting(
        "smtp_host",
        "",
        "SMTP server. Empty means development mode: mails are printed and kept in the outbox page.",
    ),
    Setting("smtp_port", "587", "SMTP port."),
    Setting("smtp_username", "", "SMTP user name (optional)."),
    Setting("smtp_password", "", "SMTP password (optional)."),
    Setting("smtp_starttls", "true", "Use STARTTLS when the server offers it (`true`/`false`)."),
    Setting("mail_from", "Dealroom <no-reply@dealroom.local>", "Sender address of every mail."),
    Setting("max_upload_mb", "100", "Largest accepted upload, in megabytes."),
    Setting(
        "invite_expiry_days",
        "30",
        "Default lifetime of personal invite links for new rooms (each room can change it).",
    ),
    Setting("session_days", "14", "How long a seller stays logged in."),
    Setting(
        "login_attempts",
        "5",
        "Failed logins allowed per email and per client address in `login_window_minutes`.",
    ),
    Setting("login_window_minutes", "15", "Window of the login rate limit."),
    Setting("code_expiry_minutes", "10", "Lifetime of a 6-digit email verification code."),
    Setting("code_attempts", "5", "Wrong guesses allowed for one verification code."),
    Setting("download_url_seconds", "300", "Lifetime of signed download URLs."),
    Setting(
        "run_jobs",
        "true",
        "Take part in running background jobs (`true`/`false`): of the processes with `true`, the one holding the scheduler lease runs the scheduled jobs; each still delivers its own requests' mails at once.",
    ),
    Setting(
        "scheduler_lease_seconds",
        "15.0",
        "Scheduling: the leader's lease in the database lasts this long (seconds); if the leader dies, another process takes over within it.",
    ),
    Setting(
        "scheduler_renew_seconds",
        "5.0",
        "Scheduling: how often each process renews (leader) or tries to take (others) the lease, in seconds; well under the lease.",
    ),
    Setting(
        "invite_reminder_days",
        "3",
        "Mail a room's owner this many days before an unopened invite link expires (once per link sent); `0` turns the reminder off.",
    ),
    Setting(
        "track_idle_seconds",
        "60",
        "Tracking: a viewer counts as active while the tab is visible and they interacted (or a video played) within this many seconds.",
    ),
    Setting(
        "track_retention_days",
        "365",
        "Tracking: default retention of raw viewing events for new rooms (a room can change it); older events are deleted, anonymous aggregates kept.",
    ),
    Setting(
        "track_country_header",
        "",
        "Tracking: request header with a 2-letter country set by your proxy (e.g. `CF-IPCountry`); empty means no location is recorded.",
    ),
    Setting(
        "track_flush_ms",
        "100",
        "Tracking: how often each process writes the beats it accepted (milliseconds); SIGTERM writes the rest.",
    ),
    Setting(
        "track_writer_process",
        "true",
        "Tracking: write accepted beats from a separate process (`true`), so writing never competes with answering requests; `false` writes from a thread of the web process.",
    ),
    Setting(
        "track_return_days",
        "7",
        'Tracking: a visit after this many days of silence shows as "returned" in the room\'s activity.',
    ),
    Setting(
        "suggest_half_life_days",
        "7",
        "Suggestions: a viewer's interest in what they read halves every this many days, so recent reading outweighs old.",
    ),
    Setting(
        "suggest_holdout_percent",
        "10",
        "Suggestions: share of viewers (stable per viewer) who get the seller's order instead, so the lift is measured (0-50).",
    ),
    Setting(
        "notify_merge_minutes",
        "3",
        "Notifications: a visit's activity is merged into one mail to the room's owner, sent this many minutes after its first notable event.",
    ),
    Setting(
        "trust_proxy",
        "false",
        "Trust `X-Forwarded-For`/`-Proto` from a load balancer (`true`/`false`).",
    ),
    Setting(
        "metrics_token",
        "",
        "Bearer token for `GET /metrics`. Empty means only requests from 127.0.0.1 (not through a proxy) may read it.",
    ),
    Setting(
        "log_format",
        "text",
        "`text` (one readable line) or `json` (one object per line); both carry the request id.",
    ),
)


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    secret_key_previous: str
    base_url: str
    database_url: str
    storage: str
    storage_dir: str
    s3_endpoint_url: str
    s3_bucket: str
    s3_region: str
    s3_access_key: str
    s3_secret_key: str
    s3_prefix: str
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str
    smtp_starttls: bool
    mail_from: str
    max_upload_mb: int
    invite_expiry_days: int
    session_days: int
    login_attempts: int
    login_window_minutes: int
    code_expiry_minutes: int
    code_attempts: int
    download_url_seconds: int
    run_jobs: bool
    scheduler_lease_seconds: float
    scheduler_renew_seconds: float
    invite_reminder_days: int
    track_idle_seconds: int
    track_retention_days: int
    track_country_header: str
    track_flush_ms: int
    track_writer_process: bool
    track_return_days: int
    suggest_half_life_days: int
    suggest_holdout_percent: int
    notify_merge_minutes: int
    trust_proxy: bool
    metrics_token: str
    log_format: str

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def previous_secret_keys(self) -> list[str]:
        return [key.strip() for key in self.secret_key_previous.split(",") if key.strip()]

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{PROJECT_ROOT / 'storage' / 'dealroom.db'}"

    def replace(self, **changes: Any) -> Settings:
        from dataclasses import replace

        return replace(self, **changes)


class SettingsError(ValueError):
    """A setting has a value the app cannot run with."""


def _convert(name: str, raw: str, kind: type) -> object:
    if kind is bool:
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off", ""}:
            return False
        raise SettingsError(f"DEALROOM_{name.upper()} must be true or false, not {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(
                f"DEALROOM_{name.upper()} must be a whole number, not {raw!r}"
            ) from None
    if kind is float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise SettingsError(f"DEALROOM_{name.upper()} must be a number, not {raw!r}")
        return value
    return raw


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines; `#` comments and surrounding quotes are allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = PROJECT_ROOT / ".env",
    **overrides: object,
) -> Settings:
    """Build settings: defaults < .env file < environment < keyword overrides (used by tests)."""
    source: dict[str, str] = read_dotenv(dotenv) if dotenv else {}
    source.update(os.environ if environ is None else environ)
    types = {f.name: f.type for f in fields(Settings)}
    kinds = {"int": int, "float": float, "bool": bool, "str": str}
    # Any: each value has its own field's type, which _convert chose from the annotation.
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = source.get(setting.env, setting.default)
        values[setting.name] = _convert(setting.name, raw, kinds[str(types[setting.name])])
    values.update(overrides)
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    if settings.env not in {"development", "production"}:
        raise SettingsError("DEALROOM_ENV must be development or production")
    if settings.production and (
        settings.secret_key == PLACEHOLDER_SECRET or len(settings.secret_key) < 32
    ):
        raise SettingsError(
            "Refusing to start in production with a placeholder or short DEALROOM_SECRET_KEY "
            "(use at least 32 random characters, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
        )
    if settings.production and any(
        key == PLACEHOLDER_SECRET or len(key) < 32 for key in settings.previous_secret_keys
    ):
        raise SettingsError(
            "DEALROOM_SECRET_KEY_PREVIOUS holds a placeholder or short key; list only real former keys."
        )
    if settings.log_format not in {"text", "json"}:
        raise SettingsError("DEALROOM_LOG_FORMAT must be text or json")
    if settings.storage not in {"local", "s3"}:
        raise SettingsError("DEALROOM_STORAGE must be local or s3")
    if settings.suggest_half_life_days <= 0:
        raise SettingsError("DEALROOM_SUGGEST_HALF_LIFE_DAYS must be positive")
    if not 0 <= settings.suggest_holdout_percent <= 50:
        raise SettingsError("DEALROOM_SUGGEST_HOLDOUT_PERCENT must be between 0 and 50")
    if not 0 <= settings.notify_merge_minutes <= 60:
        raise SettingsError("DEALROOM_NOTIFY_MERGE_MINUTES must be between 0 and 60")
    if settings.max_upload_mb <= 0:
        raise SettingsError("DEALROOM_MAX_UPLOAD_MB must be positive")
    if not 0 < settings.scheduler_renew_seconds <= settings.scheduler_lease_seconds / 2:
        raise SettingsError(
            "DEALROOM_SCHEDULER_RENEW_SECONDS must be positive and at most half of "
            "DEALROOM_SCHEDULER_LEASE_SECONDS (a leader renews at least twice per lease)"
        )
    if settings.invite_reminder_days < 0:
        raise SettingsError("DEALROOM_INVITE_REMINDER_DAYS must be 0 or more")
