"""insert_ignore and rowcount on SQLite and PostgreSQL (the `engine` fixture runs both)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select, update

from signalops_assets.db.models import CollectorCursor, utcnow
from signalops_assets.db.session import session_scope
from signalops_assets.db.writes import insert_ignore, rowcount


def cursor(name: str, last: int = 0) -> dict[str, object]:
    return {"name": name, "last_event_id": last, "updated_at": utcnow()}


def test_insert_ignore_counts_only_new_rows_and_keeps_existing_ones(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert insert_ignore(session, CollectorCursor, [cursor("a"), cursor("b")], ["name"]) == 2
    with session_scope(engine) as session:
        again = [cursor("a", 7), cursor("c")]
        assert insert_ignore(session, CollectorCursor, again, ["name"]) == 1
        assert insert_ignore(session, CollectorCursor, [], ["name"]) == 0
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(CollectorCursor)) == 3
        kept = select(CollectorCursor.last_event_id).where(CollectorCursor.name == "a")
        assert session.scalar(kept) == 0  # ignored, not overwritten
        touched = session.execute(update(CollectorCursor).values(last_event_id=1))
        assert rowcount(touched) == 3
