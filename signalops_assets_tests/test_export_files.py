import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from signalops_assets.export_files import (
    atomic_line_writer,
    atomic_write_lines,
    write_jsonl_atomic,
)


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    # A directory of our own: shared fixtures put other files in tmp_path, and the tests
    # below assert that nothing but the target is left behind.
    path = tmp_path / "out"
    path.mkdir()
    return path


def _boom_after(n: int, exc: BaseException) -> Iterator[str]:
    for i in range(n):
        yield f"new line {i}"
    raise exc


def test_writes_lines_and_returns_the_count(out_dir: Path) -> None:
    path = out_dir / "out.txt"
    assert atomic_write_lines(path, ["a", "b", ""]) == 3
    assert path.read_bytes() == b"a\nb\n\n"
    assert atomic_write_lines(path, []) == 0
    assert path.read_bytes() == b""


def test_new_file_gets_umask_permissions(out_dir: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = out_dir / "out.txt"
    atomic_write_lines(path, ["x"])
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("exc", [RuntimeError("db went away"), KeyboardInterrupt()])
def test_failing_generator_leaves_previous_file_intact(out_dir: Path, exc: BaseException) -> None:
    path = out_dir / "pairs.jsonl"
    previous = "old 1\nold 2 — ünïcode\n".encode()
    path.write_bytes(previous)
    with pytest.raises(type(exc)):
        atomic_write_lines(path, _boom_after(1000, exc))
    assert path.read_bytes() == previous
    assert sorted(p.name for p in out_dir.iterdir()) == ["pairs.jsonl"]


def test_failure_on_first_write_creates_nothing(out_dir: Path) -> None:
    path = out_dir / "pairs.jsonl"
    with pytest.raises(RuntimeError):
        atomic_write_lines(path, _boom_after(0, RuntimeError("x")))
    assert list(out_dir.iterdir()) == []


def test_fsync_failure_rolls_back(out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = out_dir / "pairs.jsonl"
    path.write_bytes(b"old\n")

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        atomic_write_lines(path, ["new"])
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in out_dir.iterdir()] == ["pairs.jsonl"]


@pytest.mark.parametrize("bad", ["two\nlines", "carriage\rreturn"])
def test_line_breaks_inside_a_line_are_rejected(out_dir: Path, bad: str) -> None:
    path = out_dir / "out.txt"
    path.write_bytes(b"old\n")
    with pytest.raises(ValueError, match="line 2"):
        atomic_write_lines(path, ["ok", bad])
    assert path.read_bytes() == b"old\n"


def test_write_jsonl_atomic_keeps_unicode_readable(out_dir: Path) -> None:
    path = out_dir / "pairs.jsonl"
    records = [{"chosen": "Merci beaucoup 🙏", "n": 1}, {"chosen": "line\nbreak", "n": 2}]
    assert write_jsonl_atomic(path, records) == 2
    raw = path.read_text(encoding="utf-8")
    assert "Merci beaucoup 🙏" in raw
    assert [json.loads(line) for line in raw.splitlines()] == records


def test_write_jsonl_atomic_rejects_nan_and_rolls_back(out_dir: Path) -> None:
    path = out_dir / "pairs.jsonl"
    path.write_bytes(b'{"old": true}\n')
    with pytest.raises(ValueError):
        write_jsonl_atomic(path, [{"ok": 1}, {"score": float("nan")}])
    assert path.read_bytes() == b'{"old": true}\n'
    assert [p.name for p in out_dir.iterdir()] == ["pairs.jsonl"]


def test_nested_line_writers_stream_two_files_and_roll_back_together(out_dir: Path) -> None:
    train, evals = out_dir / "train.jsonl", out_dir / "eval.jsonl"
    with atomic_line_writer(train) as a, atomic_line_writer(evals) as b:
        for i in range(5):
            (a if i % 2 else b).write(f"line {i}")
    assert (a.count, b.count) == (2, 3)
    assert train.read_bytes() == b"line 1\nline 3\n"
    assert evals.read_bytes() == b"line 0\nline 2\nline 4\n"
    with (
        pytest.raises(RuntimeError),
        atomic_line_writer(train) as a,
        atomic_line_writer(evals) as b,
    ):
        a.write("new")
        b.write("new")
        raise RuntimeError("db went away")
    assert train.read_bytes() == b"line 1\nline 3\n"
    assert sorted(p.name for p in out_dir.iterdir()) == ["eval.jsonl", "train.jsonl"]
