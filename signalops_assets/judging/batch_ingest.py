"""Poll open batches and ingest their results through the same writer as interactive judging
(`store_judgments`). Idempotent: an item is ingested only while it is `open`, checked in the
transaction that stores its judgment, so a second poll of a completed batch stores nothing.

A failed or expired item is stored as a failed judgment (history, like any failure), then
retried as the project says (`llm.batch_retry`): `interactive` judges it on the next poll with
the same judge, `resubmit` puts it in a new batch; after `llm.max_attempts` it is given up.
Cancelled items are released (no judgment): the next judged_posts run submits them again."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from signalops_assets.config import ProjectConfig
from signalops_assets.db.batch_models import LLMBatch, LLMBatchItem
from signalops_assets.db.models import utcnow
from signalops_assets.db.session import session_scope
from signalops_assets.judging.judges import JudgeResult, Slot
from signalops_assets.judging.plan import slot_judgment
from signalops_assets.judging.prompts import PostInput
from signalops_assets.judging.store import store_judgments
from signalops_assets.llm.batch_client import BatchClient, batch_cost_usd
from signalops_assets.llm.gateway import LLMResponse
from signalops_assets.llm.settings import LLMSettings

SettingsFor = Callable[[ProjectConfig], LLMSettings]
STORE_ROWS = 500  # items per transaction


@dataclass
class PollReport:
    polled: dict[str, str] = field(default_factory=dict)  # batch id → provider status
    ingested: dict[str, int] = field(default_factory=dict)  # batch id → judgments stored
    stored: int = 0
    failed_items: int = 0
    retried: int = 0  # judged interactively after a batch failure
    resubmitted: list[str] = field(default_factory=list)  # new batch ids
    given_up: int = 0
    released: int = 0  # cancelled items, pending again
    cost_usd: float = 0.0
    broken: dict[str, str] = field(default_factory=dict)  # project (or project/batch) → why

    @property
    def changed(self) -> bool:
        return bool(self.ingested or self.retried or self.resubmitted or self.released)

    def describe(self) -> str:
        if not self.polled and not self.changed and not self.broken:
            return "no open batches"
        unpolled = f"; {len(self.broken)} not polled (see warnings)" if self.broken else ""
        states = ", ".join(f"{b} {s}" for b, s in sorted(self.polled.items()))
        if not self.changed:
            return f"{len(self.polled)} open batches: {states}{unpolled}"
        done = ", ".join(f"{b}: {n}" for b, n in sorted(self.ingested.items()))
        return (
            f"ingested {self.stored} judgments from batches [{done}]; {self.failed_items} items "
            f"failed, {self.retried} retried interactively, resubmitted in "
            f"[{', '.join(self.resubmitted)}], {self.given_up} given up, {self.released} released"
            f"{unpolled}"
        )


def _lines(data: bytes) -> list[dict[str, Any]]:
    out = []
    for raw in data.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:  # a torn line names no item: its item counts as missing
            continue
        if isinstance(line, dict):
            out.append(line)
    return out


def _response(row: LLMBatch, line: dict[str, Any]) -> LLMResponse:
    """The gateway's response shape for one output or error line."""
    response = line.get("response") or {}
    body = response.get("body") or {}
    error = line.get("error") or body.get("error")
    status = response.get("status_code")
    choices = body.get("choices") or []
    if status == 200 and choices and not error:
        usage = body.get("usage") or {}
        return LLMResponse(
            text=str((choices[0].get("message") or {}).get("content") or ""),
            model=row.model,
            latency_ms=0.0,  # no per-call latency in a batch (README: Batch mode)
            cost_usd=batch_cost_usd(row.model, row.provider, usage),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
        )
    detail = error if isinstance(error, dict) else {"message": str(error or "")}
    code = detail.get("code") or (f"HTTP {status}" if status else "error")
    message = f"batch item {code}: {str(detail.get('message', ''))[:300]}"
    return LLMResponse(text="", model=row.model, latency_ms=0.0, cost_usd=None, error=message)


def _missing(row: LLMBatch) -> str:
    if row.status == "failed":
        return f"batch failed: {(row.error or 'no reason given')[:300]}"
    if row.status == "expired":
        return "batch expired before the item ran"
    return "batch item missing from the output file"


def judgment_of(item: LLMBatchItem, model: str, response: LLMResponse) -> JudgeResult:
    """The item's answer as its slot's judgment, exactly as an interactive call would store it
    (same parser, strict where the request carried a schema; the request's prompt version)."""
    post = PostInput(post_id=item.post_id, platform_id="", author="", author_bio="", text="")
    slot = Slot(
        judge_key=item.judge_key,
        model=model,
        prompt_version=item.prompt_version or "",
        experiment_id=item.experiment_id,
        arm=item.arm,
        is_primary=item.is_primary,
    )
    judgment = slot_judgment(post, slot, replace(response, structured=item.structured))
    return replace(judgment, prompt_version=item.prompt_version)


def store_outcomes(
    engine: Engine,
    project: ProjectConfig,
    outcomes: Sequence[tuple[LLMBatchItem, JudgeResult | None]],
    from_state: str,
    report: PollReport,
) -> int:
    """Store the judgments of items still in `from_state` and move each item on, one
    transaction: an item already moved (a second poll) is skipped. Judgments stored."""
    stored = 0
    retry = "retry" if project.llm.batch_retry == "interactive" else "resubmit"
    for start in range(0, len(outcomes), STORE_ROWS):
        part = outcomes[start : start + STORE_ROWS]
        with session_scope(engine) as session:
            still = _still_in(session, part, from_state)
            todo = [(i, j) for i, j in part if (i.batch_row_id, i.custom_id) in still]
            result = store_judgments(session, project.project_id, [j for _, j in todo if j])
            for item, judgment in todo:
                if judgment is None:
                    state = "cancelled"
                    report.released += 1
                elif judgment.error is None or from_state == "retry":
                    state = "done"
                else:
                    report.failed_items += 1
                    tries = result.attempts.get((judgment.post_id, judgment.judge_key), 1)
                    state = "failed" if tries >= project.llm.max_attempts else retry
                    report.given_up += state == "failed"
                _move(session, item, state, judgment.error if judgment else None)
            stored += result.stored
            report.cost_usd += sum(j.cost_usd or 0.0 for j in result.judgments)
    report.stored += stored
    return stored


def _still_in(
    session: Session, part: Sequence[tuple[LLMBatchItem, Any]], state: str
) -> set[tuple[int, str]]:
    rows = session.execute(
        select(LLMBatchItem.batch_row_id, LLMBatchItem.custom_id).where(
            LLMBatchItem.batch_row_id.in_({i.batch_row_id for i, _ in part}),
            LLMBatchItem.custom_id.in_({i.custom_id for i, _ in part}),
            LLMBatchItem.state == state,
        )
    )
    return {(r, c) for r, c in rows}


def _move(session: Session, item: LLMBatchItem, state: str, error: str | None) -> None:
    session.execute(
        update(LLMBatchItem)
        .where(
            LLMBatchItem.batch_row_id == item.batch_row_id,
            LLMBatchItem.custom_id == item.custom_id,
        )
        .values(state=state, error=error)
    )


async def ingest(
    engine: Engine, row: LLMBatch, project: ProjectConfig, client: BatchClient, report: PollReport
) -> None:
    """Download a finished batch's output and error files and store every open item."""
    answers: dict[str, LLMResponse] = {}
    for file_id in (row.output_file_id, row.error_file_id):
        if file_id:
            for line in _lines(await client.content(file_id)):
                answers[str(line.get("custom_id"))] = _response(row, line)
    with session_scope(engine) as session:
        items = list(
            session.scalars(
                select(LLMBatchItem).where(
                    LLMBatchItem.batch_row_id == row.id, LLMBatchItem.state == "open"
                )
            )
        )
    missing = LLMResponse(text="", model=row.model, latency_ms=0.0, cost_usd=None)
    outcomes: list[tuple[LLMBatchItem, JudgeResult | None]] = []
    for item in items:
        answer = answers.get(item.custom_id)
        if answer is None and row.status == "cancelled":
            outcomes.append((item, None))  # never ran: released, not a failure
            continue
        answer = answer or replace(missing, error=_missing(row))
        outcomes.append((item, judgment_of(item, row.model, answer)))
    stored = store_outcomes(engine, project, outcomes, "open", report)
    report.ingested[str(row.batch_id)] = stored
    with session_scope(engine) as session:
        session.execute(
            update(LLMBatch)
            .where(LLMBatch.id == row.id)
            .values(closed_at=utcnow(), updated_at=utcnow())
        )
