"""Judge the posts that the current judge has not judged yet, and store every outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import Engine, exists, select
from sqlalchemy.orm import Session

from signalops_assets.db.models import ABResult, Post
from signalops_assets.db.models import Judgment as JudgmentRow
from signalops_assets.db.session import session_scope
from signalops_assets.judging.judges import Judgment, RelevanceJudge
from signalops_assets.judging.prompts import PostInput
from signalops_assets.judging.scores import score_judge_labels  # observability (#14)
from signalops_assets.llm.gateway import run_async


@dataclass
class JudgeRunSummary:
    judge: str
    posts_judged: int = 0
    judgments_stored: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    total_cost_usd: float = 0.0
    unknown_cost: int = 0
    models: dict[str, int] = field(default_factory=dict)
    arms: dict[str, int] = field(default_factory=dict)
    experiment_id: str | None = None

    def add(self, judgment: Judgment) -> None:
        self.judgments_stored += 1
        if judgment.error:
            self.failures += 1
        else:
            self.labels[judgment.label] = self.labels.get(judgment.label, 0) + 1
        self.latencies_ms.append(judgment.latency_ms)
        if judgment.cost_usd is None:
            self.unknown_cost += 1
        else:
            self.total_cost_usd += judgment.cost_usd
        self.models[judgment.model_id] = self.models.get(judgment.model_id, 0) + 1
        if judgment.arm:
            self.arms[judgment.arm] = self.arms.get(judgment.arm, 0) + 1

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]


def pending_posts(
    session: Session,
    project_id: str,
    done_key: str,
    limit: int | None = None,
    *,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> list[PostInput]:
    """Posts the judge has not judged; with a window, only those created in [from, to)."""
    judged = exists().where(JudgmentRow.post_id == Post.id, JudgmentRow.judge_key == done_key)
    stmt = select(Post).where(Post.project_id == project_id, ~judged).order_by(Post.id)
    if created_from is not None:
        stmt = stmt.where(Post.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Post.created_at < created_to)
    if limit:
        stmt = stmt.limit(limit)
    return [
        PostInput(
            post_id=p.id,
            platform_id=p.platform_id,
            author=p.author,
            author_bio=p.author_bio,
            text=p.text,
        )
        for p in session.scalars(stmt)
    ]


def store_judgments(session: Session, project_id: str, judgments: Sequence[Judgment]) -> None:
    """Judgment rows, and their ab_results rows referencing the real ids, in one transaction."""
    for judgment in judgments:
        row = JudgmentRow(project_id=project_id, **asdict(judgment))
        session.add(row)
        session.flush()  # assigns row.id for the ab_results reference
        if judgment.experiment_id and judgment.arm:
            session.add(
                ABResult(
                    experiment_id=judgment.experiment_id,
                    judgment_id=row.id,
                    post_id=judgment.post_id,
                    arm=judgment.arm,
                    model_id=judgment.model_id,
                    latency_ms=judgment.latency_ms,
                    cost_usd=judgment.cost_usd,
                )
            )


def judge_pending(
    engine: Engine,
    project_id: str,
    judge: RelevanceJudge,
    *,
    max_concurrency: int = 16,
    chunk_size: int = 64,
    limit: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> JudgeRunSummary:
    """Judge every pending post (optionally only those created in [created_from, created_to),
    one daily partition); commits per chunk so a crash keeps finished work."""
    with session_scope(engine) as session:
        posts = pending_posts(
            session,
            project_id,
            judge.done_key,
            limit,
            created_from=created_from,
            created_to=created_to,
        )
    summary = JudgeRunSummary(
        judge=judge.description, experiment_id=getattr(judge, "experiment_id", None)
    )

    async def run() -> None:
        semaphore = asyncio.Semaphore(max_concurrency)

        async def one(post: PostInput) -> list[Judgment]:
            async with semaphore:
                return await judge.ajudge(post)

        for start in range(0, len(posts), chunk_size):
            chunk = posts[start : start + chunk_size]
            results = await asyncio.gather(*(one(p) for p in chunk))
            flat = [j for group in results for j in group]
            with session_scope(engine) as session:
                store_judgments(session, project_id, flat)
            score_judge_labels(flat)  # observability (#14): judge_label scores, once stored
            summary.posts_judged += len(chunk)
            for judgment in flat:
                summary.add(judgment)
            if on_progress:
                on_progress(summary.posts_judged, len(posts))

    if posts:
        run_async(run())
    return summary
