"""Projects and posts: sync a project config into the database, import posts from JSONL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Post, Project
from signalops_assets.errors import NotFoundError, SignalOpsError


def ensure_project(session: Session, cfg: ProjectConfig) -> Project:
    project = session.get(Project, cfg.project_id)
    if project is None:
        project = Project(project_id=cfg.project_id, name=cfg.name, description=cfg.description)
        session.add(project)
    else:
        project.name, project.description = cfg.name, cfg.description
    session.flush()
    return project


def require_project(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFoundError(f"unknown project '{project_id}'")
    return project


@dataclass
class ImportReport:
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError("created_at must be an ISO-8601 string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _row(project_id: str, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    platform_id = obj.get("platform_id")
    if not isinstance(platform_id, str) or not platform_id.strip():
        raise ValueError("missing 'platform_id'")
    text = obj.get("text", "")
    if not isinstance(text, str):
        raise ValueError("'text' must be a string")
    raw = obj.get("raw", {})
    return {
        "project_id": project_id,
        "platform_id": platform_id.strip(),
        "author": str(obj.get("author") or ""),
        "author_bio": str(obj.get("author_bio") or obj.get("bio") or ""),
        "text": text,
        "created_at": _parse_time(obj.get("created_at")),
        "raw": raw if isinstance(raw, dict) else {"value": raw},
    }


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(Post)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["project_id", "platform_id"])
    )
    result = session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def import_posts(
    session: Session, project_id: str, path: Path, batch_size: int = 500
) -> ImportReport:
    """Load JSONL posts; bad lines are reported by number and skipped, duplicates ignored."""
    require_project(session, project_id)
    if not path.is_file():
        raise SignalOpsError(f"{path}: file not found")
    report, batch = ImportReport(), []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            report.read += 1
            try:
                batch.append(_row(project_id, json.loads(line)))
            except (ValueError, TypeError) as exc:
                report.bad_lines.append((line_no, str(exc).splitlines()[0][:200]))
                continue
            if len(batch) >= batch_size:
                report.inserted += _insert_ignoring_duplicates(session, batch)
                batch = []
    report.inserted += _insert_ignoring_duplicates(session, batch)
    report.duplicates = report.read - len(report.bad_lines) - report.inserted
    return report


def count_posts(session: Session, project_id: str) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).where(Post.project_id == project_id)) or 0)
