"""Export files, for every exporter (DPO pairs, judgments, judge training sets): where they go
(`export_root`), and crash-safe replacement (readers see the old file or the complete new one,
never half)."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson

WRITE_BUFFER = 1 << 20


def export_root() -> Path:
    """SIGNALOPS_EXPORT_DIR, else data/exports in the repository (settings.py reads it)."""
    from signalops_assets.settings import settings

    return settings().export_dir


# Temp names carry when and by which process they were started: `<stamp ns>-<pid>-<random>`,
# so a later run can tell an abandoned temp (crashed writer) from a live concurrent one.
_STAMPED = re.compile(r"(\d+)-(\d+)-[0-9a-f]+")
_LEGACY = re.compile(r"[0-9a-f]{16}")  # temps named before stamps: `.<name>.<16 hex>.tmp`
# Temp files and snapshot directories this process is writing right now.
IN_FLIGHT: set[str] = set()


def temp_stamp() -> str:
    return f"{time.time_ns()}-{os.getpid()}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def abandoned(path: Path, stamp: str, started_ns: int) -> bool:
    """Whether the temp `path` (named with `stamp`) belongs to an earlier run that is gone:
    started before `started_ns` and its process has exited (or, in this process, it is no
    longer being written). A pid on another host cannot be checked: run one exporter per
    export directory across hosts."""
    if match := _STAMPED.fullmatch(stamp):
        ns, pid = int(match.group(1)), int(match.group(2))
        if ns >= started_ns:
            return False
        return str(path) not in IN_FLIGHT if pid == os.getpid() else not _alive(pid)
    if _LEGACY.fullmatch(stamp):
        try:
            return path.lstat().st_mtime_ns < started_ns
        except FileNotFoundError:
            return False
    return False


def remove_stale_temps(target: Path, started_ns: int) -> list[Path]:
    """Delete `.<target name>.<stamp>.tmp` files beside `target` left by crashed runs."""
    prefix, removed = f".{target.name}.", list[Path]()
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        path = target.parent / name
        if abandoned(path, name[len(prefix) : -len(".tmp")], started_ns):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed.append(path)
    return removed


def fsync_dir(directory: Path) -> None:
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


class LineWriter:
    """Writes lines to an open temp file, counting them; see `atomic_line_writer`."""

    def __init__(self, fh: TextIO) -> None:
        self._fh = fh
        self.count = 0

    def write(self, line: str) -> None:
        if "\n" in line or "\r" in line:
            # A line break would split one record across two lines of the file.
            raise ValueError(f"line {self.count + 1} contains a line break")
        self._fh.write(line + "\n")  # one call per line
        self.count += 1


@contextlib.contextmanager
def atomic_line_writer(path: str | Path) -> Iterator[LineWriter]:
    """Stream lines (each followed by "\\n") into path, replacing it atomically on exit.

    The temp file lives in the target's directory because os.replace is only atomic within
    one filesystem. It is created with O_EXCL and mode 0o666 so the result gets the usual
    umask-derived permissions (mkstemp would leave 0o600). Temps of earlier runs for the same
    target whose process is gone (a kill -9 leaves its temp) are removed first, so a
    crash-looping exporter cannot fill the disk. On any exception in the block,
    including KeyboardInterrupt, the temp file is removed and the previous file is untouched.
    Nesting two writers streams two files in one pass: a failure rolls back both.
    """
    target = Path(path)
    started = time.time_ns()
    remove_stale_temps(target, started)
    # Dot-prefixed so "*.jsonl" globs never pick up a half-written file.
    tmp = target.with_name(f".{target.name}.{temp_stamp()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    IN_FLIGHT.add(str(tmp))
    try:
        # A 1 MiB buffer: the default 8 KiB makes a syscall every few lines of a few KB each.
        with os.fdopen(fd, "w", buffering=WRITE_BUFFER, encoding="utf-8", newline="\n") as fh:
            yield LineWriter(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        IN_FLIGHT.discard(str(tmp))
    fsync_dir(target.parent)


def atomic_write_lines(path: str | Path, lines: Iterable[str]) -> int:
    """Write lines (each followed by "\\n") to path atomically; return how many were written.

    Lines are consumed one at a time, so a generator is never held in memory. On any
    exception, including KeyboardInterrupt from a failing generator, the previous file stays.
    """
    with atomic_line_writer(path) as out:
        for line in lines:
            out.write(line)
    return out.count


def jsonl_line(record: dict[str, Any]) -> str:
    """One JSON object as one compact line (UTF-8, not \\u-escaped), encoded by orjson: the
    export's hot path (bench/export.py times it), cheaper than json.dumps. Non-finite floats
    are refused (orjson would write null): NaN/Infinity in training data is a bug, and failing
    here rolls the whole file back."""
    line = orjson.dumps(record)
    if b"null" in line:  # orjson writes NaN/Infinity as null: only then look for them
        _check_finite(record)
    return line.decode()


def _check_finite(value: Any) -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number in record: {value}")
    elif isinstance(value, dict):
        for item in value.values():
            _check_finite(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_finite(item)


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Atomically write one JSON object per line (see `jsonl_line`); return the count."""
    return atomic_write_lines(path, (jsonl_line(r) for r in records))
