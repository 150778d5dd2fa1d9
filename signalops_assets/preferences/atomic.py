"""Crash-safe file replacement: readers see the old file or the complete new one, never half."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; without it a power cut can bring back the old file.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some filesystems cannot fsync a directory; the replace has happened regardless.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def atomic_write_lines(path: str | Path, lines: Iterable[str]) -> int:
    """Write lines (each followed by "\\n") to path atomically; return how many were written.

    The temp file lives in the target's directory because os.replace is only atomic within
    one filesystem. It is created with O_EXCL and mode 0o666 so the result gets the usual
    umask-derived permissions (mkstemp would leave 0o600). On any exception, including
    KeyboardInterrupt from a failing generator, the temp file is removed and the previous
    file is untouched.
    """
    target = Path(path)
    # Dot-prefixed so "*.jsonl" globs never pick up a half-written file.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            for line in lines:
                if "\n" in line or "\r" in line:
                    # A line break would split one record across two lines of the file.
                    raise ValueError(f"line {count + 1} contains a line break")
                fh.write(line)
                fh.write("\n")
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)
    return count


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Atomically write one JSON object per line (UTF-8, not \\u-escaped); return the count."""
    # allow_nan=False: NaN/Infinity are not JSON and strict loaders (fine-tuning uploads) reject
    # them; failing here rolls the whole file back instead.
    return atomic_write_lines(
        path, (json.dumps(r, ensure_ascii=False, allow_nan=False) for r in records)
    )
