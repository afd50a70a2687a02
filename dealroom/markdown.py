"""User markdown (notes, chat) to safe HTML.

markdown-it renders with raw HTML disabled, then nh3 (the Rust `ammonia` sanitizer) keeps only
an allow-list of tags and attributes: no script, no event handlers, no `javascript:` URLs, and
every link opens with rel="noopener noreferrer nofollow".

@mentions the caller has resolved to people are shown as `<span class="mention">@Kato</span>`
(`mention mention--me` when they name the reader). They are marked on markdown-it's token stream,
in plain text only (never in code spans, code blocks, links or image descriptions), and the
sanitizer still runs over the whole result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup, escape

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


def render(text: str, *, mentioned: Iterable[str] = (), me: Iterable[str] = ()) -> Markup:
    """Markdown to sanitized HTML, safe to put in a template unescaped.

    `mentioned` lists the @handles to highlight, as `mentions()` returns them (lower case, no
    "@"); those also in `me` name the reader and get the extra class `mention--me`. Other
    `@words` stay plain text.
    """
    return _render(text or "", frozenset(mentioned), frozenset(me))


@lru_cache(maxsize=4096)
def _render(text: str, mentioned: frozenset[str], me: frozenset[str]) -> Markup:
    # Pure function of its arguments: a chat history is re-rendered on every page view otherwise.
    # The reader's handles are part of the key, so one reader's "--me" never reaches another.
    tokens = _md.parse(text)
    if mentioned:
        _mark_mentions(tokens, mentioned, me)
    html = _md.renderer.render(tokens, _md.options, {})
    return Markup(sanitize_html(html))  # noqa: S704 - sanitized just above


def _mark_mentions(tokens: Sequence[Token], mentioned: frozenset[str], me: frozenset[str]) -> None:
    """Split the plain-text tokens around known @handles (outside links) into a span each."""
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        in_link = 0
        for child in block.children:
            if child.type == "link_open":
                in_link += 1
            elif child.type == "link_close":
                in_link -= 1
            if child.type == "text" and not in_link and "@" in child.content:
                children.extend(_split_mentions(child, mentioned, me))
            else:
                children.append(child)
        block.children = children


def _split_mentions(token: Token, mentioned: frozenset[str], me: frozenset[str]) -> list[Token]:
    out: list[Token] = []
    text = token.content
    done = 0
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".")
        handle = name.lower()
        if handle not in mentioned:
            continue
        start, end = match.start(), match.start(1) + len(name)
        if start > done:
            out.append(_text(text[done:start]))
        classes = "mention mention--me" if handle in me else "mention"
        span = Token("html_inline", "", 0)
        span.content = f'<span class="{classes}">{escape(text[start:end])}</span>'
        out.append(span)
        done = end
    if not out:
        return [token]
    if done < len(text):
        out.append(_text(text[done:]))
    return out


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def mentions(text: str) -> list[str]:
    """`@name` and `@email` tokens, in order, without duplicates (the caller resolves them)."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text or ""):
        seen.setdefault(match.group(1).rstrip(".").lower(), None)
    return list(seen)
