"""Test data through the product's own write paths (import_posts, store_judgments), so a
seeded row is exactly what the pipeline would have written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.models import Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.judges import JudgeResult
from signalops_assets.judging.store import store_judgments
from signalops_assets.posts import ensure_project, import_posts


@dataclass(frozen=True)
class Seeded:
    project: ProjectConfig
    post_ids: list[int]


def seed_posts(
    engine: Engine,
    tmp_path: Path,
    texts: Sequence[str],
    project_id: str = "spectra",
    *,
    prefix: str | None = None,
) -> Seeded:
    """Posts `<prefix>:0..n-1` (prefix: the project id) with the given texts, imported as
    `signalops posts import` would; `post_ids` are theirs, in order."""
    cfg = load_project(project_id)
    prefix = prefix or project_id
    path = tmp_path / f"{prefix}-posts.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            row = {
                "platform_id": f"{prefix}:{i}",
                "author": f"@author{i}",
                "author_bio": "engineer",
                "text": text,
                "created_at": "2026-11-01T10:00:00Z",
            }
            out.write(json.dumps(row) + "\n")
    with session_scope(engine) as session:
        ensure_project(session, cfg)
        import_posts(session, project_id, path)
        wanted = [f"{prefix}:{i}" for i in range(len(texts))]
        rows = session.execute(
            select(Post.platform_id, Post.id).where(
                Post.project_id == project_id, Post.platform_id.in_(wanted)
            )
        )
        by_platform = {platform_id: post_id for platform_id, post_id in rows}
    return Seeded(cfg, [by_platform[platform_id] for platform_id in wanted])


def judgment(
    post_id: int,
    label: str | None = "relevant",
    judge_key: str = "local/keyword-judge",
    *,
    error: str | None = None,
    experiment_id: str | None = None,
    arm: str | None = None,
    is_primary: bool = True,
    **fields: Any,
) -> JudgeResult:
    """A judge's answer as the pipeline would store it; `fields` sets any other JudgeResult
    field (model_id, latency_ms, cost_usd, trace_id, ...)."""
    seeded = JudgeResult(
        post_id=post_id,
        label=None if error else label,
        confidence=0.0 if error else 0.8,
        reasoning="" if error else "seeded",
        model_id=judge_key.split(":", 1)[0] if experiment_id is None else f"model-{arm}",
        judge_key=judge_key,
        error=error,
        experiment_id=experiment_id,
        arm=arm,
        is_primary=is_primary,
    )
    return replace(seeded, **fields)


def seed_judgments(engine: Engine, project_id: str, judgments: Sequence[JudgeResult]) -> list[int]:
    """Stored through the pipeline's writer; returns the new rows' ids in input order."""
    with session_scope(engine) as session:
        result = store_judgments(session, project_id, judgments)
        assert result.stored == len(judgments), result
    from signalops_assets.db.models import Judgment

    with session_scope(engine) as session:
        rows = {
            (r.post_id, r.judge_key): r.id
            for r in session.execute(
                select(Judgment.id, Judgment.post_id, Judgment.judge_key).where(
                    Judgment.superseded.is_(False)
                )
            )
        }
    return [rows[(j.post_id, j.judge_key)] for j in judgments]


def seed_experiment(
    engine: Engine,
    project_id: str = "spectra",
    primary: str = "local/keyword-judge",
    canary: str = "local/strict-judge",
    *,
    mode: str = "shadow",
    canary_pct: float = 0.5,
) -> str:
    """An active experiment, created as `signalops experiment create` would."""
    from signalops_assets.experiments.service import create_experiment

    with session_scope(engine) as session:
        experiment = create_experiment(session, project_id, primary, canary, canary_pct, mode=mode)
        return experiment.experiment_id
