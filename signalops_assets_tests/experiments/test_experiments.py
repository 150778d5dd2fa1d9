"""Experiment lifecycle on SQLite and PostgreSQL: validation, one active experiment per project
(also under concurrent creates), transitions, per-arm counts, and promotion."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.models import ABExperiment, Project
from signalops_assets.db.session import session_scope
from signalops_assets.errors import InvalidTransitionError, NotFoundError, SignalOpsError
from signalops_assets.experiments import registry
from signalops_assets.experiments.service import (
    create_experiment,
    list_experiments,
    pause_experiment,
    resume_experiment,
    stop_experiment,
)
from signalops_assets.judging.factory import create_judge
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets_tests.experiments.conftest import CANARY, PRIMARY
from signalops_assets_tests.factories import judgment, seed_judgments, seed_posts


def _count_experiments(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(ABExperiment)) or 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"canary_pct": 0.0}, "strictly between 0 and 1"),
        ({"canary_pct": 1.0}, "strictly between 0 and 1"),
        ({"canary_pct": -0.2}, "strictly between 0 and 1"),
        ({"canary": PRIMARY}, "same model"),
        ({"mode": "canary"}, "unknown mode 'canary'"),
        ({"project_id": "ghost"}, "unknown project 'ghost'"),
    ],
)
def test_invalid_create_is_one_line_and_writes_nothing(
    engine: Engine, make_experiment: Callable[..., str], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SignalOpsError, match=message) as info:
        make_experiment(**kwargs)
    assert "\n" not in str(info.value)
    assert _count_experiments(engine) == 0


def test_create_syncs_a_configured_project_missing_from_the_database(
    engine: Engine, make_experiment: Callable[..., str]
) -> None:
    experiment_id = make_experiment(hypothesis="canary is cheaper")
    assert experiment_id.startswith(f"exp-{datetime.now(UTC):%Y%m%d}-")
    assert len(experiment_id.rsplit("-", 1)[1]) == 6
    with session_scope(engine) as session:
        assert session.get(Project, "spectra") is not None
        row = session.get(ABExperiment, experiment_id)
        assert row is not None and row.status == "active" and row.hypothesis == "canary is cheaper"


def test_second_active_experiment_is_refused(
    engine: Engine, make_experiment: Callable[..., str]
) -> None:
    first = make_experiment()
    with pytest.raises(
        SignalOpsError, match=f"project spectra already has an active experiment {first}"
    ):
        make_experiment(canary="openai/other")
    assert _count_experiments(engine) == 1


def _create_in_thread(engine: Engine, results: list[object], barrier: threading.Barrier) -> None:
    try:
        barrier.wait()
        with session_scope(engine) as session:
            results.append(
                create_experiment(session, "spectra", PRIMARY, CANARY, 0.1).experiment_id
            )
    except Exception as exc:
        results.append(exc)


def test_two_concurrent_creates_exactly_one_wins(engine: Engine, spectra: ProjectConfig) -> None:
    results: list[object] = []
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=_create_in_thread, args=(engine, results, barrier)) for _ in "ab"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], SignalOpsError)
    assert f"already has an active experiment {winners[0]}" in str(losers[0])
    assert _count_experiments(engine) == 1


def test_unique_index_decides_a_race_past_the_check(engine: Engine, spectra: ProjectConfig) -> None:
    """The second create passes the pre-check (the first is not committed yet) and must be
    stopped by the partial unique index, surfacing the winner's id once it commits."""
    first = Session(engine, expire_on_commit=False)
    try:
        winner = create_experiment(first, "spectra", PRIMARY, CANARY, 0.1).experiment_id
        results: list[object] = []
        thread = threading.Thread(
            target=_create_in_thread, args=(engine, results, threading.Barrier(1))
        )
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # blocked on the first transaction's index entry / lock
        first.commit()
    finally:
        first.close()
    thread.join(timeout=30)
    assert len(results) == 1 and isinstance(results[0], SignalOpsError), results
    assert str(results[0]) == f"project spectra already has an active experiment {winner}"


def test_transitions(engine: Engine, make_experiment: Callable[..., str]) -> None:
    experiment_id = make_experiment()
    with session_scope(engine) as session:
        assert pause_experiment(session, experiment_id).status == "paused"
    with session_scope(engine) as session, pytest.raises(InvalidTransitionError, match="paused"):
        pause_experiment(session, experiment_id)
    # Paused frees the project's active slot; resuming then collides with the newcomer.
    other = make_experiment(canary="openai/other")
    with (
        session_scope(engine) as session,
        pytest.raises(SignalOpsError, match=f"already has an active experiment {other}"),
    ):
        resume_experiment(session, experiment_id)
    with session_scope(engine) as session:
        stop_experiment(session, other)
        assert resume_experiment(session, experiment_id).status == "active"
    with session_scope(engine) as session:
        stopped = stop_experiment(session, experiment_id)
        assert stopped.status == "completed" and stopped.ended_at is not None
        assert "promoted" not in stopped.extra
    for action in (pause_experiment, resume_experiment, stop_experiment):
        with (
            session_scope(engine) as session,
            pytest.raises(InvalidTransitionError, match="it is completed"),
        ):
            action(session, experiment_id)
    with session_scope(engine) as session, pytest.raises(NotFoundError, match="unknown experiment"):
        stop_experiment(session, "exp-nope")


def test_list_counts_judgments_per_arm(
    engine: Engine, make_experiment: Callable[..., str], tmp_path: Path
) -> None:
    exp_a = make_experiment()
    with session_scope(engine) as session:
        stop_experiment(session, exp_a)
    exp_b = make_experiment(canary="openai/other")
    arms = ["primary", "primary", "canary", "primary"]
    posts = seed_posts(engine, tmp_path, ["seeded"] * len(arms)).post_ids
    seed_judgments(
        engine,
        "spectra",
        [
            judgment(post_id, "relevant", f"experiment:{exp_b}", experiment_id=exp_b, arm=arm)
            for post_id, arm in zip(posts, arms, strict=True)
        ],
    )
    with session_scope(engine) as session:
        listed = {e.experiment_id: e for e in list_experiments(session)}
        active = list_experiments(session, status="active")
        other_project = list_experiments(session, project_id="other")
    assert listed[exp_b].judgments == {"primary": 3, "canary": 1}
    assert listed[exp_a].judgments == {} and listed[exp_a].status == "completed"
    assert [e.experiment_id for e in active] == [exp_b] and other_project == []


def test_deactivated_or_drafter_models_are_refused(
    engine: Engine, make_experiment: Callable[..., str]
) -> None:
    with session_scope(engine) as session:
        registry.register_model(session, CANARY, "openai", "judge")
        registry.set_active(session, CANARY, False)
        registry.register_model(session, "openai/drafty", "openai", "drafter")
    with pytest.raises(SignalOpsError, match="deactivated"):
        make_experiment()
    with pytest.raises(SignalOpsError, match="drafter, not a judge"):
        make_experiment(canary="openai/drafty")
    assert _count_experiments(engine) == 0


def test_stop_promote_makes_canary_the_durable_judge(
    engine: Engine,
    spectra: ProjectConfig,
    make_experiment: Callable[..., str],
    fake_gateway: LLMGateway,
) -> None:
    experiment_id = make_experiment()
    with (
        session_scope(engine) as session,
        pytest.raises(SignalOpsError, match="the verdict is no_decision"),
    ):
        stop_experiment(session, experiment_id, promote=True)
    with session_scope(engine) as session:
        stopped = stop_experiment(session, experiment_id, promote=True, force_reason="test")
        promoted = stopped.extra["promoted"]
    assert promoted["model"] == CANARY
    assert promoted["previous_judge"] == spectra.llm.judge_model == "local/keyword-judge"
    assert datetime.fromisoformat(promoted["at"]).tzinfo is not None
    with session_scope(engine) as session:
        project = session.get(Project, "spectra")
        assert project is not None and project.judge_model_override == CANARY
        entry = registry.get_model(session, CANARY)
        assert entry is not None and entry.is_active and entry.provider == "openai"
        assert entry.model_type == "judge" and entry.extra["promoted_by"] == experiment_id
        # A fresh config load (a new run) still judges with the canary.
        judge = create_judge(session, fake_gateway, load_project("spectra"))
        assert judge.done_key == CANARY and "experiment" not in judge.description
        row = session.get(ABExperiment, experiment_id)
        assert row is not None and row.extra["promoted"] == promoted


def test_promote_reactivates_a_registered_canary_and_records_the_override(
    engine: Engine, spectra: ProjectConfig, make_experiment: Callable[..., str]
) -> None:
    first = make_experiment()
    with session_scope(engine) as session:
        stop_experiment(session, first, promote=True, force_reason="test")
    # A second experiment against the promoted judge; its canary is registered, and can only
    # be deactivated once the experiment is paused.
    with session_scope(engine) as session:
        registry.register_model(session, "ft:gpt-4o-mini:org::abc", "openai", "judge")
    second = make_experiment(primary=CANARY, canary="ft:gpt-4o-mini:org::abc")
    with (
        pytest.raises(SignalOpsError, match=f"arm of active experiment {second}"),
        session_scope(engine) as session,
    ):
        registry.set_active(session, "ft:gpt-4o-mini:org::abc", False)
    with session_scope(engine) as session:
        pause_experiment(session, second)
        registry.set_active(session, "ft:gpt-4o-mini:org::abc", False)
    with session_scope(engine) as session:
        promoted = stop_experiment(session, second, promote=True, force_reason="t").extra[
            "promoted"
        ]
    assert promoted["previous_judge"] == CANARY
    with session_scope(engine) as session:
        entry = registry.get_model(session, "ft:gpt-4o-mini:org::abc")
        assert entry is not None and entry.is_active
        project = session.get(Project, "spectra")
        assert project is not None and project.judge_model_override == "ft:gpt-4o-mini:org::abc"
