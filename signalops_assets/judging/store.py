"""The judgments writer: one transaction per batch, superseding earlier failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from signalops_assets.db.models import ABResult, Judgment
from signalops_assets.judging.judges import JudgeResult


def _same_prompt(stored: str | None, judgment: JudgeResult) -> bool:
    # NULL: stored before prompt versions were recorded; kept, as re-judging it is a choice.
    return stored is None or stored == judgment.prompt_version


@dataclass
class StoreResult:
    judgments: list[JudgeResult] = field(default_factory=list)  # those stored
    stored: int = 0
    superseded: int = 0
    recovered: int = 0
    duplicates: int = 0
    # (post, judge key) -> the attempt number written for each failure stored (current or
    # history): what batch mode compares with llm.max_attempts.
    attempts: dict[tuple[int, str], int] = field(default_factory=dict)


def _history_attempts(
    session: Session, judgments: Sequence[JudgeResult]
) -> dict[tuple[int, str, str | None], int]:
    """(post, judge key, prompt version) -> the most attempts of that version's failures kept
    as history (failures that did not replace an older version's success)."""
    if not judgments:
        return {}
    rows = session.execute(
        select(
            Judgment.post_id,
            Judgment.judge_key,
            Judgment.prompt_version,
            func.max(Judgment.attempt),
        )
        .where(
            Judgment.post_id.in_({j.post_id for j in judgments}),
            Judgment.judge_key.in_({j.judge_key for j in judgments}),
            Judgment.superseded.is_(True),
            Judgment.error.is_not(None),
        )
        .group_by(Judgment.post_id, Judgment.judge_key, Judgment.prompt_version)
    )
    return {(p, k, v): int(a or 0) for p, k, v, a in rows}


def store_judgments(
    session: Session, project_id: str, judgments: Sequence[JudgeResult]
) -> StoreResult:
    """Judgment rows, and their ab_results rows referencing the real ids, in one transaction.
    A post's earlier failed judgment by the same judge, or its success with another prompt
    version, is marked superseded (its ab_results row removed, so an arm counts one outcome per
    post); a success of the same (or an unknown) prompt version is never replaced. A failure
    never replaces a success: a new prompt version's failure is stored as history only (the
    older label stays current until the new version succeeds or gives up after max_attempts)."""
    result = StoreResult()
    if not judgments:
        return result
    previous = {
        (r.post_id, r.judge_key): r
        for r in session.execute(
            select(Judgment.id, Judgment.post_id, Judgment.judge_key)
            .add_columns(Judgment.error, Judgment.attempt, Judgment.prompt_version)
            .where(
                Judgment.post_id.in_({j.post_id for j in judgments}),
                Judgment.judge_key.in_({j.judge_key for j in judgments}),
                Judgment.superseded.is_(False),
            )
        )
    }
    rows: list[tuple[JudgeResult, Judgment]] = []
    replaced: list[int] = []
    history: list[JudgeResult] = []
    for judgment in judgments:
        prev = previous.get((judgment.post_id, judgment.judge_key))
        if prev is not None and prev.error is None and _same_prompt(prev.prompt_version, judgment):
            result.duplicates += 1
            continue
        if prev is not None and prev.error is None and judgment.error is not None:
            history.append(judgment)
            continue
        if prev is not None:
            replaced.append(prev.id)
            result.recovered += prev.error is not None and judgment.error is None
        # Attempts count failures of one prompt version; a new version starts again at 1.
        attempt = prev.attempt + 1 if prev is not None and prev.error is not None else 1
        rows.append((judgment, to_row(judgment, project_id, attempt)))
        if judgment.error is not None:
            result.attempts[(judgment.post_id, judgment.judge_key)] = attempt
    if replaced:
        session.execute(delete(ABResult).where(ABResult.judgment_id.in_(replaced)))
        session.execute(update(Judgment).where(Judgment.id.in_(replaced)).values(superseded=True))
        session.flush()  # the old row leaves the partial unique index before the new one enters
    tried = _history_attempts(session, history)
    for judgment in history:
        attempt = tried.get((judgment.post_id, judgment.judge_key, judgment.prompt_version), 0) + 1
        row = to_row(judgment, project_id, attempt)
        row.superseded = True  # history: the current row stays the older version's success
        session.add(row)
        result.judgments.append(judgment)
        result.attempts[(judgment.post_id, judgment.judge_key)] = attempt
    session.add_all([row for _, row in rows])
    session.flush()  # assigns ids for the ab_results references
    for judgment, row in rows:
        if judgment.experiment_id and judgment.arm:
            session.add(
                ABResult(
                    experiment_id=judgment.experiment_id,
                    judgment_id=row.id,
                    post_id=judgment.post_id,
                    arm=judgment.arm,
                    model_id=judgment.model_id,
                    latency_ms=judgment.latency_ms,
                    cost_usd=judgment.cost_usd,
                )
            )
    result.judgments += [judgment for judgment, _ in rows]
    result.stored, result.superseded = len(rows) + len(history), len(replaced)
    return result


def to_row(result: JudgeResult, project_id: str, attempt: int) -> Judgment:
    """A judge's answer as a `judgments` row (a new column is added here, on purpose)."""
    return Judgment(
        project_id=project_id,
        attempt=attempt,
        post_id=result.post_id,
        judge_key=result.judge_key,
        label=result.label,
        confidence=result.confidence,
        reasoning=result.reasoning,
        model_id=result.model_id,
        latency_ms=result.latency_ms,
        cost_usd=result.cost_usd,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        error=result.error,
        experiment_id=result.experiment_id,
        arm=result.arm,
        is_primary=result.is_primary,
        trace_id=result.trace_id,
        prompt_version=result.prompt_version,
        reused_from_id=result.reused_from_id,
        cached_tokens=result.cached_tokens,
        cache_creation_tokens=result.cache_creation_tokens,
    )
