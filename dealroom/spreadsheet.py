"""CSV that spreadsheets open safely: UTF-8 with a BOM (so Japanese Excel reads it as UTF-8, not
Shift_JIS) and no cell that a spreadsheet would run as a formula (CSV injection: a cell starting
with = + - @, a tab or a carriage return is prefixed with a quote)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text."""
    if value is None:
        return ""
    text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def stream(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The CSV, one chunk per row (for streamed downloads), the BOM first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(v) for v in header])
    yield BOM + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(v) for v in row])
        yield buffer.getvalue()


def text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """The whole CSV as one string."""
    return "".join(stream(header, rows))
