"""OpenAI's Files API, emulated: upload (multipart, `purpose`), retrieve, list, content, delete.

Batch input files are uploaded with `purpose=batch`; the emulator writes output and error files with
`purpose=batch_output`, as OpenAI does.
"""

from __future__ import annotations

import email.parser
import email.policy
import time
import uuid
from dataclasses import dataclass
from typing import Any

from llmcache.testing.emulator.state import EmulatedError, EmulatorState

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


@dataclass(frozen=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    expires_at: int | None = None

    def as_object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


def parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """(text fields, (filename, bytes) of the `file` part) of a multipart/form-data body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise EmulatedError(400, "Content-Type must be multipart/form-data for file uploads")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise EmulatedError(400, "could not parse the multipart body")
    fields: dict[str, str] = {}
    upload: tuple[str, bytes] | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "file":
            upload = (str(part.get_filename() or "upload.jsonl"), data)
        elif isinstance(name, str):
            fields[name] = data.decode("utf-8", errors="replace")
    return fields, upload


def add_file(state: EmulatorState, filename: str, purpose: str, content: bytes) -> StoredFile:
    stored = StoredFile(f"file-emu{uuid.uuid4().hex[:22]}", filename, purpose, content, int(time.time()))
    with state.lock:
        state.files[stored.id] = stored
    return stored


def upload(state: EmulatorState, content_type: str, raw: bytes) -> dict[str, Any]:
    fields, part = parse_multipart(content_type, raw)
    purpose = fields.get("purpose")
    if purpose is None:
        raise EmulatedError(400, "Missing required parameter: 'purpose'.", "purpose")
    if purpose not in PURPOSES:
        raise EmulatedError(400, f"'{purpose}' is not one of {list(PURPOSES)} - 'purpose'", "purpose")
    if part is None:
        raise EmulatedError(400, "Missing required parameter: 'file'.", "file")
    filename, content = part
    if purpose == "batch" and not filename.endswith(".jsonl"):
        raise EmulatedError(400, "Invalid file format for Batch API. Must be .jsonl", "file")
    return add_file(state, filename, purpose, content).as_object()


def get(state: EmulatorState, file_id: str) -> StoredFile:
    with state.lock:
        stored = state.files.get(file_id)
    if not isinstance(stored, StoredFile):
        raise EmulatedError(404, f"No such File object: {file_id}", "id")
    return stored


def delete(state: EmulatorState, file_id: str) -> dict[str, Any]:
    get(state, file_id)
    with state.lock:
        state.files.pop(file_id, None)
    return {"id": file_id, "object": "file", "deleted": True}


def listing(state: EmulatorState, purpose: str | None) -> dict[str, Any]:
    with state.lock:
        files = [f for f in state.files.values() if purpose is None or f.purpose == purpose]
    data = [f.as_object() for f in sorted(files, key=lambda f: f.created_at, reverse=True)]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": False,
    }
