"""The fake OpenAI server's `/v1/files`: an in-memory file store for any purpose.

Shared by every route that needs files (batches, fine-tuning): they add their own output files
with `FileStore.add` and read uploads with `FileStore.content`. Standard library only.

Routes (``openai_server._Handler`` dispatches here):

* ``POST /v1/files`` (multipart/form-data: ``purpose``, ``file``) → a file object;
* ``GET /v1/files`` → list; ``GET /v1/files/{id}`` → the object; ``GET /v1/files/{id}/content``
  → the bytes; ``DELETE /v1/files/{id}``.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

__all__ = ["FileStore", "StoredFile", "parse_multipart"]

PURPOSES = ("assistants", "batch", "batch_output", "fine-tune", "fine-tune-results", "vision")


@dataclass(frozen=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """(text fields, file fields as (filename, bytes)) of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        raise ValueError("expected multipart/form-data")
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, data)
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


class FileStore:
    """Thread-safe: handler threads upload while the test thread inspects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._ids = itertools.count(1)

    def add(self, data: bytes, *, purpose: str, filename: str = "file.jsonl") -> StoredFile:
        with self._lock:
            stored = StoredFile(
                id=f"file-fake{next(self._ids):06d}",
                filename=filename,
                purpose=purpose,
                data=data,
                created_at=int(time.time()),
            )
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def content(self, file_id: str) -> bytes:
        stored = self.get(file_id)
        if stored is None:
            raise KeyError(file_id)
        return stored.data

    def list(self, purpose: str | None = None) -> list[StoredFile]:
        with self._lock:
            files = list(self._files.values())
        return [f for f in files if purpose is None or f.purpose == purpose]

    def delete(self, file_id: str) -> bool:
        with self._lock:
            return self._files.pop(file_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._files.clear()

    # -- HTTP (the handler passes method, path below /files, headers and body) -----------------

    def handle(
        self, method: str, rest: list[str], content_type: str, body: bytes, query: dict[str, str]
    ) -> tuple[int, Any]:
        """(status, JSON object or raw bytes) for a request to ``/files/<rest...>``."""
        if method == "POST" and not rest:
            try:
                fields, files = parse_multipart(content_type, body)
            except ValueError as exc:
                return 400, _error(str(exc))
            purpose = fields.get("purpose", "")
            if purpose not in PURPOSES:
                return 400, _error(f"invalid purpose {purpose!r}")
            if "file" not in files:
                return 400, _error("missing file")
            filename, data = files["file"]
            return 200, self.add(data, purpose=purpose, filename=filename).as_json()
        if method == "GET" and not rest:
            data = [f.as_json() for f in self.list(query.get("purpose"))]
            return 200, {"object": "list", "data": data, "has_more": False}
        stored = self.get(rest[0]) if rest else None
        if stored is None:
            return 404, _error(f"No such File object: {rest[0] if rest else ''}", 404)
        if method == "GET" and rest[1:] == ["content"]:
            return 200, stored.data
        if method == "GET" and len(rest) == 1:
            return 200, stored.as_json()
        if method == "DELETE" and len(rest) == 1:
            self.delete(stored.id)
            return 200, {"id": stored.id, "object": "file", "deleted": True}
        return 404, _error(f"Unknown files route {'/'.join(rest)}", 404)


def _error(message: str, code: int = 400) -> dict[str, Any]:
    kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
