"""One poll of the open batches: the provider's status of each, finished ones ingested
(batch_ingest), then the failed items' retries (batch_retry). The sensor's whole job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select, update

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.batch_models import LLMBatch, LLMBatchItem
from signalops_assets.db.models import utcnow
from signalops_assets.db.session import session_scope
from signalops_assets.errors import ConfigError
from signalops_assets.judging.batch_ingest import PollReport, SettingsFor, ingest
from signalops_assets.judging.batch_retry import recover_submitting, retry_items
from signalops_assets.judging.batches import TERMINAL
from signalops_assets.llm.batch_client import BatchClient
from signalops_assets.llm.loop import run_async
from signalops_assets.llm.settings import LLMSettings
from signalops_assets.redaction import exception_line


def poll_batches(
    engine: Engine,
    settings_for: SettingsFor,
    *,
    project_ids: Sequence[str] | None = None,
    retry_limit: int = 200,
) -> PollReport:
    """One poll: every open batch's status; finished ones ingested; then the failed items'
    retries (at most `retry_limit` judged interactively per poll, so a tick stays short)."""
    report = PollReport()
    with session_scope(engine) as session:
        stmt = select(LLMBatch).where(LLMBatch.closed_at.is_(None))
        if project_ids is not None:
            stmt = stmt.where(LLMBatch.project_id.in_(project_ids))
        rows = list(session.scalars(stmt.order_by(LLMBatch.id)))
        pids = {r.project_id for r in rows}
        pids |= set(
            session.scalars(
                select(LLMBatch.project_id)
                .join(LLMBatchItem, LLMBatchItem.batch_row_id == LLMBatch.id)
                .where(LLMBatchItem.state.in_(("retry", "resubmit")))
                .distinct()
            )
        )
    for project_id in sorted(pids):
        if project_ids is not None and project_id not in project_ids:
            continue
        try:
            project = load_project(project_id)
        except ConfigError as exc:
            report.broken[project_id] = str(exc)
            continue
        mine = [r for r in rows if r.project_id == project_id]
        run_async(_poll_project(engine, project, settings_for(project), mine, report, retry_limit))
    return report


async def _poll_project(
    engine: Engine,
    project: ProjectConfig,
    settings: LLMSettings,
    rows: list[LLMBatch],
    report: PollReport,
    retry_limit: int,
) -> None:
    for row in rows:
        client = BatchClient(row.provider, settings.api_base)
        try:
            if row.batch_id is None:
                await recover_submitting(engine, row, client)
                continue
            row = await refresh(engine, row, client)
            report.polled[row.batch_id or ""] = row.status
            if row.status in TERMINAL:
                await ingest(engine, row, project, client, report)
        except Exception as exc:  # reported; one unreachable batch must not block the others
            report.broken[f"{project.project_id}/{row.batch_id or row.id}"] = exception_line(exc)
    await retry_items(engine, project, settings, report, retry_limit)


async def refresh(engine: Engine, row: LLMBatch, client: BatchClient) -> LLMBatch:
    """The provider's view of one batch, recorded on its row."""
    batch = await client.retrieve(str(row.batch_id))
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    error = "; ".join(f"{getattr(e, 'code', '')}: {getattr(e, 'message', '')}" for e in errors)
    dump = getattr(getattr(batch, "request_counts", None), "model_dump", None)
    values: dict[str, Any] = {
        "status": str(batch.status),
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "error": error[:2000] or None,
        "updated_at": utcnow(),
        "extra": {
            **(row.extra or {}),
            "request_counts": dump() if callable(dump) else None,
        },
    }
    with session_scope(engine) as session:
        session.execute(update(LLMBatch).where(LLMBatch.id == row.id).values(**values))
        fresh = session.get(LLMBatch, row.id)
        assert fresh is not None
        return fresh


def batch_status(
    engine: Engine, ref: str, settings_for: SettingsFor
) -> tuple[LLMBatch, dict[str, int]]:
    """One batch as the provider sees it now (recorded), with its items by state. An open
    batch is refreshed, never ingested: ingesting is the poll's (the sensor's) job."""
    from signalops_assets.judging.batch_records import find_batch, item_states

    with session_scope(engine) as session:
        row = find_batch(session, ref)
    if row.closed_at is None and row.batch_id is not None:
        settings = settings_for(load_project(row.project_id))
        row = run_async(refresh(engine, row, BatchClient(row.provider, settings.api_base)))
    with session_scope(engine) as session:
        return row, item_states(session, row.id)
