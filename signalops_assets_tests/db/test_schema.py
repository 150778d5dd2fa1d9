"""Models and migrations agree; constraints hold on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError

from signalops_assets.db.models import Base, Draft, DraftEvent, Judgment, Post, Project
from signalops_assets.db.session import session_scope


def test_migrations_match_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)


def _post(session, platform_id: str = "x:1") -> Post:  # type: ignore[no-untyped-def]
    if session.get(Project, "p") is None:
        session.add(Project(project_id="p", name="P"))
        session.flush()
    post = Post(project_id="p", platform_id=platform_id, text="hi", created_at=datetime.now(UTC))
    session.add(post)
    session.flush()
    return post


def test_duplicate_post_rejected(engine: Engine) -> None:
    with session_scope(engine) as session:
        _post(session)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        _post(session)
    with session_scope(engine) as session:
        assert len(session.scalars(select(Post)).all()) == 1


def test_one_judgment_per_post_and_judge(engine: Engine) -> None:
    with session_scope(engine) as session:
        post = _post(session)
        post_id = post.id
        session.add(
            Judgment(post_id=post_id, project_id="p", judge_key="m", label="maybe", model_id="m")
        )
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(
            Judgment(post_id=post_id, project_id="p", judge_key="m", label="relevant", model_id="m")
        )


def test_draft_event_foreign_key(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(DraftEvent(draft_id=999, kind="edited"))
        session.flush()
    with session_scope(engine) as session:
        post = _post(session)
        draft = Draft(post_id=post.id, project_id="p", prompt="[]", text_generated="a")
        session.add(draft)
        session.flush()
        session.add(DraftEvent(draft_id=draft.id, kind="pending"))
    with session_scope(engine) as session:
        assert session.scalar(select(DraftEvent.kind)) == "pending"


def test_sqlite_uses_wal_and_busy_timeout(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
