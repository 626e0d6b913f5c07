"""Builds the final RFC 5322 / MIME bytes of one message, fast, by joining strings.

`email.message.EmailMessage` with the default policy caps near 430 messages/s on this machine,
so this module writes headers and parts itself: CRLF line endings, RFC 2047 words for non-ASCII
header text, RFC 2231 for non-ASCII filenames, quoted-printable bodies, base64 attachments.
Pure: no I/O, no clock (the Date comes in with the message), no randomness (boundaries are
derived from the message id). Never writes a Bcc header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import format_datetime, quote
from urllib.parse import quote as percent_quote

import msgspec

from iep_appliance.domain.hostnames import name_for

__all__ = ["MimeAttachment", "MimeMessage", "Signer", "build_mime"]

Signer = Callable[[bytes], bytes]

CRLF = "\r\n"
_FOLD = CRLF + " "
_MAX_LINE = 78  # RFC 5322 §2.1.1 "SHOULD"; 998 is the hard limit
_CRLF_RUN = re.compile(r"[\r\n]+")
# Printable ASCII that may appear in a header as is; anything else goes into RFC 2047 words.
_PLAIN_HEADER_TEXT = re.compile(r"[\x20-\x7e\t]*")
# RFC 2231 attribute-char minus what percent-quote() always keeps.
_ATTR_SAFE = "!#$&+.^_`|~-"
# An RFC 2047 word is at most 75 characters (§2): "=?utf-8?b?" + 60 base64 chars + "?=" = 72.
_WORD_BYTES = 45


class MimeAttachment(msgspec.Struct, frozen=True):
    """One file; `content_type` as given (e.g. "application/pdf"), `data` the raw bytes."""

    filename: str
    content_type: str
    data: bytes


class MimeMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A rendered message, ready to serialize. Bcc recipients are envelope-only: not here."""

    message_id: str
    from_email: str
    from_name: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str | None
    subject: str
    html: str
    text: str
    date: datetime  # aware; UTC in practice
    message_id_domain: str  # "" = the sender's domain (domain/hostnames.py)
    attachments: tuple[MimeAttachment, ...] = ()
    names: dict[str, str] = {}  # display names of To, Cc and Reply-To: {lower-cased address}
    # Custom headers (Resend's `headers`, Postmark's `Headers`), checked before they get here.
    headers: tuple[tuple[str, str], ...] = ()


def _one_line(value: str) -> str:
    """Header values never carry CR/LF, whatever the caller passes (DESIGN §5)."""
    return _CRLF_RUN.sub(" ", value) if ("\r" in value or "\n" in value) else value


def _encoded_words(text: str, first_room: int = 75) -> list[str]:
    """Split `text` into RFC 2047 base64 words, never cutting a UTF-8 sequence in two.

    Words are at most 75 characters (§2); the first one at most `first_room`, the space left
    on the header's first line.
    """
    data = text.encode("utf-8")
    words: list[str] = []
    start = 0
    # 12 characters of "=?utf-8?b??=" around the payload; 4 base64 characters per 3 bytes.
    limit = max(6, min(_WORD_BYTES, (first_room - 12) // 4 * 3))  # 6: room for one character
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # continuation byte: back off
            end -= 1
        words.append("=?utf-8?b?" + base64.b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
        limit = _WORD_BYTES
    return words


def _fold_tokens(name: str, tokens: Sequence[str], separator: str) -> str:
    """Lay out `Name: tok<sep>tok...`, breaking the line at a separator before passing 78.

    `separator` is " " or ", "; a break replaces its space with CRLF SP, so unfolding gives back
    exactly the unbroken text.
    """
    head = separator.rstrip(" ")
    out = [f"{name}: {tokens[0]}" if tokens else f"{name}:"]
    column = len(out[0])
    for token in tokens[1:]:
        # + len(head): a later break leaves the separator's comma at the end of this line.
        fold = column + len(separator) + len(token) + len(head) > _MAX_LINE
        column = _add_token(out, column, separator, token, fold)
    return "".join(out)


def _add_token(out: list[str], column: int, separator: str, token: str, fold: bool) -> int:
    """Append `separator` and `token` to `out`, or, when `fold`, break the line at the
    separator's space (CRLF SP); return the column the line then ends at."""
    if fold:
        out.append(separator.rstrip(" ") + _FOLD + token)
        return 1 + len(token)
    out.append(separator + token)
    return column + len(separator) + len(token)


def _needs_encoding(text: str) -> bool:
    # "=?" would be read back as the start of an encoded word, so such text is encoded too.
    return _PLAIN_HEADER_TEXT.fullmatch(text) is None or "=?" in text


def _unstructured(name: str, value: str) -> str:
    """A header of free text (Subject): plain and folded at spaces when it can be, else RFC 2047.

    Folding only inserts CRLF before an existing space, so unfolding gives back the exact text.
    """
    value = _one_line(value)
    words = value.split(" ")
    first_room = _MAX_LINE - len(name) - 2
    if (
        not _needs_encoding(value)
        and len(words[0]) <= first_room
        and all(len(w) <= _MAX_LINE - 1 for w in words)
    ):
        out = [name, ":", " "]
        column = len(name) + 2
        for index, word in enumerate(words):
            if index and column + 1 + len(word) > _MAX_LINE and column > 1:
                out.append(_FOLD)
                column = 1
            elif index:
                out.append(" ")
                column += 1
            out.append(word)
            column += len(word)
        return "".join(out)
    return _fold_tokens(name, _encoded_words(value, first_room), " ")


def _mailbox_tokens(address: str, display_name: str | None, first_room: int) -> list[str]:
    """`"Display" <addr>` as tokens to fold between: the display name quoted if printable
    ASCII, else RFC 2047 words (§5: an encoded word may stand for a phrase word)."""
    address = _one_line(address).strip()
    if not display_name:
        return [address]
    display_name = _one_line(display_name)
    if _needs_encoding(display_name) or len(display_name) > 900:
        return [*_encoded_words(display_name, first_room), f"<{address}>"]
    return [f'"{quote(display_name)}"', f"<{address}>"]


def _mailbox_header(name: str, address: str, display_name: str | None) -> str:
    """`Name: "Display" <addr>`, folded at spaces."""
    return _fold_tokens(
        name, _mailbox_tokens(address, display_name, _MAX_LINE - len(name) - 2), " "
    )


def _address_list(name: str, addresses: Sequence[str], names: dict[str, str]) -> str:
    """`To: a@x, "Name" <b@x>, =?utf-8?b?...?= <c@x>`: mailboxes joined by ", ", folded
    between mailboxes or between the words of one."""
    if not names:
        return _fold_tokens(name, [_one_line(a).strip() for a in addresses], ", ")
    line = f"{name}:"
    out = [line]
    column = len(line)
    for index, address in enumerate(addresses):
        tokens = _mailbox_tokens(address, names.get(address.lower()), 75)
        for position, token in enumerate(tokens):
            separator = " " if position or not index else ", "
            fold = bool(index + position) and column + len(separator) + len(token) + 1 > _MAX_LINE
            column = _add_token(out, column, separator, token, fold)
    return "".join(out)


def _custom(name: str, value: str) -> str:
    """A caller's header: printable ASCII as given (folded at spaces; a long word such as a
    List-Unsubscribe URL is never cut or encoded), else RFC 2047 words."""
    value = _one_line(value)
    if _PLAIN_HEADER_TEXT.fullmatch(value) is None:
        return _unstructured(name, value)
    words = value.split(" ")
    out = [f"{name}: {words[0]}"]
    column = len(out[0])
    for word in words[1:]:
        if column + 1 + len(word) > _MAX_LINE and column > 1:
            out.append(_FOLD + word)
            column = 1 + len(word)
        else:
            out.append(" " + word)
            column += 1 + len(word)
    return "".join(out)


def _qp(text: str) -> str:
    """Quoted-printable with CRLF line breaks; no line over 76 characters (RFC 2045 §6.7).

    binascii picks LF or CRLF for its soft breaks from the first line ending it sees, so the
    text goes in with LF only and every LF becomes CRLF afterwards.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return encoded.decode("ascii").replace("\n", CRLF)


def _b64_lines(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return CRLF.join([encoded[i : i + 76] for i in range(0, len(encoded), 76)])


def _param(attribute: str, value: str) -> str:
    """One MIME parameter, RFC 2231-encoded (with continuations) unless short printable ASCII."""
    value = _one_line(value)
    if value.isascii() and value.isprintable() and len(value) <= 60:
        return f'{attribute}="{quote(value)}"'
    pieces: list[str] = []
    current = "utf-8''"
    for char in value:
        encoded = percent_quote(char, safe=_ATTR_SAFE)
        if len(current) + len(encoded) > 60:
            pieces.append(current)
            current = ""
        current += encoded
    pieces.append(current)
    if len(pieces) == 1:
        return f"{attribute}*={pieces[0]}"
    return (";" + _FOLD).join(f"{attribute}*{n}*={piece}" for n, piece in enumerate(pieces))


def _legacy_name(filename: str) -> str:
    """`name=` on Content-Type for clients that ignore RFC 2231 (they read RFC 2047 there)."""
    filename = _one_line(filename)
    if filename.isascii() and filename.isprintable() and len(filename) <= 900:
        return f'name="{quote(filename)}"'
    words = _encoded_words(filename)
    if sum(len(word) for word in words) > 900:  # keep the line under 998 octets
        return _param("name", filename)
    return 'name="' + "".join(words) + '"'


def _boundary(message_id: str, tag: str) -> str:
    # "=_" cannot occur in quoted-printable or base64 output, so it never collides with a body.
    digest = hashlib.blake2b(f"{message_id}/{tag}".encode(), digest_size=12).hexdigest()
    return f"=_iep_{tag}_{digest}"


def _body(m: MimeMessage) -> list[str]:
    """The body part: text and HTML as multipart/alternative, or one text/plain part when the
    message has no HTML (a text-only send)."""
    if m.html:
        return _alternative(m)
    return [
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(m.text),
    ]


def _alternative(m: MimeMessage) -> list[str]:
    boundary = _boundary(m.message_id, "alt")
    return [
        f'Content-Type: multipart/alternative;{_FOLD}boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(m.text),
        f"--{boundary}",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(m.html),
        f"--{boundary}--",
        "",
    ]


def _attachment(a: MimeAttachment) -> list[str]:
    content_type = _one_line(a.content_type).strip() or "application/octet-stream"
    return [
        f"Content-Type: {content_type};{_FOLD}{_legacy_name(a.filename)}",
        f"Content-Disposition: attachment;{_FOLD}{_param('filename', a.filename)}",
        "Content-Transfer-Encoding: base64",
        "",
        _b64_lines(a.data),
    ]


def build_mime(m: MimeMessage, signer: Signer | None = None) -> bytes:
    """The message as it goes on the wire: CRLF endings, no line over 998 octets, no Bcc.

    Args:
        m: the rendered message and its envelope-facing headers.
        signer: DKIM hook; gets the finished bytes, returns them with a signature header
            prepended.

    Returns:
        The message bytes (UTF-8 only where an address itself is non-ASCII).
    """
    headers = [_mailbox_header("From", m.from_email, m.from_name)]
    if m.to:
        headers.append(_address_list("To", m.to, m.names))
    if m.cc:
        headers.append(_address_list("Cc", m.cc, m.names))
    if m.reply_to:
        headers.append(_mailbox_header("Reply-To", m.reply_to, m.names.get(m.reply_to.lower())))
    message_id = _one_line(m.message_id)
    headers += [
        _unstructured("Subject", m.subject),
        f"Date: {format_datetime(m.date)}",
        f"Message-ID: <{message_id}@{_one_line(name_for(m.message_id_domain, m.from_email))}>",
        f"X-IEP-Message-Id: {message_id}",
    ]
    headers += [_custom(_one_line(name), value) for name, value in m.headers]
    headers.append("MIME-Version: 1.0")
    if not m.attachments:
        lines = headers + _body(m)
        if not m.html and not m.text.endswith("\n"):
            lines.append("")  # the message ends with a line break
    else:
        boundary = _boundary(m.message_id, "mix")
        lines = [
            *headers,
            f'Content-Type: multipart/mixed;{_FOLD}boundary="{boundary}"',
            "",
            f"--{boundary}",
            *(_alternative(m)[:-1] if m.html else _body(m)),
        ]
        for attachment in m.attachments:
            lines.append(f"--{boundary}")
            lines += _attachment(attachment)
        lines += [f"--{boundary}--", ""]
    raw = CRLF.join(lines).encode("utf-8")
    return signer(raw) if signer is not None else raw
