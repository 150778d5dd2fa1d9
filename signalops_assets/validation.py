"""Checks applied to user input before the database sees it, so that SQLite and PostgreSQL
accept and refuse exactly the same values (SQLite would store a NUL, an over-long string or an
unpaired surrogate's neighbours silently; PostgreSQL raises). Standard library only."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from signalops_assets.errors import SignalOpsError

# Our integer primary keys are INTEGER columns: 32-bit on PostgreSQL, so both backends take
# this range (SQLite would overflow Python's sqlite3 binding beyond 64 bits).
MAX_ID = 2**31 - 1
MAX_DEPTH = 64
_INT_TEXT = re.compile(r"^\s*\+?\d{1,19}\s*$")


def parse_id(value: Any, name: str) -> int:
    """A row id: an integer (or a string of digits, as CSV gives) in 1..MAX_ID. Floats such as
    1.9 and booleans are refused rather than truncated."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SignalOpsError(f"{name} must be an integer, got {_show(value)}")
    if isinstance(value, str):
        if not _INT_TEXT.match(value):
            raise SignalOpsError(f"{name} must be an integer, got {_show(value)}")
        value = int(value)
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise SignalOpsError(f"{name} must be between 1 and {MAX_ID}, got {_show(number)}")
    return number


def check_text(value: str, name: str, max_chars: int | None = None) -> str:
    """No NUL, no unpaired surrogate (not encodable as UTF-8), at most max_chars."""
    if "\x00" in value:
        raise SignalOpsError(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        # Command-line arguments in another encoding arrive as surrogate escapes of their bytes.
        what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "a lone surrogate"
        raise SignalOpsError(
            f"{name} is not valid UTF-8 ({what} at character {exc.start + 1})"
        ) from None
    if max_chars is not None and len(value) > max_chars:
        raise SignalOpsError(f"{name} is longer than {max_chars} characters ({len(value)})")
    return value


def check_json_strings(value: Any, name: str, depth: int = 0) -> None:
    """Every string (and key) in a decoded JSON value passes check_text; nesting is bounded."""
    if depth > MAX_DEPTH:
        raise SignalOpsError(f"{name} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, name)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key), f"a key in {name}")
            check_json_strings(item, f"{name}.{key}"[:80], depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json_strings(item, name, depth + 1)


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def loads_json(line: str) -> Any:
    """json.loads that refuses NaN/Infinity (PostgreSQL's JSON type does) and turns too-deep
    nesting into a ValueError instead of a RecursionError."""
    try:
        return json.loads(line, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None


def decoded_lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text, error) for each physical line: UTF-8, a BOM on the first line
    accepted; a line in another encoding gives an error naming its first bad byte. Lines split
    on \\n only (str.splitlines would also split inside a JSON string at U+2028 and the like)."""
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield line_no, raw.decode("utf-8").rstrip("\r\n"), None
            except UnicodeDecodeError as exc:
                yield (
                    line_no,
                    None,
                    (f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"),
                )


def _show(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 64:
        return "a number out of range"
    text = repr(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
