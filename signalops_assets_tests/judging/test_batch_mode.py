"""Batch mode through real LiteLLM and real Dagster against the fake provider's batch API:
judged_posts submits, llm_batch_sensor polls and ingests, failures are retried, nothing twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize
from sqlalchemy import Engine, func, select, update

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
    (row,) = meta["this_run"].records
    assert row.data["judge"].endswith("(batch mode)") and row.data["posts_judged"] == 0
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
    with session_scope(engine) as session:  # as if a crash came before the batch was closed
        session.execute(update(LLMBatch).values(closed_at=None))
    (replay,) = tick(db_url, fake_llm, instance).asset_events
    assert replay.metadata["ingested_judgments"].value == 0
    assert submit(db_url, fake_llm)["posts_submitted_to_batches"] == 0
    assert counts(engine) == (posts, posts, 0)
    assert len(fake_llm.batches.executed) == posts


def item_states(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(LLMBatchItem.state, func.count()).group_by(LLMBatchItem.state)
        ).all()
    return {state: int(n) for state, n in rows}


def test_failed_and_expired_items_are_retried_interactively(
    engine: Engine, db_url: str, spectra: object, fake_llm: FakeOpenAIServer, batch_env: Path
) -> None:
    batch_project(batch_env / "projects", batch_max_requests=200)
    fake_llm.batches.plan(outcome="expired", processed=150, item_errors={"post-3-0": 500})
    submit(db_url, fake_llm)
    posts, _, _ = counts(engine)
    instance = DagsterInstance.ephemeral()
    tick(db_url, fake_llm, instance)
    ingested = tick(db_url, fake_llm, instance)
    (event,) = ingested.asset_events
    # First batch (200 lines): 150 ran (one with an injected 500), 50 expired; the second
    # (the other 130) all ran before it expired. Every failure is stored, then judged again.
    failed = event.metadata["failed_items"].value
    assert posts > 200 and failed == 1 + 50
    assert event.metadata["retried_interactively"].value == failed
    assert fake_llm.call_count() == failed  # the retries, interactive, once each
    assert counts(engine) == (posts, posts, 0)
    with session_scope(engine) as session:
        history = session.scalars(select(Judgment.error).where(Judgment.superseded.is_(True))).all()
    assert len(history) == failed and all(e and e.startswith("batch item") for e in history)
    assert item_states(engine) == {"done": posts}
    # Idempotent: nothing left to ingest or retry, and no post goes out again.
    assert tick(db_url, fake_llm, instance).skip_message == "no open batches"  # type: ignore[union-attr]
    assert submit(db_url, fake_llm)["posts_submitted_to_batches"] == 0
    assert fake_llm.call_count() == failed and counts(engine) == (posts, posts, 0)


def test_failed_batch_is_resubmitted_until_max_attempts(
    engine: Engine, db_url: str, spectra: object, fake_llm: FakeOpenAIServer, batch_env: Path
) -> None:
    batch_project(batch_env / "projects", batch_retry="resubmit", max_attempts=2)
    fake_llm.batches.plan(outcome="failed")
    submit(db_url, fake_llm)
    posts, _, _ = counts(engine)
    instance = DagsterInstance.ephemeral()
    first = tick(db_url, fake_llm, instance)  # validating → failed; stored; resubmitted
    (event,) = first.asset_events
    assert event.metadata["failed_items"].value == posts
    (new_batch,) = event.metadata["resubmitted_batches"].value
    assert item_states(engine) == {"resubmitted": posts, "open": posts}
    assert counts(engine) == (posts, 0, posts)  # the failures are stored, not dropped
    # The resubmitted batch fails too (same plan): attempt 2 of 2, so the posts are given up.
    second = tick(db_url, fake_llm, instance)
    (event,) = second.asset_events
    assert event.metadata["given_up"].value == posts
    assert event.metadata["resubmitted_batches"].value == []
    assert item_states(engine) == {"resubmitted": posts, "failed": posts}
    assert fake_llm.call_count() == 0  # never judged interactively
    with session_scope(engine) as session:
        statuses = session.scalars(select(LLMBatch.status)).all()
        assert new_batch in session.scalars(select(LLMBatch.batch_id)).all()
    assert statuses == ["failed", "failed"]
    # Given up: judged_posts does not resubmit them either (llm.max_attempts).
    assert submit(db_url, fake_llm)["posts_submitted_to_batches"] == 0


def test_local_models_run_interactively_in_batch_mode(
    engine: Engine, db_url: str, spectra: object, fake_llm: FakeOpenAIServer, batch_env: Path
) -> None:
    cfg = batch_env / "projects" / "spectra.yaml"
    cfg.write_text(cfg.read_text().replace("llm:\n", "llm:\n  mode: batch\n", 1))
    meta = submit(db_url, fake_llm)
    posts, good, _ = counts(engine)
    assert meta["posts_submitted_to_batches"] == 0 and good == posts
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(LLMBatch)) == 0


def test_shadow_experiment_batches_one_model_each(
    engine: Engine, db_url: str, spectra: object, fake_llm: FakeOpenAIServer, batch_env: Path
) -> None:
    from signalops_assets.db.models import ABResult
    from signalops_assets.experiments.service import create_experiment

    batch_project(batch_env / "projects")
    with session_scope(engine) as session:
        create_experiment(
            session, "spectra", "openai/judge-a", "openai/judge-b", 0.5, mode="shadow"
        )
    submit(db_url, fake_llm)
    posts, _, _ = counts(engine)
    with session_scope(engine) as session:
        models = sorted(session.scalars(select(LLMBatch.model)).all())
    assert models == ["openai/judge-a", "openai/judge-b"]
    instance = DagsterInstance.ephemeral()
    tick(db_url, fake_llm, instance)
    (event,) = tick(db_url, fake_llm, instance).asset_events
    assert event.metadata["ingested_judgments"].value == 2 * posts
    with session_scope(engine) as session:
        arms = dict(
            session.execute(select(ABResult.arm, func.count()).group_by(ABResult.arm)).all()
        )
        shadow = session.scalar(
            select(func.count()).where(Judgment.judge_key.like("%:shadow"), ~Judgment.is_primary)
        )
    assert arms == {"primary": posts, "canary": posts} and shadow == posts
    # The two models disagree on a deterministic subset, as interactive judging would show.
    with session_scope(engine) as session:
        labels = session.execute(select(Judgment.post_id, Judgment.arm, Judgment.label)).all()
    by_post: dict[int, set[str | None]] = {}
    for post_id, _, label in labels:
        by_post.setdefault(post_id, set()).add(label)
    assert any(len(v) > 1 for v in by_post.values())


def test_interrupted_submission_is_adopted_or_released(
    engine: Engine, db_url: str, spectra: object, fake_llm: FakeOpenAIServer, batch_env: Path
) -> None:
    """Rows committed before the provider answered (a crash in between): the one whose batch
    the provider has (named in its metadata) is adopted, the other is released."""
    import asyncio
    from datetime import timedelta

    from signalops_assets.db.models import utcnow
    from signalops_assets.judging.batch_poll import poll_batches
    from signalops_assets.judging.batches import ROW_KEY
    from signalops_assets.llm.batch_client import BatchClient
    from signalops_assets.llm.settings import LLMSettings

    batch_project(batch_env / "projects")
    with session_scope(engine) as session:
        post_ids = session.scalars(select(Post.id).order_by(Post.id).limit(2)).all()
        rows = []
        for post_id in post_ids:
            row = LLMBatch(project_id="spectra", provider="openai", model=MODEL, requests=1)
            row.created_at = utcnow() - timedelta(hours=1)
            session.add(row)
            session.flush()
            session.add(
                LLMBatchItem(
                    batch_row_id=row.id,
                    custom_id=f"post-{post_id}-0",
                    post_id=post_id,
                    judge_key=MODEL,
                    state="open",
                )
            )
            rows.append(row.id)
    client = BatchClient("openai", fake_llm.base_url)
    line = (
        f'{{"custom_id": "post-{post_ids[0]}-0", "method": "POST", "url": "/v1/chat/completions",'
        ' "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}\n'
    )

    async def provider_side() -> str:
        import io

        file_id = await client.upload(io.BytesIO(line.encode()))
        return str((await client.create(file_id, {ROW_KEY: str(rows[0])})).id)

    adopted = asyncio.run(provider_side())
    settings = LLMSettings(api_base=fake_llm.base_url)
    poll_batches(engine, lambda _p: settings)
    with session_scope(engine) as session:
        left = session.scalars(select(LLMBatch.batch_id)).all()
        items = session.scalars(select(LLMBatchItem.post_id)).all()
    assert left == [adopted] and items == [post_ids[0]]  # the second row and item are gone
    for _ in range(2):
        poll_batches(engine, lambda _p: settings)
    assert counts(engine)[1] == 1  # the adopted batch was ingested like any other


def test_a_batch_the_provider_lost_does_not_block_the_others(
    engine: Engine, db_url: str, spectra: object, fake_llm: FakeOpenAIServer, batch_env: Path
) -> None:
    from signalops_assets.judging.batch_poll import poll_batches
    from signalops_assets.llm.settings import LLMSettings

    batch_project(batch_env / "projects")
    submit(db_url, fake_llm)
    with session_scope(engine) as session:
        session.add(LLMBatch(project_id="spectra", provider="openai", model=MODEL, batch_id="gone"))
    settings = LLMSettings(api_base=fake_llm.base_url)
    report = poll_batches(engine, lambda _p: settings)
    (where,) = report.broken
    assert where == "spectra/gone" and "NotFound" in report.broken[where]
    assert "1 not polled" in report.describe() and list(report.polled.values()) == ["in_progress"]
    report = poll_batches(engine, lambda _p: settings)
    assert report.stored == counts(engine)[0] and list(report.broken) == ["spectra/gone"]


def test_experiment_in_batch_mode_reuses_the_backlog_and_sends_what_interactive_would(
    engine: Engine, db_url: str, spectra: object, fake_llm: FakeOpenAIServer, batch_env: Path
) -> None:
    """The backlog judged in a batch; then a shadow experiment with the same primary: the
    primary arm reuses those judgments (no request), only the canary goes to a batch. Lines
    carry the gateway's own body: the JSON schema where LiteLLM supports one, never a key."""
    from signalops_assets.db.models import ABResult
    from signalops_assets.experiments.service import create_experiment

    batch_project(batch_env / "projects")
    submit(db_url, fake_llm)
    instance = DagsterInstance.ephemeral()
    tick(db_url, fake_llm, instance)
    tick(db_url, fake_llm, instance)
    posts, good, _ = counts(engine)
    assert good == posts and len(fake_llm.batches.executed) == posts
    first_lines = list(fake_llm.batches.executed)
    assert all(line["body"]["response_format"]["type"] == "json_schema" for line in first_lines)
    assert not any("api_key" in line["body"] or "api_base" in line["body"] for line in first_lines)

    with session_scope(engine) as session:
        create_experiment(session, "spectra", MODEL, "openai/judge-b", 0.5, mode="shadow")
    meta = submit(db_url, fake_llm)
    assert f"{posts} judgments reused (no request)" in str(meta["batches"])
    with session_scope(engine) as session:
        models = session.scalars(select(LLMBatch.model).order_by(LLMBatch.id)).all()
        structured = session.scalars(select(LLMBatchItem.structured)).all()
    assert list(models[-1:]) == ["openai/judge-b"] and models.count(MODEL) == len(models) - 1
    assert all(structured[:posts])  # gpt-4o-mini's lines carried the schema
    tick(db_url, fake_llm, instance)
    tick(db_url, fake_llm, instance)
    assert len(fake_llm.batches.executed) == 2 * posts  # the primary was never asked twice
    canary_lines = fake_llm.batches.executed[posts:]
    assert {line["body"]["model"] for line in canary_lines} == {"judge-b"}
    with session_scope(engine) as session:
        arms = dict(
            session.execute(select(ABResult.arm, func.count()).group_by(ABResult.arm)).all()
        )
        reused = session.scalar(select(func.count()).where(Judgment.reused_from_id.is_not(None)))
        versions = session.scalar(select(func.count()).where(Judgment.prompt_version.is_(None)))
    assert arms == {"primary": posts, "canary": posts}
    assert reused == posts and versions == 0  # every batch judgment records its prompt version
