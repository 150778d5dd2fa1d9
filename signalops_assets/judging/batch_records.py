"""Reading and cancelling recorded batches (the CLI; the poller's status refresh)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from signalops_assets.db.batch_models import LLMBatch, LLMBatchItem
from signalops_assets.db.models import utcnow
from signalops_assets.db.session import session_scope
from signalops_assets.errors import NotFoundError, SignalOpsError
from signalops_assets.llm.batch_client import BatchClient
from signalops_assets.llm.loop import run_async
from signalops_assets.llm.settings import LLMSettings


def list_batches(
    session: Session, project_id: str | None = None, open_only: bool = False
) -> list[LLMBatch]:
    stmt = select(LLMBatch).order_by(LLMBatch.id.desc())
    if project_id:
        stmt = stmt.where(LLMBatch.project_id == project_id)
    if open_only:
        stmt = stmt.where(LLMBatch.closed_at.is_(None))
    return list(session.scalars(stmt))


def find_batch(session: Session, ref: str) -> LLMBatch:
    """A batch by the provider's id or by our row id."""
    row = session.scalar(select(LLMBatch).where(LLMBatch.batch_id == ref))
    if row is None and ref.isdigit() and int(ref) < 2**31:
        row = session.get(LLMBatch, int(ref))
    if row is None:
        raise NotFoundError(f"no batch {ref!r} (see: signalops batches list)")
    return row


def item_states(session: Session, row_id: int) -> dict[str, int]:
    rows = session.execute(
        select(LLMBatchItem.state, func.count())
        .where(LLMBatchItem.batch_row_id == row_id)
        .group_by(LLMBatchItem.state)
    )
    return {state: int(n) for state, n in rows}


def cancel_batch(engine: Engine, ref: str, settings_for: Callable[[str], LLMSettings]) -> str:
    """Ask the provider to cancel; the poller ingests what finished and releases the rest
    (those posts are pending again). The provider's new status."""
    with session_scope(engine) as session:
        row = find_batch(session, ref)
        if row.closed_at is not None or row.batch_id is None:
            raise SignalOpsError(f"batch {ref} is {row.status} and closed: nothing to cancel")
        batch_id, provider, project_id = row.batch_id, row.provider, row.project_id
    api_base = settings_for(project_id).api_base
    batch = run_async(BatchClient(provider, api_base).cancel(batch_id))
    with session_scope(engine) as session:
        session.execute(
            update(LLMBatch)
            .where(LLMBatch.batch_id == batch_id)
            .values(status=str(batch.status), updated_at=utcnow())
        )
    return str(batch.status)
