"""Everything that hides secrets or personal text before it leaves the process: in traces,
logs, error messages and Dagster metadata. Standard library only (SQLAlchemy on use)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"
MASKED = "[masked]"
_SECRET_KEY = re.compile(
    r"api[_-]?key|authori[sz]ation|secret|passw(or)?d|(access|auth|bearer)[_-]?token|credential"
    r"|cookie",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"\bsk-[\w-]{8,}|\bBearer\s+[\w.~+/=-]{8,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_\w{20,}"
    r"|\bAIza[\w-]{30,}"
)
_HANDLE = re.compile(r"(?<![\w@.])@\w{1,50}")
# Keys whose string values are post or draft text (or an author) when content is masked.
_TEXT_KEYS = frozenset(
    {"content", "text", "post_text", "body", "title", "draft", "reply", "author", "handle"}
)


def scrub(value: Any) -> Any:
    """`value` with secret-looking keys and API-key-looking strings replaced by [redacted]."""
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):  # pydantic
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if v is not None and _SECRET_KEY.search(str(k)) else scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    return value


def mask_post_content(*, data: Any, **_: Any) -> Any:
    """Langfuse `mask=` hook: message/post text becomes [masked], @handles become @[masked];
    roles, keys and structure stay."""
    if isinstance(data, str):
        return _HANDLE.sub("@" + MASKED, data)
    if isinstance(data, Mapping):
        return {
            k: MASKED
            if k in _TEXT_KEYS and isinstance(v, str | list)
            else mask_post_content(data=v)
            for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return [mask_post_content(data=v) for v in data]
    return data


def display_url(url: str) -> str:
    """The URL without userinfo, query or fragment (those may hold secrets)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", "")) or "<no url>"
    except ValueError:
        return "<invalid url>"


def redact_url(url: str) -> str:
    """A database URL with its password replaced (user, host and database kept), safe for
    logs and Dagster metadata."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database url>"


def one_line_error(text: str, secret: str = "", limit: int = 300) -> str:
    """An error message for one line: `secret` (a key the caller holds) and anything that looks
    like a key replaced, whitespace runs folded, at most `limit` characters."""
    if secret:
        text = text.replace(secret, "***")
    text = " ".join(str(scrub(text)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exception_line(exc: BaseException, limit: int = 500) -> str:
    """`Type: first line` of an exception, for storing and printing: the request echo some
    providers append after the first line is dropped, and anything key-like is redacted (a
    provider's 401 may echo part of the key)."""
    lines = str(exc).strip().splitlines()
    return one_line_error(f"{type(exc).__name__}: {lines[0] if lines else ''}", limit=limit)
