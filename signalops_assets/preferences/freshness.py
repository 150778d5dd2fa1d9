"""How far the DPO export lags the reviews: events that can make a pair (edits, rejections)
recorded after the last export, and how long the oldest of them has waited. No Dagster here.

A time window since the last export would call the files stale after a quiet day with no
review at all, and fresh an hour after a burst of edits the sensor failed to export: what
matters is whether a review is waiting, and for how long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from signalops_assets.db.models import DraftEvent
from signalops_assets.db.session import session_scope
from signalops_assets.preferences.collector import PAIR_KINDS


@dataclass(frozen=True)
class ExportLag:
    exported_through: int
    waiting: int  # pair events after exported_through
    last_event_id: int  # the latest pair event (0: none yet)
    oldest_waiting_at: datetime | None

    def waited_s(self, now: datetime | None = None) -> float:
        """Seconds the oldest waiting review has waited (0 when none waits)."""
        if self.oldest_waiting_at is None:
            return 0.0
        at = self.oldest_waiting_at
        at = at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite returns naive UTC
        return max(0.0, ((now or datetime.now(UTC)) - at).total_seconds())


def export_lag(engine: Engine, exported_through: int) -> ExportLag:
    """Pair events after `exported_through` (the collector position the export recorded)."""
    pair_events = DraftEvent.kind.in_(PAIR_KINDS)
    with session_scope(engine) as session:
        last = session.scalar(select(func.max(DraftEvent.id)).where(pair_events))
        waiting, oldest = session.execute(
            select(func.count(), func.min(DraftEvent.created_at)).where(
                pair_events, DraftEvent.id > exported_through
            )
        ).one()
    return ExportLag(exported_through, int(waiting), int(last or 0), oldest)
