"""Replay recorded review decisions (JSONL) through the review state machine.

One line per decision, keyed by the post's platform id, so a file survives re-drafting:

    {"platform_id": "x:179...", "action": "edit", "text": "..."}
    {"platform_id": "x:179...", "action": "reject", "better_text": "..."}   # better_text optional
    {"platform_id": "x:179...", "action": "approve"}

`make run` replays data/sample/reviews.jsonl this way, so the demo's DPO export has real pairs.
Each decision goes through `review.approve/edit/reject`, which writes its draft event, exactly as
a reviewer at the CLI would; pairs are left to the collector (the sensor's job). Replaying the
same file again changes nothing: drafts that are no longer pending are skipped. Malformed lines
are reported with their line number; the good ones are still applied.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalops_assets.db.models import Draft, Post
from signalops_assets.errors import NotFoundError, SignalOpsError
from signalops_assets.preferences import review

ACTIONS = ("approve", "edit", "reject")


@dataclass
class ReplayReport:
    applied: Counter[str] = field(default_factory=Counter)
    already_reviewed: int = 0
    no_draft: int = 0
    errors: list[str] = field(default_factory=list)  # "line N: reason"


def replay_reviews(session: Session, project_id: str, path: Path) -> ReplayReport:
    """Apply every decision in `path` to the project's pending drafts (one transaction: the
    caller's session)."""
    if not path.is_file():
        raise NotFoundError(f"{path}: no such review file")
    report = ReplayReport()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            report.errors.append(f"line {number}: invalid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            report.errors.append(f"line {number}: expected an object")
            continue
        action, platform_id = row.get("action"), row.get("platform_id")
        if action not in ACTIONS or not isinstance(platform_id, str):
            report.errors.append(
                f"line {number}: needs platform_id and action ({', '.join(ACTIONS)})"
            )
            continue
        text = row.get("text") if action == "edit" else row.get("better_text")
        if (action == "edit" and not isinstance(text, str)) or (
            text is not None and not isinstance(text, str)
        ):
            report.errors.append(f"line {number}: text must be a string")
            continue
        draft = session.scalar(
            select(Draft)
            .join(Post, Post.id == Draft.post_id)
            .where(Draft.project_id == project_id, Post.platform_id == platform_id)
        )
        if draft is None:
            report.no_draft += 1
            continue
        if draft.status != "pending":
            report.already_reviewed += 1
            continue
        try:  # validation (empty text) happens before anything is written
            if action == "approve":
                review.approve(session, draft.id)
            elif action == "edit":
                review.edit(session, draft.id, str(text))
            else:
                review.reject(session, draft.id, text)
        except SignalOpsError as exc:
            report.errors.append(f"line {number}: {exc}")
            continue
        report.applied[action] += 1
    return report
