"""Lenient CSV access to the files of a feed, for our own checks and the stats.

Lenient on purpose: validation reports what is wrong, so reading must not stop at the first
problem. Bytes that are not UTF-8 come out as U+FFFD (the encoding check reports them).
Rows are streamed; a 20 MB stop_times.txt is never held as a list of lists.
"""

from __future__ import annotations

import csv
import re
from typing import Iterator, Mapping

__all__ = ["text_of", "lines_of", "read_rows", "count_rows"]

_BOM = "\ufeff"
_DATA_LINE = re.compile(rb"\n(?=[ \t,\r]*[^ \t,\r\n])")


def text_of(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return text[1:] if text.startswith(_BOM) else text


def lines_of(text: str) -> Iterator[str]:
    """The lines of `text`, each with its "\\n", lazily (a list of 500k lines, or a StringIO
    holding 4 bytes a character, would cost more memory than the file itself)."""
    start, n = 0, len(text)
    while start < n:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end + 1]
        start = end + 1


def read_rows(files: Mapping[str, bytes], name: str) -> tuple[list[str], Iterator[list[str]]] | None:
    """(header with names stripped, iterator of records) of file `name`; None if absent.

    Records come one by one, blank ones included, so `enumerate(rows, start=2)` gives the
    CSV row number the validator reports (header = row 1).
    """
    data = files.get(name)
    if data is None:
        return None
    reader = csv.reader(lines_of(text_of(data)))
    header = next(reader, None)
    if header is None:
        return [], iter(())
    return [h.strip() for h in header], reader


def count_rows(files: Mapping[str, bytes], name: str) -> int:
    """Data records of `name` (header and blank lines not counted); 0 if the file is absent."""
    data = files.get(name)
    if data is None:
        return 0
    if b'"' not in data:  # no quoting, so no newline inside a value: count non-blank lines
        return len(_DATA_LINE.findall(data))  # each "\n" that starts a non-blank line
    table = read_rows(files, name)
    assert table is not None
    _, rows = table
    return sum(1 for row in rows if any(cell.strip() for cell in row))
