"""One project's pending posts judged with its configured judge and LLM settings: the step
`judged_posts` and `signalops judgments retry` share (each adds its own reporting)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from signalops_assets.config import ProjectConfig
from signalops_assets.db.session import session_scope
from signalops_assets.judging.factory import create_judge
from signalops_assets.judging.judges import RelevanceJudge
from signalops_assets.judging.service import judge_pending
from signalops_assets.judging.summary import JudgeRunSummary
from signalops_assets.llm.settings import LLMSettings
from signalops_assets.posts import ensure_project
from signalops_assets.streaming import Progress


def project_judge(engine: Engine, project: ProjectConfig, settings: LLMSettings) -> RelevanceJudge:
    """The project's current judge (experiment arms, fine-tune or prompt), the project row
    created first if this database has never seen it."""
    with session_scope(engine) as session:
        ensure_project(session, project)
        return create_judge(session, settings.gateway(), project)


def judge_project(
    engine: Engine,
    project: ProjectConfig,
    settings: LLMSettings,
    judge: RelevanceJudge,
    *,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    retry_failed: bool = False,
    error_like: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> JudgeRunSummary:
    """`judge_pending` with the project's concurrency, processes and attempt limit, over the
    partition window (if any); retry_failed/error_like as `signalops judgments retry` asks."""
    return judge_pending(
        engine,
        project.project_id,
        judge,
        max_concurrency=settings.max_concurrency,
        processes=settings.processes,
        max_attempts=project.llm.max_attempts,
        created_from=created_from,
        created_to=created_to,
        retry_failed=retry_failed,
        error_like=error_like,
        on_progress=on_progress,
    )
