"""Files a customer sends during a call: checked by content, stored under random names.

The name the browser gives is kept only as metadata; what a file *is* comes from its first bytes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.crm.tickets import event_row
from vbranch_server.db.models import Attachment, StaffUser, Ticket, TicketEvent, TicketEventKind
from vbranch_signaling.plain_text import clean_line

#: Accepted types, by their signatures (magic numbers).
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


class FileRefused(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sniff_content_type(head: bytes) -> str:
    for signature, content_type in SIGNATURES:
        if head.startswith(signature):
            return content_type
    raise FileRefused("unsupported_file", "only PDF, JPEG and PNG files are accepted")


def safe_display_name(name: str | None, content_type: str) -> str:
    """Keep the customer's file name for people to read, never as a path, and shown as it is:
    no bidi control (see vbranch_signaling.plain_text) can make it look like another."""
    base = Path(clean_line(name or "")).name.strip()[:120] or "document"
    return (
        base if base.lower().endswith(EXTENSIONS[content_type]) else base + EXTENSIONS[content_type]
    )


@dataclass
class StoredFile:
    storage_name: str
    size: int
    sha256: str
    content_type: str


class UploadSink:
    """Writes an upload to disk chunk by chunk, refusing it as soon as it passes the limit."""

    def __init__(self, folder: Path, limit: int) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.storage_name = secrets.token_hex(16)
        self.path = folder / self.storage_name
        self.limit = limit
        self.size = 0
        self._digest = hashlib.sha256()
        self._head = b""
        # Readable by the server's own user only, whatever the umask (uploads are personal).
        self._file = os.fdopen(
            os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb"
        )

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise FileRefused("file_too_large", f"files are limited to {self.limit} bytes")
        if len(self._head) < 16:
            self._head += chunk[: 16 - len(self._head)]
        self._digest.update(chunk)
        self._file.write(chunk)

    def finish(self) -> StoredFile:
        self._file.close()
        if self.size == 0:
            raise FileRefused("empty_file", "the file is empty")
        return StoredFile(
            self.storage_name, self.size, self._digest.hexdigest(), sniff_content_type(self._head)
        )

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


async def attach(
    session: AsyncSession,
    ticket: Ticket,
    stored: StoredFile,
    original_name: str | None,
    now: datetime,
    *,
    by_customer: bool,
    staff: StaffUser | None = None,
) -> Attachment:
    attachment = Attachment(
        ticket_id=ticket.id,
        storage_name=stored.storage_name,
        original_name=safe_display_name(original_name, stored.content_type),
        content_type=stored.content_type,
        size_bytes=stored.size,
        sha256=stored.sha256,
        uploaded_by_customer=by_customer,
        uploaded_by_staff_id=staff.id if staff else None,
        created_at=now,
    )
    session.add(attachment)
    await session.flush()
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind=TicketEventKind.ATTACHMENT,
            actor_staff_id=staff.id if staff else None,
            actor_label="customer" if by_customer else None,
            body=attachment.original_name,
            created_at=now,
        )
    )
    ticket.updated_at = now
    await session.flush()
    return attachment


async def mark_document(
    session: AsyncSession,
    attachment: Attachment,
    document_code: str | None,
    now: datetime,
    staff: StaffUser,
) -> None:
    """Say which required document a file is (None takes the mark off); the history keeps it."""
    if attachment.document_code == document_code:
        return
    attachment.document_code = document_code
    mark = document_code or "-"
    session.add(
        TicketEvent(
            **event_row(
                attachment.ticket_id,
                TicketEventKind.ATTACHMENT,
                now,
                staff.id,
                body=f"{attachment.original_name} = {mark}",
            )
        )
    )
    await session.execute(
        update(Ticket).where(Ticket.id == attachment.ticket_id).values(updated_at=now)
    )
    await session.flush()


def missing_documents(required: list[dict[str, str]], marked: set[str]) -> list[dict[str, str]]:
    """The category's required documents no file of the ticket was marked as, in their order."""
    return [document for document in required if document["code"] not in marked]


async def marked_documents(session: AsyncSession, ticket_id: int) -> set[str]:
    """The required documents some file of this ticket was marked as being."""
    rows = await session.scalars(
        select(Attachment.document_code).where(
            Attachment.ticket_id == ticket_id, Attachment.document_code.is_not(None)
        )
    )
    return {code for code in rows if code}
