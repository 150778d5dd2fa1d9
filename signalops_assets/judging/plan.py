"""What judging one post takes: for each judgment the judge owes it (a `Slot`), either nothing
(already done), an existing judgment of the same model and prompt version to reuse (no
provider call), or a call. Interactive judging runs the calls here; batch mode can send the
same `slot_request`s and store `slot_judgment`s through the same writer (judging.store)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from signalops_assets.db.models import Judgment
from signalops_assets.judging.judges import (
    JudgeResult,
    RelevanceJudge,
    Slot,
    judgment_from_response,
)
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.gateway import LLMRequest, LLMResponse
from signalops_assets.llm.model_ids import model_aliases


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 3
    retry_failed: bool = False  # `judgments retry`: only slots whose judgment failed


@dataclass
class PostPlan:
    post: PostInput
    reused: list[JudgeResult] = field(default_factory=list)  # ready to store, no call
    calls: list[Slot] = field(default_factory=list)  # need the provider


@dataclass(frozen=True)
class WorkItem:
    """A pending post and the current judgments that can matter to it."""

    post: PostInput
    known: tuple[Judgment, ...] = ()


def work_items(
    session: Session, judge: RelevanceJudge, posts: Sequence[PostInput]
) -> list[WorkItem]:
    """The posts with, in one query, their current rows under the judge's keys and every
    current success of one of its models and prompt versions (NULL versions never match)."""
    if not posts:
        return []
    keys = judge.versions()
    versions = {v for vs in keys.values() for v in vs}
    models = {a for p in posts for s in judge.slots(p) for a in model_aliases(s.model)}
    rows = session.scalars(
        select(Judgment).where(
            Judgment.post_id.in_([p.post_id for p in posts]),
            Judgment.superseded.is_(False),
            or_(
                Judgment.judge_key.in_(list(keys)),
                and_(
                    Judgment.error.is_(None),
                    Judgment.prompt_version.in_(list(versions)),
                    Judgment.model_id.in_(list(models)),
                ),
            ),
        )
    )
    by_post: dict[int, list[Judgment]] = {}
    for row in rows:
        session.expunge(row)  # read after the session closes, in the event loop
        by_post.setdefault(row.post_id, []).append(row)
    return [WorkItem(p, tuple(by_post.get(p.post_id, ()))) for p in posts]


def _own_done(own: Judgment | None, slot: Slot, policy: Policy) -> bool:
    if own is None:
        return policy.retry_failed  # a retry re-judges failures only
    if own.error is None:
        # NULL: judged before versions were recorded; done, though never reused. A success of
        # an older version is owed a new one (its failures are history, see store_judgments).
        return own.prompt_version in (None, slot.prompt_version)
    return not policy.retry_failed and own.attempt >= policy.max_attempts


def _reusable(known: Iterable[Judgment], slot: Slot) -> Judgment | None:
    aliases = set(model_aliases(slot.model))
    found = [
        r
        for r in known
        if r.judge_key != slot.judge_key
        and r.error is None
        and r.prompt_version == slot.prompt_version
        and r.model_id in aliases
    ]
    # An original call first: a chain of reuses always points at the row that was paid for.
    found.sort(key=lambda r: (r.reused_from_id is not None, r.id))
    return found[0] if found else None


def reused_judgment(row: Judgment, slot: Slot) -> JudgeResult:
    """`row`'s answer under `slot`: same label, confidence, latency and trace; no cost, since
    nothing was paid for it (the original row carries the cost, counted once)."""
    return JudgeResult(
        post_id=row.post_id,
        label=row.label,
        confidence=row.confidence,
        reasoning=row.reasoning,
        model_id=row.model_id,
        judge_key=slot.judge_key,
        latency_ms=row.latency_ms,
        cost_usd=0.0,
        experiment_id=slot.experiment_id,
        arm=slot.arm,
        is_primary=slot.is_primary,
        trace_id=row.trace_id,
        prompt_version=row.prompt_version,
        reused_from_id=row.reused_from_id or row.id,
    )


def plan_post(
    judge: RelevanceJudge, item: WorkItem, policy: Policy, *, reuse: bool = True
) -> PostPlan:
    plan = PostPlan(item.post)
    for slot in judge.slots(item.post):
        own = next((r for r in item.known if r.judge_key == slot.judge_key), None)
        if _own_done(own, slot, policy):
            continue
        found = _reusable(item.known, slot) if reuse else None
        if found is not None:
            plan.reused.append(reused_judgment(found, slot))
        else:
            plan.calls.append(slot)
    return plan


async def run_plan(judge: RelevanceJudge, plan: PostPlan) -> list[JudgeResult]:
    """The reused judgments and one interactive call per remaining slot (concurrently)."""
    fresh = await asyncio.gather(*(judge.ajudge_slot(plan.post, s) for s in plan.calls))
    return [*plan.reused, *fresh]


def slot_request(judge: RelevanceJudge, post: PostInput, slot: Slot) -> LLMRequest:
    """The request a slot's call sends: what a batch file would hold for it."""
    return judge.judge_for(slot).request(post)


def slot_judgment(post: PostInput, slot: Slot, response: LLMResponse) -> JudgeResult:
    """A response (interactive or from a batch output file) as the slot's judgment; set
    `response.structured` when the request carried `response_format` (strict parsing)."""
    judgment = judgment_from_response(post, response, slot.judge_key, slot.prompt_version)
    return replace(
        judgment, experiment_id=slot.experiment_id, arm=slot.arm, is_primary=slot.is_primary
    )
