"""dpo_jsonl_fresh: the export is stale when a review has waited too long for it, not when a
day has passed; materialized and checked through Dagster on one instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dagster import AssetSelection, DagsterInstance, materialize
from sqlalchemy import Engine, select, update

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, DraftEvent
from signalops_assets.db.session import session_scope
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.assets import dpo_jsonl, drafts, preference_pairs
from signalops_assets.preferences.freshness_check import dpo_jsonl_fresh
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.preferences.review_helpers import BETTER, EDITED, judge, post_ids

ASSETS = [drafts, preference_pairs, dpo_jsonl, dpo_jsonl_fresh]


def check(instance: DagsterInstance, db_url: str, selection: Any = None) -> Any:
    result = materialize(
        ASSETS,
        instance=instance,
        selection=selection,
        resources={"database": DatabaseResource(url=db_url), "llm": LLMResource()},
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_waiting_review_makes_the_export_stale_until_exported(
    engine: Engine, db_url: str, spectra: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALOPS_EXPORT_MAX_LAG_S", "600")
    for post_id in post_ids(engine, 3):
        judge(engine, post_id, "relevant")
    with DagsterInstance.ephemeral() as instance:
        quiet = check(instance, db_url)  # drafts made, nothing reviewed: fresh
        assert quiet.passed and quiet.metadata["reviews_waiting"].value == 0
        with session_scope(engine) as session:
            ids = list(session.scalars(select(Draft.id).order_by(Draft.id)))
            d.edit(session, ids[0], EDITED)
        exported = check(instance, db_url)  # exported with the edit: fresh
        assert exported.passed and exported.metadata["last_review_event"].value > 0
        assert exported.metadata["exported_through_event"].value == (
            exported.metadata["last_review_event"].value
        )

        with session_scope(engine) as session:
            d.reject(session, ids[1], BETTER)
        only_check = AssetSelection.checks(dpo_jsonl_fresh)
        recent = check(instance, db_url, only_check)  # waiting, but for less than the limit
        assert recent.passed and recent.metadata["reviews_waiting"].value == 1
        with session_scope(engine) as session:
            an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
            session.execute(
                update(DraftEvent)
                .where(DraftEvent.kind == "rejected")
                .values(created_at=an_hour_ago)
            )
        stale = check(instance, db_url, only_check)
        assert not stale.passed and stale.severity.value == "WARN"
        assert stale.metadata["reviews_waiting"].value == 1
        assert stale.metadata["oldest_waiting_s"].value >= 3500
        assert "draft_edits_sensor" in (stale.description or "")

        caught_up = check(instance, db_url)  # the export takes the rejection: fresh again
        assert caught_up.passed and caught_up.metadata["reviews_waiting"].value == 0
