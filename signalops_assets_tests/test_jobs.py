"""The jobs CI, the UI and the daemon launch, and the executor chosen by deployment."""

from __future__ import annotations

import importlib.util

import pytest
from dagster import AssetKey, DagsterInstance
from sqlalchemy import Engine, func, select

from signalops_assets.db.models import Draft, Judgment
from signalops_assets.db.session import session_scope
from signalops_assets.jobs import EXECUTOR_ENV, deployment_executor
from signalops_assets.settings import SettingsError


def _job_keys(name: str) -> set[str]:
    from signalops_assets.definitions import defs

    job = defs.resolve_job_def(name)
    return {key.to_user_string() for key in job.asset_layer.selected_asset_keys}


def test_judging_job_selects_judging_ab_results_and_drafts() -> None:
    assert _job_keys("judging_job") == {"judged_posts", "ab_results", "drafts"}


def test_dpo_export_job_is_registered_once_and_exports() -> None:
    from signalops_assets.definitions import defs

    keys = _job_keys("dpo_export_job")
    assert {"preference_pairs", "dpo_jsonl"} <= keys
    assert "judged_posts" not in keys and "drafts" not in keys
    names = [job.name for job in defs.jobs or []]
    assert len(names) == len(set(names)), names


def test_judging_job_runs_in_process(engine: Engine, db_url: str, spectra: object) -> None:
    from signalops_assets.definitions import defs
    from signalops_assets.resources import DatabaseResource, LLMResource

    job = defs.resolve_job_def("judging_job")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources={"database": DatabaseResource(url=db_url), "llm": LLMResource()},
        )
        assert result.success
        done = {e.asset_key for e in result.get_asset_materialization_events() if e.asset_key}
    assert done == {AssetKey("judged_posts"), AssetKey("ab_results"), AssetKey("drafts")}
    with session_scope(engine) as session:
        assert (session.scalar(select(func.count()).select_from(Judgment)) or 0) >= 300
        # The offline judge marks many sample posts relevant; each gets a draft.
        assert (session.scalar(select(func.count()).select_from(Draft)) or 0) > 0


def test_in_process_executor_unless_another_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert deployment_executor().name == "in_process"
    monkeypatch.setenv(EXECUTOR_ENV, "multiprocess")
    assert deployment_executor().name == "multiprocess"
    monkeypatch.setenv(EXECUTOR_ENV, "forkserver")
    from dagster import multiprocess_executor

    forkserver = deployment_executor()
    # Configured with start_method forkserver + preload_modules (bench/dagster_runs runs it).
    assert forkserver.name == "multiprocess" and forkserver is not multiprocess_executor
    monkeypatch.setenv(EXECUTOR_ENV, "ray")
    with pytest.raises(SettingsError, match="SIGNALOPS_EXECUTOR='ray'"):
        deployment_executor()
    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    if importlib.util.find_spec("dagster_celery") is None:
        with pytest.raises(RuntimeError, match="dagster-celery"):
            deployment_executor()
    else:  # pragma: no cover - not a dependency of the project
        executor = deployment_executor()
        assert executor is not None and executor.name == "celery"
