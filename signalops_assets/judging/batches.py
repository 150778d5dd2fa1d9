"""Batch mode (llm.mode: batch): submit pending posts to the provider's batch API, and keep in
the database which posts each open batch holds, so a re-run never submits a post twice.

The rows are written before the provider is called (status `submitting`, no batch id): a crash
between the provider's answer and our commit leaves a row the poller can match to the provider's
batch by its metadata (`signalops_batch_row`), never a paid batch nobody knows about.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from signalops_assets.config import ProjectConfig
from signalops_assets.db.batch_models import LLMBatch, LLMBatchItem
from signalops_assets.db.models import utcnow
from signalops_assets.db.session import session_scope
from signalops_assets.errors import SignalOpsError
from signalops_assets.judging.batch_requests import (
    Chunk,
    Entry,
    batch_models,
    chunked,
    provider_of,
)
from signalops_assets.judging.judges import RelevanceJudge
from signalops_assets.judging.service import pending_filter, pending_posts
from signalops_assets.llm.batch_client import BatchClient
from signalops_assets.llm.loop import run_async
from signalops_assets.llm.settings import LLMSettings

# Items that still hold their post: at the provider, or failed and waiting for their retry.
HELD_STATES = ("open", "retry", "resubmit")
TERMINAL = ("completed", "failed", "expired", "cancelled")
ROW_KEY = "signalops_batch_row"  # the provider-side metadata naming our row


class BatchSubmitError(SignalOpsError):
    pass


@dataclass
class BatchSubmission:
    posts: int = 0
    requests: int = 0
    batches: list[str] = field(default_factory=list)
    held: int = 0  # pending posts left alone: already in an open batch
    reused: int = 0  # judgments of the same model and prompt version reused: no request

    def describe(self) -> str:
        held = f"; {self.held} posts already in open batches" if self.held else ""
        reused = f"; {self.reused} judgments reused (no request)" if self.reused else ""
        return (
            f"submitted {self.posts} posts ({self.requests} requests) in batches "
            f"[{', '.join(self.batches)}]{held}{reused}"
        )


def held_posts(session: Session, post_ids: Sequence[int], judge_keys: Iterable[str]) -> set[int]:
    """Of `post_ids`, those with an item for one of `judge_keys` in an open batch."""
    if not post_ids:
        return set()
    rows = session.scalars(
        select(LLMBatchItem.post_id).where(
            LLMBatchItem.post_id.in_(post_ids),
            LLMBatchItem.judge_key.in_(set(judge_keys)),
            LLMBatchItem.state.in_(HELD_STATES),
        )
    )
    return set(rows)


def submit_pending(
    engine: Engine,
    project: ProjectConfig,
    judge: RelevanceJudge,
    settings: LLMSettings,
    *,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    page_size: int = 1000,
) -> BatchSubmission | str:
    """Submit every pending post not already in an open batch; the reason as a string when
    this judge cannot run as a batch (a local model, a provider without a batch API). A slot
    that an earlier judgment of the same model and prompt version answers reuses it, stored at
    once, exactly as interactive judging does: only the remaining calls go to the provider."""
    from signalops_assets.judging.plan import Policy, plan_post, slot_request, work_items
    from signalops_assets.judging.store import store_judgments

    models = batch_models(judge)
    if isinstance(models, str):
        return models
    spec = pending_filter(
        project.project_id,
        judge,
        max_attempts=project.llm.max_attempts,
        created_from=created_from,
        created_to=created_to,
    )
    keys = [key for key, _ in spec.keys]
    policy = Policy(max_attempts=project.llm.max_attempts)
    submission = BatchSubmission()

    def entries() -> Iterator[Entry]:
        after = 0
        while True:
            with session_scope(engine) as session:
                page = pending_posts(session, spec, after_id=after, limit=page_size)
                busy = held_posts(session, [p.post_id for p in page], keys)
                free = [p for p in page if p.post_id not in busy]
                plans = [
                    plan_post(judge, item, policy) for item in work_items(session, judge, free)
                ]
                reused = [j for plan in plans for j in plan.reused]
                submission.reused += store_judgments(session, project.project_id, reused).stored
            if not page:
                return
            after = page[-1].post_id
            submission.held += len(page) - len(free)
            for plan in plans:
                submission.posts += bool(plan.calls)
                for index, slot in enumerate(plan.calls):
                    request = slot_request(judge, plan.post, slot)
                    yield Entry(plan.post, slot, index, request)

    limits = project.llm
    gateway = settings.gateway()
    for chunk in chunked(
        entries(),
        gateway,
        max_requests=limits.batch_max_requests,
        max_bytes=limits.batch_max_bytes,
    ):
        submission.batches.append(submit_chunk(engine, project.project_id, chunk, settings))
        submission.requests += len(chunk.entries)
    return submission


def submit_chunk(
    engine: Engine,
    project_id: str,
    chunk: Chunk,
    settings: LLMSettings,
    replaces: Sequence[tuple[int, str]] = (),
) -> str:
    batch_id: str = run_async(asubmit_chunk(engine, project_id, chunk, settings, replaces))
    return batch_id


async def asubmit_chunk(
    engine: Engine,
    project_id: str,
    chunk: Chunk,
    settings: LLMSettings,
    replaces: Sequence[tuple[int, str]] = (),
) -> str:
    """Record the batch and its items, then upload and create it; the provider's batch id.
    `replaces` (row id, custom id) are failed items this batch resubmits: marked in the same
    transaction, and put back if the provider refuses."""
    provider, _ = provider_of(chunk.model)
    with session_scope(engine) as session:
        row = LLMBatch(
            project_id=project_id,
            provider=provider,
            model=chunk.model,
            status="submitting",
            requests=len(chunk.entries),
            extra={"bytes": chunk.size},
        )
        session.add(row)
        session.flush()
        row_id = row.id
        session.add_all(
            LLMBatchItem(
                batch_row_id=row_id,
                custom_id=e.custom_id,
                post_id=e.post.post_id,
                judge_key=e.slot.judge_key,
                experiment_id=e.slot.experiment_id,
                arm=e.slot.arm,
                is_primary=e.slot.is_primary,
                prompt_version=e.slot.prompt_version,
                structured=structured,
                state="open",
            )
            for e, structured in zip(chunk.entries, chunk.structured, strict=True)
        )
        _set_states(session, replaces, "resubmitted")
    client = BatchClient(provider, settings.api_base)
    try:
        file_id = await client.upload(chunk.rewound())
        batch = await client.create(file_id, {ROW_KEY: str(row_id), "project": project_id})
    except Exception as exc:  # the provider refused: nothing of this chunk stays recorded
        with session_scope(engine) as session:
            session.execute(delete(LLMBatchItem).where(LLMBatchItem.batch_row_id == row_id))
            session.execute(delete(LLMBatch).where(LLMBatch.id == row_id))
            _set_states(session, replaces, "resubmit")
        from signalops_assets.redaction import exception_line

        raise BatchSubmitError(
            f"{chunk.model}: batch submission failed: {exception_line(exc)}"
        ) from None
    with session_scope(engine) as session:
        session.execute(
            update(LLMBatch)
            .where(LLMBatch.id == row_id)
            .values(
                batch_id=str(batch.id),
                input_file_id=file_id,
                status=str(batch.status),
                updated_at=utcnow(),
            )
        )
    return str(batch.id)


def _set_states(session: Session, items: Sequence[tuple[int, str]], state: str) -> None:
    for row_id, custom_id in items:
        session.execute(
            update(LLMBatchItem)
            .where(LLMBatchItem.batch_row_id == row_id, LLMBatchItem.custom_id == custom_id)
            .values(state=state)
        )
