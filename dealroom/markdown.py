"""User markdown (notes, chat) to safe HTML.

markdown-it renders with raw HTML disabled, then nh3 (the Rust `ammonia` sanitizer) keeps only
an allow-list of tags and attributes: no script, no event handlers, no `javascript:` URLs, and
every link opens with rel="noopener noreferrer nofollow".
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
    .enable("table")
    .enable("strikethrough")
)

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "span": {"class"}}
URL_SCHEMES = {"http", "https", "mailto"}

_MENTION = re.compile(
    r"(?<![\w@])@([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}|[\w.\-]+)", re.UNICODE
)


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render(text: str) -> Markup:
    """Markdown to sanitized HTML, safe to put in a template unescaped."""
    return _render(text or "")


@lru_cache(maxsize=4096)
def _render(text: str) -> Markup:
    # Pure function of the text: a chat history is re-rendered on every page view otherwise.
    return Markup(sanitize_html(_md.render(text)))  # noqa: S704 - sanitized just above


def mentions(text: str) -> list[str]:
    """`@name` and `@email` tokens, in order, without duplicates (the caller resolves them)."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text or ""):
        seen.setdefault(match.group(1).rstrip(".").lower(), None)
    return list(seen)
