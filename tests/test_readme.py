"""Docs as tests: the README's settings table and the compose file agree with `SETTINGS`."""

from __future__ import annotations

import re

import pytest

from dealroom.settings import PROJECT_ROOT, SETTINGS, Setting

README = PROJECT_ROOT / "README.md"
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
KNOWN = {s.env: s for s in SETTINGS}
VARIABLE = re.compile(r"\bDEALROOM_[A-Z0-9_]+\b")
# Variables that are not app settings but may be mentioned in docs: the test harness reads this
# one to find the PostgreSQL server binaries.
NOT_SETTINGS = {"DEALROOM_PG_BINDIR"}


def section(text: str, title: str) -> str:
    """The body of the `## <title>` section, up to the next heading of level 1 or 2."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^#{{1,2}} |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of each Markdown table row, without the header and separator lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    assert len(lines) >= 2, "no Markdown table found"
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["Variable", "Default", "What it does"], header
    assert re.fullmatch(r"\|(\s*:?-{3,}:?\s*\|){3}", lines[1].replace(" ", "")), lines[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def expected_default(setting: Setting) -> str:
    if setting.name == "storage_dir":
        return "`storage/files`"  # the real default is an absolute, machine-specific path
    return f"`{setting.default}`" if setting.default else "(empty)"


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rows(readme: str) -> dict[str, list[str]]:
    parsed = table_rows(section(readme, "Settings"))
    by_variable: dict[str, list[str]] = {}
    for cells in parsed:
        assert len(cells) == 3, f"settings table row should have 3 cells: {cells}"
        variable = cells[0].strip("`")
        assert variable not in by_variable, f"{variable} appears twice in the settings table"
        by_variable[variable] = cells
    return by_variable


def test_every_setting_has_a_row(rows: dict[str, list[str]]) -> None:
    missing = [s.env for s in SETTINGS if s.env not in rows]
    assert not missing, f"README settings table lacks rows for: {', '.join(missing)}"


def test_table_has_no_unknown_variables(rows: dict[str, list[str]]) -> None:
    unknown = [v for v in rows if v not in KNOWN]
    assert not unknown, f"README settings table lists variables that are not settings: {unknown}"


def test_table_rows_follow_settings_order(rows: dict[str, list[str]]) -> None:
    assert list(rows) == [s.env for s in SETTINGS]


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.env for s in SETTINGS])
def test_row_shows_default_and_description(rows: dict[str, list[str]], setting: Setting) -> None:
    variable, default, description = rows[setting.env]
    assert variable == f"`{setting.env}`"
    assert default == expected_default(setting), f"{setting.env}: README default {default!r}"
    assert description, f"{setting.env} has no description in the README"


def test_variables_mentioned_anywhere_in_readme_are_real(readme: str) -> None:
    unknown = sorted(set(VARIABLE.findall(readme)) - KNOWN.keys() - NOT_SETTINGS)
    assert not unknown, f"README mentions variables that are not settings: {unknown}"


def test_getting_started_is_make_run_and_make_test(readme: str) -> None:
    getting_started = section(readme, "Getting started")
    assert "make run" in getting_started
    assert "make test" in getting_started
    commands = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", getting_started, re.S)
    assert [c.strip() for c in commands] == ["make run", "make test"]


def test_readme_order(readme: str) -> None:
    headings = re.findall(r"^## (.+?)\s*$", readme, re.M)
    wanted = [
        "Getting started",
        "Settings",
        "Command line",
        "Deploying at scale",
        "Project layout",
        "Security",
    ]
    positions = [headings.index(h) for h in wanted]
    assert positions == sorted(positions), headings
    screenshot = readme.index("![The buyer's view of a deal room](docs/room.png)")
    assert screenshot < readme.index("## Getting started")


def test_compose_mentions_only_real_settings() -> None:
    mentioned = set(VARIABLE.findall(COMPOSE.read_text(encoding="utf-8")))
    assert mentioned, "docker-compose.yml configures no DEALROOM_ variables"
    unknown = sorted(mentioned - KNOWN.keys())
    assert not unknown, f"docker-compose.yml sets variables that are not settings: {unknown}"


def test_table_parser_rejects_a_wrong_header() -> None:
    with pytest.raises(AssertionError):
        table_rows("| Name | Value |\n| --- | --- |\n| `DEALROOM_ENV` | x |\n")
