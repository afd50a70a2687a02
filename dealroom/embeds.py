"""Links a seller shares: any http(s) page, and the video hosts we can embed.

`parse(url)` checks a URL a seller typed and says what it is. YouTube, Vimeo and Loom videos
become embedded players (YouTube through its privacy-enhanced youtube-nocookie.com host); every
other page is opened as a link. Hosts are matched exactly, so `youtube.com.evil.example` or
`evilyoutube.com` are ordinary web links, never embeds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from .errors import InvalidInput
from .i18n import N_, _
from .validate import storable

MAX_URL_LENGTH = 2000
LINK_KINDS = ("youtube", "vimeo", "loom", "web")

# The only hosts an embedded player may come from; the viewer page's CSP allows exactly these.
EMBED_HOSTS = {
    "youtube": "https://www.youtube-nocookie.com",
    "vimeo": "https://player.vimeo.com",
    "loom": "https://www.loom.com",
}
# Translate with `_(LABELS[kind])` where the language is known.
LABELS = {
    "youtube": N_("YouTube video"),
    "vimeo": N_("Vimeo video"),
    "loom": N_("Loom video"),
    "web": N_("Link"),
}

_YOUTUBE_HOSTS = {
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtube-nocookie.com",
    "www.youtube-nocookie.com",
}
_VIMEO_HOSTS = {"vimeo.com", "www.vimeo.com", "player.vimeo.com"}
_LOOM_HOSTS = {"loom.com", "www.loom.com"}
_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_VIMEO_ID = re.compile(r"^[0-9]{1,20}$")
_VIMEO_HASH = re.compile(r"^[0-9a-f]{6,40}$")
_LOOM_ID = re.compile(r"^[0-9A-Za-z]{10,64}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
_PORT = re.compile(r"^[0-9]{1,5}(?:[/?#]|$)")
_TIME = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


@dataclass(frozen=True)
class Link:
    url: str  # normalised: scheme and host in lower case
    kind: str  # one of LINK_KINDS
    video_id: str = ""
    embed_url: str = ""  # empty for "web"

    @property
    def embed_origin(self) -> str:
        return EMBED_HOSTS.get(self.kind, "")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


def parse(value: object, field: str = "url") -> Link:
    """Check a URL typed by a seller; InvalidInput (naming `field`) when it cannot be shared."""
    url = _check(value, field)
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = [p for p in parts.path.split("/") if p]
    query = parse_qs(parts.query)
    if host in _YOUTUBE_HOSTS or host == "youtu.be":
        return _youtube(url, host, path, query)
    if host in _VIMEO_HOSTS:
        return _vimeo(url, host, path, query)
    if host in _LOOM_HOSTS:
        return _loom(url, path)
    return Link(url, "web")


@lru_cache(maxsize=4096)
def parse_stored(url: str) -> Link:
    """`parse` for a URL that was validated when it was saved: pure, so cached (a big room
    would otherwise re-parse every link on every page view)."""
    return parse(url)


def _check(value: object, field: str) -> str:
    raw = storable(value, field).strip()
    if not raw:
        raise InvalidInput(fields={field: _("Enter a link (a URL starting with https://).")})
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidInput(
            fields={field: _("Links must be at most %(max)s characters.", max=MAX_URL_LENGTH)}
        )
    # Browsers drop tabs and newlines inside URLs ("java\nscript:" runs as javascript:), and
    # spaces or controls make a link mean different things to different readers: refuse them.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise InvalidInput(fields={field: _("A link cannot contain spaces or control characters.")})
    scheme = _SCHEME.match(raw)
    if scheme is None:
        raw = "https://" + raw.lstrip("/")  # "acme.example/pricing" means the web page
    elif scheme.group(1).lower() not in ("http", "https"):
        if _PORT.match(raw[scheme.end() :]):
            raw = "https://" + raw  # "acme.example:8080/x" is a host and a port, not a scheme
        else:
            # javascript:, data:, ftp:, file:, mailto: ... are refused by name.
            shown = scheme.group(1).lower()[:20]
            raise InvalidInput(
                fields={
                    field: _(
                        "Only http:// and https:// links can be shared (not %(scheme)s:).",
                        scheme=shown,
                    )
                }
            )
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise InvalidInput(fields={field: _("This is not a valid web address.")}) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInput(fields={field: _("This is not a valid web address.")})
    if parts.username is not None or parts.password is not None:
        # "https://bank.example@evil.example" shows one host and opens another.
        raise InvalidInput(
            fields={field: _("Links with a user name or password in them cannot be shared.")}
        )
    host = _host(parts.hostname or "")
    if host is None:
        raise InvalidInput(
            fields={field: _("This is not a valid web address (check the host name).")}
        )
    netloc = host if port is None else f"{host}:{port}"
    # Non-ASCII and unsafe characters are percent-encoded, so the URL is plain ASCII everywhere
    # (an HTTP Location header, an href); "%" stays, so an already encoded URL is unchanged.
    path, query, fragment = (quote(p, safe=_URL_SAFE) for p in parts[2:5])
    return urlunsplit((parts.scheme.lower(), netloc, path, query, fragment))


def _host(host: str) -> str | None:
    """The host in lower case (IDN as punycode), or None when it is not a usable host name."""
    if not host:
        return None
    if host.startswith("[") or ":" in host:  # urlsplit strips the brackets of IPv6 literals
        return f"[{host.strip('[]')}]" if re.fullmatch(r"[0-9a-f:.]+", host.strip("[]")) else None
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return None
    if len(labels) < 2 and ascii_host != "localhost":
        return None
    return ascii_host.rstrip(".")


def _start_seconds(query: dict[str, list[str]]) -> int:
    raw = (query.get("t") or query.get("start") or [""])[0]
    match = _TIME.match(raw) if raw else None
    if not match:
        return 0
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return min(hours * 3600 + minutes * 60 + seconds, 24 * 3600)


def _youtube(url: str, host: str, path: list[str], query: dict[str, list[str]]) -> Link:
    video = ""
    if host == "youtu.be":
        video = path[0] if path else ""
    elif path[:1] == ["watch"]:
        video = (query.get("v") or [""])[0]
    elif len(path) >= 2 and path[0] in ("shorts", "embed", "live", "v", "e"):
        video = path[1]
    if not _YOUTUBE_ID.match(video):
        return Link(url, "web")  # a channel, a playlist, the home page: just a link
    embed = f"{EMBED_HOSTS['youtube']}/embed/{video}"
    start = _start_seconds(query)
    if start:
        embed += f"?start={start}"
    return Link(url, "youtube", video, embed)


def _vimeo(url: str, host: str, path: list[str], query: dict[str, list[str]]) -> Link:
    if host == "player.vimeo.com":
        ids = path[1:2] if path[:1] == ["video"] else []
        hashes = query.get("h", [])[:1]
    else:
        # vimeo.com/123, vimeo.com/123/abcdef (unlisted), vimeo.com/channels/x/123,
        # vimeo.com/groups/x/videos/123, vimeo.com/showcase/1/video/123
        numeric = [i for i, part in enumerate(path) if _VIMEO_ID.match(part)]
        if path and path[0] in ("showcase", "album") and len(numeric) >= 2:
            numeric = numeric[1:]
        ids = [path[numeric[0]]] if numeric else []
        after = path[numeric[0] + 1 : numeric[0] + 2] if numeric else []
        hashes = after or query.get("h", [])[:1]
    if not ids or not _VIMEO_ID.match(ids[0]):
        return Link(url, "web")
    embed = f"{EMBED_HOSTS['vimeo']}/video/{ids[0]}"
    if hashes and _VIMEO_HASH.match(hashes[0]):
        embed += f"?h={hashes[0]}"
    return Link(url, "vimeo", ids[0], embed)


def _loom(url: str, path: list[str]) -> Link:
    if len(path) >= 2 and path[0] in ("share", "embed") and _LOOM_ID.match(path[1]):
        return Link(url, "loom", path[1], f"{EMBED_HOSTS['loom']}/embed/{path[1]}")
    return Link(url, "web")
