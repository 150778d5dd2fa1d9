"""`/v1/files` for the fake OpenAI server: one in-memory store of uploaded files.

Generic OpenAI semantics, whatever the file is for (fine-tuning, batches):

* ``POST /v1/files`` (multipart: ``purpose`` and ``file``) → the file object;
* ``GET /v1/files/{id}`` → the file object; ``GET /v1/files/{id}/content`` → its bytes;
* ``GET /v1/files`` → the list; ``DELETE /v1/files/{id}`` → ``{"deleted": true}``.

Paths are matched by their ending, so Azure's ``/openai/files?api-version=...`` works too.
The multipart body is parsed with the standard library's email parser (what it was made for).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["FilesStore", "StoredFile", "parse_multipart"]

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals", "messages")
_ONE = re.compile(r"/files/([^/]+)$")
_CONTENT = re.compile(r"/files/([^/]+)/content$")


class JSONResponder(Protocol):
    """What a route needs from the HTTP handler (the fake server's `_Handler`)."""

    def _send_json(self, status: int, obj: Any, extra_headers: Any = None) -> None: ...
    def _send_bytes(
        self, status: int, payload: bytes, content_type: str, extra_headers: Any = None
    ) -> None: ...
    def _send_error_json(
        self, status: int, message: str, err_type: str, extra_headers: Any = None
    ) -> None: ...


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """(form fields, files) of a multipart/form-data body; files map to (filename, bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, payload)
        else:
            fields[name] = payload.decode("utf-8")
    return fields, files


class FilesStore:
    """Uploaded files, by id; thread-safe (the server answers on many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        with self._lock:
            self._files.clear()

    def add(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        with self._lock:
            stored = StoredFile(
                f"file-fake{next(self._ids):06d}", filename, purpose, content, int(time.time())
            )
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def all(self) -> list[StoredFile]:
        with self._lock:
            return list(self._files.values())

    def delete(self, file_id: str) -> bool:
        with self._lock:
            return self._files.pop(file_id, None) is not None

    # -- HTTP routes (called by the fake server's handler; True when the path was ours) ------

    def route(
        self, handler: JSONResponder, method: str, path: str, headers: Any, raw: bytes
    ) -> bool:
        if method == "POST" and path.endswith("/files"):
            self._upload(handler, str(headers.get("Content-Type", "")), raw)
            return True
        if method == "GET" and path.endswith("/files"):
            data = [f.to_json() for f in self.all()]
            handler._send_json(200, {"object": "list", "data": data, "has_more": False})
            return True
        content = _CONTENT.search(path)
        one = _ONE.search(path)
        if content is None and one is None:
            return False
        file_id = (content or one).group(1)  # type: ignore[union-attr]
        stored = self.get(file_id)
        if stored is None or method not in ("GET", "DELETE"):
            status = 404 if stored is None else 405
            handler._send_error_json(status, f"No such File object: {file_id}", "invalid_request")
        elif content is not None:
            handler._send_bytes(200, stored.content, "application/octet-stream")
        elif method == "DELETE":
            self.delete(file_id)
            handler._send_json(200, {"id": file_id, "object": "file", "deleted": True})
        else:
            handler._send_json(200, stored.to_json())
        return True

    def _upload(self, handler: JSONResponder, content_type: str, raw: bytes) -> None:
        if not content_type.startswith("multipart/form-data"):
            handler._send_error_json(400, "expected multipart/form-data", "invalid_request_error")
            return
        fields, files = parse_multipart(content_type, raw)
        purpose = fields.get("purpose", "")
        if purpose not in PURPOSES or "file" not in files:
            message = f"invalid upload: purpose {purpose!r}, parts {sorted([*fields, *files])}"
            handler._send_error_json(400, message, "invalid_request_error")
            return
        filename, content = files["file"]
        handler._send_json(200, self.add(filename, purpose, content).to_json())
