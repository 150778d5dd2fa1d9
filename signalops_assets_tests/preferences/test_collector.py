"""DPO collection: sources, counts, quality filters, re-edits, the cursor, concurrent collectors."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig, QualityConfig
from signalops_assets.db.models import CollectorCursor, Draft, DraftEvent, PreferencePair
from signalops_assets.db.session import session_scope
from signalops_assets.errors import SignalOpsError
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.collector import CollectSummary, DPOCollector, collect_pending
from signalops_assets_tests.preferences.review_helpers import BETTER, EDITED, make_drafts


def pairs(engine: Engine) -> list[PreferencePair]:
    with session_scope(engine) as session:
        return list(session.scalars(select(PreferencePair).order_by(PreferencePair.id)))


def review(engine: Engine, ids: list[int]) -> None:
    """edit, reject with better text, reject without, approve + sent."""
    with session_scope(engine) as session:
        d.edit(session, ids[0], EDITED)
        d.reject(session, ids[1], BETTER)
        d.reject(session, ids[2])
        d.approve(session, ids[3])
        d.mark_sent(session, ids[3])


def test_edit_reject_and_manual_pairs_with_counts(engine: Engine, spectra: ProjectConfig) -> None:
    ids = make_drafts(engine, spectra, 5)
    review(engine, ids)
    summary = collect_pending(engine)
    assert (summary.events_seen, summary.inserted, summary.no_pair) == (3, 2, 1)
    assert summary.by_source == {"edit": 1, "reject": 1}
    assert summary.by_filter_reason == {"kept": 2}
    with session_scope(engine) as session:
        drafts = {r.id: r for r in session.scalars(select(Draft))}
        cursor = session.get_one(CollectorCursor, "dpo_collector").last_event_id
    edit, reject = pairs(engine)
    assert (edit.source, edit.chosen, edit.rejected) == (
        "edit",
        EDITED,
        drafts[ids[0]].text_generated,
    )
    assert (reject.source, reject.chosen) == ("reject", BETTER)
    # The prompt is the draft's stored prompt, verbatim, not a reconstruction.
    assert edit.prompt == drafts[ids[0]].prompt and reject.prompt == drafts[ids[1]].prompt
    assert edit.edit_distance > 0 and 0 < edit.edit_ratio <= 1
    assert edit.length_delta == len(EDITED) - len(drafts[ids[0]].text_generated)
    assert cursor == summary.last_event_id == 5

    again = collect_pending(engine)
    assert again == CollectSummary(last_event_id=5)

    with session_scope(engine) as session:
        manual = DPOCollector().add_manual(session, ids[4], "A hand-written better reply.")
    assert (manual.status, manual.source) == ("inserted", "manual")
    with (
        pytest.raises(SignalOpsError, match="already has a manual pair"),
        session_scope(engine) as session,
    ):
        DPOCollector().add_manual(session, ids[4], "Another one.")
    assert len(pairs(engine)) == 3


def test_quality_filters_store_the_reason(engine: Engine, spectra: ProjectConfig) -> None:
    ids = make_drafts(engine, spectra, 4)
    with session_scope(engine) as session:
        generated = {r.id: r.text_generated for r in session.scalars(select(Draft))}
        d.edit(session, ids[0], generated[ids[0]].upper() + "!!")  # same after normalization
        d.edit(session, ids[1], generated[ids[1]].replace("Happy", "Glad"))  # a tiny edit
        d.edit(session, ids[2], "x" * 1000)  # longer than max_chars below
        d.edit(session, ids[3], EDITED)
    collector = DPOCollector(lambda _pid: QualityConfig(min_edit_ratio=0.1, max_chars=600))
    summary = collect_pending(engine, collector=collector)
    assert summary.by_filter_reason == {
        "identical_after_normalization": 1,
        "edit_ratio_below_threshold": 1,
        "too_long": 1,
        "kept": 1,
    }
    stored = {p.draft_id: p for p in pairs(engine)}
    assert stored[ids[0]].filtered and stored[ids[0]].edit_ratio == 0.0
    assert stored[ids[2]].filter_reason == "too_long" and stored[ids[2]].edit_distance == -1
    assert not stored[ids[3]].filtered and stored[ids[3]].filter_reason is None


def test_a_re_edit_refreshes_the_pair_unless_reviewed(
    engine: Engine, spectra: ProjectConfig
) -> None:
    ids = make_drafts(engine, spectra, 2)
    with session_scope(engine) as session:
        d.edit(session, ids[0], "First edit: try `spectra trace` for p99.")
        d.edit(session, ids[1], "First edit of the second draft, about tracing.")
    collect_pending(engine)
    with session_scope(engine) as session:
        reviewed = session.scalars(select(PreferencePair).where(PreferencePair.draft_id == ids[1]))
        reviewed.one().review_decision = "keep"
        d.edit(session, ids[0], EDITED)
        d.edit(session, ids[1], "Second edit, ignored: the pair was reviewed.")
    summary = collect_pending(engine)
    assert (summary.updated, summary.duplicates, summary.inserted) == (1, 1, 0)
    chosen = {p.draft_id: p.chosen for p in pairs(engine)}
    assert chosen == {ids[0]: EDITED, ids[1]: "First edit of the second draft, about tracing."}


def test_project_scoped_collection_uses_its_own_cursor(
    engine: Engine, spectra: ProjectConfig
) -> None:
    ids = make_drafts(engine, spectra, 1)
    with session_scope(engine) as session:
        d.edit(session, ids[0], EDITED)
    assert collect_pending(engine, "other-project").events_seen == 0
    assert collect_pending(engine, "spectra").inserted == 1
    # The global cursor has not seen the event yet; re-collecting it is harmless.
    summary = collect_pending(engine)
    assert (summary.events_seen, summary.duplicates, len(pairs(engine))) == (1, 1, 1)


def test_two_collectors_at_once_never_duplicate(engine: Engine, spectra: ProjectConfig) -> None:
    ids = make_drafts(engine, spectra, 12)
    with session_scope(engine) as session:
        for i, draft_id in enumerate(ids):
            if i % 3 == 2:
                d.reject(session, draft_id, f"{BETTER} #{i}")
            else:
                d.edit(session, draft_id, f"{EDITED} #{i}")
    start = threading.Barrier(3)
    results: list[CollectSummary] = []
    errors: list[BaseException] = []
    direct_status: list[str] = []

    def run(batch: int) -> None:
        try:
            start.wait()
            results.append(collect_pending(engine, batch_size=batch))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def direct() -> None:
        # The CLI path: collecting one event right away, racing the cursor-based collectors.
        try:
            start.wait()
            with session_scope(engine) as session:
                draft = session.get_one(Draft, ids[0])
                event = session.scalars(
                    select(DraftEvent).where(DraftEvent.draft_id == ids[0])
                ).one()
                direct_status.append(DPOCollector().collect_event(session, event, draft).status)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (3, 5)]
    threads.append(threading.Thread(target=direct))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with session_scope(engine) as session:
        total = session.scalar(select(func.count()).select_from(PreferencePair))
        distinct = session.scalar(
            select(func.count()).select_from(
                select(PreferencePair.draft_id, PreferencePair.source).distinct().subquery()
            )
        )
        cursor = session.get_one(CollectorCursor, "dpo_collector").last_event_id
    assert total == distinct == 12
    # Each pair was inserted by exactly one of the three; the others saw a duplicate.
    assert sum(r.inserted for r in results) + direct_status.count("inserted") == 12
    assert cursor == 12
