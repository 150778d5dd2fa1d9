"""One broken project config: the other projects are still judged, then the step fails naming
the broken project and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import materialize
from sqlalchemy import Engine, func, select

from signalops_assets.config import load_configured_projects
from signalops_assets.db.models import Judgment
from signalops_assets.db.session import session_scope
from signalops_assets.judging.assets import judged_posts
from signalops_assets.resources import DatabaseResource, LLMResource


def judged(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Judgment)) or 0


def few_posts(engine: Engine, tmp_path: Path) -> None:
    from signalops_assets.config import load_project
    from signalops_assets.posts import ensure_project, import_posts

    path = tmp_path / "posts.jsonl"
    path.write_text(
        "".join(
            f'{{"platform_id": "x:{i}", "text": "p99 latency spikes", '
            '"created_at": "2026-11-01T10:00:00Z"}\n'
            for i in range(3)
        )
    )
    with session_scope(engine) as session:
        ensure_project(session, load_project("spectra"))
        import_posts(session, "spectra", path)


def test_broken_yaml_does_not_stop_the_other_projects(
    engine: Engine, db_url: str, isolated_env: Path
) -> None:
    few_posts(engine, isolated_env)
    (isolated_env / "projects" / "aaa.yaml").write_bytes(b"project_id: aaa\nname: caf\xe9\n")
    configured = load_configured_projects()
    assert [p.project_id for p in configured.loaded] == ["spectra"]
    assert list(configured.broken) == ["aaa"]

    result = materialize(
        [judged_posts],
        resources={"database": DatabaseResource(url=db_url), "llm": LLMResource(num_retries=0)},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.step_failure_data.error.message)  # type: ignore[union-attr]
    assert "aaa" in message and "not UTF-8 at line 2" in message
    assert judged(engine) == 3  # spectra's work is committed, not lost to aaa's file


def test_unknown_project_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALOPS_PROJECT", "spectra,ghost")
    configured = load_configured_projects()
    assert [p.project_id for p in configured.loaded] == ["spectra"]
    failure = configured.failure()
    assert failure is not None and "ghost" in failure and "not found" in failure
    assert "\n" not in failure
