"""New draft events since a cursor, for pollers (the draft_edits_sensor). No Dagster here.

One query per poll: `id > cursor ORDER BY id LIMIT n` walks the primary-key index from the
cursor, so a poll costs what the new events cost, however large the table grows. Event ids
commit in order (see review._serialize_event_writes), so a cursor never skips one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from signalops_assets.db.models import CollectorCursor, DraftEvent
from signalops_assets.db.session import session_scope
from signalops_assets.preferences.collector import CURSOR_NAME, PAIR_KINDS

DEFAULT_SCAN_LIMIT = 1000


@dataclass(frozen=True)
class EventScan:
    after_id: int
    last_id: int  # the new cursor: the highest id seen (after_id when nothing is new)
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def scanned(self) -> int:
        return sum(self.kinds.values())

    @property
    def pair_events(self) -> int:
        """Events that can make a DPO pair (edited, rejected)."""
        return sum(self.kinds[k] for k in PAIR_KINDS)


def scan_new_events(engine: Engine, after_id: int, limit: int = DEFAULT_SCAN_LIMIT) -> EventScan:
    """At most `limit` events after `after_id`; a backlog larger than that is read over several
    polls, each moving the cursor forward."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(DraftEvent.id, DraftEvent.kind)
            .where(DraftEvent.id > after_id)
            .order_by(DraftEvent.id)
            .limit(limit)
        ).all()
    kinds = Counter(kind for _, kind in rows)
    return EventScan(after_id, rows[-1][0] if rows else after_id, kinds)


def collector_position(engine: Engine, name: str = CURSOR_NAME) -> int:
    """The last draft event the DPO collector has committed pairs for (0 before its first run)."""
    with session_scope(engine) as session:
        value = session.scalar(
            select(CollectorCursor.last_event_id).where(CollectorCursor.name == name)
        )
    return int(value or 0)


@dataclass(frozen=True)
class PendingScan:
    """What a poller still owes the export: `start` is where the scan began (the furthest of
    what was exported and what was already seen to hold no pair event)."""

    start: int
    scan: EventScan

    @property
    def first_unseen(self) -> int:
        """The poller's next `seen` value: past the scan when it held no pair event, else kept
        at `start` so a failed run's events are scanned (and re-requested) again."""
        return self.scan.last_id if not self.scan.pair_events else self.start


def scan_pending(
    engine: Engine, exported_through: int, seen: int, limit: int = DEFAULT_SCAN_LIMIT
) -> PendingScan:
    """Events after both the collector's cursor and the last export (whichever lags), skipping
    what an earlier poll saw holds no pair event."""
    start = max(min(collector_position(engine), exported_through), seen)
    return PendingScan(start, scan_new_events(engine, start, limit))
