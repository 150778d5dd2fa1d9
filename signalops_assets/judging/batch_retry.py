"""What happens to a batch item that failed (llm.batch_retry), and to a row whose submission
was interrupted before the provider's batch id was recorded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, select, update

from signalops_assets.config import ProjectConfig
from signalops_assets.db.batch_models import LLMBatch, LLMBatchItem
from signalops_assets.db.models import Post, utcnow
from signalops_assets.db.session import session_scope
from signalops_assets.judging.batch_requests import Entry, chunked
from signalops_assets.judging.judges import JudgeResult, RelevanceJudge, Slot
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.batch_client import BatchClient
from signalops_assets.llm.settings import LLMSettings

if TYPE_CHECKING:
    from signalops_assets.judging.batch_ingest import PollReport

# A row still `submitting` after this long was interrupted (a submission takes seconds).
STALE_SUBMITTING = timedelta(minutes=15)


def _waiting(
    engine: Engine, project_id: str, state: str, limit: int | None
) -> list[tuple[LLMBatchItem, str, PostInput]]:
    """Items of the project in `state`, with their batch's model and their post."""
    with session_scope(engine) as session:
        stmt = (
            select(LLMBatchItem, LLMBatch.model, Post)
            .join(LLMBatch, LLMBatch.id == LLMBatchItem.batch_row_id)
            .join(Post, Post.id == LLMBatchItem.post_id)
            .where(LLMBatch.project_id == project_id, LLMBatchItem.state == state)
            .order_by(LLMBatchItem.batch_row_id, LLMBatchItem.custom_id)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        return [
            (item, model, PostInput(p.id, p.platform_id, p.author, p.author_bio, p.text))
            for item, model, p in session.execute(stmt)
        ]


async def retry_items(
    engine: Engine,
    project: ProjectConfig,
    settings: LLMSettings,
    report: PollReport,
    limit: int,
) -> None:
    from signalops_assets.judging.batch_ingest import store_outcomes
    from signalops_assets.judging.factory import single_model_judge
    from signalops_assets.judging.few_shot import few_shot_examples

    gateway = settings.gateway()
    with session_scope(engine) as session:
        examples = few_shot_examples(session, project.project_id, project.llm.few_shot)
    judges: dict[str, RelevanceJudge] = {}

    def slot_for(item: LLMBatchItem, model: str, post: PostInput) -> tuple[RelevanceJudge, Slot]:
        """The item's slot with today's prompt: a retry is a new request, built as now."""
        if model not in judges:
            judges[model] = single_model_judge(gateway, project, model, examples)
        judge = judges[model]
        (own,) = judge.slots(post)  # a single-model judge owes a post one judgment
        slot = replace(
            own,
            judge_key=item.judge_key,
            experiment_id=item.experiment_id,
            arm=item.arm,
            is_primary=item.is_primary,
        )
        return judge, slot

    waiting = _waiting(engine, project.project_id, "retry", limit)
    if waiting:
        calls = asyncio.Semaphore(settings.max_concurrency)

        async def one(item: LLMBatchItem, model: str, post: PostInput) -> JudgeResult:
            judge, slot = slot_for(item, model, post)
            async with calls:
                judged = await judge.ajudge_slot(post, slot)
            return replace(
                judged, experiment_id=item.experiment_id, arm=item.arm, is_primary=item.is_primary
            )

        judged = await asyncio.gather(*(one(i, m, p) for i, m, p in waiting))
        outcomes = [(item, j) for (item, _, _), j in zip(waiting, judged, strict=True)]
        store_outcomes(engine, project, outcomes, "retry", report)
        report.retried += len(outcomes)
    resubmit = _waiting(engine, project.project_id, "resubmit", None)
    if resubmit:
        from signalops_assets.judging.batches import asubmit_chunk
        from signalops_assets.judging.plan import slot_request

        entries = []
        for item, model, post in resubmit:
            judge, slot = slot_for(item, model, post)
            entries.append(Entry(post, slot, _n(item), slot_request(judge, post, slot)))
        replaced = {
            (e.post.post_id, e.slot.judge_key): i
            for e, (i, _, _) in zip(entries, resubmit, strict=True)
        }
        limits = project.llm
        for chunk in chunked(
            iter(entries),
            gateway,
            max_requests=limits.batch_max_requests,
            max_bytes=limits.batch_max_bytes,
        ):
            olds = [replaced[(e.post.post_id, e.slot.judge_key)] for e in chunk.entries]
            old_keys = [(o.batch_row_id, o.custom_id) for o in olds]
            report.resubmitted.append(
                await asubmit_chunk(engine, project.project_id, chunk, settings, old_keys)
            )


def _n(item: LLMBatchItem) -> int:
    tail = item.custom_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def recover_submitting(engine: Engine, row: LLMBatch, client: BatchClient) -> None:
    """A row left `submitting` by a crash: adopt the provider's batch that names it, or, when
    the provider has none, release its items (their posts are pending again)."""
    from signalops_assets.judging.batches import ROW_KEY

    created = (
        row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=utcnow().tzinfo)
    )
    if utcnow() - created < STALE_SUBMITTING:
        return
    batch = await client.find(ROW_KEY, str(row.id))
    with session_scope(engine) as session:
        if batch is not None:
            session.execute(
                update(LLMBatch)
                .where(LLMBatch.id == row.id)
                .values(
                    batch_id=str(batch.id),
                    status=str(batch.status),
                    input_file_id=batch.input_file_id,
                    updated_at=utcnow(),
                )
            )
            return
        session.execute(delete(LLMBatchItem).where(LLMBatchItem.batch_row_id == row.id))
        session.execute(delete(LLMBatch).where(LLMBatch.id == row.id))
