"""`load_settings`: defaults < .env file < environment < keyword overrides, and validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dealroom.settings import (
    PLACEHOLDER_SECRET,
    PROJECT_ROOT,
    SETTINGS,
    Settings,
    SettingsError,
    load_settings,
    read_dotenv,
)

STRONG_SECRET = "Zq7-" * 12  # 48 characters, like secrets.token_urlsafe(36)


def load(dotenv: Path | None = None, **environ: str) -> Settings:
    return load_settings(environ=environ, dotenv=dotenv)


def test_every_setting_is_a_field_and_every_field_a_setting() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]
    assert all(s.help for s in SETTINGS)
    assert SETTINGS[0].env == "DEALROOM_ENV"


def test_defaults() -> None:
    settings = load()
    assert settings.env == "development"
    assert not settings.production
    assert settings.secret_key == PLACEHOLDER_SECRET  # allowed outside production
    assert settings.base_url == "http://127.0.0.1:8000"
    assert not settings.https
    assert settings.database_url == ""
    assert settings.sqlalchemy_url == f"sqlite:///{PROJECT_ROOT / 'storage' / 'dealroom.db'}"
    assert settings.storage == "local"
    assert Path(settings.storage_dir) == PROJECT_ROOT / "storage" / "files"
    assert settings.s3_bucket == "dealroom"
    assert settings.s3_region == "us-east-1"
    assert settings.smtp_host == ""
    assert settings.smtp_port == 587
    assert settings.smtp_starttls is True
    assert settings.mail_from == "Dealroom <no-reply@dealroom.local>"
    assert settings.max_upload_mb == 100
    assert settings.max_upload_bytes == 100 * 1024 * 1024
    assert settings.invite_expiry_days == 30
    assert settings.session_days == 14
    assert (settings.login_attempts, settings.login_window_minutes) == (5, 15)
    assert (settings.code_expiry_minutes, settings.code_attempts) == (10, 5)
    assert settings.download_url_seconds == 300
    assert settings.run_jobs is True
    assert settings.trust_proxy is False


def test_defaults_match_the_declared_defaults() -> None:
    settings = load()
    for setting in SETTINGS:
        assert str(getattr(settings, setting.name)).lower() == setting.default.lower(), setting.name


def test_environment_overrides_with_prefix() -> None:
    settings = load(
        DEALROOM_BASE_URL="https://rooms.example.com",
        DEALROOM_DATABASE_URL="postgresql+psycopg://u:p@db/dealroom",
        DEALROOM_STORAGE="s3",
        DEALROOM_S3_BUCKET="deals",
        DEALROOM_SMTP_PORT="2525",
        DEALROOM_SMTP_STARTTLS="false",
        DEALROOM_MAX_UPLOAD_MB="5",
    )
    assert settings.base_url == "https://rooms.example.com"
    assert settings.https
    assert settings.sqlalchemy_url == "postgresql+psycopg://u:p@db/dealroom"
    assert settings.storage == "s3"
    assert settings.s3_bucket == "deals"
    assert settings.smtp_port == 2525
    assert settings.smtp_starttls is False
    assert settings.max_upload_bytes == 5 * 1024 * 1024


def test_variables_without_the_prefix_are_ignored() -> None:
    settings = load(SECRET_KEY="x" * 64, STORAGE="s3", dealroom_storage="s3", BASE_URL="https://x")
    assert settings.secret_key == PLACEHOLDER_SECRET
    assert settings.storage == "local"
    assert settings.base_url == "http://127.0.0.1:8000"


def test_process_environment_is_read_when_no_environ_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALROOM_S3_PREFIX", "from-process/")
    assert load_settings(dotenv=None).s3_prefix == "from-process/"
    assert load_settings(environ={}, dotenv=None).s3_prefix == ""


def test_keyword_overrides_win_over_environment() -> None:
    settings = load_settings(environ={"DEALROOM_SESSION_DAYS": "3"}, dotenv=None, session_days=7)
    assert settings.session_days == 7


def test_dotenv_values_are_read(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# local development\n"
        "\n"
        "DEALROOM_S3_BUCKET=from-dotenv\n"
        'DEALROOM_MAIL_FROM="Sales <sales@example.com>"\n'
        "DEALROOM_S3_PREFIX='deals/'\n"
        "  DEALROOM_SESSION_DAYS = 2  \n"
        "not a setting line\n"
        "DEALROOM_RUN_JOBS=off\n",
        encoding="utf-8",
    )
    settings = load(dotenv)
    assert settings.s3_bucket == "from-dotenv"
    assert settings.mail_from == "Sales <sales@example.com>"
    assert settings.s3_prefix == "deals/"
    assert settings.session_days == 2
    assert settings.run_jobs is False


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "DEALROOM_S3_BUCKET=from-dotenv\nDEALROOM_S3_REGION=eu-west-1\n", encoding="utf-8"
    )
    settings = load(dotenv, DEALROOM_S3_BUCKET="from-environ")
    assert settings.s3_bucket == "from-environ"
    assert settings.s3_region == "eu-west-1"  # not in environ, so .env still applies


def test_missing_dotenv_file_means_defaults(tmp_path: Path) -> None:
    assert read_dotenv(tmp_path / "absent.env") == {}
    assert load(tmp_path / "absent.env") == load()


def test_invalid_dotenv_value_is_reported(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DEALROOM_LOGIN_ATTEMPTS=many\n", encoding="utf-8")
    message = "DEALROOM_LOGIN_ATTEMPTS must be a whole number, not 'many'"
    with pytest.raises(SettingsError, match=message):
        load(dotenv)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
        ("", False),
    ],
)
def test_bool_parsing(raw: str, expected: bool) -> None:
    settings = load(DEALROOM_TRUST_PROXY=raw, DEALROOM_RUN_JOBS=raw)
    assert settings.trust_proxy is expected
    assert settings.run_jobs is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "tru"])
def test_bad_bool_is_a_clear_error(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(DEALROOM_SMTP_STARTTLS=raw)
    assert str(caught.value) == f"DEALROOM_SMTP_STARTTLS must be true or false, not {raw!r}"


@pytest.mark.parametrize(("raw", "expected"), [("25", 25), ("0465", 465), (" 2525 ", 2525)])
def test_int_parsing(raw: str, expected: int) -> None:
    assert load(DEALROOM_SMTP_PORT=raw).smtp_port == expected


@pytest.mark.parametrize("raw", ["abc", "1.5", "", "10MB"])
def test_bad_int_is_a_clear_error(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(DEALROOM_MAX_UPLOAD_MB=raw)
    assert str(caught.value) == f"DEALROOM_MAX_UPLOAD_MB must be a whole number, not {raw!r}"


@pytest.mark.parametrize("raw", ["0", "-1"])
def test_upload_limit_must_be_positive(raw: str) -> None:
    with pytest.raises(SettingsError, match="DEALROOM_MAX_UPLOAD_MB must be positive"):
        load(DEALROOM_MAX_UPLOAD_MB=raw)


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize("env", ["staging", "prod", "Production", ""])
def test_unknown_env_is_rejected(env: str) -> None:
    with pytest.raises(SettingsError, match="DEALROOM_ENV must be development or production"):
        load(DEALROOM_ENV=env, DEALROOM_SECRET_KEY=STRONG_SECRET)


def test_production_refuses_the_placeholder_secret() -> None:
    with pytest.raises(SettingsError, match="placeholder or short DEALROOM_SECRET_KEY"):
        load(DEALROOM_ENV="production")
    with pytest.raises(SettingsError, match="placeholder or short DEALROOM_SECRET_KEY"):
        load(DEALROOM_ENV="production", DEALROOM_SECRET_KEY=PLACEHOLDER_SECRET)


@pytest.mark.parametrize("secret", ["", "tiny-key", "x" * 31])
def test_production_refuses_short_secrets(secret: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(DEALROOM_ENV="production", DEALROOM_SECRET_KEY=secret)
    message = str(caught.value)
    assert "DEALROOM_SECRET_KEY" in message
    assert "secrets.token_urlsafe" in message  # tells the operator how to make a good one
    if secret:
        assert secret not in message  # never echoes the secret itself


def test_production_refuses_a_placeholder_from_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        f"DEALROOM_ENV=production\nDEALROOM_SECRET_KEY={PLACEHOLDER_SECRET}\n", encoding="utf-8"
    )
    with pytest.raises(SettingsError):
        load(dotenv)


def test_production_accepts_a_long_random_secret() -> None:
    assert len(STRONG_SECRET) == 48
    settings = load(DEALROOM_ENV="production", DEALROOM_SECRET_KEY=STRONG_SECRET)
    assert settings.production
    assert settings.secret_key == STRONG_SECRET


def test_development_accepts_a_short_secret() -> None:
    assert load(DEALROOM_SECRET_KEY="dev").secret_key == "dev"


@pytest.mark.parametrize("storage", ["gcs", "S3", "file", ""])
def test_unknown_storage_is_rejected(storage: str) -> None:
    with pytest.raises(SettingsError, match="DEALROOM_STORAGE must be local or s3"):
        load(DEALROOM_STORAGE=storage)


def test_settings_are_immutable_but_replaceable() -> None:
    settings = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.storage = "s3"  # type: ignore[misc]
    changed = settings.replace(base_url="https://deals.example.com")
    assert changed.https and not settings.https


def test_scheduler_lease_settings_take_fractions_and_must_leave_room_to_renew() -> None:
    settings = load(DEALROOM_SCHEDULER_LEASE_SECONDS="2", DEALROOM_SCHEDULER_RENEW_SECONDS="0.5")
    assert (settings.scheduler_lease_seconds, settings.scheduler_renew_seconds) == (2.0, 0.5)
    with pytest.raises(SettingsError, match="DEALROOM_SCHEDULER_LEASE_SECONDS must be a number"):
        load(DEALROOM_SCHEDULER_LEASE_SECONDS="nan")
    with pytest.raises(SettingsError, match="at most half of DEALROOM_SCHEDULER_LEASE_SECONDS"):
        load(DEALROOM_SCHEDULER_LEASE_SECONDS="4", DEALROOM_SCHEDULER_RENEW_SECONDS="3")
    with pytest.raises(SettingsError, match="DEALROOM_INVITE_REMINDER_DAYS must be 0 or more"):
        load(DEALROOM_INVITE_REMINDER_DAYS="-1")
