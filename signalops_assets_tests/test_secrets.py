"""Secrets stay out of the UI: the database URL reaches the resource as an EnvVar resolved when
the run starts, so the repository snapshot the webserver serves never holds it; an explicitly
empty SIGNALOPS_DATABASE_URL is an error, never a silent fallback to the checkout's SQLite."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from sqlalchemy import select

from signalops_assets.cli.main import cli
from signalops_assets.db.models import CollectorCursor
from signalops_assets.db.session import cached_engine, session_scope

SECRET_URL = "postgresql+psycopg2://signalops:hunter2-s3cret@db.internal:5432/signalops"


def load_definitions() -> ModuleType:
    """The code location as the webserver loads it, with the environment as it is now."""
    import signalops_assets.definitions as module

    return importlib.reload(module)


def snapshot(module: ModuleType) -> str:
    return serialize_value(RepositorySnap.from_def(module.defs.get_repository_def()))


def test_the_repository_snapshot_holds_no_database_url(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", SECRET_URL)
    monkeypatch.setenv("SIGNALOPS_LLM_API_BASE", "http://llm.internal:4000/v1")
    monkeypatch.setenv("ARGILLA_API_URL", "http://argilla.internal:6900")
    monkeypatch.setenv("ARGILLA_API_KEY", "argilla-k3y-s3cret")
    text = snapshot(load_definitions())
    for leaked in (
        "hunter2-s3cret",
        "db.internal",
        "llm.internal",
        "postgresql+psycopg2",
        "argilla.internal",
        "argilla-k3y-s3cret",
    ):
        assert leaked not in text
    # The UI shows which variable configures each.
    for name in ("SIGNALOPS_DATABASE_URL", "ARGILLA_API_URL", "ARGILLA_API_KEY"):
        assert name in text


def test_the_url_is_resolved_when_the_run_starts(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    loaded_with = f"sqlite:///{isolated_env / 'at-load.db'}"
    run_with = f"sqlite:///{isolated_env / 'at-run.db'}"
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", loaded_with)
    module = load_definitions()
    assert str(isolated_env) not in snapshot(module)
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", run_with)
    job = module.defs.resolve_job_def("dpo_export_job")
    with DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(instance=instance).success
    with session_scope(cached_engine(run_with)) as session:
        assert session.scalar(select(CollectorCursor.name)) == "dpo_collector"
    assert not (isolated_env / "at-load.db").exists()


def test_an_empty_database_url_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", "")
    job = load_definitions().defs.resolve_job_def("dpo_export_job")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "SIGNALOPS_DATABASE_URL is set but empty" in str(failure.step_failure_data.error)
    assert not list((isolated_env / "exports").glob("**/*.jsonl"))


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_database_url_is_a_one_line_cli_error(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALOPS_DATABASE_URL", value)
    result = CliRunner().invoke(cli, ["db", "upgrade"], prog_name="signalops")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert "SIGNALOPS_DATABASE_URL is set but empty" in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(autouse=True)
def reload_definitions_after(monkeypatch: pytest.MonkeyPatch) -> object:
    """Other tests import `defs` as loaded with the suite's environment; restore it."""
    yield None
    monkeypatch.undo()
    load_definitions()
