"""`signalops batches list|status|poll|cancel` over the same domain code as the sensor."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets.db.batch_models import LLMBatch, LLMBatchItem
from signalops_assets.db.models import Project
from signalops_assets.db.session import session_scope
from signalops_assets_tests.cli.helpers import run
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer
from signalops_assets_tests.judging.test_batch_mode import batch_project, counts, submit


def test_list_status_cancel_and_release(
    engine: Engine,
    db_url: str,
    isolated_env: Path,
    spectra: object,
    fake_llm: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-only")
    monkeypatch.setenv("SIGNALOPS_LLM_API_BASE", fake_llm.base_url)
    batch_project(isolated_env / "projects")
    submit(db_url, fake_llm)
    posts, _, _ = counts(engine)
    with session_scope(engine) as session:
        (batch_id,) = session.scalars(select(LLMBatch.batch_id)).all()
    listed = run("batches list --open")
    assert listed.exit_code == 0 and batch_id in listed.output and "validating" in listed.output
    shown = run(f"batches status {batch_id}")  # refreshed from the provider: one step on
    assert shown.exit_code == 0, shown.output
    assert f"batch {batch_id} (openai/gpt-4o-mini): in_progress, open; items: open {posts}" in (
        shown.output
    )
    cancelled = run(f"batches cancel {batch_id}")
    assert cancelled.exit_code == 0 and "cancelling" in cancelled.output
    polled = run("batches poll")  # cancelling → cancelled: nothing ran, every item released
    assert polled.exit_code == 0, polled.output
    assert f"{posts} released" in polled.output and "ingested 0 judgments" in polled.output
    assert counts(engine) == (posts, 0, 0)  # a cancel is no failure
    again = run(f"batches cancel {batch_id}")
    assert again.exit_code == 2 and "closed: nothing to cancel" in again.output
    # Released posts are pending again: the next judged_posts run submits them.
    assert submit(db_url, fake_llm)["posts_submitted_to_batches"] == posts
    with session_scope(engine) as session:
        states = dict(
            session.execute(
                select(LLMBatchItem.state, func.count()).group_by(LLMBatchItem.state)
            ).all()
        )
    assert states == {"cancelled": posts, "open": posts}


def test_unknown_batch_is_one_line(sqlite_engine: Engine) -> None:
    result = run("batches status batch_nope")
    assert result.exit_code == 2
    assert result.output.strip() == ("error: no batch 'batch_nope' (see: signalops batches list)")
    assert run("batches list").output.strip() == "no batches"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("mode: overnight", "llm.mode"),
        ("batch_retry: never", "llm.batch_retry"),
        ("batch_max_requests: 50001", "llm.batch_max_requests"),
        ("batch_max_bytes: 300000000", "llm.batch_max_bytes"),
    ],
)
def test_bad_batch_settings_are_one_line(
    sqlite_engine: Engine, isolated_env: Path, line: str, field: str
) -> None:
    cfg = isolated_env / "projects" / "spectra.yaml"
    cfg.write_text(cfg.read_text().replace("llm:\n", f"llm:\n  {line}\n", 1))
    result = run("batches poll --project spectra")
    assert result.exit_code == 0  # no batches: the poll has nothing to load a project for
    with session_scope(sqlite_engine) as session:  # an open batch of the project
        session.add(Project(project_id="spectra", name="Spectra"))
        session.flush()
        session.add(LLMBatch(project_id="spectra", provider="openai", model="m", batch_id="b"))
    result = run("batches status b")
    assert result.exit_code == 2 and "Traceback" not in result.output
    (message,) = result.output.strip().splitlines()
    assert message.startswith("error: ") and f"field '{field}'" in message
