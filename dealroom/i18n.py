"""Languages: every page, mail and message in English or Japanese.

English is the source language (the msgids); Japanese lives in a gettext catalog,
`dealroom/locale/ja/LC_MESSAGES/messages.po`, compiled to `.mo` at install time. The language and
time zone in effect are context variables, so one Jinja environment serves every locale at once:
the web layer sets them per request (the seller's setting, else the `dr_lang` cookie, else
Accept-Language) and mail rendering sets them per recipient with `using(...)`. Domain modules
translate their messages with `_()` at the moment they raise, without knowing about requests.

    _("%(label)s is required.", label=label)     # newstyle, like Jinja's `_()`
    ngettext("%(num)d attempt left.", "%(num)d attempts left.", left)
    N_("Discovery")                               # marks a string for extraction; translate later

Catalog work (`make messages` runs `update`):

    python -m dealroom.i18n extract   # templates + Python sources -> dealroom/locale/messages.pot
    python -m dealroom.i18n update    # extract, then merge new msgids into each .po (empty msgstr)
    python -m dealroom.i18n compile   # .po -> .mo (make venv / make test-deps do this)
    python -m dealroom.i18n check     # list msgids missing, untranslated or fuzzy; exit 1 if any
"""

from __future__ import annotations

import argparse
import ast
import functools
import gettext as gettext_module
import io
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel import dates as babel_dates

from . import __version__
from .settings import PROJECT_ROOT

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

log = logging.getLogger("dealroom.i18n")

LOCALES = ("en", "ja")
DEFAULT_LOCALE = "en"
# Each language is named in itself, so a reader always finds their own in the switcher.
LANGUAGE_NAMES = {"en": "English", "ja": "日本語"}
DEFAULT_TIMEZONE = "UTC"

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
POT_FILE = LOCALE_DIR / f"{DOMAIN}.pot"
MAPPING_FILE = PROJECT_ROOT / "babel.cfg"
# The functions whose string arguments are extracted (Babel's defaults are a superset).
KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}

_locale: ContextVar[str] = ContextVar("dealroom_locale", default=DEFAULT_LOCALE)
_timezone: ContextVar[tzinfo] = ContextVar("dealroom_timezone", default=UTC)


# ---------------------------------------------------------------- choosing a language and zone


def normalize_locale(value: object) -> str | None:
    """`ja`, `ja-JP`, `ja_JP` -> `ja`; anything unsupported -> None."""
    if not isinstance(value, str) or not value or len(value) > 35:
        return None
    primary = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LOCALES else None


def parse_accept_language(header: str) -> list[str]:
    """Language tags from an Accept-Language header, most wanted first (q=0 means "not this")."""
    ranked = []
    for position, part in enumerate(str(header or "").split(",")[:30]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        tag = tag.strip()
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _q, _p, tag in sorted(ranked)]


def negotiate(*choices: object, accept_language: str = "") -> str:
    """The first supported locale among explicit choices (a user's setting, a cookie), then the
    browser's Accept-Language, then the default."""
    for choice in choices:
        found = normalize_locale(choice)
        if found:
            return found
    for tag in parse_accept_language(accept_language):
        found = normalize_locale(tag)
        if found:
            return found
    return DEFAULT_LOCALE


@functools.cache
def timezone_names() -> frozenset[str]:
    # "localtime" and "Factory" are files in the zone database, not places anyone lives.
    return frozenset(available_timezones() - {"localtime", "Factory", "posixrules"}) | {"UTC"}


@functools.cache
def common_timezones() -> tuple[str, ...]:
    """The zones offered in the preferences form: regions of the world, plus UTC."""
    regions = (
        "Africa/",
        "America/",
        "Antarctica/",
        "Asia/",
        "Atlantic/",
        "Australia/",
        "Europe/",
        "Indian/",
        "Pacific/",
    )
    return ("UTC", *sorted(n for n in timezone_names() if n.startswith(regions)))


def timezone_name(value: object) -> str | None:
    """A known IANA zone name, or None. Only names from the zone list are ever opened."""
    if isinstance(value, str) and value in timezone_names():
        return value
    return None


@functools.lru_cache(maxsize=128)
def _zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def current_locale() -> str:
    return _locale.get()


@functools.lru_cache(maxsize=16)
def _babel(locale: str) -> Locale:
    """Babel's locale object, parsed once: given a name, every format call parses it again
    (a third of a date's formatting time, and a dashboard formats hundreds)."""
    return Locale.parse(locale)


def current_timezone() -> tzinfo:
    return _timezone.get()


@contextmanager
def using(locale: str | None = None, timezone: str | None = None) -> Iterator[None]:
    """Render or raise in this locale and time zone (an invalid or missing value keeps the
    one in effect), restoring the previous ones afterwards."""
    tokens: list[tuple[ContextVar[Any], Token[Any]]] = []
    found = normalize_locale(locale)
    if found:
        tokens.append((_locale, _locale.set(found)))
    zone = timezone_name(timezone)
    if zone:
        tokens.append((_timezone, _timezone.set(_zone(zone))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


# ---------------------------------------------------------------- translating


@functools.cache
def translations(locale: str) -> gettext_module.NullTranslations:
    """The compiled catalog of `locale`. A missing or stale `.mo` (the `.po` was edited after
    the last `compile`) is compiled in memory from the `.po`, so an edit is never ignored."""
    if locale == DEFAULT_LOCALE:
        return gettext_module.NullTranslations()
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext_module.GNUTranslations(handle)
    if not po.exists():
        log.warning("no catalog for locale %s in %s", locale, folder)
        return gettext_module.NullTranslations()
    log.info("%s is missing or older than %s: compiling it in memory", mo.name, po)
    buffer = io.BytesIO()
    _write_mo(po, buffer)
    buffer.seek(0)
    return gettext_module.GNUTranslations(buffer)


def _format(text: str, variables: dict[str, Any]) -> str:
    return text % variables if variables else text


def gettext(message: str, **variables: Any) -> str:
    """`message` in the current locale, with `%(name)s` placeholders filled from `variables`."""
    return _format(translations(_locale.get()).gettext(message), variables)


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The singular or plural form for `num` (available as `%(num)d`) in the current locale."""
    variables.setdefault("num", num)
    return _format(translations(_locale.get()).ngettext(singular, plural, num), variables)


_ = gettext


def N_(message: str) -> str:  # noqa: N802 - the conventional name, known to extractors
    """Mark `message` for extraction without translating it (module-level labels, translated
    later with `_(value)` when the locale is known)."""
    return message


def jinja_gettext(message: str) -> str:
    """For `Environment.install_gettext_callables(newstyle=True)`: Jinja does the formatting."""
    return translations(_locale.get()).gettext(message)


def jinja_ngettext(singular: str, plural: str, num: int) -> str:
    return translations(_locale.get()).ngettext(singular, plural, num)


# Labels for values stored as identifiers; templates show them with the `label` filter.
LABELS: dict[str, dict[str, str]] = {
    "stage": {
        "discovery": N_("Discovery"),
        "evaluation": N_("Evaluation"),
        "decision": N_("Decision"),
        "closed-won": N_("Closed – won"),
        "closed-lost": N_("Closed – lost"),
    },
    "buyer_role": {
        "champion": N_("Champion"),
        "economic_buyer": N_("Economic buyer"),
        "technical_evaluator": N_("Technical evaluator"),
        "legal_procurement": N_("Legal / procurement"),
        "end_user": N_("End user"),
        "other": N_("Other"),
    },
    "seller_role": {"admin": N_("Admin"), "manager": N_("Manager"), "rep": N_("Sales rep")},
    "mail_status": {
        "queued": N_("queued"),
        "sending": N_("sending"),
        "sent": N_("sent"),
        "printed": N_("printed"),
        "failed": N_("failed"),
    },
    "file_kind": {
        "pdf": N_("PDF"),
        "image": N_("Image"),
        "video": N_("Video"),
        "office": N_("Office document"),
        "text": N_("Text"),
    },
}


def label(value: object, kind: str) -> str:
    """The translated label of a stored value (`discovery` -> "Discovery" / "情報収集");
    unknown values are shown as they are."""
    text = LABELS.get(kind, {}).get(str(value))
    return gettext(text) if text else str(value if value is not None else "")


# ---------------------------------------------------------------- dates and times

# Japanese readers expect 2026年11月22日; English ones Nov 22, 2026.
_DATE_STYLE: dict[str, Literal["long", "medium"]] = {"ja": "long"}


def _local(value: datetime) -> datetime:
    if value.tzinfo is None:  # stored timestamps are UTC; a naive one is UTC too
        value = value.replace(tzinfo=UTC)
    return value.astimezone(_timezone.get())


def format_datetime(value: datetime | None) -> str:
    """`2026年11月22日 15:04` / `Nov 22, 2026, 3:04 PM` in the viewer's time zone."""
    if value is None:
        return ""
    locale = _locale.get()
    local = _local(value)
    style = _DATE_STYLE.get(locale, "medium")
    day = babel_dates.format_date(local, style, locale=_babel(locale))
    time = babel_dates.format_time(local, "short", locale=_babel(locale))
    pattern = str(babel_dates.get_datetime_format(style, locale=_babel(locale)))
    return pattern.replace("{1}", day).replace("{0}", time)


def format_date(value: date | datetime | None) -> str:
    """The day: a datetime is first moved into the viewer's time zone; a date is a date."""
    if value is None:
        return ""
    locale = _locale.get()
    day = _local(value) if isinstance(value, datetime) else value
    return babel_dates.format_date(day, _DATE_STYLE.get(locale, "medium"), locale=_babel(locale))


def format_ago(value: datetime | None, now: datetime | None = None) -> str:
    """`3 minutes ago` / `3 分前`; `just now` under a minute; `never` for no time at all."""
    if value is None:
        return gettext("never")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = (now or datetime.now(UTC)) - value
    if delta < timedelta(minutes=1):
        return gettext("just now")
    return babel_dates.format_timedelta(
        -delta, add_direction=True, threshold=1, locale=_babel(_locale.get())
    )


def format_duration(seconds: int | float | None) -> str:
    """Active time for people: `45 s`, `4 min 20 s`, `1 h 05 min` (`4分20秒`, `1時間5分`)."""
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return gettext("%(h)s h %(m)02d min", h=hours, m=minutes)
    if minutes:
        return (
            gettext("%(m)s min %(s)02d s", m=minutes, s=secs)
            if secs
            else gettext("%(m)s min", m=minutes)
        )
    return gettext("%(s)s s", s=secs)


# ---------------------------------------------------------------- catalogs


@dataclass(frozen=True)
class Problem:
    msgid: str
    problem: str  # missing | untranslated | fuzzy | placeholders
    locations: tuple[str, ...]

    def __str__(self) -> str:
        where = ", ".join(self.locations[:3]) + (" ..." if len(self.locations) > 3 else "")
        return f"{self.problem}: {self.msgid!r} ({where})"


def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]:
    from babel.messages.frontend import parse_mapping_cfg

    with MAPPING_FILE.open(encoding="utf-8") as handle:
        return parse_mapping_cfg(handle, filename=str(MAPPING_FILE))


def extract() -> Catalog:
    """Every msgid in the templates and the Python sources, as babel.cfg maps them."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    method_map, options_map = _mapping()
    roots = {pattern.split("/", 1)[0] for pattern, _method in method_map}

    def only_mapped(path: str) -> bool:
        relative = Path(path).relative_to(PROJECT_ROOT).parts
        return bool(relative) and relative[0] in roots and not relative[-1].startswith((".", "_"))

    catalog = Catalog(
        project="Dealroom",
        version=__version__,
        charset="utf-8",
        header_comment="# Dealroom UI messages (source: English).\n# Regenerate: make messages",
        fuzzy=False,
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PROJECT_ROOT),
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
        directory_filter=only_mapped,
    ):
        if message and (message[0] if isinstance(message, tuple) else message):
            catalog.add(
                message, None, [(filename, lineno)], auto_comments=comments, context=context
            )
    return catalog


def _po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def translated_locales() -> list[str]:
    return [locale for locale in LOCALES if locale != DEFAULT_LOCALE]


def _write_if_changed(path: Path, catalog: Catalog) -> bool:
    """Write a catalog unless only its header dates would change (keeps diffs quiet)."""
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, ignore_obsolete=True, include_lineno=False)
    new = buffer.getvalue()
    dated = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"$', re.MULTILINE)
    if path.exists() and dated.sub(b"", path.read_bytes()) == dated.sub(b"", new):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(new)
    return True


def update() -> dict[str, int]:
    """Re-extract into the .pot and merge it into every .po: new msgids arrive with an empty
    msgstr (no fuzzy guesses to review), vanished ones are dropped. Returns missing counts."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    template = extract()
    _write_if_changed(POT_FILE, template)
    counts = {}
    for locale in translated_locales():
        path = _po_path(locale)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=locale)
        else:
            catalog = Catalog(
                locale=locale, project="Dealroom", version=__version__, charset="utf-8", fuzzy=False
            )
        catalog.update(template, no_fuzzy_matching=True)
        _write_if_changed(path, catalog)
        counts[locale] = len(problems(locale, template))
    return counts


def _write_mo(po: Path, target: Any) -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle)
    write_mo(target, catalog, use_fuzzy=False)


def compile_catalogs() -> list[Path]:
    written = []
    for locale in translated_locales():
        po = _po_path(locale)
        if not po.exists():
            continue
        mo = po.with_suffix(".mo")
        with mo.open("wb") as handle:
            _write_mo(po, handle)
        written.append(mo)
    translations.cache_clear()
    return written


_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdfi]")


def _placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def _stray_percent(text: str) -> bool:
    """A `%` that is neither a placeholder nor `%%` breaks newstyle formatting."""
    return "%" in _PLACEHOLDER.sub("", text).replace("%%", "")


def problems(locale: str = "ja", template: Catalog | None = None) -> list[Problem]:
    """What keeps `locale` from being complete: msgids of the current sources that its catalog
    lacks, leaves empty or marks fuzzy, and translations whose placeholders differ."""
    from babel.messages.pofile import read_po

    template = template if template is not None else extract()
    path = _po_path(locale)
    catalog = None
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
    found = []
    for message in template:
        if not message.id:
            continue  # the header
        ids = tuple(message.id) if isinstance(message.id, (tuple, list)) else (message.id,)
        where = tuple(f"{file}:{line}" if line else file for file, line in message.locations)
        entry = catalog.get(message.id, context=message.context) if catalog else None
        raw = () if entry is None else entry.string
        strings = tuple(str(s or "") for s in (raw if isinstance(raw, (tuple, list)) else (raw,)))
        if entry is None:
            found.append(Problem(ids[0], "missing", where))
        elif not strings or not all(strings):
            found.append(Problem(ids[0], "untranslated", where))
        elif entry.fuzzy:
            found.append(Problem(ids[0], "fuzzy", where))
        else:
            wanted, loose = _placeholders(ids[-1]), _stray_percent(ids[-1])
            if any(_placeholders(s) != wanted or _stray_percent(s) > loose for s in strings):
                found.append(Problem(ids[0], "placeholders", where))
    return found


# Where a plain English literal in Python reaches a reader: the message of a domain error, and
# the `label=`, `message=` and `error=` arguments the domain passes along. Wrap them in `_()`.
_ERRORS = frozenset(
    {
        "DealroomError",
        "NotFound",
        "PermissionDenied",
        "AccessRevoked",
        "InvalidInput",
        "Conflict",
        "TooLarge",
        "RateLimited",
        "MalformedRequest",
        "LoginRequired",
        "LinkProblem",
        "UnsupportedFile",
    }
)
_MESSAGE_KEYWORDS = frozenset({"label", "message", "error"})
# Text only developers and operators read (command line, settings errors, the demo seed).
_NOT_UI = ("__main__.py", "settings.py", "seed.py", "migrations/", "i18n.py")


def _literal(node: ast.AST | None) -> bool:
    """An English string that no `_()` wraps (an f-string counts: it cannot be extracted)."""
    if isinstance(node, ast.JoinedStr):
        return True
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return False
    # A bare identifier ("limit") names an API parameter: it stays as it is in every language.
    return bool(node.value) and not re.fullmatch(r"[a-z_]+", node.value)


def _unwrapped_in(tree: ast.AST) -> Iterator[ast.expr]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in _ERRORS:
            yield from (
                arg for arg in node.args[1 if name == "LinkProblem" else 0 :] if _literal(arg)
            )
        for keyword in node.keywords:
            if keyword.arg in _MESSAGE_KEYWORDS and _literal(keyword.value):
                yield keyword.value
            if keyword.arg == "fields":
                value = keyword.value
                values: list[ast.expr] = []
                if isinstance(value, ast.Dict):
                    values = [v for v in value.values if v is not None]
                if isinstance(value, ast.DictComp):
                    values = [value.value]
                yield from (v for v in values if _literal(v))


def unwrapped_strings() -> list[Problem]:
    """User-facing English literals in the Python sources that `_()` does not wrap: they are
    never extracted, so no catalog can translate them."""
    package = Path(__file__).resolve().parent
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if any(part in relative for part in _NOT_UI):
            continue
        for node in _unwrapped_in(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else ast.unparse(node)
            found.append(Problem(str(text), "not wrapped in _()", (f"{relative}:{node.lineno}",)))
    return found


def coverage(locale: str = "ja") -> tuple[int, int]:
    """(translated, total) msgids of the current sources."""
    template = extract()
    total = sum(1 for message in template if message.id)
    return total - len(problems(locale, template)), total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dealroom.i18n", description=__doc__)
    parser.add_argument("command", choices=("extract", "update", "compile", "check"))
    args = parser.parse_args(argv)
    if args.command == "extract":
        template = extract()
        _write_if_changed(POT_FILE, template)
        print(f"{POT_FILE.relative_to(PROJECT_ROOT)}: {len(template)} msgids")
    elif args.command == "update":
        for locale, missing in update().items():
            print(f"{_po_path(locale).relative_to(PROJECT_ROOT)}: {missing} to translate")
    elif args.command == "compile":
        for mo in compile_catalogs():
            print(f"compiled {mo.relative_to(PROJECT_ROOT)}")
    else:
        template = extract()
        failed = False
        for locale in translated_locales():
            found = problems(locale, template)
            total = sum(1 for message in template if message.id)
            print(f"{locale}: {total - len(found)}/{total} msgids translated")
            for problem in found:
                print(f"  {problem}")
            failed = failed or bool(found)
        unwrapped = unwrapped_strings()
        if unwrapped:
            print(f"{len(unwrapped)} user-facing strings in Python are not wrapped in _():")
            for problem in unwrapped:
                print(f"  {problem}")
            failed = True
        if failed:
            print("Translate the msgstr of these entries in dealroom/locale/<locale>/LC_MESSAGES/")
            print("messages.po (run `python -m dealroom.i18n update` first if some are missing).")
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
