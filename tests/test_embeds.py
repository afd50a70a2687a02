"""Shared links: which URLs are accepted, how they are normalised, which become embedded players."""

from __future__ import annotations

import pytest

from dealroom import embeds
from dealroom.errors import InvalidInput

VIDEO = "dQw4w9WgXcQ"
NOCOOKIE = f"https://www.youtube-nocookie.com/embed/{VIDEO}"
LOOM_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("url", "embed"),
    [
        (f"https://www.youtube.com/watch?v={VIDEO}", NOCOOKIE),
        (f"https://youtube.com/watch?feature=share&v={VIDEO}", NOCOOKIE),
        (f"http://m.youtube.com/watch?v={VIDEO}&list=PL123", NOCOOKIE),
        (f"https://youtu.be/{VIDEO}", NOCOOKIE),
        (f"https://youtu.be/{VIDEO}?si=tracking", NOCOOKIE),
        (f"youtu.be/{VIDEO}", NOCOOKIE),
        (f"https://www.youtube.com/shorts/{VIDEO}", NOCOOKIE),
        (f"https://www.youtube.com/embed/{VIDEO}", NOCOOKIE),
        (f"https://www.youtube.com/live/{VIDEO}", NOCOOKIE),
        (f"https://www.youtube-nocookie.com/embed/{VIDEO}", NOCOOKIE),
        (f"HTTPS://WWW.YOUTUBE.COM/watch?v={VIDEO}", NOCOOKIE),
        (f"https://youtu.be/{VIDEO}?t=90", f"{NOCOOKIE}?start=90"),
        (f"https://www.youtube.com/watch?v={VIDEO}&t=1m30s", f"{NOCOOKIE}?start=90"),
        ("https://vimeo.com/76979871", "https://player.vimeo.com/video/76979871"),
        ("https://www.vimeo.com/76979871", "https://player.vimeo.com/video/76979871"),
        (
            "https://vimeo.com/76979871/1a2b3c4d5e",
            "https://player.vimeo.com/video/76979871?h=1a2b3c4d5e",
        ),
        (
            "https://vimeo.com/channels/staffpicks/76979871",
            "https://player.vimeo.com/video/76979871",
        ),
        ("https://player.vimeo.com/video/76979871", "https://player.vimeo.com/video/76979871"),
        (
            "https://vimeo.com/showcase/111/video/76979871",
            "https://player.vimeo.com/video/76979871",
        ),
        (f"https://www.loom.com/share/{LOOM_ID}", f"https://www.loom.com/embed/{LOOM_ID}"),
        (f"https://loom.com/share/{LOOM_ID}?sid=abc", f"https://www.loom.com/embed/{LOOM_ID}"),
        (f"https://www.loom.com/embed/{LOOM_ID}", f"https://www.loom.com/embed/{LOOM_ID}"),
    ],
)
def test_video_hosts_become_privacy_friendly_embeds(url, embed):
    link = embeds.parse(url)
    assert link.kind in ("youtube", "vimeo", "loom")
    assert link.embed_url == embed
    assert embed.startswith(link.embed_origin + "/")


@pytest.mark.parametrize(
    "url",
    [
        f"https://youtube.com.evil.example/watch?v={VIDEO}",  # host only looks like YouTube
        f"https://evilyoutube.com/watch?v={VIDEO}",
        f"https://notyoutu.be/{VIDEO}",
        f"https://evil.example/?u=https://youtu.be/{VIDEO}",
        "https://www.youtube.com/@northwind",  # a channel: just a link
        "https://www.youtube.com/watch?v=short",  # not an 11-character id
        f"https://www.youtube.com/watch?v={VIDEO}%22onload%3D",
        "https://vimeo.com/about",
        "https://www.loom.com/looms/videos",
        "https://www.loom.com/share/<script>",
    ],
)
def test_lookalikes_and_other_pages_are_plain_links(url):
    link = embeds.parse(url)
    assert (link.kind, link.embed_url) == ("web", "")


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://acme.example/pricing", "https://acme.example/pricing"),
        ("acme.example/pricing", "https://acme.example/pricing"),
        ("  https://Acme.Example/Path?q=1#top  ", "https://acme.example/Path?q=1#top"),
        ("HTTP://acme.example", "http://acme.example"),
        ("https://acme.example:8443/a", "https://acme.example:8443/a"),
        ("acme.example:8080/x", "https://acme.example:8080/x"),
        ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
        ("https://acme.example/a%20b", "https://acme.example/a%20b"),
        ('https://acme.example/"><x', "https://acme.example/%22%3E%3Cx"),
        ("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
        ("http://localhost:8000/demo", "http://localhost:8000/demo"),
    ],
)
def test_web_links_are_normalised(url, normalised):
    assert embeds.parse(url).url == normalised


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("javascript:alert(1)", "javascript:"),
        ("JavaScript:alert(document.cookie)", "javascript:"),
        ("  javascript:alert(1)", "javascript:"),
        ("vbscript:msgbox(1)", "vbscript:"),
        ("data:text/html;base64,PHNjcmlwdD4=", "data:"),
        ("ftp://files.example/deck.pdf", "ftp:"),
        ("file:///etc/passwd", "file:"),
        ("mailto:sales@acme.example", "mailto:"),
        ("java\tscript:alert(1)", "spaces or control"),
        ("java\nscript:alert(1)", "spaces or control"),
        ("https://acme.example/a b", "spaces or control"),
        ("https://acme.example/\x00", "NUL"),
        ("https://bank.example@evil.example/", "user name or password"),
        ("https://user:pass@acme.example/", "user name or password"),
        ("http://", "not a valid"),
        ("https:///path", "not a valid"),
        ("http:/acme.example", "not a valid"),
        ("https://acme.example:99999/", "not a valid"),
        ("https://-acme-.example/", "host name"),
        ("https://acme..example/", "host name"),
        ("https://intranet/", "host name"),
        ("javascript:1", "host name"),
        ("https://<script>.example/", "host name"),
        ("", "Enter a link"),
        ("https://acme.example/" + "a" * 2000, "at most 2000"),
    ],
)
def test_unsafe_and_malformed_links_are_refused_with_a_reason(url, says):
    with pytest.raises(InvalidInput) as caught:
        embeds.parse(url, field="url")
    assert says in caught.value.fields["url"]


def test_the_field_name_is_reported():
    with pytest.raises(InvalidInput) as caught:
        embeds.parse("ftp://x.example", field="link")
    assert list(caught.value.fields) == ["link"]
