"""domain/preview.py: what the dashboard shows of a stored MIME message, sanitized."""

from datetime import UTC, datetime

from iep_appliance.domain.mime import MimeAttachment, MimeMessage, build_mime
from iep_appliance.domain.preview import build_preview, sanitize_html


def test_sanitizing_drops_scripts_handlers_and_javascript_links() -> None:
    html = (
        '<p onclick="x()">Hi</p><script>alert(1)</script>'
        '<a href="javascript:alert(2)">link</a><a href="https://example.com/">ok</a>'
    )

    clean = sanitize_html(html)

    assert "script" not in clean and "alert" not in clean and "onclick" not in clean
    assert '<a href="https://example.com/" rel="noopener noreferrer">ok</a>' in clean
    assert "<p>Hi</p>" in clean


def test_a_built_message_previews_headers_parts_and_attachments() -> None:
    mime = build_mime(
        MimeMessage(
            message_id="019b0000-0000-7000-8000-000000000001",
            from_email="noreply@example.com",
            from_name="Product",
            to=("ada@example.org",),
            cc=(),
            reply_to=None,
            subject="Grüße, Ada",
            html="<p>Hi <b>Ada</b></p><img src=x onerror=alert(1)>",
            text="Hi Ada",
            date=datetime(2026, 1, 1, tzinfo=UTC),
            message_id_domain="example.com",
            attachments=(MimeAttachment("a.pdf", "application/pdf", b"%PDF-1.4 x"),),
        )
    )

    preview = build_preview(mime)

    assert preview.subject == "Grüße, Ada"
    assert ("X-IEP-Message-Id", "019b0000-0000-7000-8000-000000000001") in preview.headers
    assert preview.html is not None and "<b>Ada</b>" in preview.html
    assert "onerror" not in preview.html
    assert preview.text is not None and preview.text.strip() == "Hi Ada"
    assert [(a.filename, a.content_type, a.size_bytes) for a in preview.attachments] == [
        ("a.pdf", "application/pdf", 10)
    ]
