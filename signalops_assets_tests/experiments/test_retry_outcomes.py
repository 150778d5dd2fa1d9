"""An experiment arm counts one outcome per post: a canary failure re-judged on the next run
is superseded, not counted twice, in arm statistics and ab_results (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import ABExperiment, ABResult, Judgment
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.queries import ArmStats, Scope, arm_stats
from signalops_assets.judging.service import JudgeRunSummary
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer


def _arms(session: object, experiment_id: str) -> dict[str, ArmStats]:
    row = session.get(ABExperiment, experiment_id)  # type: ignore[attr-defined]
    assert row is not None
    return arm_stats(session, row, Scope(experiment_id, ()))  # type: ignore[arg-type]


def test_arm_counts_one_outcome_per_post_after_a_retry(
    engine: Engine,
    spectra: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., JudgeRunSummary],
) -> None:
    experiment = make_experiment(canary_pct=0.2)
    fake_llm.set_behavior("canary-y", status=500)
    first = run_judging(spectra)
    with session_scope(engine) as session:
        before = _arms(session, experiment)
    canary_posts = before["canary"].judgments
    assert canary_posts > 20 and before["canary"].errors == canary_posts == first.failures

    fake_llm.clear_behavior("canary-y")
    second = run_judging(spectra)
    assert second.posts_judged == canary_posts and second.recovered == canary_posts
    with session_scope(engine) as session:
        after = _arms(session, experiment)
        results = session.scalar(
            select(func.count()).select_from(ABResult).where(ABResult.arm == "canary")
        )
        history = session.scalar(
            select(func.count()).where(Judgment.arm == "canary", Judgment.superseded.is_(True))
        )
    assert (after["canary"].judgments, after["canary"].errors) == (canary_posts, 0)
    assert sum(after["canary"].labels.values()) == canary_posts
    assert after["canary"].judgments == canary_posts == results
    assert history == canary_posts  # the failures stay, as history
    assert after["primary"].judgments == before["primary"].judgments  # never re-judged
