"""A PDF's reservation counts its pages (plain page objects, or compressed in object streams; by size when neither
is readable), so a long document cannot be held as one image and then charged far beyond the hold."""

from __future__ import annotations

import base64
import zlib
from decimal import Decimal

from gateway_common.providers import pdf_pages
from gateway_common.providers.base import MEDIA_PART_TOKENS, PDF_PAGE_TOKENS, estimate_prompt_tokens
from tests.helpers import assert_error, bearer

from .conftest import make_payer


def plain_pdf(pages: int) -> bytes:
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    body = [b"%PDF-1.4", b"1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj",
            f"2 0 obj <</Type /Pages /Kids [{kids}] /Count {pages}>> endobj".encode()]
    body += [f"{3 + i} 0 obj <</Type /Page /Parent 2 0 R>> endobj".encode() for i in range(pages)]
    return b"\n".join([*body, b"%%EOF"])


def object_stream_pdf(pages: int) -> bytes:
    packed = zlib.compress(b" ".join(b"<</Type/Page/Parent 2 0 R>>" for _ in range(pages)))
    head = f"1 0 obj <</Type /ObjStm /N {pages} /First 10 /Filter /FlateDecode /Length {len(packed)}>>\nstream\n"
    return b"%PDF-1.5\n" + head.encode() + packed + b"\nendstream\nendobj\n%%EOF"


def file_part(blob: bytes) -> dict:
    return {"type": "file", "file": {"filename": "a.pdf",
                                     "file_data": "data:application/pdf;base64," + base64.b64encode(blob).decode()}}


def test_pages_are_counted_plain_compressed_or_by_size():
    assert pdf_pages.count(plain_pdf(3)) == 3  # /Type /Pages is not a page
    assert pdf_pages.count(object_stream_pdf(7)) == 7
    assert pdf_pages.count(b"%PDF-1.7 unreadable" + bytes(100_000)) == 6  # 100 KB at 20 KB a page
    bomb = b"1 0 obj <</Type /ObjStm>>\nstream\n" + zlib.compress(b"/Type /Page " * 1_000_000) + b"\nendstream"
    assert pdf_pages.count(bomb) <= pdf_pages.MAX_INFLATED // len(b"/Type /Page ") + 1  # inflation is bounded


def test_inflation_is_bounded_per_request_however_many_streams_and_files(monkeypatch):
    inflated: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self):
            self.inner = real()

        def decompress(self, data, max_length):
            out = self.inner.decompress(data, max_length)
            inflated.append(len(out))
            return out

    monkeypatch.setattr(pdf_pages.zlib, "decompressobj", Counting)
    stream = b"1 0 obj <</Type /ObjStm>>\nstream\n" + zlib.compress(bytes(2_000_000)) + b"\nendstream\n"
    crafted = file_part(stream * 10)  # 10 streams of 2 MB each, no page in any
    estimate_prompt_tokens([{"role": "user", "content": [crafted, crafted, crafted]}])
    assert sum(inflated) <= pdf_pages.MAX_INFLATED


def test_the_prompt_estimate_holds_every_page():
    three = estimate_prompt_tokens([{"role": "user", "content": [file_part(plain_pdf(3))]}])
    image = estimate_prompt_tokens([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    assert three - image == 3 * PDF_PAGE_TOKENS - MEDIA_PART_TOKENS


def test_a_balance_for_a_page_but_not_for_thirty_is_refused(client, dynamo):
    payer = make_payer("reader", Decimal("0.05"))  # gpt-4o: 30 pages x 4000 tokens at 2.5 USD/M is 0.30
    body = {"model": "openai/gpt-4o", "max_tokens": 10}
    short = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        **body, "messages": [{"role": "user", "content": [{"type": "text", "text": "Summarize"}, file_part(plain_pdf(1))]}]})
    assert short.status_code == 200, short.text
    long = client.post("/v1/chat/completions", headers=bearer(payer["key"]), json={
        **body, "messages": [{"role": "user", "content": [{"type": "text", "text": "Summarize"}, file_part(plain_pdf(30))]}]})
    assert_error(long, 402)
