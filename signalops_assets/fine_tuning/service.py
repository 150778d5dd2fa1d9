"""The loop from labels to a candidate judge: training set → fine-tune job → registered model
with lineage → offline gate → (optionally) an experiment against the current judge.

The local backend trains in-process and finishes at once. The remote backend (LiteLLM's
fine-tuning API, `remote.py`) submits a job that `fine_tune_job_sensor` polls; its model is
registered when the job succeeds, and the same gate and experiment apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from signalops_assets.config import ProjectConfig, load_project
from signalops_assets.db.models import ModelRegistryEntry
from signalops_assets.db.session import session_scope
from signalops_assets.db.training_models import FineTuneJob
from signalops_assets.errors import NotFoundError, SignalOpsError
from signalops_assets.fine_tuning.gate import GateResult, run_offline_gate
from signalops_assets.fine_tuning.training_sets import (
    TrainingSetSummary,
    build_judge_training_set,
    require_training_set,
    split_post_ids,
)
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.vocab import ModelType


@dataclass(frozen=True)
class FineTuneOutcome:
    job_id: int
    training_set: TrainingSetSummary
    model_id: str | None
    status: str


def _now() -> datetime:
    return datetime.now(UTC)


def create_local_judge(
    engine: Engine,
    project_id: str,
    *,
    name: str | None = None,
    project: ProjectConfig | None = None,
    root: Path | None = None,
) -> FineTuneOutcome:
    """Training set → local training → registry entry with lineage and training posts."""
    cfg = project or load_project(project_id)
    summary = build_judge_training_set(engine, project_id, root=root, project=cfg)
    return train_from_set(engine, summary, name=name)


def latest_training_set(engine: Engine, project_id: str) -> TrainingSetSummary | None:
    from signalops_assets.db.training_models import TrainingSet

    with session_scope(engine) as session:
        row = session.scalar(
            select(TrainingSet)
            .where(TrainingSet.project_id == project_id, TrainingSet.kind == "judge")
            .order_by(TrainingSet.id.desc())
            .limit(1)
        )
        if row is None:
            return None
        paths = {split: Path(info["path"]) for split, info in dict(row.files).items()}
        return TrainingSetSummary(row.id, project_id, paths, dict(row.counts))


def train_from_set(
    engine: Engine, summary: TrainingSetSummary, *, name: str | None = None
) -> FineTuneOutcome:
    """Train the local judge from a recorded training set and register it."""
    from signalops_assets.experiments.registry import register_model, set_training_posts
    from signalops_assets.fine_tuning.local_backend import BASE_MODEL, train_local_judge

    project_id = summary.project_id
    version = f"ts{summary.training_set_id}-{_now():%Y%m%d%H%M%S}"
    name = name or f"{project_id}-judge"
    with session_scope(engine) as session:
        job = FineTuneJob(
            project_id=project_id,
            model_type=ModelType.JUDGE,
            backend="local",
            base_model=BASE_MODEL,
            training_set_id=summary.training_set_id,
            status="running",
            extra={},
        )
        session.add(job)
        session.flush()
        job_id = job.id
    try:
        trained = train_local_judge(
            name,
            version,
            summary.paths["train"],
            summary.paths["eval"],
            summary.training_set_id,
        )
    except Exception as exc:
        with session_scope(engine) as session:
            failed = session.get(FineTuneJob, job_id)
            assert failed is not None
            failed.status, failed.error, failed.updated_at = "failed", str(exc)[:2000], _now()
        raise
    with session_scope(engine) as session:
        entry = register_model(
            session,
            trained.model_id,
            "local",
            ModelType.JUDGE,
            display_name=f"{name} {version}",
            base_model=BASE_MODEL,
            version=version,
            training_file=str(summary.paths["train"]),
            training_examples=int(trained.card["train_examples"]),
        )
        entry.training_set_id = summary.training_set_id
        entry.metrics = {"offline_eval": {k: trained.card[k] for k in _CARD_METRICS}}
        entry.extra = {"model_card": str(trained.path / "model_card.json"), "job_id": job_id}
        set_training_posts(
            session, entry, split_post_ids(session, summary.training_set_id, "train")
        )
        job_row = session.get(FineTuneJob, job_id)
        assert job_row is not None
        job_row.status, job_row.model_id, job_row.updated_at = "succeeded", trained.model_id, _now()
    return FineTuneOutcome(job_id, summary, trained.model_id, "succeeded")


_CARD_METRICS = ("eval_examples", "eval_agreement", "eval_agreement_low", "eval_agreement_high")


def job_for_set(engine: Engine, training_set_id: int) -> tuple[int, str, str | None] | None:
    """(job id, status, model) of a job that trained, or is training, from this set."""
    with session_scope(engine) as session:
        row = session.execute(
            select(FineTuneJob.id, FineTuneJob.status, FineTuneJob.model_id)
            .where(
                FineTuneJob.training_set_id == training_set_id,
                FineTuneJob.status.in_(("queued", "running", "succeeded")),
            )
            .order_by(FineTuneJob.id.desc())
            .limit(1)
        ).first()
        return None if row is None else (int(row[0]), str(row[1]), row[2])


def latest_candidate(engine: Engine, project_id: str) -> str | None:
    """The model of the project's most recent fine-tune job, if that job succeeded (a newer
    job still running or failed leaves nothing new to gate)."""
    with session_scope(engine) as session:
        row = session.execute(
            select(FineTuneJob.status, FineTuneJob.model_id)
            .where(FineTuneJob.project_id == project_id)
            .order_by(FineTuneJob.id.desc())
            .limit(1)
        ).first()
        return row[1] if row is not None and row[0] == "succeeded" else None


@dataclass(frozen=True)
class CandidateState:
    job_id: int
    status: str
    model_id: str | None
    new: bool  # this call trained or submitted it


def ensure_candidate(
    engine: Engine, summary: TrainingSetSummary, cfg: ProjectConfig, api_base: str | None
) -> CandidateState:
    """One job per training set: the existing one (done or in progress), else a new one with
    the project's backend (local: trained now; litellm: submitted, the sensor finishes it)."""
    from signalops_assets.fine_tuning.remote import submit_remote

    existing = job_for_set(engine, summary.training_set_id)
    if existing is not None:
        return CandidateState(*existing, new=False)
    if cfg.fine_tuning.backend == "litellm":
        job_id = submit_remote(engine, summary, cfg, api_base=api_base)
        return CandidateState(job_id, "queued", None, new=True)
    outcome = train_from_set(engine, summary)
    return CandidateState(outcome.job_id, outcome.status, outcome.model_id, new=True)


def gate_candidate(
    engine: Engine, gateway: LLMGateway, project_id: str, model_id: str
) -> GateResult:
    """Run the offline gate for a registered candidate and store it in its metrics."""
    from signalops_assets.experiments.registry import require_model
    from signalops_assets.judging.factory import project_judge_model

    cfg = load_project(project_id)
    with session_scope(engine) as session:
        entry = require_model(session, model_id)
        if entry.training_set_id is None:
            raise SignalOpsError(f"model '{model_id}' has no training set: nothing held out")
        require_training_set(session, entry.training_set_id)
        current = project_judge_model(session, cfg)
        training_set_id = entry.training_set_id
    result = run_offline_gate(
        engine, gateway, cfg, candidate=model_id, current=current, training_set_id=training_set_id
    )
    with session_scope(engine) as session:
        entry = require_model(session, model_id)
        entry.metrics = {**(entry.metrics or {}), "offline_gate": result.to_dict()}
    return result


def start_candidate_experiment(engine: Engine, project_id: str, model_id: str, mode: str) -> str:
    """An experiment current judge vs candidate (after a passed gate)."""
    from signalops_assets.experiments.service import active_experiment_id, create_experiment
    from signalops_assets.judging.factory import project_judge_model

    cfg = load_project(project_id)
    with session_scope(engine) as session:
        existing = active_experiment_id(session, project_id)
        if existing is not None:
            raise SignalOpsError(
                f"project {project_id} already has an active experiment {existing}"
            )
        current = project_judge_model(session, cfg)
        experiment = create_experiment(
            session,
            project_id,
            current,
            model_id,
            cfg.experiments.default_canary_pct,
            mode=mode,
            hypothesis=f"fine-tuned candidate {model_id} agrees with humans at least as often",
        )
        return experiment.experiment_id


def list_jobs(session: Session, project_id: str | None = None) -> list[FineTuneJob]:
    stmt = select(FineTuneJob).order_by(FineTuneJob.id)
    if project_id is not None:
        stmt = stmt.where(FineTuneJob.project_id == project_id)
    return list(session.scalars(stmt))


def require_job(session: Session, job_id: int) -> FineTuneJob:
    job = session.get(FineTuneJob, job_id)
    if job is None:
        raise NotFoundError(f"unknown fine-tune job {job_id}")
    return job


def lineage(session: Session, entry: ModelRegistryEntry) -> dict[str, object]:
    from signalops_assets.experiments.registry import training_post_count

    return {
        "base_model": entry.base_model,
        "version": entry.version,
        "training_set_id": entry.training_set_id,
        "training_examples": entry.training_examples,
        "training_posts": training_post_count(session, entry),
        "metrics": entry.metrics or {},
    }
