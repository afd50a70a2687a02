# Dealroom developer tasks. Everything runs from the project virtualenv in .venv,
# which `make` creates and keeps in sync with pyproject.toml.
#
#   make run     migrate, seed the demo deal room and serve on http://127.0.0.1:8000
#   make test    install test deps (incl. chromium + postgresql via apt when root) and run
#                the whole suite on 2 workers; extra pytest arguments: make test PYTEST_ARGS="-k invite"
#   make check   ruff + mypy
#   make fuzz    fuzz the JSON API for longer (schemathesis; `make test` runs a bounded pass)
#   make bench   run every bench/*.py (except the load profile)
#   make load    the load profile: locust, headless, against a real server (LOAD_ARGS="--pg URL")
#   make vendor  re-vendor the front-end packages into static/vendor/
#   make messages  extract UI strings, update the catalogs, list what needs translating

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=
CHROMIUM ?= /usr/bin/chromium

.DEFAULT_GOAL := help
.PHONY: help venv run test test-deps check fuzz bench load vendor messages

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

# --- virtualenv ------------------------------------------------------------------

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(VENV)/.installed: pyproject.toml | $(PY)
	@echo "pip install -e . (into $(VENV))"
	@$(PIP) install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	@echo "pip install -e '.[test]' (into $(VENV))"
	@$(PIP) install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

# Compiled catalogs (.mo) are build output, not in git: rebuilt whenever a .po changes.
PO_FILES := $(wildcard dealroom/locale/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

$(MO_FILES): %.mo: %.po | $(VENV)/.installed
	$(PY) -m dealroom.i18n compile

venv: $(VENV)/.installed $(MO_FILES)

# --- running -----------------------------------------------------------------------

run: venv
	$(PY) -m dealroom migrate
	$(PY) -m dealroom seed-demo
	exec $(PY) -m dealroom serve --host 127.0.0.1 --port 8000

# --- tests -------------------------------------------------------------------------

# System packages the suite needs: chromium (e2e browser journeys) and the PostgreSQL
# server binaries (tests/harness/postgres.py starts throwaway clusters; no service
# is started: a temporary policy-rc.d keeps apt from launching one).
test-deps: $(VENV)/.installed-test $(MO_FILES)
	@need=""; \
	[ -x $(CHROMIUM) ] || need="$$need chromium"; \
	if [ -n "$${DEALROOM_PG_BINDIR:-}" ] && [ -x "$$DEALROOM_PG_BINDIR/initdb" ]; then :; \
	elif ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then :; \
	else need="$$need postgresql"; fi; \
	if [ "$$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then \
		case "$$need" in *postgresql*) ;; *) need="$$need postgresql";; esac; \
	fi; \
	if [ -z "$$need" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "error: missing system packages:$$need" >&2; \
		echo "install them with: sudo apt-get install -y$$need  (or run 'make test-deps' as root)" >&2; \
		exit 1; \
	fi; \
	echo "installing system packages:$$need"; \
	policy=""; \
	if [ ! -e /usr/sbin/policy-rc.d ]; then \
		policy=/usr/sbin/policy-rc.d; \
		printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; \
	fi; \
	log=$$(mktemp); status=0; \
	{ apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need; } >$$log 2>&1 || status=$$?; \
	[ -z "$$policy" ] || rm -f $$policy; \
	if [ $$status != 0 ]; then cat $$log >&2; fi; rm -f $$log; exit $$status

# Two workers by default (the CI machine has two cores): each worker starts its own PostgreSQL,
# S3 and SMTP servers. PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
test: test-deps
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The same fuzz test as in `make test`, with many more generated requests per operation, on
# SQLite and PostgreSQL. FUZZ_EXAMPLES=N to change the depth.
FUZZ_EXAMPLES ?= 200
fuzz: test-deps
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_DATABASES=sqlite,postgresql \
		$(PY) -m pytest tests/test_api_fuzz.py tests/test_hostile_input.py -p no:cacheprovider $(PYTEST_ARGS)

check: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy dealroom

bench: $(VENV)/.installed-test
	@shopt -s nullglob; files=(bench/*.py); \
	if [ $${#files[@]} = 0 ]; then echo "no bench/*.py"; exit 0; fi; \
	for f in "$${files[@]}"; do [ "$$f" = bench/load.py ] && continue; \
		echo "== $$f"; $(PY) "$$f" || exit $$?; done

LOAD_ARGS ?=
$(VENV)/.installed-bench: pyproject.toml | $(PY)
	@echo "pip install -e '.[bench]' (into $(VENV))"
	@$(PIP) install -q -e '.[bench]'
	@touch $@

load: $(VENV)/.installed-bench $(MO_FILES)
	$(PY) bench/load.py $(LOAD_ARGS)

# --- translations --------------------------------------------------------------------

# New msgids arrive in each .po with an empty msgstr; `check` lists them (and fuzzy or
# placeholder problems) until they are translated. tests/test_i18n.py fails on the same list.
messages: $(VENV)/.installed
	$(PY) -m dealroom.i18n update
	$(PY) -m dealroom.i18n compile
	@$(PY) -m dealroom.i18n check || true

# --- front-end vendoring -------------------------------------------------------------

vendor:
	bash scripts/vendor.sh
