"""drafts → preference_pairs → dpo_jsonl through Dagster, with the blocking JSONL check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, materialize
from sqlalchemy import Engine, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft
from signalops_assets.db.session import session_scope
from signalops_assets.preferences import drafts as d
from signalops_assets.preferences.assets import dpo_jsonl, dpo_jsonl_valid, drafts, preference_pairs
from signalops_assets.preferences.formats import validate_file
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.preferences.review_helpers import BETTER, EDITED, judge, post_ids

EXPORT = [preference_pairs, dpo_jsonl, dpo_jsonl_valid]


def run(db_url: str, assets: list[Any], fmt: str = "trl", raise_on_error: bool = True) -> Any:
    return materialize(
        assets,
        resources={
            "database": DatabaseResource(url=db_url),
            "llm": LLMResource(num_retries=0),
        },
        run_config={"ops": {"dpo_jsonl": {"config": {"format": fmt}}}}
        if dpo_jsonl in assets
        else None,
        raise_on_error=raise_on_error,
    )


def meta(result: Any, name: str) -> dict[str, Any]:
    mat = result.asset_materializations_for_node(name)[0]
    return {k: v.value for k, v in mat.metadata.items()}


def test_materialize_the_review_flow(
    engine: Engine, db_url: str, spectra: ProjectConfig, isolated_env: Path
) -> None:
    for post_id in post_ids(engine, 6):
        judge(engine, post_id, "relevant")
    first = run(db_url, [drafts, *EXPORT])
    assert first.success and meta(first, "drafts")["drafted"] == 6
    assert meta(first, "dpo_jsonl")["pairs"] == 0
    out = isolated_env / "exports" / "spectra" / "dpo"
    assert (out / "train.jsonl").read_text() == "" and (out / "eval.jsonl").exists()

    with session_scope(engine) as session:
        ids = list(session.scalars(select(Draft.id).order_by(Draft.id)))
        d.edit(session, ids[0], EDITED)
        d.reject(session, ids[1], BETTER)
        d.reject(session, ids[2])
    second = run(db_url, [drafts, *EXPORT], fmt="openai")
    assert second.success
    pairs = meta(second, "preference_pairs")
    assert (pairs["inserted"], pairs["no_pair"]) == (2, 1)
    assert pairs["by_source"] == {"edit": 1, "reject": 1}
    exported = meta(second, "dpo_jsonl")
    assert exported["pairs"] == exported["train"] + exported["eval"] == 2
    assert exported["format"] == "openai" and exported["path"] == str(out)
    assert exported["dagster/row_count"] == 2
    assert exported["spectra/train_url"] == (out / "train.jsonl").as_uri()
    (row,) = exported["by_project"].records
    assert row.data["train"] + row.data["eval"] == 2
    assert (pairs["total_pairs"], pairs["exportable_pairs"], pairs["dagster/row_count"]) == (
        2,
        2,
        2,
    )
    assert "chosen" in {c.name for c in pairs["dagster/column_schema"].columns}
    # A run with no new events reports the same totals, not zeros.
    third = meta(run(db_url, EXPORT), "preference_pairs")
    assert (third["events"], third["total_pairs"], third["pairs/edit"]) == (0, 2, 1)
    lines = sum(validate_file(out / f"{s}.jsonl", "openai").lines for s in ("train", "eval"))
    assert lines == 2
    (check,) = second.get_asset_check_evaluations()
    assert check.passed and check.asset_key == AssetKey("dpo_jsonl")
    assert check.metadata["lines"].value == 2


def test_an_invalid_export_fails_the_blocking_check(
    engine: Engine, db_url: str, spectra: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    for post_id in post_ids(engine, 1):
        judge(engine, post_id, "relevant")
    run(db_url, [drafts])
    with session_scope(engine) as session:
        d.edit(session, session.scalars(select(Draft.id)).one(), EDITED)
    import signalops_assets.preferences.export as export

    monkeypatch.setattr(export, "build_record", lambda *a: {"prompt": "p", "chosen": ""})
    result = run(db_url, EXPORT, raise_on_error=False)
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "missing key 'rejected'" in (check.description or "")
    assert check.severity.value == "ERROR"
