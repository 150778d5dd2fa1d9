"""Row counts of the tables behind assets (dagster/row_count), optionally per project."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from signalops_assets.db.session import session_scope


def count_rows(engine: Engine, model: Any, project_ids: Sequence[str] | None = None) -> int:
    stmt = select(func.count()).select_from(model)
    if project_ids is not None:
        stmt = stmt.where(model.project_id.in_(list(project_ids)))
    with session_scope(engine) as session:
        return int(session.scalar(stmt) or 0)
