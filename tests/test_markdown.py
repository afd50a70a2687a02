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


# ---------------------------------------------------------------- highlighted mentions


def mention_spans(html: str) -> list[tuple[str, str]]:
    """(class, text) of each <span> in rendered HTML."""
    found: list[tuple[str, str]] = []

    class Collect(HTMLParser):
        open: str | None = None

        def handle_starttag(self, tag, attrs):
            if tag == "span":
                self.open = dict(attrs).get("class") or ""

        def handle_data(self, data):
            if self.open is not None:
                found.append((self.open, data))
                self.open = None

    Collect().feed(html)
    return found


def test_mentions_the_caller_names_are_highlighted_and_others_stay_text():
    html = str(render("Hi @Kato and @mei. Ask @nobody.", mentioned={"kato", "mei"}))

    assert mention_spans(html) == [("mention", "@Kato"), ("mention", "@mei")]
    assert "@mei</span>. Ask @nobody." in html  # the sentence's full stop is not part of it


def test_a_mention_of_the_reader_gets_its_own_class():
    html = str(render("@kato, @mei: thoughts?", mentioned={"kato", "mei"}, me={"mei"}))

    assert mention_spans(html) == [("mention", "@kato"), ("mention mention--me", "@mei")]


@pytest.mark.parametrize(
    "body",
    [
        "`@kato`",
        "```\n@kato\n```",
        "    @kato indented code",
        "[@kato](https://example.com/@kato)",
        "<https://example.com/@kato>",
        "![@kato](https://example.com/kato.png)",
        "mail kato@kato.example",
    ],
)
def test_no_mention_inside_code_links_images_or_addresses(body):
    assert "mention" not in str(render(body, mentioned={"kato", "kato.example"}))


def test_mentions_inside_formatting_lists_and_tables_are_highlighted():
    body = "**@kato** _@kato_\n\n- @kato\n\n| who |\n| --- |\n| @kato |"
    html = str(render(body, mentioned={"kato"}))
    assert [text for _cls, text in mention_spans(html)] == ["@kato"] * 4


@pytest.mark.parametrize(
    "attack",
    [
        "@<img src=x onerror=alert(1)>",
        '@kato<img src=x onerror="alert(1)">',
        "@kato<script>alert(1)</script>",
        '@kato" onmouseover="alert(1)',
        "[@kato](javascript:alert(1))",
        "`@kato<img src=x onerror=alert(1)>`",
    ],
)
def test_hostile_text_around_mentions_stays_harmless(attack):
    tags = elements(str(render(attack, mentioned={"kato", "<img"}, me={"kato"})))
    assert {name for name, _ in tags} <= {"p", "a", "span", "code"}
    for name, attrs in tags:
        for attr, value in attrs:
            assert not attr.startswith("on") and attr != "style"
            assert not (value or "").strip().lower().startswith(("javascript:", "data:"))
            if name == "span":
                assert attr == "class" and value in ("mention", "mention mention--me")


def test_the_readers_class_never_leaks_through_the_cache():
    body = "Over to you, @kato"
    assert "mention--me" in str(render(body, mentioned={"kato"}, me={"kato"}))
    assert "mention--me" not in str(render(body, mentioned={"kato"}))
    assert "mention" not in str(render(body))
    assert "mention--me" in str(render(body, mentioned=["kato"], me=["kato"]))
