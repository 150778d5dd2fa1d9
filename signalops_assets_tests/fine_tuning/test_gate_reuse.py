"""The offline gate reads the current judge's logged successful judgments of the held-out posts
and calls it only for the posts it never judged successfully: proven by the fake server's
request log, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import materialize
from sqlalchemy import Engine, delete, select, update

from signalops_assets.db.models import Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.db.training_models import TrainingSetPost
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.cli.helpers import run
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
CURRENT = "current-judge"


def test_gate_calls_the_current_judge_only_for_posts_it_never_judged(
    engine: Engine,
    db_url: str,
    fake_llm: FakeOpenAIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIGNALOPS_LLM_API_BASE", fake_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-gate")
    project = tmp_path / "projects" / "spectra.yaml"
    project.write_text(
        project.read_text().replace(
            "judge_model: local/keyword-judge", f"judge_model: openai/{CURRENT}"
        )
    )
    assert run(f"posts import {REPO / 'data/sample/posts.jsonl'} --project spectra").exit_code == 0
    assert run(f"judgments import-labels {REPO / 'data/sample/human_labels.csv'}").exit_code == 0
    from signalops_assets.judging.assets import judged_posts

    llm = LLMResource(api_base=fake_llm.base_url)
    resources = {"database": DatabaseResource(url=db_url), "llm": llm}
    assert materialize([judged_posts], resources=resources).success
    assert fake_llm.call_count(CURRENT) > 0

    # The held-out split is a hash of the content, known before the training set is built.
    from signalops_assets.config import load_project
    from signalops_assets.fine_tuning.training_sets import eval_split

    cfg = load_project("spectra")
    with session_scope(engine) as session:
        labelled = session.scalars(
            select(Post).where(Post.human_label.is_not(None)).order_by(Post.id)
        ).all()
        held_out = [p for p in labelled if eval_split("spectra", p.author, p.text, 0.2) == "eval"]
        failed, never = held_out[0], held_out[1]
        session.execute(  # a failed judgment is no answer: the gate must ask again
            update(Judgment)
            .where(Judgment.post_id == failed.id)
            .values(label=None, error="InternalServerError: injected")
        )
        session.execute(delete(Judgment).where(Judgment.post_id == never.id))
        texts = {failed.text, never.text}
    assert cfg.fine_tuning.eval_fraction == 0.2
    fake_llm.reset()

    created = run("finetune create --project spectra")
    assert created.exit_code == 0, created.output
    asked = fake_llm.calls(CURRENT)
    assert len(asked) == 2
    assert {t for t in texts for call in asked if t in call.prompt_text} == texts
    with session_scope(engine) as session:
        n_eval = len(
            session.scalars(
                select(TrainingSetPost.post_id).where(TrainingSetPost.split == "eval")
            ).all()
        )
    gate = json.loads(run(f"model show {created.stdout.strip()}").stdout)["metrics"]["offline_gate"]
    assert gate["current"] == f"openai/{CURRENT}" and gate["n"] == n_eval == len(held_out)
    assert gate["current_reused"] == n_eval - 2
