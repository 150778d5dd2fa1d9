"""The fine-tune assets through Dagster's `materialize`: a passing gate starts the configured
experiment; a failing gate (ERROR, blocking) stops it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster import materialize
from sqlalchemy import Engine, func, select, update

from signalops_assets.cli.main import cli
from signalops_assets.db.models import ABExperiment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.fine_tuning.assets import (
    candidate_experiment,
    candidate_offline_gate,
    fine_tuned_judge,
    judge_training_set,
)
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets.vocab import LABELS

REPO = Path(__file__).resolve().parents[2]
ASSETS = [judge_training_set, fine_tuned_judge, candidate_offline_gate, candidate_experiment]


@pytest.fixture
def project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIGNALOPS_MODELS_DIR", str(tmp_path / "models"))
    path = tmp_path / "projects" / "spectra.yaml"
    text = path.read_text().replace("experiments:\n", "experiments:\n  auto_start: shadow\n", 1)
    path.write_text(text)
    return path


def _load(engine: Engine) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["posts", "import", str(REPO / "data/sample/posts.jsonl"),
                               "--project", "spectra"]).exit_code == 0  # fmt: skip
    assert (
        runner.invoke(
            cli, ["judgments", "import-labels", str(REPO / "data/sample/human_labels.csv")]
        ).exit_code
        == 0
    )


def _run(db_url: str) -> object:
    return materialize(
        ASSETS,
        resources={"database": DatabaseResource(url=db_url), "llm": LLMResource()},
        raise_on_error=False,
    )


def test_passing_gate_starts_the_shadow_experiment(
    engine: Engine, db_url: str, project_file: Path
) -> None:
    _load(engine)
    result = _run(db_url)
    assert result.success  # type: ignore[attr-defined]
    (check,) = result.get_asset_check_evaluations()  # type: ignore[attr-defined]
    assert check.passed, check.description
    with session_scope(engine) as session:
        experiment = session.scalars(select(ABExperiment)).one()
        assert experiment.mode == "shadow" and experiment.primary_model == "local/keyword-judge"
        assert experiment.canary_model.startswith("local/trained-judge/spectra-judge@")


def test_failing_gate_blocks_the_experiment(
    engine: Engine, db_url: str, project_file: Path
) -> None:
    """Held-out posts labelled exactly as the keyword judge answers, training posts at
    random: the candidate cannot match the current judge, and the blocking check fails."""
    from signalops_assets.config import load_project
    from signalops_assets.fine_tuning.training_sets import eval_split
    from signalops_assets.judging.factory import single_model_judge
    from signalops_assets.judging.prompts import PostInput
    from signalops_assets.llm.gateway import LLMGateway
    from signalops_assets.llm.loop import run_async

    _load(engine)
    cfg = load_project("spectra")
    judge = single_model_judge(LLMGateway(), cfg, "local/keyword-judge")
    rng = random.Random(4)
    with session_scope(engine) as session:
        for post in session.scalars(select(Post).where(Post.human_label.is_not(None))):
            if (
                eval_split("spectra", post.author, post.text, cfg.fine_tuning.eval_fraction)
                == "eval"
            ):
                inp = PostInput(post.id, post.platform_id, post.author, post.author_bio, post.text)
                label = run_async(judge.ajudge(inp))[0].label
            else:
                label = rng.choice(LABELS)
            session.execute(update(Post).where(Post.id == post.id).values(human_label=label))
    project_file.write_text(project_file.read_text() + "\nfine_tuning:\n  gate_margin: 0.0\n")
    result = _run(db_url)
    (check,) = result.get_asset_check_evaluations()  # type: ignore[attr-defined]
    assert not check.passed and "offline gate FAILED" in (check.description or "")
    assert check.metadata["spectra/current_agreement"].value == 1.0
    materialized = {
        m.asset_key.to_user_string()
        for m in result.get_asset_materialization_events()  # type: ignore[attr-defined]
        for m in [m.event_specific_data.materialization]
    }
    assert "candidate_experiment" not in materialized
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ABExperiment)) == 0
