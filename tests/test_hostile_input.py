"""Property-based tests (hypothesis) of the code that parses hostile input: for *any* input, not
just the cases someone thought of.

- the markdown sanitizer (dealroom/markdown.py): notes and chat are written by one party and
  read by the other, so nothing executable may survive it;
- the tracking beacon parser: see the section at the end (added with intent tracking).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealroom import markdown

# Pieces attackers use, mixed at random with arbitrary text.
HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<iframe src=javascript:alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "<style>@import 'x'</style>",
    "<math><mi xlink:href=javascript:alert(1)>",
    "<details open ontoggle=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](&#x6A;avascript&colon;alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    '[x](https://ok.example "title" onclick="alert(1)")',
    "`<script>`",
    "```\n<script>alert(1)</script>\n```",
    "<!-- <script>alert(1)</script> -->",
    '<a href="https://ok.example" onclick="alert(1)">ok</a>',
    "| a | b |\n|---|---|\n| <script>x</script> | [y](javascript:z) |",
    "> <img src=x onerror=alert(1)>",
    "@mention",
    "\x00",
    "\u202e",
    "&lt;script&gt;",
    "<",
    ">",
    '"',
    "'",
    "(",
    ")",
    "[",
    "]",
    "\n",
]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20)), max_size=12).map(
    "".join
)

SAFE_SCHEMES = {"http", "https", "mailto"}
# What a browser ignores inside a URL scheme (tabs, newlines, NUL) or before it (spaces, controls).
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    handle_startendtag = handle_starttag


def _elements(fragment: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Collect()
    parser.feed(fragment)
    parser.close()
    return parser.elements


def _scheme(url: str) -> str | None:
    cleaned = _IGNORED_IN_URL.sub("", html.unescape(url)).lower()
    match = re.match(r"^([a-z][a-z0-9+.\-]*):", cleaned)
    return match.group(1) if match else None


def _assert_inert(rendered: str) -> None:
    for tag, attrs in _elements(rendered):
        assert tag in markdown.ALLOWED_TAGS, f"tag {tag!r} survived: {rendered!r}"
        allowed = markdown.ALLOWED_ATTRIBUTES.get(tag, set())
        for name, value in attrs:
            assert not name.startswith("on"), f"event handler {name!r} survived: {rendered!r}"
            assert name in allowed or (tag == "a" and name == "rel"), (tag, name, rendered)
            if name == "href":
                scheme = _scheme(value or "")
                assert scheme is None or scheme in SAFE_SCHEMES, f"{scheme}: {rendered!r}"
        if tag == "a" and any(name == "href" for name, _v in attrs):
            rel = dict(attrs).get("rel") or ""
            assert {"noopener", "noreferrer", "nofollow"} <= set(rel.split())
    # A "<script" or "<iframe" in the output would have been a tag (caught above) or escaped
    # text ("&lt;script"): never a raw one.
    assert "<script" not in rendered.lower() and "<iframe" not in rendered.lower()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_text)
def test_nothing_executable_survives_the_markdown_sanitizer(text: str) -> None:
    rendered = str(markdown.render(text))
    _assert_inert(rendered)


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_sanitized_output_is_a_fixed_point(text: str) -> None:
    """Sanitizing the output again changes nothing: what we store and show is already clean."""
    rendered = str(markdown.render(text))
    assert markdown.sanitize_html(rendered) == rendered


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_unicode_renders_without_error(text: str) -> None:
    rendered = str(markdown.render(text))
    _assert_inert(rendered)
    assert isinstance(markdown.mentions(text), list)


def test_the_checker_itself_catches_what_it_looks_for() -> None:
    # If the property checks were vacuous, these would pass too.
    for bad in (
        "<script>alert(1)</script>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="jav&#x09;ascript:alert(1)" rel="noopener noreferrer nofollow">x</a>',
        '<p onclick="x">y</p>',
        '<img src="x">',
    ):
        try:
            _assert_inert(bad)
        except AssertionError:
            continue
        raise AssertionError(f"the checker missed {bad!r}")


# ---------------------------------------------------------------- the tracking beacon parser
#
# Intent tracking (dealroom/tracking.py) adds its property test here: for any request body
# (arbitrary bytes, JSON of any shape, huge numbers, negative or NaN durations, unknown event
# kinds, ids of other rooms), the beacon parser either returns well-formed, capped events for
# the viewer's own room or rejects the body with a 4xx — it never raises and never trusts ids
# from the body.
