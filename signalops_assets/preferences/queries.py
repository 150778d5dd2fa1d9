"""Read-only views of drafts and pairs for the review CLI (and anything else that lists them)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalops_assets.db.models import Draft, DraftEvent, Post, PreferencePair
from signalops_assets.errors import SignalOpsError
from signalops_assets.preferences.review import STATUSES, get_draft


def list_drafts(
    session: Session, status: str | None = None, project_id: str | None = None, limit: int = 200
) -> list[Draft]:
    if status is not None and status not in STATUSES:
        raise SignalOpsError(f"unknown status '{status}' (expected {', '.join(STATUSES)})")
    stmt = select(Draft).order_by(Draft.id).limit(limit)
    if status is not None:
        stmt = stmt.where(Draft.status == status)
    if project_id is not None:
        stmt = stmt.where(Draft.project_id == project_id)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class DraftDetail:
    draft: Draft
    post: Post
    events: list[DraftEvent]
    pairs: list[PreferencePair]


def draft_detail(session: Session, draft_id: int) -> DraftDetail:
    draft = get_draft(session, draft_id)
    post = session.get_one(Post, draft.post_id)
    events = session.scalars(
        select(DraftEvent).where(DraftEvent.draft_id == draft_id).order_by(DraftEvent.id)
    )
    pairs = session.scalars(
        select(PreferencePair)
        .where(PreferencePair.draft_id == draft_id)
        .order_by(PreferencePair.id)
    )
    return DraftDetail(draft, post, list(events), list(pairs))


def list_pairs(
    session: Session,
    project_id: str | None = None,
    filtered: bool | None = None,
    limit: int = 200,
) -> list[PreferencePair]:
    """Pairs by id; `filtered` None: all, True: only those the filters dropped, False: kept."""
    stmt = select(PreferencePair).order_by(PreferencePair.id).limit(limit)
    if project_id is not None:
        stmt = stmt.where(PreferencePair.project_id == project_id)
    if filtered is not None:
        stmt = stmt.where(PreferencePair.filtered.is_(filtered))
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class PairTotals:
    total: int
    exportable: int  # not filtered: what dpo_jsonl writes
    by_source: dict[str, int]


def pair_totals(session: Session) -> PairTotals:
    """Every stored pair, the unfiltered ones and the count per source (asset metadata)."""
    from sqlalchemy import func

    rows = session.execute(
        select(PreferencePair.source, PreferencePair.filtered, func.count()).group_by(
            PreferencePair.source, PreferencePair.filtered
        )
    ).all()
    by_source: dict[str, int] = {}
    for source, _, n in rows:
        by_source[source] = by_source.get(source, 0) + int(n)
    exportable = sum(int(n) for _, filtered, n in rows if not filtered)
    return PairTotals(sum(by_source.values()), exportable, by_source)
