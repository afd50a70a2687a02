# Dealroom application image. See docker-compose.yml for the full stack.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The app finds templates/ and static/ next to the package (settings.PROJECT_ROOT),
# so the package is installed in editable mode from /app rather than into site-packages.
# (README.md is optional: the wildcard may match nothing as long as pyproject.toml matches.)
COPY pyproject.toml README.m[d] ./
COPY dealroom ./dealroom
COPY templates ./templates
COPY static ./static
RUN pip install --no-deps -e . \
    && python -m dealroom.i18n compile \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin dealroom \
    && mkdir -p /app/storage \
    && chown dealroom:dealroom /app/storage

USER dealroom
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["python", "-m", "dealroom", "serve", "--host", "0.0.0.0", "--port", "8000"]
