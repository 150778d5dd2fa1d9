"""Files that are replaced together, as one snapshot (the DPO train/eval pair).

Layout of an export directory:

    dpo/current           -> .snapshots/<stamp>        (swapped atomically: the one switch)
    dpo/train.jsonl       -> current/train.jsonl       (fixed: created once, never changed)
    dpo/eval.jsonl        -> current/eval.jsonl
    dpo/.snapshots/<stamp>/{train,eval}.jsonl

Every file of a snapshot is written and fsynced in a build directory, which is renamed into
place; only then is `current` replaced (a new symlink renamed over it), so a reader opening
`dpo/train.jsonl` and `dpo/eval.jsonl` gets both from one export whatever moment the writer was
killed at. (A reader that must not straddle two *successive* exports resolves `dpo/current`
once and reads both files from there.) The first export into a directory of plain files from
an older version hard-links them into a snapshot first, so the switch-over never mixes exports.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from signalops_assets.errors import SignalOpsError
from signalops_assets.export_files import (
    IN_FLIGHT,
    WRITE_BUFFER,
    LineWriter,
    abandoned,
    fsync_dir,
    remove_stale_temps,
    temp_stamp,
)

CURRENT = "current"
SNAPSHOTS = ".snapshots"
_BUILD = ".build-"
_DONE = re.compile(r"(?:legacy-)?(\d+)-(\d+)-[0-9a-f]+")


def check_targets(out_dir: Path, names: tuple[str, ...]) -> None:
    """Fail with one line, before anything is written, when a file cannot be replaced."""
    for name in (*names, CURRENT):
        path = out_dir / name
        if path.is_symlink() or not path.exists():
            continue
        if path.is_dir():
            raise SignalOpsError(f"{path}: is a directory")
        if name == CURRENT or not path.is_file():
            raise SignalOpsError(f"{path}: exists and is not a file this export manages")


@contextlib.contextmanager
def snapshot_writer(out_dir: Path, names: tuple[str, ...]) -> Iterator[dict[str, LineWriter]]:
    """Stream lines into every file of a new snapshot; on exit, publish them all at once. On
    any exception nothing visible changes and the build directory is removed."""
    started = time.time_ns()
    check_targets(out_dir, names)
    snapshots = out_dir / SNAPSHOTS
    snapshots.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(out_dir, names, started)
    stamp = temp_stamp()
    build = snapshots / f"{_BUILD}{stamp}"
    build.mkdir()
    IN_FLIGHT.add(str(build))
    try:
        with contextlib.ExitStack() as stack:
            handles: dict[str, TextIO] = {
                name: stack.enter_context(
                    (build / name).open("w", buffering=WRITE_BUFFER, encoding="utf-8", newline="\n")
                )
                for name in names
            }
            yield {name: LineWriter(fh) for name, fh in handles.items()}
            for fh in handles.values():
                fh.flush()
                os.fsync(fh.fileno())
        fsync_dir(build)
        final = snapshots / stamp
        IN_FLIGHT.add(str(final))
        os.rename(build, final)
        fsync_dir(snapshots)
        _publish(out_dir, names, final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    finally:
        IN_FLIGHT.discard(str(build))
        IN_FLIGHT.discard(str(snapshots / stamp))
    _prune(out_dir, time.time_ns())


def _swap_link(path: Path, target: str) -> None:
    """Point the symlink `path` at `target` in one rename (a temp link, then os.replace)."""
    tmp = path.with_name(f".{path.name}.{temp_stamp()}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _managed(out_dir: Path, name: str) -> bool:
    path = out_dir / name
    return path.is_symlink() and os.readlink(path) == f"{CURRENT}/{name}"


def _publish(out_dir: Path, names: tuple[str, ...], final: Path) -> None:
    current = out_dir / CURRENT
    if not all(_managed(out_dir, name) for name in names):
        if not current.is_symlink() and any((out_dir / n).is_file() for n in names):
            _swap_link(current, f"{SNAPSHOTS}/{_adopt_plain_files(out_dir, names).name}")
        for name in names:
            if not _managed(out_dir, name):
                _swap_link(out_dir / name, f"{CURRENT}/{name}")
    _swap_link(current, f"{SNAPSHOTS}/{final.name}")
    fsync_dir(out_dir)


def _adopt_plain_files(out_dir: Path, names: tuple[str, ...]) -> Path:
    """The plain files an older version wrote, as a snapshot (hard links: no copy)."""
    legacy = out_dir / SNAPSHOTS / f"legacy-{temp_stamp()}"
    legacy.mkdir()
    for name in names:
        source = out_dir / name
        if source.is_file() and not source.is_symlink():
            try:
                os.link(source, legacy / name)
            except OSError:  # a filesystem without hard links
                shutil.copy2(source, legacy / name)
    fsync_dir(legacy)
    return legacy


def _remove_abandoned(out_dir: Path, names: tuple[str, ...], started: int) -> None:
    """Crashed runs' temp links and build directories (before this run writes anything)."""
    for name in (*names, CURRENT):
        remove_stale_temps(out_dir / name, started)
    snapshots = out_dir / SNAPSHOTS
    for entry in os.scandir(snapshots):
        stamp = entry.name.removeprefix(_BUILD)
        if stamp != entry.name and abandoned(snapshots / entry.name, stamp, started):
            shutil.rmtree(snapshots / entry.name, ignore_errors=True)


def _prune(out_dir: Path, started: int) -> None:
    """Old snapshots, once this run's is current. The one before it stays: a reader may have
    resolved `current` just before the switch. A live concurrent run's snapshot stays too."""
    snapshots = out_dir / SNAPSHOTS
    current = Path(os.readlink(out_dir / CURRENT)).name
    done = sorted(
        (int(m.group(1)), entry.name)
        for entry in os.scandir(snapshots)
        if (m := _DONE.fullmatch(entry.name))
    )
    names = [name for _, name in done]
    keep = {current, *names[max(names.index(current) - 1, 0) : names.index(current)]}
    for name in names:
        if name not in keep and abandoned(snapshots / name, name.removeprefix("legacy-"), started):
            shutil.rmtree(snapshots / name, ignore_errors=True)
