"""The remote loop on SQLite and PostgreSQL, against the fake provider through the real LiteLLM
SDK: `finetune create --backend litellm` uploads the training set and submits a job,
`fine_tune_job_sensor` polls it, registers the `ft:` model exactly once (across restarts) and
requests the gate, whose run judges through the model the fake now serves; failures and
cancellations are recorded with their reason."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from dagster import build_sensor_context, materialize
from sqlalchemy import Engine, func, select

from signalops_assets.db.models import ABExperiment, ModelRegistryEntry
from signalops_assets.db.session import session_scope
from signalops_assets.db.training_models import FineTuneJob, TrainingSet
from signalops_assets.resources import DatabaseResource, LLMResource
from signalops_assets_tests.cli.helpers import run
from signalops_assets_tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
BASE = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def remote(
    engine: Engine, fake_llm: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeOpenAIServer:
    """The sample loaded, the fake as the provider (env), a project asking for 3 epochs."""
    monkeypatch.setenv("SIGNALOPS_LLM_API_BASE", fake_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-remote-loop")
    project = tmp_path / "projects" / "spectra.yaml"
    text = project.read_text().replace("experiments:\n", "experiments:\n  auto_start: shadow\n", 1)
    project.write_text(
        text + "\nfine_tuning:\n  hyperparameters: {n_epochs: 3}\n  gate_margin: 1.0\n"
    )
    assert run(f"posts import {REPO / 'data/sample/posts.jsonl'} --project spectra").exit_code == 0
    assert run(f"judgments import-labels {REPO / 'data/sample/human_labels.csv'}").exit_code == 0
    return fake_llm


def _tick(db_url: str, fake: FakeOpenAIServer, cursor: str | None = None) -> Any:
    """One sensor evaluation in a fresh context (what a restarted daemon runs)."""
    from signalops_assets.fine_tuning.sensors import fine_tune_job_sensor

    context = build_sensor_context(
        cursor=cursor,
        resources={
            "database": DatabaseResource(url=db_url),
            "llm": LLMResource(api_base=fake.base_url),
        },
    )
    return fine_tune_job_sensor(context)


def _job(engine: Engine) -> FineTuneJob:
    with session_scope(engine) as session:
        job = session.scalars(select(FineTuneJob)).one()
        session.expunge(job)
        return job


def _registered(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(ModelRegistryEntry)) or 0)


def test_success_registers_once_across_restarts_then_gates(
    engine: Engine, db_url: str, remote: FakeOpenAIServer
) -> None:
    created = run("finetune create --project spectra --backend litellm --provider openai")
    assert created.exit_code == 0, created.output
    assert created.stdout.strip() == "1"
    (fake_job,) = remote.fine_tuning.jobs()
    assert fake_job.model == BASE and fake_job.hyperparameters == {"n_epochs": 3}
    with session_scope(engine) as session:
        files = dict(session.scalars(select(TrainingSet)).one().files)
    for split, file_id in (("train", fake_job.training_file), ("eval", fake_job.validation_file)):
        uploaded = remote.files.get(str(file_id))
        assert uploaded is not None and uploaded.purpose == "fine-tune"
        assert hashlib.sha256(uploaded.data).hexdigest() == files[split]["sha256"]
    assert _job(engine).external_job_id == fake_job.id

    assert _tick(db_url, remote).run_requests == []  # validating_files → queued
    assert _job(engine).status == "queued"
    assert _tick(db_url, remote, cursor="stale").run_requests == []  # → running
    assert _job(engine).status == "running"
    first = _tick(db_url, remote)  # → succeeded: registered, gate requested
    job = _job(engine)
    assert job.status == "succeeded" and str(job.model_id).startswith(f"ft:{BASE}:fake-org:")
    model_id = str(job.model_id)
    assert [r.run_key for r in first.run_requests] == [f"gate:{model_id}"]
    for cursor in (None, "old-cursor"):  # daemon restarts: nothing registers twice
        again = _tick(db_url, remote, cursor)
        assert [r.run_key for r in again.run_requests] == [f"gate:{model_id}"]
    assert _registered(engine) == 1

    # A second poller overlapping the first reports the same success: still one entry.
    from signalops_assets.fine_tuning.litellm_backend import RemoteStatus
    from signalops_assets.fine_tuning.remote import record_status

    racing = record_status(
        engine, job.id, RemoteStatus("succeeded", "succeeded", model_id, None, 1)
    )
    assert not racing.registered and _registered(engine) == 1

    shown = json.loads(run(f"model show {model_id}").stdout)
    assert shown["base_model"] == BASE and shown["provider"] == "openai"
    assert shown["training_set_id"] == 1 and shown["version"].startswith("ts1-")
    assert shown["training_examples"] == files["train"]["rows"] == shown["training_posts"]
    assert shown["metrics"]["provider"]["trained_tokens"] == 1234

    # The requested run: the same gate and experiment, judging through the served ft: model.
    from signalops_assets.fine_tuning.assets import (
        candidate_experiment,
        candidate_offline_gate,
        fine_tuned_judge,
    )

    result = materialize(
        [fine_tuned_judge, candidate_offline_gate, candidate_experiment],
        resources={
            "database": DatabaseResource(url=db_url),
            "llm": LLMResource(api_base=remote.base_url),
        },
    )
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["spectra/held_out"].value == files["eval"]["rows"]
    served = [c for c in remote.calls(model_id) if c.outcome == "ok"]
    assert len(served) == files["eval"]["rows"]
    assert len(remote.fine_tuning.jobs()) == 1  # the gate run submitted nothing new
    with session_scope(engine) as session:
        experiment = session.scalars(select(ABExperiment)).one()
        assert (experiment.mode, experiment.canary_model) == ("shadow", model_id)
    assert _tick(db_url, remote).run_requests == []  # gated: nothing more to request


def test_failure_records_the_providers_reason(
    engine: Engine, db_url: str, remote: FakeOpenAIServer
) -> None:
    remote.fine_tuning.fail_next("Training file has 2 examples with no assistant message")
    assert run("finetune create --project spectra --backend litellm").exit_code == 0
    for _ in range(3):
        assert _tick(db_url, remote).run_requests == []
    job = _job(engine)
    assert job.status == "failed" and job.model_id is None
    assert (
        job.error == "invalid_training_file: Training file has 2 examples with no assistant message"
    )
    status = run("finetune status 1")
    assert status.exit_code == 0 and status.stdout.startswith("job 1: failed")
    assert "no assistant message" in status.stdout
    assert _tick(db_url, remote).run_requests == [] and _registered(engine) == 0


def test_cancel_records_it_and_polling_stops(
    engine: Engine, db_url: str, remote: FakeOpenAIServer
) -> None:
    assert run("finetune create --project spectra --backend litellm").exit_code == 0
    _tick(db_url, remote)
    cancelled = run("finetune cancel 1")
    assert cancelled.exit_code == 0 and cancelled.stdout.strip() == "job 1: cancelled"
    assert remote.fine_tuning.jobs()[0].status == "cancelled"
    job = _job(engine)
    assert (job.status, job.error) == ("cancelled", "cancelled by user")
    assert _tick(db_url, remote).run_requests == [] and _job(engine).status == "cancelled"
    again = run("finetune cancel 1")
    assert again.exit_code == 2 and "it is cancelled" in again.output
    assert again.output.count("\n") == 1 and _registered(engine) == 0


def test_submission_errors_are_one_line(engine: Engine, remote: FakeOpenAIServer) -> None:
    drafter = run("finetune create --project spectra --type drafter --backend litellm")
    assert drafter.exit_code == 2 and "drops the DPO `method`" in drafter.output
    local = run("finetune create --project spectra --provider azure")
    assert local.exit_code == 2 and "need --backend litellm" in local.output
    remote.fine_tuning.reject_next(400, "model gpt-nope is not available for fine-tuning")
    refused = run("finetune create --project spectra --backend litellm --base-model gpt-nope")
    assert refused.exit_code == 2 and refused.output.count("\n") == 1
    assert "submission failed" in refused.output and "not available" in refused.output
    job = _job(engine)
    assert job.status == "failed" and "not available for fine-tuning" in str(job.error)

    # A provider error that echoes the key: stored and printed with the key redacted.
    remote.fine_tuning.reject_next(401, "Incorrect API key provided: sk-fake-remote-loop")
    echoed = run("finetune create --project spectra --backend litellm")
    assert echoed.exit_code == 2 and "Incorrect API key" in echoed.output
    assert "sk-fake-remote-loop" not in echoed.output and "[redacted]" in echoed.output
    with session_scope(engine) as session:
        errors = [str(j.error) for j in session.scalars(select(FineTuneJob))]
    assert len(errors) == 2 and not any("sk-fake-remote-loop" in e for e in errors)


def test_assets_submit_one_job_per_training_set_and_wait_for_the_sensor(
    engine: Engine, db_url: str, remote: FakeOpenAIServer, tmp_path: Path
) -> None:
    from signalops_assets.fine_tuning.assets import (
        candidate_experiment,
        candidate_offline_gate,
        fine_tuned_judge,
        judge_training_set,
    )

    project = tmp_path / "projects" / "spectra.yaml"
    project.write_text(project.read_text() + "  backend: litellm\n")  # under fine_tuning:
    resources = {
        "database": DatabaseResource(url=db_url),
        "llm": LLMResource(api_base=remote.base_url),
    }
    assets = [judge_training_set, fine_tuned_judge, candidate_offline_gate, candidate_experiment]
    result = materialize(assets, resources=resources)
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata == {}  # nothing to gate while the job runs
    assert len(remote.fine_tuning.jobs()) == 1 and _job(engine).status == "queued"
    assert materialize(assets[1:], resources=resources).success
    assert len(remote.fine_tuning.jobs()) == 1  # the same training set: no second job
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ABExperiment)) == 0
    requests = [_tick(db_url, remote).run_requests for _ in range(3)]
    assert [len(r) for r in requests] == [0, 0, 1]
