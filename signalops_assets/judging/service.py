"""Judge the posts that the current judge has not judged (or whose judgment failed), and
store every outcome: one streaming run (see streaming.py), one writer, batched commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from signalops_assets.db.models import Judgment as JudgmentRow
from signalops_assets.db.models import Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.judges import Judgment, RelevanceJudge
from signalops_assets.judging.prompts import PostInput
from signalops_assets.judging.scores import score_judge_labels  # observability (#14)
from signalops_assets.judging.store import StoreResult, store_judgments
from signalops_assets.llm.gateway import run_async
from signalops_assets.streaming import Progress, StreamConfig, run_stream

__all__ = [
    "JudgeRunSummary",
    "PendingFilter",
    "StoreResult",
    "count_given_up",
    "count_pending",
    "judge_pending",
    "pending_posts",
    "store_judgments",
]


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
    recovered: int = 0  # successes that replaced an earlier failure
    superseded: int = 0  # earlier failures replaced by this run's outcome
    duplicates: int = 0  # outcomes dropped: the post already had a success for that judge
    given_up: int = 0  # posts whose judgment failed llm.max_attempts times (after this run)

    def add(self, judgment: Judgment) -> None:
        self.judgments_stored += 1
        if judgment.error or judgment.label is None:
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


@dataclass(frozen=True)
class PendingFilter:
    """Which posts a run judges. Normal runs: no current judgment by the judge, or a failed one
    with fewer than `max_attempts` attempts. `retry_failed`: only posts whose current judgment
    failed (given up or not), optionally with an error containing `error_like`."""

    project_id: str
    done_key: str
    max_attempts: int = 3
    retry_failed: bool = False
    error_like: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _current(done_key: str) -> Any:
    row = aliased(JudgmentRow)
    return row, and_(row.post_id == Post.id, row.judge_key == done_key, row.superseded.is_(False))


def _pending_stmt(spec: PendingFilter) -> Select[Any]:
    row, current = _current(spec.done_key)
    if spec.retry_failed:
        failed = and_(current, row.error.is_not(None))
        if spec.error_like:
            failed = and_(failed, row.error.contains(spec.error_like, autoescape=True))
        todo: ColumnElement[bool] = exists().where(failed)
    else:
        final = or_(row.error.is_(None), row.attempt >= spec.max_attempts)
        todo = ~exists().where(and_(current, final))
    stmt = select(Post).where(Post.project_id == spec.project_id, todo)
    if spec.created_from is not None:
        stmt = stmt.where(Post.created_at >= spec.created_from)
    if spec.created_to is not None:
        stmt = stmt.where(Post.created_at < spec.created_to)
    return stmt


def pending_posts(
    session: Session, spec: PendingFilter, *, after_id: int = 0, limit: int | None = None
) -> list[PostInput]:
    """One page of pending posts, in id order after `after_id` (keyset paging)."""
    stmt = _pending_stmt(spec).where(Post.id > after_id).order_by(Post.id)
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


def count_pending(session: Session, spec: PendingFilter) -> int:
    return int(
        session.scalar(select(func.count()).select_from(_pending_stmt(spec).subquery())) or 0
    )


def count_given_up(session: Session, spec: PendingFilter) -> int:
    """Posts whose current judgment by the judge failed `max_attempts` times or more."""
    row, current = _current(spec.done_key)
    stmt = (
        select(func.count())
        .select_from(Post)
        .where(
            Post.project_id == spec.project_id,
            exists().where(current, row.error.is_not(None), row.attempt >= spec.max_attempts),
        )
    )
    if spec.created_from is not None:
        stmt = stmt.where(Post.created_at >= spec.created_from)
    if spec.created_to is not None:
        stmt = stmt.where(Post.created_at < spec.created_to)
    return int(session.scalar(stmt) or 0)


def judge_pending(
    engine: Engine,
    project_id: str,
    judge: RelevanceJudge,
    *,
    max_concurrency: int = 16,
    limit: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    max_attempts: int = 3,
    retry_failed: bool = False,
    error_like: str | None = None,
    page_size: int = 500,
    commit_rows: int = 100,
    commit_s: float = 2.0,
    progress_s: float = 5.0,
) -> JudgeRunSummary:
    """Judge every pending post (optionally only those created in [created_from, created_to),
    one daily partition), streaming: see `PendingFilter` for which posts, streaming.py for how.
    """
    spec = PendingFilter(
        project_id,
        judge.done_key,
        max_attempts=max_attempts,
        retry_failed=retry_failed,
        error_like=error_like,
        created_from=created_from,
        created_to=created_to,
    )
    summary = JudgeRunSummary(
        judge=judge.description, experiment_id=getattr(judge, "experiment_id", None)
    )
    with session_scope(engine) as session:
        total = count_pending(session, spec)
    if limit:
        total = min(total, limit)
    if total:
        _stream(
            engine,
            spec,
            judge,
            summary,
            total,
            on_progress,
            limit=limit,
            page_size=page_size,
            concurrency=max_concurrency,
            commit_rows=commit_rows,
            commit_s=commit_s,
            progress_s=progress_s,
        )
    with session_scope(engine) as session:
        summary.given_up = count_given_up(session, spec)
    return summary


def _stream(
    engine: Engine,
    spec: PendingFilter,
    judge: RelevanceJudge,
    summary: JudgeRunSummary,
    total: int,
    on_progress: Callable[[Progress], None] | None,
    *,
    limit: int | None,
    page_size: int,
    concurrency: int,
    commit_rows: int,
    commit_s: float,
    progress_s: float,
) -> None:
    from signalops_assets.llm.litellm_setup import warm_litellm

    warm_litellm()  # before the first deadline starts: budgets measure the provider
    cursor = {"after": 0}

    def read_batch() -> list[PostInput]:
        with session_scope(engine) as session:
            page = pending_posts(session, spec, after_id=cursor["after"], limit=page_size)
        if page:
            cursor["after"] = page[-1].post_id
        return page

    def write(groups: list[list[Judgment]]) -> None:
        flat = [j for group in groups for j in group]
        with session_scope(engine) as session:
            stored = store_judgments(session, spec.project_id, flat)
        score_judge_labels(stored.judgments)  # observability (#14): judge_label, once stored
        # Runs in the writer's thread, one write at a time: the summary has a single writer.
        summary.posts_judged += len(groups)
        summary.recovered += stored.recovered
        summary.superseded += stored.superseded
        summary.duplicates += stored.duplicates
        for judgment in stored.judgments:  # not the outcomes dropped as duplicates
            summary.add(judgment)

    config: StreamConfig[PostInput, list[Judgment]] = StreamConfig(
        read_batch=read_batch,
        work=judge.ajudge,
        write=write,
        concurrency=concurrency,
        commit_rows=commit_rows,
        commit_s=commit_s,
        is_failure=lambda group: any(j.error for j in group),
        on_progress=on_progress,
        progress_s=progress_s,
        limit=limit,
    )
    run_async(run_stream(config, total))
