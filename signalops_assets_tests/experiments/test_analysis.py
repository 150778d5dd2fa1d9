"""analyze_experiment over real rows on both databases, checked against the stats functions."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from signalops_assets.cli.main import cli
from signalops_assets.db.models import ABExperiment, ExperimentAnalysis, Judgment, Post, Project
from signalops_assets.db.session import session_scope
from signalops_assets.experiments import stats
from signalops_assets.experiments.analysis import analyze_experiment
from signalops_assets.experiments.history import analyze_and_record
from signalops_assets.experiments.sequential import always_valid_diff

LABELS = ["relevant", "irrelevant", "maybe"]


def seed_experiment(
    engine: Engine,
    *,
    n: int,
    canary_pct: float,
    p_primary: float,
    p_canary: float,
    mode: str = "split",
    force_canary_share: float | None = None,
    errors_every: int = 0,
    seed: int = 7,
) -> dict[str, int]:
    """Rows for an experiment; returns the true agreement counts per arm for checking."""
    rng = random.Random(seed)
    truth = {"primary_ok": 0, "primary_n": 0, "canary_ok": 0, "canary_n": 0, "errors": 0}
    with session_scope(engine) as session:
        session.add(Project(project_id="p", name="P"))
        session.flush()
        session.add(
            ABExperiment(
                experiment_id="exp-1",
                project_id="p",
                primary_model="m-a",
                canary_model="m-b",
                canary_pct=canary_pct,
                mode=mode,
            )
        )
        session.flush()
        for i in range(n):
            human = rng.choice(LABELS)
            post = Post(
                project_id="p",
                platform_id=f"x:{i}",
                text="t",
                created_at=datetime.now(UTC),
                human_label=human,
            )
            session.add(post)
            session.flush()
            share = canary_pct if force_canary_share is None else force_canary_share
            arms = (
                ["primary", "canary"]
                if mode == "shadow"
                else ["canary" if rng.random() < share else "primary"]
            )
            for arm in arms:
                p_ok = p_canary if arm == "canary" else p_primary
                correct = rng.random() < p_ok
                label = human if correct else rng.choice([x for x in LABELS if x != human])
                error = "Timeout" if errors_every and i % errors_every == 0 else None
                session.add(
                    Judgment(
                        post_id=post.id,
                        project_id="p",
                        judge_key=f"experiment:exp-1:{arm}",
                        label="maybe" if error else label,
                        model_id="m-b" if arm == "canary" else "m-a",
                        latency_ms=float(100 + i % 50),
                        cost_usd=0.001,
                        error=error,
                        experiment_id="exp-1",
                        arm=arm,
                        is_primary=arm == "primary",
                    )
                )
                if error:
                    truth["errors"] += 1
                    continue
                truth[f"{arm}_n"] += 1
                truth[f"{arm}_ok"] += int(correct)
    return truth


def test_agreement_counts_and_intervals_match_stats(engine: Engine) -> None:
    truth = seed_experiment(
        engine, n=400, canary_pct=0.5, p_primary=0.7, p_canary=0.72, errors_every=40
    )
    with session_scope(engine) as session:
        result = analyze_experiment(session, "exp-1")
    primary, canary = result.arms
    assert (primary.labeled, canary.labeled) == (truth["primary_n"], truth["canary_n"])
    assert primary.agreement == pytest.approx(truth["primary_ok"] / truth["primary_n"])
    assert primary.errors + canary.errors == truth["errors"] > 0
    expected = always_valid_diff(
        truth["primary_ok"], truth["primary_n"], truth["canary_ok"], truth["canary_n"]
    )
    assert result.difference.always_valid_low == pytest.approx(expected.low)
    newcombe = stats.newcombe_diff_interval(
        truth["primary_ok"], truth["primary_n"], truth["canary_ok"], truth["canary_n"]
    )
    assert result.difference.newcombe_low == pytest.approx(newcombe.low)
    assert primary.latency_p50_ms is not None and primary.latency_p95_ms >= primary.latency_p50_ms  # type: ignore[operator]
    assert result.verdict == "no_decision" and result.more_labels_per_arm > 0
    assert "more human labels per arm" in result.recommendation


def test_clear_winner_is_promoted(engine: Engine) -> None:
    seed_experiment(engine, n=1600, canary_pct=0.5, p_primary=0.55, p_canary=0.9)
    with session_scope(engine) as session:
        result = analyze_experiment(session, "exp-1")
    assert result.verdict == "promote_canary", result.recommendation


def test_sample_ratio_mismatch_overrides_everything(engine: Engine) -> None:
    seed_experiment(
        engine, n=600, canary_pct=0.1, p_primary=0.5, p_canary=0.9, force_canary_share=0.5
    )
    with session_scope(engine) as session:
        result = analyze_experiment(session, "exp-1")
    assert result.srm_all_flagged and result.verdict == "sample_ratio_mismatch"
    assert "fix" in result.recommendation


def test_shadow_mode_pairs_posts(engine: Engine) -> None:
    seed_experiment(engine, n=300, canary_pct=0.5, p_primary=0.6, p_canary=0.8, mode="shadow")
    with session_scope(engine) as session:
        result = analyze_experiment(session, "exp-1")
    assert result.paired is not None and result.paired["n"] == 300
    b, c = result.paired["primary_only"], result.paired["canary_only"]
    assert result.paired["mcnemar_p"] == pytest.approx(stats.mcnemar_exact(b, c))
    assert not result.srm_all_flagged


def test_history_appends_and_cli_matches(engine: Engine) -> None:
    seed_experiment(engine, n=200, canary_pct=0.3, p_primary=0.7, p_canary=0.7)
    analyze_and_record(engine)
    analyze_and_record(engine)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ExperimentAnalysis)) == 2
    out = CliRunner().invoke(cli, ["experiment", "results", "exp-1", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["experiment_id"] == "exp-1" and data["verdict"] in {"no_decision", "keep_primary"}
    table = CliRunner().invoke(cli, ["experiment", "results", "exp-1"])
    assert "always-valid interval" in table.output and "verdict:" in table.output
    missing = CliRunner().invoke(cli, ["experiment", "results", "nope"])
    assert missing.exit_code == 2 and "unknown experiment" in missing.output
