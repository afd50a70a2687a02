"""What an uploaded file really is, decided from its first bytes.

The client's Content-Type and the file name are never trusted on their own: a file is stored and
served with the type sniffed here, and a name that contradicts the content is refused, because a
buyer deciding whether to open "pricing.pdf" should get a PDF.
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass
from typing import BinaryIO

from .i18n import N_, _

HEAD_SIZE = 8 * 1024


@dataclass(frozen=True)
class FileType:
    mime: str
    extension: str  # canonical, without the dot: "pdf", "jpg", "docx"
    kind: str  # "pdf" | "image" | "video" | "office" | "text"


class UnsupportedFile(ValueError):
    """The message is shown to the uploader as is (in the language of the request)."""


@dataclass(frozen=True)
class _Type:
    filetype: FileType
    label: str  # "a PDF", as in "its content is a PDF" (translated when a message is made)
    extensions: frozenset[str]  # names that honestly describe this content


def _t(mime: str, ext: str, kind: str, label: str, *extra: str) -> _Type:
    return _Type(FileType(mime, ext, kind), label, frozenset((ext, *extra)))


_OOXML = "application/vnd.openxmlformats-officedocument."
TYPES: dict[str, _Type] = {
    "pdf": _t("application/pdf", "pdf", "pdf", N_("a PDF")),
    "png": _t("image/png", "png", "image", N_("a PNG image")),
    "jpg": _t("image/jpeg", "jpg", "image", N_("a JPEG image"), "jpeg"),
    "gif": _t("image/gif", "gif", "image", N_("a GIF image")),
    "webp": _t("image/webp", "webp", "image", N_("a WebP image")),
    "mp4": _t("video/mp4", "mp4", "video", N_("an MP4 video"), "m4v"),
    "mov": _t("video/quicktime", "mov", "video", N_("a QuickTime video"), "qt"),
    "webm": _t("video/webm", "webm", "video", N_("a WebM video")),
    "docx": _t(_OOXML + "wordprocessingml.document", "docx", "office", N_("a Word document")),
    "xlsx": _t(_OOXML + "spreadsheetml.sheet", "xlsx", "office", N_("an Excel workbook")),
    "pptx": _t(_OOXML + "presentationml.presentation", "pptx", "office", N_("a PowerPoint deck")),
    "doc": _t("application/msword", "doc", "office", N_("a Word document")),
    "xls": _t("application/vnd.ms-excel", "xls", "office", N_("an Excel workbook")),
    "ppt": _t("application/vnd.ms-powerpoint", "ppt", "office", N_("a PowerPoint deck")),
    # The content is checked to be UTF-8, so say so: browsers must not guess another charset.
    "txt": _t("text/plain; charset=utf-8", "txt", "text", N_("a text file")),
    "csv": _t("text/csv; charset=utf-8", "csv", "text", N_("a CSV file")),
    "md": _t("text/markdown; charset=utf-8", "md", "text", N_("a Markdown file")),
}

_NAMED_LIKE = {ext: t.label for t in TYPES.values() for ext in t.extensions}
_ACCEPTED_EXTS = frozenset(_NAMED_LIKE)
# Extensions we never accept, so that e.g. a PDF named "invoice.exe" is refused, not renamed.
_NAMED_LIKE.update(
    dict.fromkeys(("exe", "dll", "msi", "com", "scr"), N_("a Windows executable"))
    | dict.fromkeys(("sh", "bat", "cmd", "ps1", "js", "vbs", "py"), N_("a script"))
    | dict.fromkeys(("html", "htm", "xhtml"), N_("a web page"))
    | {"svg": N_("an SVG image"), "xml": N_("an XML document"), "zip": N_("a ZIP archive")}
    | {
        "app": N_("a macOS application"),
        "dmg": N_("a macOS disk image"),
        "jar": N_("a Java program"),
    }
)

_ALLOWED = N_("Upload a PDF, an image, a video, an Office document or a text file.")
_OOXML_EXTS = ("docx", "xlsx", "pptx")
_OLE_EXTS = ("doc", "xls", "ppt")
_TEXT_EXTS = ("txt", "csv", "md")
_MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso3",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"dash",
    b"mmp4",
    b"msnv",
    b"M4V ",
    b"M4VH",
    b"M4VP",
    b"f4v ",
}
_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
}
_MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
# The tags browsers look for when they sniff HTML (WHATWG MIME Sniffing, section 7.1), plus SVG
# and XML: any of these could run script if a browser ever rendered the file.
_MARKUP = re.compile(
    rb"<(?:(!doctype|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)"
    rb"[\s>]|\?xml|svg[\s>/])",
    re.IGNORECASE,
)


def sniff(head: bytes, filename: str) -> FileType:
    """Decide the type of a file from its first bytes (up to ``HEAD_SIZE``) and its name.

    Raises UnsupportedFile with a sentence for the uploader when the content is not allowed or the
    name says something else.
    """
    name = os.path.basename(filename.replace("\\", "/")) or _("This file")
    ext = _extension(name)
    if not head:
        raise UnsupportedFile(_("%(name)s is empty.", name=name))

    danger = _dangerous(head)
    if danger:
        if ext in _ACCEPTED_EXTS:
            raise _mismatch(name, ext, danger)
        raise UnsupportedFile(
            _(
                "%(name)s cannot be uploaded: its content looks like %(kind)s.",
                name=name,
                kind=_(danger),
            )
            + " "
            + _(_ALLOWED)
        )

    if head.startswith(b"PK\x03\x04"):
        return _container(name, ext, _OOXML_EXTS, N_("a ZIP archive"))
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _container(name, ext, _OLE_EXTS, N_("a legacy Office file"))

    found = _binary(name, head)
    if found is None and _is_utf8_text(head):
        if ext in _TEXT_EXTS:
            return TYPES[ext].filetype
        if ext is None:
            return TYPES["txt"].filetype
        if ext not in _NAMED_LIKE:
            raise UnsupportedFile(
                _(
                    "%(name)s looks like a text file; text files must end in .txt, .csv or .md.",
                    name=name,
                )
            )
        found = TYPES["txt"]
    if found is None:
        if ext in _NAMED_LIKE:
            raise UnsupportedFile(
                _(
                    "%(name)s is named like %(named)s but its content is not in a format we "
                    "recognise.",
                    name=name,
                    named=_(_NAMED_LIKE[ext]),
                )
                + " "
                + _(_ALLOWED)
            )
        raise UnsupportedFile(
            _("%(name)s is not a supported kind of file.", name=name) + " " + _(_ALLOWED)
        )

    # An extension we have never heard of ("Q3 deck.final") is just part of the name.
    if ext in _NAMED_LIKE and ext not in found.extensions:
        raise _mismatch(name, ext, found.label)
    return found.filetype


def _mismatch(name: str, ext: str, content_label: str) -> UnsupportedFile:
    return UnsupportedFile(
        _(
            "%(name)s is named like %(named)s but its content is %(kind)s.",
            name=name,
            named=_(_NAMED_LIKE[ext]),
            kind=_(content_label),
        )
    )


def _extension(name: str) -> str | None:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext.isalnum() or len(ext) > 5:
        return None
    return ext.lower()


def _dangerous(head: bytes) -> str | None:
    if head.startswith(b"\x7fELF"):
        return N_("a Linux program (ELF)")
    if head.startswith(_MACHO):
        return N_("a macOS program (Mach-O)")
    if head.startswith(b"\xca\xfe\xba\xbe"):  # Mach-O universal binary; also a Java class file
        return N_("a macOS or Java program")
    # "MZ" also begins ordinary text ("MZ Holdings ..."); a real executable has binary bytes next.
    if head.startswith(b"MZ") and not _is_utf8_text(head):
        return N_("a Windows executable")
    if re.match(rb"#!\s*/", head):
        return N_("a script")
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    markup = _MARKUP.match(text)
    if markup:
        if re.search(rb"<svg[\s>/]", text, re.IGNORECASE):
            return N_("an SVG image")
        if markup.group(0).lower().startswith(b"<?xml"):
            return N_("an XML document")
        return N_("a web page")
    return None


def _container(name: str, ext: str | None, allowed: tuple[str, ...], label: str) -> FileType:
    # ZIP and OLE2 hold many formats; only the name tells a .docx from any other ZIP.
    if ext in allowed:
        return TYPES[ext].filetype
    if ext in _NAMED_LIKE and ext != "zip":
        raise _mismatch(name, ext, label)
    wanted = ", ".join("." + e for e in allowed)
    raise UnsupportedFile(
        _(
            "%(name)s is %(kind)s, which is not supported. Word, Excel and PowerPoint files must "
            "keep their %(extensions)s extension.",
            name=name,
            kind=_(label),
            extensions=wanted,
        )
    )


def _binary(name: str, head: bytes) -> _Type | None:
    if head.startswith(b"%PDF-"):
        return TYPES["pdf"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return TYPES["png"]
    if head.startswith(b"\xff\xd8\xff"):
        return TYPES["jpg"]
    if head.startswith((b"GIF87a", b"GIF89a")):
        return TYPES["gif"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return TYPES["webp"]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _MP4_BRANDS:
            return TYPES["mp4"]
        if brand == b"qt  ":
            return TYPES["mov"]
        if brand in _HEIF_BRANDS:
            raise UnsupportedFile(
                _(
                    "%(name)s is a HEIF or AVIF image, which is not supported. "
                    "Convert it to PNG or JPEG.",
                    name=name,
                )
            )
        shown = brand.decode("latin-1").strip()
        raise UnsupportedFile(
            _(
                "%(name)s is a media file of type '%(type)s', which browsers cannot play. "
                "Convert it to MP4 or WebM.",
                name=name,
                type=shown,
            )
        )
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        doctype = _ebml_doctype(head)
        if doctype == b"webm":
            return TYPES["webm"]
        shown = (doctype or b"unknown").decode("latin-1")
        raise UnsupportedFile(
            _(
                "%(name)s is a Matroska (%(type)s) video, which browsers cannot play reliably. "
                "Convert it to MP4 or WebM.",
                name=name,
                type=shown,
            )
        )
    # Checked after the exact magic numbers so that e.g. a PNG carrying "%PDF-" in a text chunk
    # stays a PNG; PDF readers accept up to 1 KiB of junk before the header.
    if b"%PDF-" in head[:1024]:
        return TYPES["pdf"]
    return None


def _ebml_doctype(head: bytes) -> bytes | None:
    # The DocType element (ID 0x4282) sits in the EBML header within the first few dozen bytes;
    # its size is a variable-length integer whose leading 1-bit gives its width.
    at = head.find(b"\x42\x82", 4, 64)
    if at < 0 or at + 2 >= len(head):
        return None
    first = head[at + 2]
    width = 8 - first.bit_length() + 1 if first else 0
    if not 1 <= width <= 8:
        return None
    size = first & (0xFF >> width)
    for byte in head[at + 3 : at + 2 + width]:
        size = (size << 8) | byte
    start = at + 2 + width
    return head[start : start + size]


def _is_utf8_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    # final=False: the head may end in the middle of a multi-byte character.
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


_PAGE = re.compile(rb"/Type\s{0,8}/Page(?=[\s/<>\[\]()%{}]|$)")
_OVERLAP = 32  # longer than any match, so a match split across two reads is still found


def pdf_page_count(source: str | os.PathLike[str] | BinaryIO) -> int | None:
    """Best-effort page count: the number of ``/Type /Page`` objects, or None if unknown.

    Reads in chunks (big PDFs are fine) without a PDF library. It cannot see pages inside
    compressed object streams (then it returns None) and counts pages replaced by an incremental
    update twice; a real parser can replace it when that matters.
    """
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as handle:
                return _count_pages(handle)
        return _count_pages(source)
    except OSError:
        return None


def _count_pages(handle: BinaryIO) -> int | None:
    buffer = handle.read(HEAD_SIZE)
    if b"%PDF-" not in buffer[:1024]:
        return None
    count = 0
    while True:
        chunk = handle.read(1024 * 1024)
        if not chunk:
            count += len(_PAGE.findall(buffer))
            break
        buffer += chunk
        # Matches starting in the last _OVERLAP bytes wait for the next read to be complete.
        cutoff = len(buffer) - _OVERLAP
        count += sum(1 for m in _PAGE.finditer(buffer) if m.start() < cutoff)
        buffer = buffer[cutoff:]
    return count or None
