"""Langfuse scores for a reviewer's decision on a draft, on the generation that wrote it.

* `draft_outcome` (CATEGORICAL: approved / edited / rejected) on every review transition; a
  re-edit or a later decision replaces it (one score id per draft trace).
* `output` (data type CORRECTION, the name Langfuse gives every correction) with the
  reviewer's text, when a draft is edited or rejected with a better reply: Langfuse shows it
  beside the generation's output as its corrected output, with a diff.

Sent after the review's transaction commits (see `llm.score_queue`); drafts written while
tracing was off have no trace id and get no scores; tracing off sends nothing.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from signalops_assets.db.models import Draft
from signalops_assets.llm.score_queue import queue_score
from signalops_assets.llm.trace_ids import score_id_for
from signalops_assets.vocab import DraftStatus

DRAFT_OUTCOME = "draft_outcome"
CORRECTION = "output"  # Langfuse stores every CORRECTION score under this name
OUTCOMES = (DraftStatus.APPROVED, DraftStatus.EDITED, DraftStatus.REJECTED)


def score_review(session: Session, draft: Draft, outcome: str, corrected: str | None) -> None:
    """Queue the scores of `draft` reaching `outcome` (`corrected`: the reviewer's text)."""
    if outcome not in OUTCOMES or draft.trace_id is None:
        return
    target = draft.observation_id or draft.trace_id
    metadata = {"draft_id": draft.id, "project": draft.project_id, "model": draft.model_id}
    queue_score(
        session,
        trace_id=draft.trace_id,
        observation_id=draft.observation_id,
        name=DRAFT_OUTCOME,
        value=outcome,
        data_type="CATEGORICAL",
        score_id=score_id_for(target, DRAFT_OUTCOME),
        metadata=metadata,
    )
    if corrected:
        queue_score(
            session,
            trace_id=draft.trace_id,
            observation_id=draft.observation_id,
            name=CORRECTION,
            value=corrected,
            data_type="CORRECTION",
            score_id=score_id_for(target, CORRECTION),
            comment=f"reviewer {outcome} the draft",
            metadata=metadata,
        )
