"""Database URLs: unsupported or unusable ones are one line; in-memory SQLite is refused; only
`db upgrade` creates a SQLite file; read commands work on a read-only database."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from signalops_assets_tests.cli.helpers import invoke, one_line_error


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u@localhost/db", "unsupported database 'mysql'"),
        ("oracle+cx_oracle://u@h/db", "unsupported database 'oracle'"),
        ("postgresql+asyncpg://u@127.0.0.1/db", "driver not installed"),
        ("postgresql+nosuchdriver://u@127.0.0.1/db", "database URL"),
        ("not a url", "SIGNALOPS_DATABASE_URL='not a url'"),
        ("sqlite://", "in-memory SQLite database"),
        ("sqlite:///", "in-memory SQLite database"),
        ("sqlite:///:memory:", "in-memory SQLite database"),
    ],
)
def test_bad_urls_are_one_line(monkeypatch: pytest.MonkeyPatch, url: str, fragment: str) -> None:
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", url)
    for args in (["model", "list"], ["db", "upgrade"]):
        one_line_error(invoke(*args), fragment)


def test_url_option_of_the_wrong_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the long fuzz run: pysqlite's own coercion raised a bare ValueError."""
    (tmp_path / "x.db").write_bytes(b"")
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", f"sqlite:///{tmp_path}/x.db?timeout=soon")
    for args in (["model", "list"], ["db", "upgrade"]):
        one_line_error(invoke(*args), "could not convert string to float")


def test_sqlite_path_whose_directory_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", f"sqlite:///{tmp_path}/afile/sub/x.db")
    one_line_error(invoke("db", "upgrade"), "cannot create its directory")
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", f"sqlite:///{tmp_path}")
    one_line_error(invoke("db", "upgrade"), "is a directory")


def test_only_db_upgrade_creates_a_missing_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new" / "typo.db"
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", f"sqlite:///{path}")
    for args in (
        ["model", "list"],
        ["drafts", "list"],
        ["posts", "import", "x", "--project", "spectra"],
    ):
        one_line_error(invoke(*args), "run `signalops db upgrade`")
    assert not path.exists() and not path.parent.exists()
    assert invoke("db", "upgrade").exit_code == 0 and path.is_file()
    assert invoke("model", "list").output == "no models registered\n"


@pytest.fixture
def read_only_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated SQLite file in a directory nobody may write (root ignores modes, so the
    immutable attribute stands in for a read-only mount where chattr works)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "app.db"
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", f"sqlite:///{path}")
    assert invoke("db", "upgrade").exit_code == 0
    assert (
        invoke(
            "model",
            "register",
            "--model-id",
            "openai/m1",
            "--provider",
            "openai",
            "--type",
            "judge",
        ).exit_code
        == 0
    )
    from signalops_assets.db.session import cached_engine

    cached_engine(f"sqlite:///{path}").dispose()  # the last close checkpoints and removes -wal
    cached_engine.cache_clear()
    assert not list(folder.glob("app.db-*"))
    made_immutable = False
    if os.geteuid() == 0 and shutil.which("chattr"):
        made_immutable = subprocess.run(["chattr", "+i", str(path), str(folder)]).returncode == 0
    else:
        path.chmod(0o444)
        folder.chmod(0o555)
    if os.access(path, os.W_OK) or os.access(folder, os.W_OK):
        pytest.skip("cannot make a read-only database here")
    try:
        yield path
    finally:
        cached_engine.cache_clear()
        if made_immutable:
            subprocess.run(["chattr", "-i", str(path), str(folder)], check=True)
        folder.chmod(0o755)
        path.chmod(0o644)


def test_read_commands_work_on_a_read_only_sqlite_file(read_only_sqlite: Path) -> None:
    listed = invoke("model", "list")
    assert listed.exit_code == 0 and "openai/m1" in listed.output, listed.output
    assert invoke("drafts", "list").output == "no drafts\n"
    written = invoke("model", "deactivate", "openai/m1")
    one_line_error(written, "readonly database")


def test_read_commands_work_on_a_read_only_postgres_session(
    engine: object, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the SQLite case is test_read_commands_work_on_a_read_only_sqlite_file")
    assert (
        invoke(
            "model",
            "register",
            "--model-id",
            "openai/m1",
            "--provider",
            "openai",
            "--type",
            "judge",
        ).exit_code
        == 0
    )
    read_only = db_url + "?options=-c%20default_transaction_read_only%3Don"
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", read_only)
    listed = invoke("model", "list")
    assert listed.exit_code == 0 and "openai/m1" in listed.output, listed.output
    one_line_error(invoke("model", "deactivate", "openai/m1"), "read-only transaction")
