"""Sticky assignment, and split / shadow / paused judging end to end through LiteLLM to the fake
OpenAI server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import ABResult, Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.service import pause_experiment, resume_experiment
from signalops_assets.judging.ab import ABTestJudge, assign_arm, assignment_unit
from signalops_assets.judging.factory import create_judge
from signalops_assets.judging.judges import LLMPromptJudge
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets_tests.experiments.conftest import CANARY, PRIMARY
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
SAMPLE_IDS = [
    json.loads(line)["platform_id"]
    for line in (REPO / "data/sample/posts.jsonl").read_text().splitlines()
    if line.strip()
]


def test_assignment_is_sticky_and_never_random(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> float:
        raise AssertionError("assignment must not use random")

    monkeypatch.setattr(random, "random", boom)
    first = [assign_arm("exp-1", pid, 0.2) for pid in SAMPLE_IDS]
    again = [assign_arm("exp-1", pid, 0.2) for pid in SAMPLE_IDS]
    assert first == again
    # The experiment id is the salt: another experiment splits the same posts differently.
    other = [assign_arm("exp-2", pid, 0.2) for pid in SAMPLE_IDS]
    assert first != other
    assert all(0.0 <= assignment_unit("exp-1", pid) < 1.0 for pid in SAMPLE_IDS)


@pytest.mark.parametrize("pct", [0.1, 0.2, 0.5])
def test_canary_share_is_close_to_pct_over_sample_posts(pct: float) -> None:
    for experiment_id in ("exp-20260101-aaaaaa", "exp-20260101-bbbbbb", "exp-x"):
        canary = sum(assign_arm(experiment_id, p, pct) == "canary" for p in SAMPLE_IDS)
        share = canary / len(SAMPLE_IDS)
        # 330 posts: the binomial standard deviation is at most 2.8 points; allow ~3 of them.
        assert abs(share - pct) < 0.085, (experiment_id, share)


def test_split_of_10000_posts_at_20_pct_is_within_4_sigma() -> None:
    """Binomial(n=10,000, p=0.2): sigma = sqrt(n p (1-p)) = 40, so 4 sigma = 160 posts. A hash
    that leaks structure from sequential post ids would land far outside."""
    n, pct = 10_000, 0.2
    sigma = math.sqrt(n * pct * (1 - pct))
    for experiment_id in ("exp-20260101-aaaaaa", "exp-20261126-95c55a"):
        canary = sum(assign_arm(experiment_id, str(i), pct) == "canary" for i in range(1, n + 1))
        assert abs(canary - n * pct) <= 4 * sigma, (experiment_id, canary)


def test_raising_pct_keeps_earlier_canary_posts_in_canary() -> None:
    canary = {p for p in SAMPLE_IDS if assign_arm("exp-7", p, 0.1) == "canary"}
    wider = {p for p in SAMPLE_IDS if assign_arm("exp-7", p, 0.3) == "canary"}
    assert canary and canary < wider


def _ab_rows(engine: Engine) -> list[Any]:
    with session_scope(engine) as session:
        return list(
            session.execute(
                select(ABResult, Judgment).join(Judgment, Judgment.id == ABResult.judgment_id)
            )
        )


def test_split_mode_attributes_every_judgment_and_runs_once(
    engine: Engine,
    spectra: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., Any],
) -> None:
    experiment_id = make_experiment(canary_pct=0.2)
    summary = run_judging(spectra)
    with session_scope(engine) as session:
        posts = session.scalar(select(func.count()).select_from(Post))
        judgments = list(session.scalars(select(Judgment)))
        platform = dict(session.execute(select(Post.id, Post.platform_id)).tuples().all())
    assert summary.posts_judged == posts == len(judgments) == 330
    assert summary.failures == 0 and summary.experiment_id == experiment_id
    assert all(j.experiment_id == experiment_id and j.is_primary for j in judgments)
    # Each post went to the arm its hash says, and that arm's model answered.
    for j in judgments:
        assert j.arm == assign_arm(experiment_id, platform[j.post_id], 0.2)
        assert j.model_id == (CANARY if j.arm == "canary" else PRIMARY)
    arms = Counter(j.arm for j in judgments)
    assert 0.12 < arms["canary"] / 330 < 0.28
    assert fake_llm.call_count("canary-y") == arms["canary"]
    # Every ab_results row references the persisted judgment with the same post, arm and model.
    rows = _ab_rows(engine)
    assert len(rows) == len(judgments)
    for result, judgment in rows:
        assert (result.post_id, result.arm, result.model_id, result.experiment_id) == (
            judgment.post_id,
            judgment.arm,
            judgment.model_id,
            judgment.experiment_id,
        )
        assert result.latency_ms == judgment.latency_ms
    calls = fake_llm.call_count()
    again = run_judging(spectra)
    assert again.posts_judged == 0 and fake_llm.call_count() == calls
    assert len(_ab_rows(engine)) == len(judgments)


def test_shadow_mode_judges_every_post_with_both_models(
    engine: Engine,
    spectra: ProjectConfig,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., Any],
) -> None:
    experiment_id = make_experiment(canary_pct=0.1, mode="shadow")
    summary = run_judging(spectra)
    assert summary.posts_judged == 330 and summary.judgments_stored == 660
    with session_scope(engine) as session:
        per_post = Counter(session.scalars(select(Judgment.post_id)))
        rows = list(session.scalars(select(Judgment)))
    assert set(per_post.values()) == {2} and len(per_post) == 330
    canary = [j for j in rows if j.arm == "canary"]
    primary = [j for j in rows if j.arm == "primary"]
    assert len(canary) == len(primary) == 330
    assert all(not j.is_primary and j.model_id == CANARY for j in canary)
    assert all(j.is_primary and j.model_id == PRIMARY for j in primary)
    assert all(j.experiment_id == experiment_id for j in rows)
    assert len(_ab_rows(engine)) == 660
    assert run_judging(spectra).posts_judged == 0


def test_paused_experiment_routes_everything_to_primary_unattributed(
    engine: Engine,
    spectra: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    fake_gateway: LLMGateway,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., Any],
) -> None:
    experiment_id = make_experiment(canary_pct=0.5)
    with session_scope(engine) as session:
        pause_experiment(session, experiment_id)
        judge = create_judge(session, fake_gateway, spectra)
    assert isinstance(judge, LLMPromptJudge) and judge.model == PRIMARY
    summary = run_judging(spectra, limit=60)  # routing, not volume: a slice is enough
    assert summary.posts_judged == 60 and summary.arms == {}
    with session_scope(engine) as session:
        rows = list(session.scalars(select(Judgment)))
        results = session.scalar(select(func.count()).select_from(ABResult))
    assert {j.model_id for j in rows} == {PRIMARY}
    assert all(j.experiment_id is None and j.arm is None and j.is_primary for j in rows)
    assert results == 0 and fake_llm.call_count("canary-y") == 0
    with session_scope(engine) as session:
        resume_experiment(session, experiment_id)
        assert isinstance(create_judge(session, fake_gateway, spectra), ABTestJudge)


def test_experiments_disabled_ignores_active_experiment(
    engine: Engine,
    spectra: ProjectConfig,
    fake_gateway: LLMGateway,
    make_experiment: Callable[..., str],
) -> None:
    make_experiment()
    with session_scope(engine) as session:
        assert isinstance(create_judge(session, fake_gateway, spectra), ABTestJudge)
        disabled = spectra.model_copy(
            update={"experiments": spectra.experiments.model_copy(update={"enabled": False})}
        )
        judge = create_judge(session, fake_gateway, disabled)
    assert isinstance(judge, LLMPromptJudge) and judge.model == spectra.llm.judge_model
