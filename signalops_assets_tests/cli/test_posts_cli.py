from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from signalops_assets.cli.main import cli
from signalops_assets.db.models import Post
from signalops_assets.db.session import session_scope

REPO = Path(__file__).resolve().parents[2]


def test_db_upgrade(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from signalops_assets.db.migrate import alembic_config, current_revision

    head = ScriptDirectory.from_config(
        alembic_config(engine.url.render_as_string(hide_password=False))
    ).get_current_head()  # type: ignore[arg-type]
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert head is not None and f"at revision {head}" in result.output
    assert current_revision(engine) == head


def test_database_url_password_is_redacted() -> None:
    from signalops_assets.db.session import redact_url

    shown = redact_url("postgresql+psycopg2://app:s3cret@db.internal:5432/signalops")
    assert "s3cret" not in shown and "app:***@db.internal" in shown


def test_import_reports_bad_lines_keeps_good_and_is_idempotent(
    engine: Engine, tmp_path: Path
) -> None:
    good = {
        "platform_id": "x:1",
        "author": "@a",
        "author_bio": "SRE",
        "text": "p99 latency",
        "created_at": "2026-11-01T10:00:00Z",
        "raw": {"likes": 1},
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"text": "no id"}),
        json.dumps({**good, "platform_id": "x:2"}),
        "",
        json.dumps({**good, "platform_id": "x:3", "created_at": "yesterday"}),
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    first = runner.invoke(cli, ["posts", "import", str(path), "--project", "spectra"])
    assert first.exit_code == 0, first.output
    assert f"{path}:2: skipped" in first.output
    assert f"{path}:3: skipped: missing 'platform_id'" in first.output
    assert f"{path}:6: skipped" in first.output
    assert "imported 2 posts" in first.output
    second = runner.invoke(cli, ["posts", "import", str(path), "--project", "spectra"])
    assert "imported 0 posts" in second.output and "2 already present" in second.output
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 2


def test_sample_posts_import(engine: Engine) -> None:
    result = CliRunner().invoke(
        cli, ["posts", "import", str(REPO / "data/sample/posts.jsonl"), "--project", "spectra"]
    )
    assert result.exit_code == 0 and "0 bad lines" in result.output
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Post)) >= 300


def test_unknown_project_and_missing_file_exit_2(engine: Engine, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["posts", "import", str(tmp_path / "x.jsonl"), "--project", "spectra"]
    )
    assert result.exit_code == 2 and "file not found" in result.output
    result = runner.invoke(cli, ["posts", "import", "x.jsonl", "--project", "ghost"])
    assert result.exit_code == 2 and "not found" in result.output
    assert "Traceback" not in result.output
