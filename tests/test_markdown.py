"""Sanitized markdown: formatting survives, anything that could run script does not."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from dealroom.markdown import mentions, render


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_formatting_is_kept():
    html = render("**bold** _em_ `code`\n\n- one\n- two\n\n[site](https://example.com)")
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src='https://evil.example'></iframe>",
        '<svg onload="alert(1)"></svg>',
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<div style="background:url(javascript:alert(1))">x</div>',
    ],
)
def test_nothing_executable_survives(attack):
    # Text that merely *shows* the attack (escaped) is fine; elements and attributes are not.
    tags = elements(str(render(attack)))
    assert {name for name, _ in tags} <= {"p", "a"}
    for _name, attrs in tags:
        for attr, value in attrs:
            assert not attr.startswith("on") and attr != "style"
            assert not (value or "").strip().lower().startswith(("javascript:", "data:"))


def test_raw_html_is_shown_as_text():
    assert "&lt;b&gt;hi&lt;/b&gt;" in render("<b>hi</b>")


def test_mentions_are_found_once_each():
    assert mentions("Hi @kato and @Sato@acme.example, cc @kato.") == ["kato", "sato@acme.example"]
    assert mentions("mail me at someone@acme.example") == []
