"""Promotion by evidence through Dagster: the sensor requests promote_judge_job for a
promote_canary verdict; auto_promote off only reports, on promotes exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import build_sensor_context, materialize
from sqlalchemy import Engine

from signalops_assets.db.models import ABExperiment, Project
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.analysis_assets import judge_promotion, promotion_sensor
from signalops_assets.experiments.history import analyze_and_record
from signalops_assets.resources import DatabaseResource
from signalops_assets_tests.experiments.test_analysis import Row, Seeder


def _project_p(isolated_env: Path, auto_promote: bool) -> None:
    spectra = (isolated_env / "projects" / "spectra.yaml").read_text()
    text = spectra.replace("project_id: spectra", "project_id: p").replace(
        "experiments:\n", f"experiments:\n  auto_promote: {str(auto_promote).lower()}\n", 1
    )
    (isolated_env / "projects" / "p.yaml").write_text(text)


def _winner(engine: Engine) -> None:
    seeder = Seeder(engine)
    seeder.add(
        [[Row("primary", "relevant", i % 10 < 6)] for i in range(300)]
        + [[Row("canary", "relevant", i % 10 < 9)] for i in range(300)]
    )
    (result,) = analyze_and_record(engine)
    assert result.verdict == "promote_canary"


def _promote(db_url: str) -> dict[str, object]:
    run = materialize([judge_promotion], resources={"database": DatabaseResource(url=db_url)})
    assert run.success
    meta = run.asset_materializations_for_node("judge_promotion")[0].metadata
    return {k: v.value for k, v in meta.items()}


@pytest.mark.parametrize("auto_promote", [False, True])
def test_promotion_follows_auto_promote(
    engine: Engine, db_url: str, isolated_env: Path, auto_promote: bool
) -> None:
    _project_p(isolated_env, auto_promote)
    _winner(engine)
    sensed = promotion_sensor(
        build_sensor_context(resources={"database": DatabaseResource(url=db_url)})
    )
    assert [r.run_key for r in sensed.run_requests] == ["exp-1:1"]  # type: ignore[union-attr]
    first = _promote(db_url)
    with session_scope(engine) as session:
        experiment = session.get(ABExperiment, "exp-1")
        project = session.get(Project, "p")
        assert experiment is not None and project is not None
        status, override = experiment.status, project.judge_model_override
    if not auto_promote:
        assert first["promoted"] == 0 and first["recommended"] == 1
        assert "auto_promote is off" in str(first["exp-1"])
        assert status == "active" and override is None
        return
    assert first["promoted"] == 1 and status == "completed" and override == "m-b"
    again = _promote(db_url)
    assert again["promoted"] == 0 and again["recommended"] == 0  # exactly once
    resensed = promotion_sensor(
        build_sensor_context(resources={"database": DatabaseResource(url=db_url)})
    )
    assert list(resensed.run_requests or []) == []  # type: ignore[union-attr]
