"""Uploaded files are judged by their content; the name a browser gives is only a label."""

from __future__ import annotations

import pytest

from vbranch_server.crm.attachments import FileRefused, safe_display_name, sniff_content_type

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(
    ("given", "content_type", "kept"),
    [
        ("../../etc/passwd.pdf", "application/pdf", "passwd.pdf"),
        ("C:/fakepath/scan.PDF", "application/pdf", "scan.PDF"),
        ("photo", "image/jpeg", "photo.jpg"),
        ("", "image/png", "document.png"),
        (None, "application/pdf", "document.pdf"),
        ("report.pdf.exe", "application/pdf", "report.pdf.exe.pdf"),
        # Bidi controls and zero-width characters: the name reads as what it is.
        ("report\u202egnp.exe.png", "image/png", "reportgnp.exe.png"),
        ("invoice\u2066\u200b\u200f.pdf", "application/pdf", "invoice.pdf"),
        ("\u202e\u200b", "image/png", "document.png"),
        ("scan\n2026\t.pdf", "application/pdf", "scan 2026 .pdf"),
    ],
)
def test_the_customer_file_name_is_only_a_label(given, content_type, kept) -> None:  # type: ignore[no-untyped-def]
    assert safe_display_name(given, content_type) == kept


def test_content_decides_the_type() -> None:
    assert sniff_content_type(PDF) == "application/pdf"
    assert sniff_content_type(PNG) == "image/png"
    assert sniff_content_type(b"\xff\xd8\xff\xe0JFIF") == "image/jpeg"
    for forged in (b"<html><script>", b"MZ\x90\x00", b"GIF89a", b""):
        with pytest.raises(FileRefused):
            sniff_content_type(forged)
