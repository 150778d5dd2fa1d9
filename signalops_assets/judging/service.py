"""Judge the posts that the current judge has not judged (or whose judgment failed), and
store every outcome: one streaming run (see streaming.py), one writer, batched commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.judges import JudgeResult, RelevanceJudge
from signalops_assets.judging.plan import Policy, WorkItem, plan_post, run_plan, work_items
from signalops_assets.judging.prompts import PostInput
from signalops_assets.judging.scores import score_judge_labels  # observability (#14)
from signalops_assets.judging.store import StoreResult, store_judgments
from signalops_assets.judging.summary import JudgeRunSummary
from signalops_assets.streaming import Progress, StreamConfig, stream

__all__ = [
    "JudgeRunSummary",
    "PendingFilter",
    "StoreResult",
    "count_given_up",
    "count_pending",
    "judge_pending",
    "pending_filter",
    "pending_posts",
    "store_judgments",
]


@dataclass(frozen=True)
class PendingFilter:
    """Which posts a run judges: those with a key (one per judgment the judge owes a post; two
    in shadow mode) that has no current success of an accepted prompt version (or of an
    unknown, NULL, one: judged before versions were recorded), nor a failure that used up
    `max_attempts`. `retry_failed`: only posts with a current failure under a key (given up or
    not), optionally with an error containing `error_like`."""

    project_id: str
    # judge_key -> the prompt versions whose success there counts as done (judge.versions()).
    keys: tuple[tuple[str, frozenset[str]], ...]
    max_attempts: int = 3
    retry_failed: bool = False
    error_like: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def pending_filter(project_id: str, judge: RelevanceJudge, **options: Any) -> PendingFilter:
    """The posts `judge` still owes a judgment (options: PendingFilter's fields)."""
    return PendingFilter(project_id, tuple(sorted(judge.versions().items())), **options)


def _current(key: str) -> Any:
    row = aliased(Judgment)
    return row, and_(row.post_id == Post.id, row.judge_key == key, row.superseded.is_(False))


def _new_version_failures(key: str, versions: frozenset[str]) -> tuple[Any, ColumnElement[bool]]:
    """Failures of a current prompt version kept as history under an older success (see
    store_judgments: a failure never replaces a success)."""
    row = aliased(Judgment)
    return row, and_(
        row.post_id == Post.id,
        row.judge_key == key,
        row.superseded.is_(True),
        row.error.is_not(None),
        row.prompt_version.in_(sorted(versions)),
    )


def _done(row: Any, versions: frozenset[str]) -> ColumnElement[bool]:
    return and_(
        row.error.is_(None),
        or_(row.prompt_version.is_(None), row.prompt_version.in_(sorted(versions))),
    )


def _behind(row: Any, current: ColumnElement[bool], versions: frozenset[str]) -> Any:
    """The current row is a success of an older prompt version."""
    return exists().where(current, row.error.is_(None), ~_done(row, versions))


def _given_up_behind(spec: PendingFilter, key: str, versions: frozenset[str]) -> Any:
    """A current prompt version failed max_attempts times under an older version's success."""
    row, current = _current(key)
    tried, tried_on = _new_version_failures(key, versions)
    return and_(
        _behind(row, current, versions),
        exists().where(tried_on, tried.attempt >= spec.max_attempts),
    )


def _key_todo(spec: PendingFilter, key: str, versions: frozenset[str]) -> ColumnElement[bool]:
    row, current = _current(key)
    if spec.retry_failed:
        tried, tried_on = _new_version_failures(key, versions)
        failed = and_(current, row.error.is_not(None))
        if spec.error_like:
            failed = and_(failed, row.error.contains(spec.error_like, autoescape=True))
            tried_on = and_(tried_on, tried.error.contains(spec.error_like, autoescape=True))
        behind = and_(_behind(row, current, versions), exists().where(tried_on))
        return or_(exists().where(failed), behind)
    final = or_(
        _done(row, versions), and_(row.error.is_not(None), row.attempt >= spec.max_attempts)
    )
    return and_(~exists().where(and_(current, final)), ~_given_up_behind(spec, key, versions))


def _pending_stmt(spec: PendingFilter) -> Select[Any]:
    todo = or_(*(_key_todo(spec, key, versions) for key, versions in spec.keys))
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
    """Posts with a current judgment by the judge that failed `max_attempts` times or more."""
    gave_up: list[ColumnElement[bool]] = []
    for key, versions in spec.keys:
        row, current = _current(key)
        gave_up.append(
            exists().where(current, row.error.is_not(None), row.attempt >= spec.max_attempts)
        )
        gave_up.append(_given_up_behind(spec, key, versions))
    stmt = (
        select(func.count())
        .select_from(Post)
        .where(Post.project_id == spec.project_id, or_(*gave_up))
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
    processes: int = 1,
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
    spec = pending_filter(
        project_id,
        judge,
        max_attempts=max_attempts,
        retry_failed=retry_failed,
        error_like=error_like,
        created_from=created_from,
        created_to=created_to,
    )
    summary = JudgeRunSummary(judge=judge.description, experiment_id=judge.experiment_id)
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
            processes=processes,
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
    processes: int,
    commit_rows: int,
    commit_s: float,
    progress_s: float,
) -> None:
    from signalops_assets.llm.litellm_setup import warm_litellm

    warm_litellm()  # before the first deadline starts: budgets measure the provider
    cursor = {"after": 0}
    policy = Policy(max_attempts=spec.max_attempts, retry_failed=spec.retry_failed)

    def read_batch() -> list[WorkItem]:
        with session_scope(engine) as session:
            page = pending_posts(session, spec, after_id=cursor["after"], limit=page_size)
            items = work_items(session, judge, page)
        if page:
            cursor["after"] = page[-1].post_id
        return items

    async def work(item: WorkItem) -> list[JudgeResult]:
        return await run_plan(judge, plan_post(judge, item, policy))

    def write(groups: list[list[JudgeResult]]) -> None:
        flat = [j for group in groups for j in group]
        with session_scope(engine) as session:
            stored = store_judgments(session, spec.project_id, flat)
        # observability (#14): judge_label once stored; a reused judgment's trace has it already
        score_judge_labels([j for j in stored.judgments if j.reused_from_id is None])
        # Runs in the writer's thread, one write at a time: the summary has a single writer.
        summary.posts_judged += len(groups)
        summary.recovered += stored.recovered
        summary.superseded += stored.superseded
        summary.duplicates += stored.duplicates
        for judgment in stored.judgments:  # not the outcomes dropped as duplicates
            summary.add(judgment)

    config: StreamConfig[WorkItem, list[JudgeResult]] = StreamConfig(
        read_batch=read_batch,
        work=work,
        write=write,
        concurrency=concurrency,
        processes=processes,
        commit_rows=commit_rows,
        commit_s=commit_s,
        is_failure=lambda group: any(j.error for j in group),
        on_progress=on_progress,
        progress_s=progress_s,
        limit=limit,
    )
    summary.calls_in_workers = stream(config, total).calls_in_workers
