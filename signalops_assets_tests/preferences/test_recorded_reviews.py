"""Replaying recorded review decisions: each one a real transition with its event; bad lines
reported by number while the good ones apply; a second replay changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, DraftEvent, Post
from signalops_assets.db.session import session_scope
from signalops_assets.errors import NotFoundError
from signalops_assets.preferences.recorded_reviews import replay_reviews
from signalops_assets_tests.preferences.review_helpers import EDITED, make_drafts


def test_replay_applies_reports_and_is_idempotent(
    engine: Engine, spectra: ProjectConfig, tmp_path: Path
) -> None:
    ids = make_drafts(engine, spectra, 3)
    with session_scope(engine) as session:
        platform = {
            d: session.scalar(
                select(Post.platform_id).join(Draft, Draft.post_id == Post.id).where(Draft.id == d)
            )
            for d in ids
        }
    lines = [
        json.dumps({"platform_id": platform[ids[0]], "action": "edit", "text": EDITED}),
        "{not json",
        json.dumps({"platform_id": platform[ids[1]], "action": "reject"}),
        json.dumps({"platform_id": platform[ids[2]], "action": "shout"}),
        json.dumps({"platform_id": platform[ids[2]], "action": "edit", "text": "  "}),
        json.dumps({"platform_id": "x:unknown", "action": "approve"}),
    ]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with session_scope(engine) as session:
        report = replay_reviews(session, "spectra", path)
    assert report.applied == {"edit": 1, "reject": 1}
    assert report.no_draft == 1
    assert [e.split(":")[0] for e in report.errors] == ["line 2", "line 4", "line 5"]
    with session_scope(engine) as session:
        statuses = dict(session.execute(select(Draft.id, Draft.status)).tuples().all())
        assert [statuses[d] for d in ids] == ["edited", "rejected", "pending"]
        events = session.scalar(select(func.count()).select_from(DraftEvent))
    assert events == 2

    with session_scope(engine) as session:
        again = replay_reviews(session, "spectra", path)
    assert not again.applied and again.already_reviewed == 2
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(DraftEvent)) == 2

    with session_scope(engine) as session, pytest.raises(NotFoundError, match="no such"):
        replay_reviews(session, "spectra", tmp_path / "missing.jsonl")
