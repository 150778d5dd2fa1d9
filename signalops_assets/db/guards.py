"""Every ORM write is checked before the database sees it: a string longer than its String(n)
column, or holding a NUL or an unpaired surrogate, is a one-line SignalOpsError naming the
column. Without this SQLite stores such values silently while PostgreSQL raises (DataError, or
a bare ValueError for NUL), so the two backends would disagree. Core bulk inserts (posts
import) validate their rows themselves."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, String, event, inspect
from sqlalchemy.orm import Session

from signalops_assets.validation import check_text


def _check(obj: Any) -> None:
    state = inspect(obj)
    loaded = state.dict  # only values set or loaded: never triggers a load mid-flush
    for column in state.mapper.columns:
        value = loaded.get(state.mapper.get_property_by_column(column).key)
        if isinstance(value, str):
            limit = column.type.length if isinstance(column.type, String) else None
            check_text(value, f"{column.table.name}.{column.name}", limit)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        _check(obj)


def _values(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        yield from parameters.values()
    elif isinstance(parameters, list | tuple):
        for item in parameters:
            yield from _values(item) if isinstance(item, dict | list | tuple) else (item,)


def _before_execute(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    # Lookups too (`WHERE model_id = ?`): PostgreSQL raises on a NUL even in a SELECT, and
    # both drivers on an unpaired surrogate.
    for value in _values(parameters):
        if isinstance(value, str):
            check_text(value, "a value")


def install() -> None:
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
    if not event.contains(Engine, "before_cursor_execute", _before_execute):
        event.listen(Engine, "before_cursor_execute", _before_execute)
