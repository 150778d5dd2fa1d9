"""train/eval are one snapshot: a SIGKILL at any step of publishing leaves both files from one
export, a kill mid-write leaves nothing the next export does not remove, and a target that
cannot be replaced changes neither file."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from signalops_assets.config import ProjectConfig
from signalops_assets.db.session import session_scope
from signalops_assets.errors import SignalOpsError
from signalops_assets.export_files import write_jsonl_atomic
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.collector import collect_pending
from signalops_assets.preferences.export import export_dpo
from signalops_assets.preferences.snapshot import SNAPSHOTS
from signalops_assets_tests.preferences.review_helpers import EDITED, make_drafts
from signalops_assets_tests.preferences.test_export import leftovers, pair_files, reviewed

# Every filesystem call that makes an export's result visible.
STEPS = ("rename", "replace", "symlink", "link")


def in_child(work: Callable[[], None], kill_after: int | None = None) -> int:
    """Run `work` in a forked child that SIGKILLs itself right after its `kill_after`-th
    publishing step (None: never); returns how many steps the child made."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no cleanup handlers, no atexit, like kill -9
        os.close(read)
        made = 0
        originals = {name: getattr(os, name) for name in STEPS}

        def step(name: str) -> Callable[..., None]:
            def call(*args: object, **kwargs: object) -> None:
                nonlocal made
                originals[name](*args, **kwargs)
                made += 1
                os.write(write, b".")
                if made == kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)

            return call

        for name in STEPS:
            setattr(os, name, step(name))
        try:
            work()
        finally:
            os._exit(0)
    os.close(write)
    made = b""
    while chunk := os.read(read, 1024):
        made += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return len(made)


def second_export_ready(engine: Engine, cfg: ProjectConfig) -> None:
    extra = make_drafts(engine, cfg, 4)[-1]
    with session_scope(engine) as session:
        d.edit(session, extra, EDITED)
    collect_pending(engine)


@pytest.mark.parametrize("layout", ["snapshot", "plain files of an older version"])
def test_a_kill_at_any_publishing_step_leaves_one_export(
    sqlite_engine: Engine, tmp_path: Path, layout: str
) -> None:
    from signalops_assets.config import load_project
    from signalops_assets.posts import ensure_project, import_posts
    from signalops_assets_tests.conftest import REPO

    cfg = load_project("spectra")
    with session_scope(sqlite_engine) as session:
        ensure_project(session, cfg)
        import_posts(session, "spectra", REPO / "data" / "sample" / "posts.jsonl")
    reviewed(sqlite_engine, cfg, 3)
    template = tmp_path / "template"
    export_dpo(sqlite_engine, "spectra", template, "trl", eval_fraction=0.5)
    old = pair_files(template)
    url = str(sqlite_engine.url)
    # The next export is in another format, so that every line of both files differs.
    new_export = {"fmt": "trl-conversational", "eval_fraction": 0.5}

    def export(out: Path) -> Callable[[], None]:
        def run() -> None:
            export_dpo(create_engine(url), "spectra", out, **new_export)  # type: ignore[arg-type]

        return run

    def fresh(n: int) -> Path:
        out = tmp_path / f"out{n}"
        if layout == "snapshot":
            shutil.copytree(template, out, symlinks=True)
        else:
            out.mkdir()
            for name, data in old.items():
                (out / name).write_bytes(data)
        return out

    steps = in_child(export(fresh(0)))
    new = pair_files(tmp_path / "out0")
    assert all(new[name] != old[name] and old[name] for name in new) and steps >= 3
    for k in range(1, steps + 1):
        out = fresh(k)
        assert in_child(export(out), kill_after=k) == k
        assert pair_files(out) in (old, new), f"mixed exports after a kill at step {k}"
        export_dpo(sqlite_engine, "spectra", out, **new_export)  # type: ignore[arg-type]
        assert pair_files(out) == new and leftovers(out) == []
        assert len(list((out / SNAPSHOTS).iterdir())) <= 2


def test_a_kill_mid_write_leaves_nothing_after_the_next_export(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, files = tmp_path / "dpo", tmp_path / "files"
    files.mkdir()
    export_dpo(sqlite_engine, "spectra", out)
    big = files / "pairs.jsonl"

    def write_then_die(target: Path) -> Callable[[], None]:
        def lines() -> object:
            yield {"n": 1}
            os.kill(os.getpid(), signal.SIGKILL)

        return lambda: write_jsonl_atomic(target, lines())  # type: ignore[arg-type]

    from signalops_assets.preferences import snapshot

    def snapshot_then_die() -> None:
        with snapshot.snapshot_writer(out, ("train.jsonl", "eval.jsonl")) as writers:
            writers["train.jsonl"].write("half")
            os.kill(os.getpid(), signal.SIGKILL)

    for _ in range(3):
        in_child(write_then_die(big))
        in_child(snapshot_then_die)
    # Each run removed the temp of the run it followed: no pile-up, only the last kill's.
    assert len([p for p in files.iterdir() if p.name.endswith(".tmp")]) == 1
    assert len(leftovers(out)) == 1
    write_jsonl_atomic(big, [{"n": 2}])
    export_dpo(sqlite_engine, "spectra", out)
    assert [p.name for p in files.iterdir()] == ["pairs.jsonl"]
    assert leftovers(out) == [] and pair_files(out) == {"train.jsonl": b"", "eval.jsonl": b""}


@pytest.mark.parametrize("layout", ["snapshot", "plain files of an older version"])
def test_a_target_that_cannot_be_replaced_changes_neither_file(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path, layout: str
) -> None:
    reviewed(engine, spectra, 2)
    out = tmp_path / "dpo"
    export_dpo(engine, "spectra", out, eval_fraction=0.5)
    if layout != "snapshot":
        files = pair_files(out)
        shutil.rmtree(out)
        out.mkdir()
        for name, data in files.items():
            (out / name).write_bytes(data)
    before_eval = (out / "eval.jsonl").read_bytes()
    (out / "train.jsonl").unlink()
    (out / "train.jsonl").mkdir()
    second_export_ready(engine, spectra)
    with pytest.raises(SignalOpsError, match=r"train.jsonl: is a directory"):
        export_dpo(engine, "spectra", out, eval_fraction=0.5)
    assert (out / "eval.jsonl").read_bytes() == before_eval
    assert (out / "train.jsonl").is_dir() and leftovers(out) == []
