"""Batch mode through real LiteLLM and real Dagster against the fake provider's batch API:
judged_posts submits, llm_batch_sensor polls and ingests, failures are retried, nothing twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize
from sqlalchemy import Engine, func, select

from signalops_assets.db.batch_models import LLMBatch, LLMBatchItem
from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.judging.assets import judged_posts
from signalops_assets.judging.batch_sensors import llm_batch_sensor
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

MODEL = "openai/gpt-4o-mini"


def batch_project(projects: Path, **llm: Any) -> None:
    cfg = projects / "spectra.yaml"
    text = cfg.read_text().replace("judge_model: local/keyword-judge", f"judge_model: {MODEL}")
    extra = "".join(f"  {k}: {v}\n" for k, v in {"mode": "batch", **llm}.items())
    cfg.write_text(text.replace("llm:\n", "llm:\n" + extra, 1))


def resources(db_url: str, fake: FakeOpenAIServer) -> dict[str, Any]:
    return {
        "database": DatabaseResource(url=db_url),
        "llm": LLMResource(api_base=fake.base_url, num_retries=0),
    }


def submit(db_url: str, fake: FakeOpenAIServer) -> dict[str, Any]:
    result = materialize([judged_posts], resources=resources(db_url, fake))
    assert result.success
    mat = result.asset_materializations_for_node("judged_posts")[0]
    return {k: v.value for k, v in mat.metadata.items()}


def tick(db_url: str, fake: FakeOpenAIServer, instance: DagsterInstance) -> Any:
    context = build_sensor_context(instance=instance, resources=resources(db_url, fake))
    return llm_batch_sensor(context)


def counts(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        posts = session.scalar(select(func.count()).select_from(Post)) or 0
        good = session.scalar(
            select(func.count()).where(Judgment.error.is_(None), Judgment.superseded.is_(False))
        )
        failed = session.scalar(
            select(func.count()).where(Judgment.error.is_not(None), Judgment.superseded.is_(False))
        )
    return posts, int(good or 0), int(failed or 0)


@pytest.fixture
def batch_env(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-only")
    return isolated_env


def test_submit_poll_ingest_once(
    engine: Engine, db_url: str, spectra: object, fake_llm: FakeOpenAIServer, batch_env: Path
) -> None:
    batch_project(batch_env / "projects", batch_max_requests=100)
    meta = submit(db_url, fake_llm)
    posts, good, _ = counts(engine)
    assert good == 0 and fake_llm.call_count() == 0  # nothing judged interactively
    assert meta["posts_submitted_to_batches"] == posts
    assert f"submitted {posts} posts" in str(meta["batches"])
    with session_scope(engine) as session:
        rows = session.scalars(select(LLMBatch)).all()
        assert len(rows) == -(-posts // 100)  # chunks within batch_max_requests
        assert all(r.batch_id and r.model == MODEL for r in rows)
    # A re-run while the batches are open submits nothing again.
    again = submit(db_url, fake_llm)
    assert again["posts_submitted_to_batches"] == 0
    assert f"{posts} posts already in open batches" in str(again["batches"])
    instance = DagsterInstance.ephemeral()
    first = tick(db_url, fake_llm, instance)  # validating → in_progress
    assert "open batches" in first.skip_message  # type: ignore[union-attr]
    done = tick(db_url, fake_llm, instance)  # → completed, ingested
    (event,) = done.asset_events
    assert event.metadata["ingested_judgments"].value == posts
    assert event.metadata["total_cost_usd"].value > 0
    assert counts(engine) == (posts, posts, 0)
    assert len(fake_llm.batches.executed) == posts  # each post sent once
    with session_scope(engine) as session:
        costs = session.scalars(select(Judgment.cost_usd)).all()
        assert all(c is not None and c > 0 for c in costs)
    # A second poll (and another judged_posts run) stores nothing twice.
    later = tick(db_url, fake_llm, instance)
    assert later.skip_message == "no open batches"  # type: ignore[union-attr]
    assert submit(db_url, fake_llm)["posts_submitted_to_batches"] == 0
    assert counts(engine) == (posts, posts, 0)
    assert len(fake_llm.batches.executed) == posts
