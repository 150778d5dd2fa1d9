"""No paid call twice: experiment arms reuse judgments of the same model and prompt version
(the fake provider's request log proves no second call), statistics cannot tell reused from
fresh, and shadow retries call only the arm that failed. SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.models import ABResult, Judgment
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.analysis import analyze_experiment
from signalops_assets.experiments.service import stop_experiment
from signalops_assets.judging.service import JudgeRunSummary
from signalops_assets_tests.experiments.conftest import PRIMARY
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]


def _with_judge(project: ProjectConfig, model: str, **llm: Any) -> ProjectConfig:
    return project.model_copy(
        update={"llm": project.llm.model_copy(update={"judge_model": model, **llm})}
    )


@pytest.fixture
def few(engine: Engine, isolated_env: Path) -> ProjectConfig:
    """spectra with its first 24 sample posts."""
    from signalops_assets.posts import ensure_project, import_posts

    posts = isolated_env / "few.jsonl"
    lines = (REPO / "data/sample/posts.jsonl").read_text().splitlines()[:24]
    posts.write_text("\n".join(lines) + "\n")
    cfg = load_project("spectra")
    with session_scope(engine) as session:
        ensure_project(session, cfg)
        import_posts(session, "spectra", posts)
    return cfg


def _rows(engine: Engine, **where: Any) -> list[Judgment]:
    with session_scope(engine) as session:
        stmt = select(Judgment).filter_by(**where).order_by(Judgment.id)
        rows = list(session.scalars(stmt))
        session.expunge_all()
    return rows


def test_a_shadow_experiment_reuses_the_backlog_its_primary_judged(
    engine: Engine,
    few: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., JudgeRunSummary],
) -> None:
    backlog = run_judging(_with_judge(few, PRIMARY))
    assert backlog.calls == 24 and fake_llm.call_count("primary-x") == 24
    experiment = make_experiment(mode="shadow")
    summary = run_judging(few)
    assert fake_llm.call_count("primary-x") == 24  # not one call more
    assert fake_llm.call_count("canary-y") == 24
    assert (summary.reused, summary.calls, summary.judgments_stored) == (24, 24, 48)
    originals = {r.id: r for r in _rows(engine, judge_key=PRIMARY)}
    reused = _rows(engine, judge_key=f"experiment:{experiment}")
    assert len(reused) == 24 and all(r.reused_from_id in originals for r in reused)
    for row in reused:
        source = originals[row.reused_from_id or 0]
        assert (row.label, row.confidence, row.prompt_version, row.model_id) == (
            source.label,
            source.confidence,
            source.prompt_version,
            source.model_id,
        )
        assert row.cost_usd == 0.0 and row.arm == "primary" and row.experiment_id == experiment
    assert not any(r.superseded for r in originals.values())
    with session_scope(engine) as session:
        results = session.scalar(
            select(func.count()).select_from(ABResult).where(ABResult.experiment_id == experiment)
        )
    assert results == 48
    assert run_judging(few).posts_judged == 0 and fake_llm.call_count() == 48


def test_a_split_experiment_calls_only_its_canary_share(
    engine: Engine,
    few: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., JudgeRunSummary],
) -> None:
    run_judging(_with_judge(few, PRIMARY))
    experiment = make_experiment(canary_pct=0.3)
    summary = run_judging(few)
    rows = _rows(engine, judge_key=f"experiment:{experiment}")
    canary = [r for r in rows if r.arm == "canary"]
    assert 0 < len(canary) < 24 and len(rows) == 24
    assert fake_llm.call_count("primary-x") == 24  # the primary share is all reused
    assert fake_llm.call_count("canary-y") == len(canary) == summary.calls
    assert summary.reused == 24 - len(canary)
    assert all(r.reused_from_id is None for r in canary)


@pytest.mark.parametrize("failing", ["primary", "canary"])
def test_a_shadow_retry_calls_only_the_arm_that_failed(
    failing: str,
    engine: Engine,
    few: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., JudgeRunSummary],
) -> None:
    broken, fine = ("primary-x", "canary-y") if failing == "primary" else ("canary-y", "primary-x")
    make_experiment(mode="shadow")
    fake_llm.set_behavior(broken, status=500)
    first = run_judging(few)
    assert first.failures == 24 and fake_llm.call_count(fine) == 24
    fake_llm.clear_behavior(broken)
    second = run_judging(few)
    assert second.posts_judged == 24 and second.recovered == 24
    assert fake_llm.call_count(fine) == 24  # its successes were never asked again
    assert fake_llm.call_count(broken) == 48
    current = _rows(engine, superseded=False)
    assert len(current) == 48 and all(r.error is None for r in current)


def test_a_changed_prompt_rejudges_but_unknown_versions_stay_done(
    engine: Engine,
    few: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    run_judging: Callable[..., JudgeRunSummary],
) -> None:
    project = _with_judge(few, PRIMARY)
    run_judging(project)
    with session_scope(engine) as session:  # judged before versions were recorded
        ids = list(session.scalars(select(Judgment.id).order_by(Judgment.id).limit(4)))
        session.execute(update(Judgment).where(Judgment.id.in_(ids)).values(prompt_version=None))
    assert run_judging(project).posts_judged == 0
    changed = project.model_copy(
        update={"relevance_prompt": "Be strict. " + project.relevance_prompt}
    )
    summary = run_judging(changed)
    assert summary.posts_judged == 20 and fake_llm.call_count("primary-x") == 44
    assert summary.superseded == 20 and summary.recovered == 0
    current = _rows(engine, superseded=False)
    assert len(current) == 24 and sum(r.prompt_version is None for r in current) == 4
    assert run_judging(changed).posts_judged == 0


def test_an_unknown_version_is_never_reused(
    engine: Engine,
    few: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., JudgeRunSummary],
) -> None:
    run_judging(_with_judge(few, PRIMARY))
    with session_scope(engine) as session:
        session.execute(update(Judgment).values(prompt_version=None))
    make_experiment(mode="shadow")
    summary = run_judging(few)
    assert summary.reused == 0 and fake_llm.call_count("primary-x") == 48


def test_verdicts_are_identical_whether_judgments_were_reused_or_fresh(
    engine: Engine,
    spectra: ProjectConfig,
    fake_llm: FakeOpenAIServer,
    make_experiment: Callable[..., str],
    run_judging: Callable[..., JudgeRunSummary],
) -> None:
    from signalops_assets.judging.labels import import_labels

    with session_scope(engine) as session:
        import_labels(session, REPO / "data/sample/human_labels.csv", project_id="spectra")
    fresh_id = make_experiment(mode="shadow")
    assert run_judging(spectra).calls == 660
    with session_scope(engine) as session:
        stop_experiment(session, fresh_id)
    calls = fake_llm.call_count()
    reused_id = make_experiment(mode="shadow")
    summary = run_judging(spectra)
    assert summary.reused == 660 and summary.calls == 0 and fake_llm.call_count() == calls
    with session_scope(engine) as session:
        fresh = analyze_experiment(session, fresh_id)
        reused = analyze_experiment(session, reused_id)
    assert fresh.arms[0].labeled > 30  # the sample's labels reached both experiments

    def comparable(result: Any) -> dict[str, Any]:
        data = dataclasses.asdict(result)
        for key in ("experiment_id", "analyzed_at", "status", "decided_at"):
            data.pop(key)
        return data

    assert comparable(reused) == comparable(fresh)
    assert reused.verdict == fresh.verdict
