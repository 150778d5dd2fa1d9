"""Human labels: the ground truth experiments are judged against."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from signalops_assets.db.models import Judgment, Post
from signalops_assets.errors import NotFoundError, SignalOpsError
from signalops_assets.judging.prompts import LABELS
from signalops_assets.judging.scores import score_human_labels_on_commit


@dataclass
class LabelImportReport:
    applied: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)


def _check_label(label: str) -> str:
    clean = label.strip().lower()
    if clean not in LABELS:
        raise SignalOpsError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    return clean


def _apply_to_post(session: Session, post: Post, label: str) -> None:
    """Every human label, by any path, lands here: post, all its judgments, and their
    `human_label` Langfuse scores once the transaction commits."""
    post.human_label = label
    session.execute(update(Judgment).where(Judgment.post_id == post.id).values(human_label=label))
    score_human_labels_on_commit(session, [post.id])


def label_judgment(session: Session, judgment_id: int, label: str) -> Judgment:
    """Label one judgment; the label also becomes its post's, for every judge of that post."""
    clean = _check_label(label)
    judgment = session.get(Judgment, judgment_id)
    if judgment is None:
        raise NotFoundError(f"unknown judgment id {judgment_id}")
    post = session.get(Post, judgment.post_id)
    assert post is not None  # foreign key
    _apply_to_post(session, post, clean)
    session.flush()
    session.refresh(judgment)
    return judgment


def label_post(session: Session, post_id: int, label: str) -> bool:
    """Set a post's human label (Argilla and other per-post paths); False when it already had
    that label (nothing changed, nothing re-sent)."""
    clean = _check_label(label)
    post = session.get(Post, post_id)
    if post is None:
        raise NotFoundError(f"unknown post id {post_id}")
    if post.human_label == clean:
        return False
    _apply_to_post(session, post, clean)
    return True


def _rows(path: Path) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    text = path.read_text(encoding="utf-8")
    out: list[tuple[int, dict[str, Any] | None, str | None]] = []
    if path.suffix.lower() in {".jsonl", ".json", ".ndjson"}:
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append((line_no, None, f"invalid JSON: {exc.msg}"))
                continue
            out.append(
                (line_no, obj, None)
                if isinstance(obj, dict)
                else (line_no, None, "expected a JSON object")
            )
        return out
    reader = csv.DictReader(text.splitlines())
    for index, row in enumerate(reader, start=2):  # line 1 is the header
        out.append((index, dict(row), None))
    return out


def import_labels(session: Session, path: Path, project_id: str | None = None) -> LabelImportReport:
    """CSV or JSONL with `label` and one of `judgment_id`, `post_id` or `platform_id`.
    Bad rows are reported with their line numbers; good ones are kept."""
    if not path.is_file():
        raise SignalOpsError(f"{path}: file not found")
    report = LabelImportReport()
    for line_no, row, error in _rows(path):
        if row is None:
            report.bad_rows.append((line_no, error or "unreadable"))
            continue
        try:
            label = _check_label(str(row.get("label") or ""))
            post = _find_post(session, row, project_id)
        except SignalOpsError as exc:
            report.bad_rows.append((line_no, str(exc)))
            continue
        _apply_to_post(session, post, label)
        report.applied += 1
    session.flush()
    return report


def _find_post(session: Session, row: dict[str, Any], project_id: str | None) -> Post:
    if row.get("judgment_id") not in (None, ""):
        judgment = session.get(Judgment, _int(row["judgment_id"], "judgment_id"))
        if judgment is None:
            raise SignalOpsError(f"unknown judgment id {row['judgment_id']}")
        post = session.get(Post, judgment.post_id)
    elif row.get("post_id") not in (None, ""):
        post = session.get(Post, _int(row["post_id"], "post_id"))
    elif row.get("platform_id"):
        stmt = select(Post).where(Post.platform_id == str(row["platform_id"]))
        if project_id:
            stmt = stmt.where(Post.project_id == project_id)
        matches = list(session.scalars(stmt.limit(2)))
        if len(matches) > 1:
            raise SignalOpsError(f"platform id {row['platform_id']} is ambiguous: give --project")
        post = matches[0] if matches else None
    else:
        raise SignalOpsError("row needs judgment_id, post_id or platform_id")
    if post is None:
        raise SignalOpsError("post not found")
    return post


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SignalOpsError(f"{name} must be an integer, got {value!r}") from None
