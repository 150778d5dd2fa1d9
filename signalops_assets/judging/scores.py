"""Langfuse scores for judgments, sent from one place whatever path a label takes.

* `judge_label` (CATEGORICAL: relevant / irrelevant / maybe): the judge's answer, on the
  judge's trace, once the judgment is stored. Failed judgments get none (their label is not an
  answer).
* `human_label` (CATEGORICAL): the post's human label, on the trace of *every* judgment of
  that post (both arms, the shadow canary included), whenever a label lands: `judgments label`,
  `import-labels`, Argilla, or any later path that goes through `judging.labels`. Sent after
  the transaction commits, so a rolled-back label is never scored.

Both carry `score_id = score_id_for(trace_id, name)`: a relabel replaces the score instead of
adding one, so Langfuse's categorical score analytics (agreement, Cohen's kappa, confusion
matrix between `judge_label` and `human_label` on the same trace) count each judgment once.
Metadata: experiment_id, arm, model, judge_key, post_id (and judgment_id for human labels).
Tracing off: nothing is queried, queued or sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from signalops_assets.db.models import Judgment
from signalops_assets.llm.score_queue import queue_score
from signalops_assets.llm.trace_ids import score_id_for
from signalops_assets.llm.tracing import Tracer, get_tracer

if TYPE_CHECKING:  # judges imports the gateway; label paths need neither
    from signalops_assets.judging.judges import JudgeResult

JUDGE_LABEL = "judge_label"
HUMAN_LABEL = "human_label"
_PENDING = "signalops.human_label_posts"
_CHUNK = 500


def _metadata(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def score_judge_labels(judgments: Iterable[JudgeResult], tracer: Tracer | None = None) -> int:
    """One `judge_label` score per traced, successful judgment; returns how many were sent."""
    tracer = tracer or get_tracer()
    if not tracer.enabled:
        return 0
    sent = 0
    for judgment in judgments:
        if judgment.trace_id is None or judgment.error or judgment.label is None:
            continue
        tracer.score(
            trace_id=judgment.trace_id,
            name=JUDGE_LABEL,
            value=judgment.label,
            data_type="CATEGORICAL",
            score_id=score_id_for(judgment.trace_id, JUDGE_LABEL),
            comment=f"confidence {judgment.confidence:.2f}",
            metadata=_metadata(
                experiment_id=judgment.experiment_id,
                arm=judgment.arm,
                model=judgment.model_id,
                judge_key=judgment.judge_key,
                post_id=judgment.post_id,
                confidence=judgment.confidence,
            ),
        )
        sent += 1
    return sent


def score_human_labels_on_commit(session: Session, post_ids: Iterable[int]) -> None:
    """Queue `human_label` scores for every traced judgment of these posts: read just before
    `session` commits, sent once it has, dropped if it rolls back."""
    tracer = get_tracer()
    if not tracer.enabled:
        return
    pending: set[int] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = set()
        event.listen(session, "before_commit", _read_scores)
        event.listen(session, "after_soft_rollback", _drop_pending)
    pending.update(post_ids)


def _drop_pending(session: Session, previous_transaction: Any) -> None:
    session.info[_PENDING] = set()


def _read_scores(session: Session) -> None:
    post_ids = sorted(session.info.get(_PENDING) or ())
    session.info[_PENDING] = set()
    if not post_ids:
        return
    session.flush()
    for start in range(0, len(post_ids), _CHUNK):
        rows = session.execute(
            select(Judgment)
            .where(
                Judgment.post_id.in_(post_ids[start : start + _CHUNK]),
                Judgment.trace_id.is_not(None),
                Judgment.human_label.is_not(None),
            )
            .order_by(Judgment.id)
        ).scalars()
        for row in rows:
            queue_score(session, **_human_score(row))


def _human_score(row: Judgment) -> dict[str, Any]:
    trace_id = str(row.trace_id)
    return {
        "trace_id": trace_id,
        "name": HUMAN_LABEL,
        "value": row.human_label,
        "data_type": "CATEGORICAL",
        "score_id": score_id_for(trace_id, HUMAN_LABEL),
        "comment": None if row.error else f"judge said {row.label}",
        "metadata": _metadata(
            experiment_id=row.experiment_id,
            arm=row.arm,
            model=row.model_id,
            judge_key=row.judge_key,
            post_id=row.post_id,
            judgment_id=row.id,
        ),
    }
