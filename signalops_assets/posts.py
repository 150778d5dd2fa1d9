"""Projects and posts: sync a project config into the database, import posts from JSONL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Post, Project
from signalops_assets.db.writes import insert_ignore
from signalops_assets.errors import NotFoundError, SignalOpsError
from signalops_assets.validation import check_json_strings, check_text, decoded_lines, loads_json

# The String(n) columns of posts: checked here so both backends refuse the same rows.
MAX_PLATFORM_ID = 200
MAX_AUTHOR = 200


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


def reset_judge_override(session: Session, project_id: str) -> str | None:
    """Clear the judge a promoted experiment set for the project (it goes back to its
    configured `llm.judge_model`). Returns the override that was cleared, None if none was."""
    project = require_project(session, project_id)
    cleared = project.judge_model_override
    project.judge_model_override = None
    session.flush()
    return cleared


@dataclass
class ImportReport:
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError("created_at must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # Stored in UTC: a far-future local time that overflows is refused here, not on read.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"created_at is not an ISO-8601 time: {value[:40]!r}") from None


def _string(obj: dict[str, Any], key: str, max_chars: int | None = None) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a string")
    return check_text(value, f"'{key}'", max_chars)


def _row(project_id: str, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    platform_id = obj.get("platform_id")
    if not isinstance(platform_id, str) or not platform_id.strip():
        raise ValueError("missing 'platform_id'")
    check_text(platform_id.strip(), "'platform_id'", MAX_PLATFORM_ID)
    raw = obj.get("raw", {})
    check_json_strings(raw, "'raw'")
    return {
        "project_id": project_id,
        "platform_id": platform_id.strip(),
        "author": _string(obj, "author", MAX_AUTHOR),
        "author_bio": _string(obj, "author_bio") or _string(obj, "bio"),
        "text": _string(obj, "text"),
        "created_at": _parse_time(obj.get("created_at")),
        "raw": raw if isinstance(raw, dict) else {"value": raw},
    }


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    return insert_ignore(session, Post, rows, ["project_id", "platform_id"])


def import_posts(
    session: Session, project_id: str, path: Path, batch_size: int = 500
) -> ImportReport:
    """Load JSONL posts (UTF-8, BOM accepted); bad lines (another encoding, bad JSON, a field
    the database would refuse) are reported by number and skipped, duplicates ignored."""
    require_project(session, project_id)
    if not path.is_file():
        raise SignalOpsError(f"{path}: file not found")
    report, batch = ImportReport(), []
    for line_no, line, error in decoded_lines(path):
        if line is not None and not line.strip():
            continue
        report.read += 1
        try:
            if line is None:
                raise ValueError(error)
            batch.append(_row(project_id, loads_json(line)))
        except (ValueError, TypeError, SignalOpsError) as exc:
            report.bad_lines.append((line_no, (str(exc).splitlines() or ["bad line"])[0][:200]))
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
