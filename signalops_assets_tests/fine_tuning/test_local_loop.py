"""The offline loop through the CLI a user runs, on SQLite and PostgreSQL: human labels →
training set (recorded, held-out split) → local trained judge served through LiteLLM →
registry lineage → offline gate → experiment that leaves the training posts out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from signalops_assets.db.session import session_scope
from signalops_assets.db.training_models import TrainingSet, TrainingSetPost
from signalops_assets_tests.cli.helpers import run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "models"
    monkeypatch.setenv("SIGNALOPS_MODELS_DIR", str(path))
    return path


def _load_sample() -> None:
    assert run(f"posts import {REPO / 'data/sample/posts.jsonl'} --project spectra").exit_code == 0
    assert run(f"judgments import-labels {REPO / 'data/sample/human_labels.csv'}").exit_code == 0


def test_local_loop_from_labels_to_an_experiment(engine: Engine, models_dir: Path) -> None:
    _load_sample()
    created = run("finetune create --project spectra")
    assert created.exit_code == 0, created.output
    model_id = created.stdout.strip()
    assert model_id.startswith("local/trained-judge/spectra-judge@ts")
    assert "offline gate" in created.stderr and "held-out labels" in created.stderr

    with session_scope(engine) as session:
        ts = session.scalars(select(TrainingSet)).one()
        splits = dict(
            session.execute(
                select(TrainingSetPost.split, func.count()).group_by(TrainingSetPost.split)
            ).all()
        )
        files = dict(ts.files)
    assert splits["train"] + splits["eval"] == 110 and splits["eval"] > 0
    for split in ("train", "eval"):
        path = Path(files[split]["path"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == files[split]["sha256"]
        answers = [json.loads(json.loads(line)["messages"][-1]["content"]) for line in path.open()]
        assert len(answers) == splits[split] == files[split]["rows"]
        assert not any(a.get("reasoning") == "human label" for a in answers)
        assert {a["label"] for a in answers} <= {"relevant", "irrelevant", "maybe"}

    shown = run(f"model show {model_id}")
    info = json.loads(shown.stdout)
    assert info["training_set_id"] == ts.id and info["training_posts"] == splits["train"]
    assert info["base_model"] == "tfidf-logreg-calibrated"
    gate = info["metrics"]["offline_gate"]
    assert gate["n"] == splits["eval"] and gate["current"] == "local/keyword-judge"
    assert gate["candidate_low"] <= gate["candidate_agreement"] <= gate["candidate_high"]
    listed = run("finetune list")
    assert "succeeded" in listed.stdout and model_id in listed.stdout
    assert run("finetune status 1").stdout.startswith("job 1: succeeded")
    one_line = run("finetune status 99")
    assert one_line.exit_code == 2 and "unknown fine-tune job 99" in one_line.output

    # A shadow experiment against the candidate leaves its training posts out of both arms.
    exp = run(
        "experiment create --project spectra --primary local/keyword-judge "
        f"--canary {model_id} --mode shadow"
    )
    assert exp.exit_code == 0, exp.output
    experiment_id = exp.stdout.strip()
    from dagster import materialize

    from signalops_assets.judging.assets import judged_posts
    from signalops_assets.resources import DatabaseResource, LLMResource

    url = str(engine.url.render_as_string(hide_password=False))
    assert materialize(
        [judged_posts], resources={"database": DatabaseResource(url=url), "llm": LLMResource()}
    ).success
    results = json.loads(run(f"experiment results {experiment_id} --format json").stdout)
    assert results["excluded_training_posts"] == splits["train"]
    assert results["arms"][1]["labeled"] == splits["eval"]  # only held-out labels remain
    assert results["arms"][1]["errors"] == 0


def test_too_few_examples_is_one_line_and_writes_nothing(
    engine: Engine, models_dir: Path, tmp_path: Path
) -> None:
    _load_sample()
    projects = tmp_path / "projects" / "spectra.yaml"
    projects.write_text(projects.read_text() + "\nfine_tuning:\n  min_examples_per_label: 500\n")
    refused = run("finetune create --project spectra")
    assert refused.exit_code == 2 and refused.output.count("\n") == 1
    assert "too few training examples per label" in refused.output
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(TrainingSet)) == 0
    assert not (tmp_path / "exports" / "spectra" / "judge_training_set").exists()
    assert not models_dir.exists()


def test_a_tampered_artefact_fails_the_call_with_a_clear_error(
    engine: Engine, models_dir: Path
) -> None:
    _load_sample()
    model_id = run("finetune create --project spectra --no-gate").stdout.strip()
    artefact = next(models_dir.glob("spectra-judge/*/model.joblib"))
    artefact.write_bytes(artefact.read_bytes() + b"tampered")
    from signalops_assets.config import load_project
    from signalops_assets.judging.factory import single_model_judge
    from signalops_assets.judging.prompts import PostInput
    from signalops_assets.llm.gateway import LLMGateway
    from signalops_assets.llm.loop import run_async

    judge = single_model_judge(LLMGateway(num_retries=0), load_project("spectra"), model_id)
    (judgment,) = run_async(judge.ajudge(PostInput(1, "x:1", "a", "", "gpu trace latency")))
    assert judgment.error is not None and "sha256" in judgment.error
