"""arm_stats (SQL aggregation, both databases) and the ab_results asset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import materialize
from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import ABExperiment, ABResult
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.assets import ab_results
from signalops_assets.experiments.queries import Scope, arm_stats
from signalops_assets.experiments.service import stop_experiment
from signalops_assets.judging.assets import judged_posts
from signalops_assets.quantile import nearest_rank_index
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.experiments.conftest import CANARY, PRIMARY
from signalops_assets_tests.factories import judgment, seed_judgments, seed_posts
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer


def _seed(
    engine: Engine, tmp_path: Path, experiment_id: str, arm: str, latencies: list[float]
) -> None:
    """One post and judgment (with its ab_results row, as the pipeline's writer stores them)
    per latency; every 10th is an error, every 5th has no known cost."""
    posts = seed_posts(engine, tmp_path, ["seeded"] * len(latencies), prefix=f"seed-{arm}")
    model = CANARY if arm == "canary" else PRIMARY
    judgments = [
        judgment(
            post_id,
            "relevant" if i % 3 else "irrelevant",
            f"experiment:{experiment_id}",
            error="boom" if i % 10 == 9 else None,
            experiment_id=experiment_id,
            arm=arm,
            model_id=model,
            latency_ms=latency,
            cost_usd=None if i % 5 == 4 else 0.001,
        )
        for i, (post_id, latency) in enumerate(zip(posts.post_ids, latencies, strict=True))
    ]
    seed_judgments(engine, "spectra", judgments)


def test_arm_summary_is_exact(
    engine: Engine, spectra: ProjectConfig, make_experiment: Callable[..., str], tmp_path: Path
) -> None:
    experiment_id = make_experiment()
    primary = [float(v) for v in range(100, 0, -1)]  # 100 values, inserted out of order
    _seed(engine, tmp_path, experiment_id, "primary", primary)
    _seed(engine, tmp_path, experiment_id, "canary", [7.0, 3.0, 5.0])
    with session_scope(engine) as session:
        experiment = session.get(ABExperiment, experiment_id)
        assert experiment is not None
        arms = arm_stats(session, experiment, Scope(experiment_id, ()))
    assert list(arms) == ["primary", "canary"]
    p = arms["primary"]
    assert (p.judgments, p.errors, p.fallbacks) == (100, 10, 0)
    assert p.labels == {"relevant": 60, "irrelevant": 30}
    assert p.model_id == PRIMARY
    assert p.latency_p95_ms == sorted(primary)[nearest_rank_index(100, 0.95)] == 95.0
    assert p.cost_known == 80 and abs(p.cost_usd - 0.08) < 1e-9
    c = arms["canary"]
    assert (c.judgments, c.latency_p95_ms, c.latency_p50_ms) == (3, 7.0, 5.0)
    assert nearest_rank_index(1, 0.95) == 0 and nearest_rank_index(3, 0.95) == 2
    assert nearest_rank_index(21, 0.95) == 19


def _run(db_url: str, assets: list[Any], api_base: str = "") -> dict[str, Any]:
    result = materialize(
        assets,
        resources={
            "database": DatabaseResource(url=db_url),
            "llm": LLMResource(api_base=api_base, num_retries=0),
        },
    )
    assert result.success
    mat = result.asset_materializations_for_node("ab_results")[0]
    return {k: v.value for k, v in mat.metadata.items()}


def test_asset_reports_due_experiments_after_judging(
    engine: Engine,
    db_url: str,
    spectra: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    make_experiment: Callable[..., str],
    monkeypatch: Any,
    isolated_env: Path,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-only")
    fake_llm.set_behavior("canary-y", latency_ms=20)
    # An old completed experiment is not reported; a recently completed one is.
    old = make_experiment(canary="openai/old")
    with session_scope(engine) as session:
        stop_experiment(session, old, now=datetime.now(UTC) - timedelta(days=8))
    recent = make_experiment(canary="openai/recent")
    with session_scope(engine) as session:
        stop_experiment(session, recent)
    experiment_id = make_experiment(canary_pct=0.3)

    meta = _run(db_url, [judged_posts, ab_results], fake_llm.base_url)
    with session_scope(engine) as session:
        rows = session.scalar(select(func.count()).select_from(ABResult))
        canary = int(session.scalar(select(func.count()).where(ABResult.arm == "canary")) or 0)
        experiments = session.scalar(select(func.count()).select_from(ABExperiment))
    assert experiments == 3 and rows == 330
    assert meta["experiments"] == 2 and meta["judgments"] == 330 and meta["errors"] == 0
    assert old not in meta and recent in meta and "No judgments yet" in meta[recent]
    table = meta[experiment_id]
    assert f"primary `{PRIMARY}` vs canary `{CANARY}`" in table and "30% canary" in table
    primary_row = next(line for line in table.splitlines() if line.startswith("| primary"))
    canary_row = next(line for line in table.splitlines() if line.startswith("| canary"))
    assert f"| {CANARY} | {canary} |" in canary_row and f"| {330 - canary} |" in primary_row
    assert meta[f"{experiment_id}/canary/judgments"] == canary
    assert meta[f"{experiment_id}/primary/judgments"] == 330 - canary
    assert isinstance(meta["total_cost_usd"], float)

    # Only the summary: nothing new judged, same numbers.
    again = _run(db_url, [ab_results])
    assert again["judgments"] == 330 and again[experiment_id] == table
