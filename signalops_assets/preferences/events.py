"""New draft events since a cursor, for pollers (the draft_edits_sensor). No Dagster here.

One query per poll: `id > cursor ORDER BY id LIMIT n` walks the primary-key index from the
cursor, so a poll costs what the new events cost, however large the table grows. Event ids
commit in order (see review._serialize_event_writes), so a cursor never skips one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from signalops_assets.db.models import DraftEvent
from signalops_assets.db.session import session_scope
from signalops_assets.preferences.collector import PAIR_KINDS

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
