"""Content sniffing: real minimal headers of each allowed type, and every way a file is refused."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from dealroom.filetypes import HEAD_SIZE, FileType, UnsupportedFile, pdf_page_count, sniff

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04"
WEBP = b"RIFF" + struct.pack("<I", 26) + b"WEBPVP8 \x0e\x00\x00\x00"
MP4 = struct.pack(">I", 24) + b"ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free"
MP4_MP42 = struct.pack(">I", 20) + b"ftypmp42\x00\x00\x00\x00mp42" + b"\x00\x00\x00\x08mdat"
MOV = struct.pack(">I", 20) + b"ftypqt  \x00\x00\x02\x00qt  " + b"\x00\x00\x00\x08wide"
HEIC = struct.pack(">I", 24) + b"ftypheic\x00\x00\x00\x00mif1heic"


def _ebml(doctype: bytes) -> bytes:
    body = (
        b"\x42\x86\x81\x01"  # EBMLVersion 1
        b"\x42\xf7\x81\x01"  # EBMLReadVersion 1
        b"\x42\xf2\x81\x04"  # EBMLMaxIDLength 4
        b"\x42\xf3\x81\x08"  # EBMLMaxSizeLength 8
        + b"\x42\x82"
        + bytes([0x80 | len(doctype)])
        + doctype
        + b"\x42\x87\x81\x04\x42\x85\x81\x02"  # DocTypeVersion 4, DocTypeReadVersion 2
    )
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x18\x53\x80\x67"


WEBM = _ebml(b"webm")
MKV = _ebml(b"matroska")
ZIP = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"\x00" * 16 + b"[Content_Types].xml"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff"
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8" + b"\x00" * 40 + b"PE\x00\x00"
)
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00"
OOXML = "application/vnd.openxmlformats-officedocument."


@pytest.mark.parametrize(
    ("head", "filename", "expected"),
    [
        (PDF, "proposal.pdf", FileType("application/pdf", "pdf", "pdf")),
        (PDF, "PROPOSAL.PDF", FileType("application/pdf", "pdf", "pdf")),
        (b"\xef\xbb\xbf\r\n" + PDF, "leading junk.pdf", FileType("application/pdf", "pdf", "pdf")),
        (PNG, "logo.png", FileType("image/png", "png", "image")),
        (JPEG, "team.jpg", FileType("image/jpeg", "jpg", "image")),
        (JPEG, "team.JPEG", FileType("image/jpeg", "jpg", "image")),
        (GIF, "demo.gif", FileType("image/gif", "gif", "image")),
        (WEBP, "hero.webp", FileType("image/webp", "webp", "image")),
        (MP4, "walkthrough.mp4", FileType("video/mp4", "mp4", "video")),
        (MP4_MP42, "walkthrough.m4v", FileType("video/mp4", "mp4", "video")),
        (MOV, "founder.mov", FileType("video/quicktime", "mov", "video")),
        (WEBM, "demo.webm", FileType("video/webm", "webm", "video")),
        (ZIP, "msa.docx", FileType(OOXML + "wordprocessingml.document", "docx", "office")),
        (ZIP, "pricing.XLSX", FileType(OOXML + "spreadsheetml.sheet", "xlsx", "office")),
        (ZIP, "deck.pptx", FileType(OOXML + "presentationml.presentation", "pptx", "office")),
        (OLE, "old.doc", FileType("application/msword", "doc", "office")),
        (OLE, "old.xls", FileType("application/vnd.ms-excel", "xls", "office")),
        (OLE, "old.ppt", FileType("application/vnd.ms-powerpoint", "ppt", "office")),
        (b"Next steps\n", "notes.txt", FileType("text/plain; charset=utf-8", "txt", "text")),
        (b"name,seats\nAcme,40\n", "seats.csv", FileType("text/csv; charset=utf-8", "csv", "text")),
        (b"# Plan\n\n- a\n", "plan.md", FileType("text/markdown; charset=utf-8", "md", "text")),
    ],
)
def test_allowed_types(head: bytes, filename: str, expected: FileType) -> None:
    assert sniff(head, filename) == expected


@pytest.mark.parametrize(
    ("head", "expected_ext"),
    [(PDF, "pdf"), (PNG, "png"), (JPEG, "jpg"), (MP4, "mp4"), (WEBM, "webm"), (b"hi\n", "txt")],
)
def test_missing_extension_uses_the_sniffed_one(head: bytes, expected_ext: str) -> None:
    assert sniff(head, "scan").extension == expected_ext


def test_unknown_extension_is_just_part_of_the_name() -> None:
    assert sniff(PDF, "Q3 deck.final").extension == "pdf"


def test_client_path_is_reduced_to_the_file_name() -> None:
    with pytest.raises(UnsupportedFile, match=r"^proposal\.pdf is named like a PDF"):
        sniff(PNG, "C:\\Users\\sam\\proposal.pdf")


def test_utf8_text_cut_inside_a_character_is_still_text() -> None:
    head = ("Grüße " * 2000).encode()[: HEAD_SIZE - 1] + "ü".encode()[:1]  # half of "ü"
    assert sniff(head, "notes.txt").kind == "text"


def test_pdf_marker_inside_an_image_does_not_make_it_a_pdf() -> None:
    assert sniff(PNG + b"\x00\x00\x00\x10tEXtComment\x00%PDF-1.4", "a.png").kind == "image"


def test_text_starting_with_mz_is_not_an_executable() -> None:
    assert sniff(b"MZ Holdings quarterly notes\n", "mz.txt").kind == "text"


@pytest.mark.parametrize(
    ("head", "filename", "message"),
    [
        (b"", "empty.pdf", "empty.pdf is empty."),
        (
            EXE,
            "setup.exe",
            "setup.exe cannot be uploaded: its content looks like a Windows executable.",
        ),
        (
            EXE,
            "proposal.pdf",
            "proposal.pdf is named like a PDF but its content is a Windows executable.",
        ),
        (ELF, "tool", "tool cannot be uploaded: its content looks like a Linux program (ELF)."),
        (
            b"\xcf\xfa\xed\xfe\x07\x00\x00\x01",
            "app",
            "its content looks like a macOS program (Mach-O).",
        ),
        (
            b"\xfe\xed\xfa\xce\x00\x00\x00\x12",
            "app",
            "its content looks like a macOS program (Mach-O).",
        ),
        (
            b"\xca\xfe\xba\xbe\x00\x00\x00\x02",
            "app",
            "its content looks like a macOS or Java program.",
        ),
        (
            b"#!/bin/sh\nrm -rf /\n",
            "notes.txt",
            "notes.txt is named like a text file but its content is a script.",
        ),
        (
            b"#! /usr/bin/env python\n",
            "run",
            "run cannot be uploaded: its content looks like a script.",
        ),
        (b"<!DOCTYPE html><html><body>hi", "page.html", "its content looks like a web page."),
        (
            b"\n  <html>\n<script>alert(1)</script>",
            "x.txt",
            "x.txt is named like a text file but its content is a web page.",
        ),
        (b"\xef\xbb\xbf<script>alert(1)</script>", "readme.md", "but its content is a web page."),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>",
            "logo.svg",
            "its content looks like an SVG image.",
        ),
        (
            b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'/>",
            "logo.png",
            "logo.png is named like a PNG image but its content is an SVG image.",
        ),
        (
            b"<?xml version='1.0'?>\n<order/>",
            "order.xml",
            "its content looks like an XML document.",
        ),
        (
            b"\x00\x01\x02\x03binary junk\xff\xfe",
            "blob.bin",
            "blob.bin is not a supported kind of file.",
        ),
        (
            b"\x00\x01\x02\x03binary junk\xff\xfe",
            "deck.pdf",
            "deck.pdf is named like a PDF but its content is not in a format we recognise.",
        ),
        (
            b"caf\xe9 latin-1 text",
            "notes.txt",
            "is named like a text file but its content is not in a format we recognise.",
        ),
        (
            b"text\x00with nul",
            "notes.txt",
            "is named like a text file but its content is not in a format we recognise.",
        ),
        (PNG, "proposal.pdf", "proposal.pdf is named like a PDF but its content is a PNG image."),
        (
            PDF,
            "invoice.exe",
            "invoice.exe is named like a Windows executable but its content is a PDF.",
        ),
        (JPEG, "photo.png", "photo.png is named like a PNG image but its content is a JPEG image."),
        (MP4, "clip.webm", "clip.webm is named like a WebM video but its content is an MP4 video."),
        (
            b"just words",
            "terms.pdf",
            "terms.pdf is named like a PDF but its content is a text file.",
        ),
        (
            b"just words",
            "terms.log",
            "terms.log looks like a text file; text files must end in .txt, .csv or .md.",
        ),
        (
            b"console.log(1)",
            "app.js",
            "app.js is named like a script but its content is a text file.",
        ),
        (ZIP, "archive.zip", "archive.zip is a ZIP archive, which is not supported."),
        (ZIP, "archive", "archive is a ZIP archive, which is not supported."),
        (ZIP, "msa.pdf", "msa.pdf is named like a PDF but its content is a ZIP archive."),
        (ZIP, "msa.doc", "msa.doc is named like a Word document but its content is a ZIP archive."),
        (
            OLE,
            "old.docx",
            "old.docx is named like a Word document but its content is a legacy Office file.",
        ),
        (OLE, "installer", "installer is a legacy Office file, which is not supported."),
        (
            struct.pack(">I", 20) + b"ftypM4A \x00\x00\x00\x00M4A ",
            "call.m4a",
            "call.m4a is a media file of type 'M4A', which browsers cannot play.",
        ),
        (
            HEIC,
            "photo.heic",
            "photo.heic is a HEIF or AVIF image, which is not supported.",
        ),
        (
            MKV,
            "demo.mkv",
            "demo.mkv is a Matroska (matroska) video, which browsers cannot play reliably.",
        ),
    ],
)
def test_rejections_explain_themselves(head: bytes, filename: str, message: str) -> None:
    with pytest.raises(UnsupportedFile) as info:
        sniff(head, filename)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_office_zip_without_extension_says_how_to_fix_it() -> None:
    with pytest.raises(UnsupportedFile, match=r"must keep their \.docx, \.xlsx, \.pptx extension"):
        sniff(ZIP, "msa")


def _pdf(page_dicts: list[bytes]) -> bytes:
    """A small but valid PDF (correct xref offsets) with one page per given dictionary."""
    count = len(page_dicts)
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        *page_dicts,
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)


THREE_PAGES = _pdf(
    [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>",
        b"<< /Type\n/Page\n/Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
)


def test_pdf_page_count_from_path(tmp_path: Path) -> None:
    path = tmp_path / "three.pdf"
    path.write_bytes(THREE_PAGES)

    assert pdf_page_count(path) == 3
    assert pdf_page_count(str(path)) == 3


def test_pdf_page_count_from_fileobj() -> None:
    assert pdf_page_count(io.BytesIO(THREE_PAGES)) == 3


def test_pdf_page_count_ignores_other_page_names() -> None:
    pdf = _pdf([b"<< /Type /Page /PageLabel 1 >>", b"<< /Type /PageElement >>"])
    assert pdf_page_count(io.BytesIO(pdf)) == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage, not a PDF at all" * 100, PNG, b"%PDF-1.7\n(no pages here)\n%%EOF\n"],
)
def test_pdf_page_count_unknown(data: bytes) -> None:
    assert pdf_page_count(io.BytesIO(data)) is None


def test_pdf_page_count_missing_file(tmp_path: Path) -> None:
    assert pdf_page_count(tmp_path / "missing.pdf") is None


@pytest.mark.parametrize("shift", range(-14, 3))
def test_pdf_page_count_across_read_boundaries(shift: int) -> None:
    # Reads are HEAD_SIZE, then 1 MiB: put a page marker (and a "/Pages" decoy) across the seam.
    boundary = HEAD_SIZE + 1024 * 1024
    filler = b"%PDF-1.4\n" + b"%" * (boundary + shift - 9)
    decoy_at = boundary + 1024 * 1024 - 11  # "/Type /Page" ends exactly at the second seam
    middle = b"<< /Type /Page >>\n"
    padding = b"%" * (decoy_at - len(filler) - len(middle))
    data = filler + middle + padding + b"/Type /Pages\n" + b"<< /Type /Page >>\n%%EOF\n"
    assert len(filler) == boundary + shift

    assert pdf_page_count(io.BytesIO(data)) == 2
