"""Draft a reply to each relevant post through the gateway, storing the exact prompt sent.

The review state machine (approve / edit / reject / mark_sent) lives in `review.py` and is
re-exported here, so callers have one module for "drafts".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, exists, select
from sqlalchemy.orm import Session

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, Judgment, Post, utcnow
from signalops_assets.db.session import session_scope
from signalops_assets.db.writes import insert_ignore
from signalops_assets.judging.acted_on import acted_on_judgment_ids
from signalops_assets.judging.prompts import UNTRUSTED_RULE, PostInput, judge_user_prompt
from signalops_assets.llm.gateway import LLMGateway, LLMRequest
from signalops_assets.llm.loop import run_async
from signalops_assets.preferences.review import approve, edit, mark_sent, reject
from signalops_assets.streaming import Progress, StreamConfig, run_stream

__all__ = [
    "DraftResult",
    "DraftRunSummary",
    "LLMDraftGenerator",
    "approve",
    "draft_pending",
    "edit",
    "mark_sent",
    "reject",
]

DRAFT_GUIDANCE = (
    "Write one short reply (at most 120 words) to the social-media post in the user message, "
    f"addressed to its author. {UNTRUSTED_RULE} "
    "Answer with the reply text only: no preamble, no quotes."
)


def draft_messages(project: ProjectConfig, post: PostInput) -> list[dict[str, str]]:
    """System: persona + guidance; user: the author line and the delimited post, in the same
    format the judge saw (shared, so a post is always presented one way)."""
    system = f"{project.persona.strip()}\n\n{DRAFT_GUIDANCE}".strip()
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": judge_user_prompt(post)},
    ]


@dataclass(frozen=True)
class DraftResult:
    post_id: int
    prompt: str  # the JSON messages list exactly as sent
    text: str
    model_id: str
    error: str | None = None
    cost_usd: float | None = None
    trace_id: str | None = None  # Langfuse trace and generation of the call (tracing on)
    observation_id: str | None = None


class DraftGenerator(Protocol):
    model: str

    async def agenerate(self, post: PostInput) -> DraftResult: ...


class LLMDraftGenerator:
    def __init__(
        self,
        gateway: LLMGateway,
        project: ProjectConfig,
        model: str | None = None,
        fallbacks: tuple[str, ...] = (),
    ) -> None:
        self.gateway = gateway
        self.project = project
        self.model = model or project.llm.draft_model
        self.fallbacks = fallbacks

    def request(self, post: PostInput) -> LLMRequest:
        return LLMRequest(
            model=self.model,
            messages=draft_messages(self.project, post),
            temperature=self.project.llm.temperature,
            max_tokens=self.project.llm.max_tokens,
            fallbacks=self.fallbacks,
            trace_name="draft_llm_call",
        )

    async def agenerate(self, post: PostInput) -> DraftResult:
        request = self.request(post)
        with self.gateway.tracer.span(
            "generate_draft", input={"post_id": post.post_id}, tags=["drafts"]
        ) as span:
            response = await self.gateway.acomplete(request)
            text = response.text.strip()
            error = response.error or (None if text else "empty draft")
            span.update(output={"chars": len(text), "error": error})
        return DraftResult(
            trace_id=span.trace_id,
            observation_id=span.generation_id,
            post_id=post.post_id,
            prompt=json.dumps([dict(m) for m in request.messages], ensure_ascii=False),
            text=text,
            model_id=response.model,
            error=error,
            cost_usd=response.cost_usd,
        )


@dataclass
class DraftRunSummary:
    model: str
    candidates: int = 0
    drafted: int = 0
    already_drafted: int = 0  # a concurrent run drafted the post first
    failures: int = 0
    errors: list[str] = field(default_factory=list)  # the first few, one line each
    models: Counter[str] = field(default_factory=Counter)
    total_cost_usd: float = 0.0


def relevant_posts_without_draft(
    session: Session, project_id: str, limit: int | None = None, *, after_id: int = 0
) -> list[tuple[PostInput, int]]:
    """(post, judgment id) for posts whose acted-on judgment (the latest primary one without
    an error) says relevant and that have no draft yet."""
    latest = acted_on_judgment_ids(project_id)
    has_draft = exists().where(Draft.post_id == Post.id, Draft.project_id == project_id)
    stmt = (
        select(Post, Judgment.id)
        .join(Judgment, Judgment.post_id == Post.id)
        .join(latest, latest.c.judgment_id == Judgment.id)
        .where(Judgment.label == "relevant", ~has_draft, Post.id > after_id)
        .order_by(Post.id)
    )
    if limit:
        stmt = stmt.limit(limit)
    return [
        (PostInput(p.id, p.platform_id, p.author, p.author_bio, p.text), judgment_id)
        for p, judgment_id in session.execute(stmt)
    ]


def _store(session: Session, project_id: str, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    return insert_ignore(session, Draft, rows, ["post_id", "project_id"])


def draft_pending(
    engine: Engine,
    project_id: str,
    generator: DraftGenerator,
    max_concurrency: int = 16,
    *,
    limit: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    page_size: int = 500,
    commit_rows: int = 100,
    commit_s: float = 2.0,
    progress_s: float = 5.0,
) -> DraftRunSummary:
    """Draft every relevant post without a draft, on the same streaming engine as judging.
    Idempotent (unique per post and project); failed calls are counted and reported, never
    stored as drafts."""
    summary = DraftRunSummary(model=generator.model)
    cursor = {"after": 0}

    def read_batch() -> list[tuple[PostInput, int]]:
        with session_scope(engine) as session:
            page = relevant_posts_without_draft(
                session, project_id, page_size, after_id=cursor["after"]
            )
        if page:
            cursor["after"] = page[-1][0].post_id
        summary.candidates += len(page)
        return page

    async def work(item: tuple[PostInput, int]) -> tuple[int, DraftResult]:
        return item[1], await generator.agenerate(item[0])

    def write(results: list[tuple[int, DraftResult]]) -> None:
        rows = []
        for judgment_id, result in results:
            summary.total_cost_usd += result.cost_usd or 0.0
            if result.error:
                summary.failures += 1
                if len(summary.errors) < 5:
                    summary.errors.append(f"post {result.post_id}: {result.error}")
                continue
            summary.models[result.model_id] += 1
            now = utcnow()
            rows.append(
                {
                    "post_id": result.post_id,
                    "project_id": project_id,
                    "judgment_id": judgment_id,
                    "model_id": result.model_id,
                    "prompt": result.prompt,
                    "text_generated": result.text,
                    "text_final": None,
                    "status": "pending",
                    "created_at": now,
                    "updated_at": now,
                    "trace_id": result.trace_id,
                    "observation_id": result.observation_id,
                }
            )
        with session_scope(engine) as session:
            stored = _store(session, project_id, rows)
        summary.drafted += stored
        summary.already_drafted += len(rows) - stored

    config: StreamConfig[tuple[PostInput, int], tuple[int, DraftResult]] = StreamConfig(
        read_batch=read_batch,
        work=work,
        write=write,
        concurrency=max_concurrency,
        commit_rows=commit_rows,
        commit_s=commit_s,
        is_failure=lambda item: item[1].error is not None,
        on_progress=on_progress,
        progress_s=progress_s,
        limit=limit,
    )
    run_async(run_stream(config))
    if limit is not None:
        summary.candidates = min(summary.candidates, limit)
    return summary
