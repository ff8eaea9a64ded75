"""Pages of a PDF given as data, for the reservation's prompt estimate (a page costs its text and its page image).

Page objects are ``/Type /Page`` dictionaries: in the file's body, or (PDF 1.5+) inside compressed object streams
(``/Type /ObjStm``), which are inflated to find them. Inflation draws on one ``Budget`` per request (``MAX_INFLATED``
bytes in all, however many streams and files: no zip bomb, no CPU burnt on a crafted body). When no page is found the
size decides (``BYTES_PER_PAGE``), so a file the count cannot read is still held generously.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
OBJECT_STREAM = re.compile(rb"/Type\s*/ObjStm.{0,400}?>>\s*stream\r?\n", re.DOTALL)
MAX_INFLATED = 8_000_000
BYTES_PER_PAGE = 20_000  # a lean text page is a few KB, so this over-counts pages rather than missing them


class Budget:
    """Bytes left to inflate for one request."""

    def __init__(self, left: int = MAX_INFLATED) -> None:
        self.left = left


def pdf_bytes(file_data: str) -> bytes | None:
    """The bytes of a ``data:application/pdf;base64,...`` URL (or bare base64); None when it is not decodable."""
    raw = file_data.partition(",")[2] if file_data.startswith("data:") else file_data
    try:
        return base64.b64decode(raw, validate=False)
    except (ValueError, binascii.Error):
        return None


def _inflated_object_streams(blob: bytes, budget: Budget) -> int:
    pages = 0
    for match in OBJECT_STREAM.finditer(blob):
        if budget.left <= 0:
            break
        end = blob.find(b"endstream", match.end())
        try:
            inflated = zlib.decompressobj().decompress(blob[match.end(): end if end > 0 else None], budget.left)
        except zlib.error:
            continue
        budget.left -= max(len(inflated), 1)
        pages += len(PAGE.findall(inflated))
    return pages


def count(blob: bytes, budget: Budget | None = None) -> int:
    """At least 1."""
    pages = len(PAGE.findall(blob)) or _inflated_object_streams(blob, budget or Budget())
    return pages or max(1, -(-len(blob) // BYTES_PER_PAGE))
