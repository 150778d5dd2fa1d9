"""Reviewer edits and rejections → DPO preference pairs (chosen = the human's text).

Sources: `edit` (chosen = the draft's final text), `reject` (chosen = the better text given when
rejecting; a rejection without one makes no pair), `manual` (`signalops preferences add`).
Rejected is always the generated draft and the prompt is the draft's stored prompt, verbatim.

Duplicates are impossible by construction: every pair is written with INSERT ... ON CONFLICT DO
NOTHING on (draft_id, source), so two collectors racing on the same events insert it once.
A re-edit (a second `edited` event) refreshes the existing edit pair to the draft's latest text,
unless an Argilla reviewer already gave the pair a decision (then the reviewed pair is kept).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from signalops_assets.config import QualityConfig
from signalops_assets.db.models import CollectorCursor, Draft, DraftEvent, PreferencePair, utcnow
from signalops_assets.db.session import session_scope
from signalops_assets.db.writes import insert_ignore, rowcount
from signalops_assets.errors import SignalOpsError
from signalops_assets.preferences.quality import evaluate_pair, normalize_review_text
from signalops_assets.preferences.review import get_draft
from signalops_assets.vocab import DraftStatus, PairSource

CURSOR_NAME = "dpo_collector"
PAIR_KINDS = (DraftStatus.EDITED, DraftStatus.REJECTED)  # the events that can yield a pair
# Stored when a metric was not computed (the pair was too long to measure).
NOT_MEASURED = -1


def project_quality(project_id: str) -> QualityConfig:
    """The project's filters; defaults when the project has no config file (an invalid file
    still fails, loudly)."""
    from signalops_assets.config import load_project, project_config_path

    if not project_config_path(project_id).is_file():
        return QualityConfig()
    return load_project(project_id).quality


@dataclass(frozen=True)
class Outcome:
    """What one event (or manual add) did: `status` is inserted | updated | duplicate | no_pair."""

    status: str
    source: str | None = None
    pair_id: int | None = None
    filter_reason: str | None = None


@dataclass
class CollectSummary:
    events_seen: int = 0  # edited/rejected events processed (other kinds only move the cursor)
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    no_pair: int = 0  # rejections without a better text
    by_source: Counter[str] = field(default_factory=Counter)
    by_filter_reason: Counter[str] = field(default_factory=Counter)
    last_event_id: int = 0

    def add(self, outcome: Outcome) -> None:
        self.events_seen += 1
        if outcome.status == "no_pair":
            self.no_pair += 1
        elif outcome.status == "duplicate":
            self.duplicates += 1
        else:
            if outcome.status == "inserted":
                self.inserted += 1
            else:
                self.updated += 1
            self.by_source[outcome.source or "?"] += 1
            self.by_filter_reason[outcome.filter_reason or "kept"] += 1


class DPOCollector:
    def __init__(self, quality_for: Callable[[str], QualityConfig] = project_quality) -> None:
        self._quality_for = quality_for
        self._cache: dict[str, QualityConfig] = {}

    def _quality(self, project_id: str) -> QualityConfig:
        if project_id not in self._cache:
            self._cache[project_id] = self._quality_for(project_id)
        return self._cache[project_id]

    def _values(self, draft: Draft, source: str, chosen: str) -> dict[str, Any]:
        metrics, reason = evaluate_pair(
            chosen, normalize_review_text(draft.text_generated), self._quality(draft.project_id)
        )
        return {
            "chosen": chosen,
            "edit_distance": NOT_MEASURED
            if metrics.edit_distance is None
            else metrics.edit_distance,
            "edit_ratio": NOT_MEASURED if metrics.edit_ratio is None else metrics.edit_ratio,
            "length_delta": metrics.length_delta,
            "filtered": reason is not None,
            "filter_reason": reason,
        }

    def _write(self, session: Session, draft: Draft, source: str, chosen: str) -> Outcome:
        # Stored NFC with LF endings, like the review text: a CRLF editor is not an edit.
        chosen = normalize_review_text(chosen)
        values = self._values(draft, source, chosen)
        row = {
            "project_id": draft.project_id,
            "draft_id": draft.id,
            "post_id": draft.post_id,
            "prompt": draft.prompt,
            "rejected": normalize_review_text(draft.text_generated),
            "source": source,
            "created_at": utcnow(),
            **values,
        }
        inserted = insert_ignore(session, PreferencePair, [row], ["draft_id", "source"])
        status = "inserted" if inserted else "duplicate"
        if status == "duplicate" and source == PairSource.EDIT:
            # A re-edit: one atomic conditional update, a no-op when the text is unchanged.
            result = session.execute(
                update(PreferencePair)
                .where(
                    PreferencePair.draft_id == draft.id,
                    PreferencePair.source == source,
                    PreferencePair.review_decision.is_(None),
                    PreferencePair.chosen != chosen,
                )
                .values(**values)
            )
            status = "updated" if rowcount(result) else status
        pair_id = session.scalar(
            select(PreferencePair.id).where(
                PreferencePair.draft_id == draft.id, PreferencePair.source == source
            )
        )
        return Outcome(status, source, pair_id, values["filter_reason"])

    def collect_event(self, session: Session, event: DraftEvent, draft: Draft) -> Outcome:
        """The pair an edited/rejected event makes, written in the caller's transaction."""
        if event.kind == "edited" and draft.text_final:
            # The draft's latest text, not this event's: after a re-edit, the newest wins.
            return self._write(session, draft, PairSource.EDIT, draft.text_final)
        better = (event.detail or {}).get("better_text")
        if event.kind == "rejected" and isinstance(better, str) and better.strip():
            return self._write(session, draft, PairSource.REJECT, better.strip())
        return Outcome("no_pair")

    def add_manual(self, session: Session, draft_id: int, chosen: str) -> Outcome:
        """A reviewer-written better reply for any draft (source `manual`)."""
        if not chosen.strip():
            raise SignalOpsError("chosen text is empty")
        draft = get_draft(session, draft_id)
        outcome = self._write(session, draft, PairSource.MANUAL, chosen.strip())
        if outcome.status == "duplicate":
            raise SignalOpsError(f"draft {draft_id} already has a manual pair ({outcome.pair_id})")
        return outcome


def _ensure_cursor(engine: Engine, name: str) -> None:
    with session_scope(engine) as session:
        row = {"name": name, "last_event_id": 0, "updated_at": utcnow()}
        insert_ignore(session, CollectorCursor, [row], ["name"])


def collect_pending(
    engine: Engine,
    project_id: str | None = None,
    *,
    batch_size: int = 500,
    collector: DPOCollector | None = None,
) -> CollectSummary:
    """Turn every draft event after the collector's cursor into pairs, in id order and in
    batches; each batch's pairs and the cursor move commit together. With `project_id`, only
    that project's events, under its own cursor (overlap with the global one is harmless:
    writes are idempotent)."""
    name = CURSOR_NAME if project_id is None else f"{CURSOR_NAME}:{project_id}"
    collector = collector or DPOCollector()
    summary = CollectSummary()
    _ensure_cursor(engine, name)
    while True:
        with session_scope(engine) as session:
            cursor = session.scalar(
                select(CollectorCursor.last_event_id).where(CollectorCursor.name == name)
            )
            stmt = (
                select(DraftEvent, Draft)
                .join(Draft, Draft.id == DraftEvent.draft_id)
                .where(DraftEvent.id > (cursor or 0))
                .order_by(DraftEvent.id)
                .limit(batch_size)
            )
            if project_id is not None:
                stmt = stmt.where(Draft.project_id == project_id)
            rows = session.execute(stmt).all()
            if not rows:
                summary.last_event_id = max(summary.last_event_id, cursor or 0)
                return summary
            for event, draft in rows:
                if event.kind in PAIR_KINDS:
                    summary.add(collector.collect_event(session, event, draft))
            last = rows[-1][0].id
            # Only forward: a slower concurrent collector must not move the cursor back.
            session.execute(
                update(CollectorCursor)
                .where(CollectorCursor.name == name, CollectorCursor.last_event_id < last)
                .values(last_event_id=last, updated_at=utcnow())
            )
            summary.last_event_id = last
        if len(rows) < batch_size:
            return summary
