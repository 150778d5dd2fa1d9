"""analyze_experiment over real rows on both databases: intention-to-treat agreement, fallback
answers, training-post exclusion, sticky verdicts, sequential SRM, and the A/A agreement between
the database path and the count-level simulation."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, insert, select

from signalops_assets.cli.main import cli
from signalops_assets.config import ExperimentConfig, GuardrailConfig
from signalops_assets.db.models import ABExperiment, ExperimentAnalysis, Judgment, Post, Project
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.analysis import analyze_experiment
from signalops_assets.experiments.history import analyze_and_record
from signalops_assets.experiments.registry import register_model, set_training_posts
from signalops_assets.experiments.sequential import two_sample_test
from signalops_assets.vocab import LABELS

CFG = ExperimentConfig()


@dataclass
class Row:
    arm: str
    human: str | None
    correct: bool
    error: bool = False
    model: str | None = None  # None: the arm's own model


class Seeder:
    """Posts and judgments of experiment exp-1 (models m-a vs m-b), inserted in bulk."""

    def __init__(self, engine: Engine, *, canary_pct: float = 0.5, mode: str = "split") -> None:
        self.engine = engine
        self.next_post = 0
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

    def add(self, rows_per_post: list[list[Row]]) -> list[int]:
        """One post per inner list; each Row is one judgment of it."""
        with session_scope(self.engine) as session:
            start = self.next_post
            posts = [
                {
                    "project_id": "p",
                    "platform_id": f"x:{start + i}",
                    "text": "t",
                    "created_at": datetime.now(UTC),
                    "human_label": rows[0].human,
                    "raw": {},
                }
                for i, rows in enumerate(rows_per_post)
            ]
            session.execute(insert(Post), posts)
            ids = dict(
                session.execute(
                    select(Post.platform_id, Post.id).where(Post.project_id == "p")
                ).all()
            )
            judgments = []
            for i, rows in enumerate(rows_per_post):
                post_id = ids[f"x:{start + i}"]
                for row in rows:
                    human = row.human or "relevant"
                    wrong = next(label for label in LABELS if label != human)
                    judgments.append(
                        {
                            "post_id": post_id,
                            "project_id": "p",
                            "judge_key": f"experiment:exp-1:{row.arm}",
                            "label": "maybe" if row.error else (human if row.correct else wrong),
                            "model_id": row.model or ("m-b" if row.arm == "canary" else "m-a"),
                            "latency_ms": 100.0,
                            "cost_usd": 0.001,
                            "error": "parse failure" if row.error else None,
                            "experiment_id": "exp-1",
                            "arm": row.arm,
                            "is_primary": row.arm == "primary",
                        }
                    )
            session.execute(insert(Judgment), judgments)
            self.next_post += len(rows_per_post)
            return [ids[f"x:{start + i}"] for i in range(len(rows_per_post))]


def _analyze(engine: Engine, cfg: ExperimentConfig = CFG) -> object:
    with session_scope(engine) as session:
        return analyze_experiment(session, "exp-1", config=cfg)


def test_errors_count_as_disagreement_intention_to_treat(engine: Engine) -> None:
    seeder = Seeder(engine)
    rows = (
        [[Row("primary", "relevant", True)]] * 80
        + [[Row("primary", "relevant", False)]] * 20
        + [[Row("canary", "relevant", True)]] * 72
        + [[Row("canary", "relevant", False, error=True)]] * 18  # its wrong answers fail
        + [[Row("canary", "relevant", False)]] * 10
    )
    seeder.add(rows)
    result = _analyze(engine)
    primary, canary = result.arms  # type: ignore[attr-defined]
    assert (primary.labeled, canary.labeled, canary.labeled_clean) == (100, 100, 82)
    assert primary.agreement == pytest.approx(0.80) and canary.agreement == pytest.approx(0.72)
    assert canary.agreement_error_free == pytest.approx(72 / 82)  # 87.8%: the flattering one
    assert canary.failure_rate == pytest.approx(0.18)


def test_a_canary_that_fails_on_hard_posts_is_not_promoted(engine: Engine) -> None:
    """Equal judges (80%); half the canary's wrong answers fail to parse. Dropping errors
    would show the canary ~8 points better; intention-to-treat shows no difference."""
    rng = random.Random(3)
    seeder = Seeder(engine)
    rows = []
    for _ in range(6000):
        arm = "canary" if rng.random() < 0.5 else "primary"
        correct = rng.random() < 0.8
        error = arm == "canary" and not correct and rng.random() < 0.5
        rows.append([Row(arm, rng.choice(LABELS), correct, error)])
    seeder.add(rows)
    cfg = ExperimentConfig(guardrails=GuardrailConfig(max_error_rate_increase=1.0))
    result = _analyze(engine, cfg)
    canary = result.arms[1]  # type: ignore[attr-defined]
    assert canary.agreement_error_free > canary.agreement + 0.05
    assert result.verdict == "no_decision", result.recommendation  # type: ignore[attr-defined]


def test_fallback_answers_are_not_the_arms_quality(engine: Engine) -> None:
    seeder = Seeder(engine)
    seeder.add(
        [[Row("primary", "relevant", i % 2 == 0)] for i in range(60)]
        + [[Row("canary", "relevant", True, model="m-fallback")] for _ in range(40)]
        + [[Row("canary", "relevant", i % 2 == 0)] for i in range(20)]
    )
    result = _analyze(engine)
    canary = result.arms[1]  # type: ignore[attr-defined]
    assert canary.model_id == "m-b"  # the experiment's canary, never MAX(model_id)
    assert (canary.fallbacks, canary.fallback_models) == (40, {"m-fallback": 40})
    assert canary.labeled == 60 and canary.labeled_clean == 20
    assert canary.agreement == pytest.approx(10 / 60)
    assert canary.label_mix == {"relevant": 10, "irrelevant": 10}
    assert canary.failure_rate == pytest.approx(40 / 60)
    error_guard = result.guardrails[0]  # type: ignore[attr-defined]
    assert error_guard["name"] == "error_rate" and not error_guard["passed"]


def test_training_posts_are_excluded_from_both_arms(engine: Engine) -> None:
    seeder = Seeder(engine, mode="shadow")
    trained = seeder.add(
        [[Row("primary", "relevant", False), Row("canary", "relevant", True)]] * 50
    )
    seeder.add([[Row("primary", "relevant", True), Row("canary", "relevant", True)]] * 40)
    leaky = _analyze(engine)
    assert leaky.test["pairs"]["canary_only"] == 50  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        entry = register_model(session, "m-b", "openai", "judge")
        set_training_posts(session, entry, trained)
    clean = _analyze(engine)
    assert clean.excluded_training_posts == 50  # type: ignore[attr-defined]
    assert clean.test["pairs"]["canary_only"] == 0  # type: ignore[attr-defined]
    assert clean.arms[0].judgments == clean.arms[1].judgments == 40  # type: ignore[attr-defined]
    assert clean.verdict == "no_decision"  # type: ignore[attr-defined]


def test_shadow_verdict_uses_the_pairing(engine: Engine) -> None:
    seeder = Seeder(engine, mode="shadow")
    # 1,000 pairs; the judges agree on most posts, the canary fixes 40 of the primary's misses.
    seeder.add(
        [[Row("primary", "relevant", True), Row("canary", "relevant", True)]] * 760
        + [[Row("primary", "relevant", False), Row("canary", "relevant", True)]] * 60
        + [[Row("primary", "relevant", True), Row("canary", "relevant", False)]] * 20
        + [[Row("primary", "relevant", False), Row("canary", "relevant", False)]] * 160
    )
    result = _analyze(engine)
    test = result.test  # type: ignore[attr-defined]
    assert test["method"].startswith("paired") and test["n"] == 1000
    unpaired = two_sample_test(780, 1000, 820, 1000, tuning=CFG.sequential_tuning_labels)
    assert test["high"] - test["low"] < 0.6 * (unpaired.high - unpaired.low)
    assert result.verdict == "promote_canary" and not unpaired.significant  # type: ignore[attr-defined]
    assert "mcnemar_p" in result.fixed_horizon  # type: ignore[attr-defined]
    assert "pre-planned look" in result.fixed_horizon["heading"]  # type: ignore[attr-defined]


def test_verdict_stands_and_remembers_its_night(engine: Engine) -> None:
    seeder = Seeder(engine)
    seeder.add(
        [[Row("primary", "relevant", i % 10 < 6)] for i in range(300)]
        + [[Row("canary", "relevant", i % 10 < 9)] for i in range(300)]
    )
    night1 = datetime(2026, 11, 1, 2, tzinfo=UTC)
    first = analyze_and_record(engine, now=night1)[0]
    assert first.verdict == "promote_canary" and first.decided_look == 1
    # Later labels pull the canary back to parity: the decision still stands.
    seeder.add(
        [[Row("primary", "relevant", i % 10 < 7)] for i in range(250)]
        + [[Row("canary", "relevant", i % 10 < 4)] for i in range(250)]
    )
    later = analyze_and_record(engine, now=night1 + timedelta(days=1))[0]
    assert not two_sample_test(355, 550, 370, 550).significant  # tonight alone: undecided
    assert later.verdict == "promote_canary" and later.look == 2
    assert later.decided_look == 1 and later.decided_at.startswith("2026-11-01")  # type: ignore[union-attr]
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                ExperimentAnalysis.look,
                ExperimentAnalysis.direction,
                ExperimentAnalysis.decided_look,
            ).order_by(ExperimentAnalysis.look)
        ).all()
    assert [tuple(r) for r in rows] == [(1, 1, 1), (2, 1, 1)]


def test_assignment_srm_is_flagged_and_error_imbalance_is_named(engine: Engine) -> None:
    seeder = Seeder(engine, canary_pct=0.2)
    seeder.add([[Row("primary", None, True)]] * 1540 + [[Row("canary", None, True)]] * 460)
    skewed = _analyze(engine)
    assert skewed.srm["assignment_flagged"]  # type: ignore[attr-defined]
    assert skewed.verdict == "sample_ratio_mismatch"  # type: ignore[attr-defined]
    assert "assignment" in skewed.recommendation  # type: ignore[attr-defined]


def test_srm_explained_by_errors_is_not_an_assignment_bug(engine: Engine) -> None:
    seeder = Seeder(engine, canary_pct=0.2)
    seeder.add(
        [[Row("primary", None, True)]] * 1600
        + [[Row("canary", None, True)]] * 300
        + [[Row("canary", None, False, error=True)]] * 100
    )
    result = _analyze(engine)
    assert not result.srm["assignment_flagged"] and result.srm["explained_by_errors"]  # type: ignore[attr-defined]
    assert result.verdict != "sample_ratio_mismatch"  # type: ignore[attr-defined]
    assert any("because of errors" in n for n in result.notes)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_aa_through_the_database_matches_the_count_level_decisions(engine: Engine) -> None:
    """The hard cell (5% canary, 98% agreement): night by night, the stored verdict equals
    what the count-level code decides on the same counts."""
    rng = np.random.default_rng(17)
    seeder = Seeder(engine, canary_pct=0.05)
    counts = [0, 0, 0, 0]  # x1, n1, x2, n2
    sticky = 0
    start = datetime(2026, 10, 1, 2, tzinfo=UTC)
    for night in range(30):
        rows = []
        for _ in range(50):
            arm = "canary" if rng.random() < 0.05 else "primary"
            correct = bool(rng.random() < 0.98)
            rows.append([Row(arm, "relevant", correct)])
            i = 2 if arm == "canary" else 0
            counts[i] += correct
            counts[i + 1] += 1
        seeder.add(rows)
        result = analyze_and_record(engine, now=start + timedelta(days=night))[0]
        expected = two_sample_test(*counts, tuning=CFG.sequential_tuning_labels)
        assert result.test["z"] == pytest.approx(expected.z)
        enough = min(counts[1], counts[3]) >= CFG.min_labels_per_arm
        sticky = sticky or (expected.direction if enough else 0)
        assert result.direction == sticky, (night, counts)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ExperimentAnalysis)) == 30


def test_cli_results_table_and_json(engine: Engine) -> None:
    seeder = Seeder(engine, canary_pct=0.3)
    seeder.add([[Row("primary" if i % 3 else "canary", "relevant", i % 4 > 0)] for i in range(200)])
    analyze_and_record(engine)
    out = CliRunner().invoke(cli, ["experiment", "results", "exp-1", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["look"] == 2 and data["verdict"] == "no_decision"
    assert {"test", "srm", "guardrails", "labels_needed", "fixed_horizon"} <= set(data)
    assert data["labels_needed"]["canary"] < data["labels_needed"]["total"]
    table = CliRunner().invoke(cli, ["experiment", "results", "exp-1"])
    assert "verdict: no_decision" in table.output and "split, 30% canary" in table.output
    assert "fixed-horizon: valid for one pre-planned look only" in table.output
    missing = CliRunner().invoke(cli, ["experiment", "results", "nope"])
    assert missing.exit_code == 2 and "unknown experiment" in missing.output


def test_asset_metadata_has_numeric_figures_and_the_check_its_p_values(
    engine: Engine, db_url: str
) -> None:
    from dagster import materialize

    from signalops_assets.experiments.analysis_assets import (
        experiment_analysis,
        experiment_srm_check,
    )
    from signalops_assets.resources import DatabaseResource

    seeder = Seeder(engine, canary_pct=0.2)
    seeder.add([[Row("primary", None, True)]] * 1540 + [[Row("canary", None, True)]] * 460)
    result = materialize(
        [experiment_analysis, experiment_srm_check],
        resources={"database": DatabaseResource(url=db_url)},
    )
    assert result.success
    meta = result.asset_materializations_for_node("experiment_analysis")[0].metadata
    assert meta["exp-1/verdict"].value == "sample_ratio_mismatch"
    assert meta["exp-1/look"].value == 1
    assert isinstance(meta["exp-1/primary/failure_rate"].value, float)
    assert meta["exp-1/srm_p_value"].value < 0.03
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "exp-1" in (check.description or "")
    assert check.metadata["exp-1/srm_p_value"].value < 0.03
