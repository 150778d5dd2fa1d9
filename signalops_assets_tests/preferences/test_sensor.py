"""draft_edits_sensor: skips with a reason, requests dpo_export_job on edits, resumes from its
cursor after a restart without missing or repeating an event, and re-requests events a failed
run left uncollected or unexported."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, build_sensor_context
from sqlalchemy import Engine

from signalops_assets.config import ProjectConfig
from signalops_assets.db.session import session_scope
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.events import scan_new_events
from signalops_assets.preferences.sensors import draft_edits_sensor, sensor_interval_s
from signalops_assets.resources import DatabaseResource
from signalops_assets.settings import SettingsError
from signalops_assets_tests.preferences.review_helpers import BETTER, EDITED, make_drafts


def tick(
    db_url: str, cursor: str | None, instance: DagsterInstance | None = None
) -> tuple[list[str], str | None, str | None]:
    """(run keys, skip message, new cursor) of one evaluation, as the daemon would run it."""
    with DagsterInstance.ephemeral() as ephemeral:
        context = build_sensor_context(
            cursor=cursor,
            instance=instance or ephemeral,
            resources={"database": DatabaseResource(url=db_url)},
        )
        data = draft_edits_sensor.evaluate_tick(context)
    keys = [r.run_key or "" for r in data.run_requests or []]
    return keys, data.skip_message, data.cursor if data.cursor is not None else cursor


def seen(cursor: str | None) -> int:
    return int(json.loads(cursor or "{}").get("seen", 0))


def test_ticks_skip_request_and_resume(engine: Engine, db_url: str, spectra: ProjectConfig) -> None:
    ids = make_drafts(engine, spectra, 4)
    keys, skip, cursor = tick(db_url, None)
    assert keys == [] and skip == "no draft events after id 0" and seen(cursor) == 0

    with session_scope(engine) as session:
        d.approve(session, ids[0])
    keys, skip, cursor = tick(db_url, cursor)
    assert keys == [] and "none edited or rejected" in (skip or "") and seen(cursor) == 1

    with session_scope(engine) as session:
        d.edit(session, ids[1], EDITED)
    keys, skip, cursor = tick(db_url, cursor)
    assert keys == ["draft-events-2-2"] and skip is None and seen(cursor) == 1

    # Until a run collects and exports event 2, every tick owes it; the run key changes per
    # attempt, so Dagster does not drop the request as a duplicate.
    keys, _, cursor = tick(db_url, cursor)
    assert keys == ["draft-events-2-2-retry1"]
    with session_scope(engine) as session:
        d.reject(session, ids[2], BETTER)
        d.mark_sent(session, ids[0])
    keys, _, cursor = tick(db_url, cursor)
    assert keys == ["draft-events-2-4"]
    # A cursor saved by an earlier release (the last event id seen) still resumes.
    assert tick(db_url, "1")[0] == ["draft-events-2-4"]


def test_a_tick_reads_only_events_after_the_cursor(engine: Engine, spectra: ProjectConfig) -> None:
    ids = make_drafts(engine, spectra, 5)
    with session_scope(engine) as session:
        for draft_id in ids:
            d.edit(session, draft_id, EDITED)
    first = scan_new_events(engine, 0, limit=2)
    assert (first.scanned, first.last_id, first.pair_events) == (2, 2, 2)
    rest = scan_new_events(engine, first.last_id, limit=10)
    assert (rest.after_id, rest.scanned, rest.last_id) == (2, 3, 5)
    assert scan_new_events(engine, 5).scanned == 0


def test_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNALOPS_SENSOR_INTERVAL_S", raising=False)
    assert sensor_interval_s() == 30
    monkeypatch.setenv("SIGNALOPS_SENSOR_INTERVAL_S", "5")
    assert sensor_interval_s() == 5
    monkeypatch.setenv("SIGNALOPS_SENSOR_INTERVAL_S", "soon")
    with pytest.raises(SettingsError, match="SIGNALOPS_SENSOR_INTERVAL_S='soon'"):
        sensor_interval_s()


def test_sensor_targets_the_export_job() -> None:
    from signalops_assets.definitions import defs

    sensor = defs.resolve_sensor_def("draft_edits_sensor")
    assert sensor.job_name == "dpo_export_job"
