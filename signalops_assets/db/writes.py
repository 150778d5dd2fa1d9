"""Write helpers that hide the SQLite/PostgreSQL difference and SQLAlchemy's result typing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def insert_ignore(
    session: Session, model: type[Any], rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
) -> int:
    """INSERT the rows, skipping any that would violate the unique index on `conflict`
    (``ON CONFLICT (...) DO NOTHING`` on both dialects, so concurrent writers never fail on
    each other). Returns the rows inserted."""
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(model).values(list(rows)).on_conflict_do_nothing(index_elements=list(conflict))
    return rowcount(session.execute(stmt))


def rowcount(result: Any) -> int:
    """Rows an INSERT/UPDATE/DELETE touched. `Session.execute` is typed as returning `Result`,
    and only its `CursorResult` subclass has `rowcount`; a result without one counts 0."""
    return int(getattr(result, "rowcount", 0) or 0)
