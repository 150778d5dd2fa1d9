"""The review state machine of a draft; every change writes one DraftEvent in its transaction.

    pending ──approve──▶ approved ──mark_sent──▶ sent
       │                    │
       ├──edit──▶ edited ◀──┘ (edit)      edited ──mark_sent──▶ sent
       │            └──edit (re-edit: a typo fix before sending is normal)
       └──reject──▶ rejected

`sent` and `rejected` are terminal. Approving twice, approving an edited draft (the edit already
approved the reviewer's text), editing or rejecting a sent/rejected draft are illegal and change
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from signalops_assets.db.models import Draft, DraftEvent, utcnow
from signalops_assets.db.writes import rowcount
from signalops_assets.errors import InvalidTransitionError, NotFoundError, SignalOpsError
from signalops_assets.preferences.quality import normalize_review_text
from signalops_assets.preferences.review_scores import score_review
from signalops_assets.validation import check_text
from signalops_assets.vocab import DraftStatus, values

STATUSES = values(DraftStatus)
# new status -> the statuses it may be reached from
ALLOWED_FROM: dict[str, frozenset[str]] = {
    DraftStatus.APPROVED: frozenset({DraftStatus.PENDING}),
    DraftStatus.EDITED: frozenset({DraftStatus.PENDING, DraftStatus.APPROVED, DraftStatus.EDITED}),
    DraftStatus.REJECTED: frozenset({DraftStatus.PENDING}),
    DraftStatus.SENT: frozenset({DraftStatus.APPROVED, DraftStatus.EDITED}),
}
_VERB: dict[str, str] = {
    DraftStatus.APPROVED: "approve",
    DraftStatus.EDITED: "edit",
    DraftStatus.REJECTED: "reject",
    DraftStatus.SENT: "mark as sent",
}
# Any fixed number: the key of the advisory lock that orders draft-event writes on PostgreSQL.
_EVENT_LOCK_KEY = 0x5D0F7E


@dataclass(frozen=True)
class Transition:
    draft: Draft
    event: DraftEvent


def _serialize_event_writes(session: Session) -> None:
    """Readers poll draft_events by `id > cursor`. On PostgreSQL ids come from a sequence at
    insert time, so without ordering a later id could commit first and a poller would skip the
    earlier one forever. The transaction-scoped lock makes event ids commit in order (SQLite
    already serializes writers). Review is human-paced, so the serialization costs nothing."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENT_LOCK_KEY})


def _clean(value: str | None, name: str) -> str:
    """Reviewer text as stored: stripped, NFC, LF line endings (see normalize_review_text)."""
    if value is None or not value.strip():
        raise SignalOpsError(f"{name} is empty")
    return check_text(normalize_review_text(value.strip()), name)


def get_draft(session: Session, draft_id: int) -> Draft:
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFoundError(f"draft {draft_id} not found")
    return draft


def _transition(
    session: Session,
    draft_id: int,
    new_status: str,
    changes: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> Transition:
    _serialize_event_writes(session)
    draft = get_draft(session, draft_id)
    current = draft.status
    allowed = ALLOWED_FROM[new_status]
    if current not in allowed:
        raise InvalidTransitionError(
            f"draft {draft_id} is {current}: cannot {_VERB[new_status]} it "
            f"(only from {' or '.join(sorted(allowed))})"
        )
    # Conditional on the status just read: a concurrent reviewer's change makes this a no-op
    # (and an error) instead of a silent overwrite.
    result = session.execute(
        update(Draft)
        .where(Draft.id == draft_id, Draft.status == current)
        .values(status=new_status, updated_at=utcnow(), **(changes or {}))
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise InvalidTransitionError(f"draft {draft_id} was changed concurrently; try again")
    event = DraftEvent(draft_id=draft_id, kind=new_status, detail=detail or {})
    session.add(event)
    session.flush()
    session.refresh(draft)
    corrected = (detail or {}).get("text") or (detail or {}).get("better_text")
    score_review(session, draft, new_status, corrected)
    return Transition(draft, event)


def approve(session: Session, draft_id: int) -> Transition:
    """pending → approved; the generated text becomes the final text."""
    return _transition(session, draft_id, "approved", {"text_final": Draft.text_generated})


def edit(session: Session, draft_id: int, new_text: str) -> Transition:
    """pending|approved|edited → edited. The event keeps this edit's text, so a re-edit's
    history stays visible; the DPO pair always uses the draft's latest text."""
    cleaned = _clean(new_text, "text")
    return _transition(session, draft_id, "edited", {"text_final": cleaned}, {"text": cleaned})


def reject(session: Session, draft_id: int, better_text: str | None = None) -> Transition:
    """pending → rejected; an optional better reply becomes the chosen side of a DPO pair."""
    detail = {} if better_text is None else {"better_text": _clean(better_text, "better text")}
    return _transition(session, draft_id, "rejected", detail=detail)


def mark_sent(session: Session, draft_id: int) -> Transition:
    """approved|edited → sent (the final text was posted)."""
    return _transition(session, draft_id, "sent")
