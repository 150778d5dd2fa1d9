"""Remote fine-tune jobs in the database: submit, poll, register exactly once, cancel.

A remote job is a `fine_tune_jobs` row (backend `litellm`) with the provider's job id in
`external_job_id`. Polling moves it through queued → running → succeeded | failed | cancelled.
Registration happens in the same transaction as the conditional update that sets the job's
`model_id` (only while it is still NULL), so however many pollers run, and whatever they
remember (a sensor restarted with an old cursor or none), a job registers its model once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from signalops_assets.config import ProjectConfig
from signalops_assets.db.session import session_scope
from signalops_assets.db.training_models import FineTuneJob
from signalops_assets.db.writes import rowcount
from signalops_assets.errors import SignalOpsError
from signalops_assets.fine_tuning import litellm_backend as backend
from signalops_assets.fine_tuning.training_sets import TrainingSetSummary, split_post_ids
from signalops_assets.llm.loop import run_async
from signalops_assets.llm.settings import LLMSettings
from signalops_assets.vocab import ModelType

ApiBase = Callable[[str], str | None]  # project id → the api_base its LLM calls use


def api_base_from(defaults: LLMSettings) -> ApiBase:
    """The api_base a project's LLM calls use (its YAML over the deployment's default): the
    provider's fine-tuning API is reached the same way as its completions."""
    from signalops_assets.config import load_project
    from signalops_assets.llm.settings import resolve

    return lambda project_id: resolve(load_project(project_id).llm, defaults).api_base


@dataclass(frozen=True)
class PollOutcome:
    job_id: int
    status: str
    model_id: str | None = None
    registered: bool = False  # this poll registered the model
    detail: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


def submit_remote(
    engine: Engine,
    summary: TrainingSetSummary,
    cfg: ProjectConfig,
    *,
    api_base: str | None,
    provider: str | None = None,
    base_model: str | None = None,
    name: str | None = None,
) -> int:
    """Upload the training set, create the provider job and record it; returns the job id.
    A failed submission is recorded as a failed job and raised as one line."""
    ft = cfg.fine_tuning
    provider, base_model = provider or ft.provider, base_model or ft.base_model
    version = f"ts{summary.training_set_id}-{_now():%Y%m%d%H%M%S}"
    extra: dict[str, Any] = {
        "name": name or f"{summary.project_id}-judge",
        "version": version,
        "hyperparameters": dict(ft.hyperparameters),
    }
    with session_scope(engine) as session:
        job = FineTuneJob(
            project_id=summary.project_id,
            model_type=ModelType.JUDGE,
            backend="litellm",
            provider=provider,
            base_model=base_model,
            training_set_id=summary.training_set_id,
            status="queued",
            extra=extra,
        )
        session.add(job)
        session.flush()
        job_id = job.id
    try:
        submitted = run_async(
            backend.submit(
                summary.paths["train"],
                summary.paths["eval"],
                provider=provider,
                base_model=base_model,
                hyperparameters=ft.hyperparameters,
                suffix=f"{summary.project_id}-ts{summary.training_set_id}",
                api_base=api_base,
            )
        )
    except SignalOpsError as exc:
        _finish(engine, job_id, "failed", str(exc))
        raise
    with session_scope(engine) as session:
        row = session.get(FineTuneJob, job_id)
        assert row is not None
        row.external_job_id = submitted.external_job_id
        row.status = backend.STATUS.get(submitted.provider_status, "queued")
        row.extra = {
            **extra,
            "provider_status": submitted.provider_status,
            "training_file_id": submitted.training_file_id,
            "validation_file_id": submitted.validation_file_id,
        }
        row.updated_at = _now()
    return job_id


def _finish(engine: Engine, job_id: int, status: str, error: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(FineTuneJob)
            .where(FineTuneJob.id == job_id, FineTuneJob.status.in_(backend.PENDING))
            .values(status=status, error=error[:2000], updated_at=_now())
        )


def registry_model_id(provider: str, fine_tuned_model: str) -> str:
    """OpenAI `ft:` ids route as they are; other providers' names carry their prefix."""
    if provider == "openai" or fine_tuned_model.startswith(f"{provider}/"):
        return fine_tuned_model
    return f"{provider}/{fine_tuned_model}"


def _register(session: Any, job: FineTuneJob, remote: backend.RemoteStatus) -> bool:
    """Mark the job succeeded and register its model, unless another poll already did."""
    from signalops_assets.experiments.registry import get_model, register_model, set_training_posts
    from signalops_assets.fine_tuning.training_sets import require_training_set

    assert remote.fine_tuned_model is not None
    model_id = registry_model_id(str(job.provider), remote.fine_tuned_model)
    won = rowcount(
        session.execute(
            update(FineTuneJob)
            .where(FineTuneJob.id == job.id, FineTuneJob.model_id.is_(None))
            .values(status="succeeded", model_id=model_id, updated_at=_now())
        )
    )
    if not won or get_model(session, model_id) is not None:
        return False  # already registered (by an earlier poll, or by hand)
    training_set = require_training_set(session, job.training_set_id)
    extra = dict(job.extra or {})
    entry = register_model(
        session,
        model_id,
        str(job.provider),
        job.model_type,
        display_name=f"{extra.get('name', job.project_id)} {extra.get('version', '')}".strip(),
        base_model=job.base_model,
        version=str(extra.get("version") or job.external_job_id)[:50],
        training_file=str(training_set.files["train"]["path"]),
        training_examples=int(training_set.files["train"]["rows"]),
    )
    entry.training_set_id = job.training_set_id
    entry.metrics = {
        "provider": {
            "status": remote.provider_status,
            "trained_tokens": remote.trained_tokens,
            "eval_examples": int(training_set.files["eval"]["rows"]),
        }
    }
    entry.extra = {"job_id": job.id, "external_job_id": job.external_job_id}
    set_training_posts(session, entry, split_post_ids(session, job.training_set_id, "train"))
    return True


def record_status(engine: Engine, job_id: int, remote: backend.RemoteStatus) -> PollOutcome:
    """Store what the provider reported; a success registers the model (once per job)."""
    with session_scope(engine) as session:
        job = session.get(FineTuneJob, job_id)
        assert job is not None
        job.extra = {**(job.extra or {}), "provider_status": remote.provider_status}
        if remote.status == "succeeded":
            if not remote.fine_tuned_model:
                return PollOutcome(job_id, job.status, detail="succeeded without a model name")
            registered = _register(session, job, remote)
            model_id = registry_model_id(str(job.provider), remote.fine_tuned_model)
            return PollOutcome(job_id, "succeeded", model_id, registered, "registered")
        if remote.status in ("failed", "cancelled") and job.status in backend.PENDING:
            job.status = remote.status
            job.error = (remote.error or f"{remote.status} by the provider")[:2000]
        elif remote.status in backend.PENDING:
            job.status = remote.status
        job.updated_at = _now()
        return PollOutcome(job_id, job.status, detail=job.error or remote.provider_status)


def pending_remote_jobs(
    engine: Engine, job_id: int | None = None
) -> list[tuple[int, str, str, str]]:
    """(job id, project, provider, external id) of every remote job not yet finished."""
    with session_scope(engine) as session:
        stmt = (
            select(
                FineTuneJob.id,
                FineTuneJob.project_id,
                FineTuneJob.provider,
                FineTuneJob.external_job_id,
            )
            .where(
                FineTuneJob.backend == "litellm",
                FineTuneJob.status.in_(backend.PENDING),
                FineTuneJob.external_job_id.is_not(None),
            )
            .order_by(FineTuneJob.id)
        )
        if job_id is not None:
            stmt = stmt.where(FineTuneJob.id == job_id)
        rows = session.execute(stmt)
        return [(int(i), str(p), str(pr), str(e)) for i, p, pr, e in rows]


def poll_remote_jobs(
    engine: Engine, api_base: ApiBase, only_job: int | None = None
) -> list[PollOutcome]:
    """Poll every pending remote job (or one) once; one job's provider error does not stop
    the rest: it is reported in the outcome and the job is polled again next time."""
    outcomes = []
    for job_id, project_id, provider, external in pending_remote_jobs(engine, only_job):
        try:
            remote = run_async(
                backend.retrieve(external, provider=provider, api_base=api_base(project_id))
            )
        except SignalOpsError as exc:
            outcomes.append(PollOutcome(job_id, "unknown", detail=str(exc)))
            continue
        outcomes.append(record_status(engine, job_id, remote))
    return outcomes


def cancel_remote(engine: Engine, job_id: int, api_base: ApiBase) -> PollOutcome:
    """Ask the provider to cancel a pending remote job and record the outcome."""
    from signalops_assets.fine_tuning.service import require_job

    with session_scope(engine) as session:
        job = require_job(session, job_id)
        if job.backend != "litellm" or job.status not in backend.PENDING:
            raise SignalOpsError(f"cannot cancel job {job_id}: it is {job.status} ({job.backend})")
        if job.external_job_id is None:
            raise SignalOpsError(f"cannot cancel job {job_id}: it was never submitted")
        external, provider, project_id = job.external_job_id, str(job.provider), job.project_id
    remote = run_async(backend.cancel(external, provider=provider, api_base=api_base(project_id)))
    if remote.status == "cancelled" and not remote.error:
        remote = backend.RemoteStatus(
            "cancelled", remote.provider_status, None, "cancelled by user", remote.trained_tokens
        )
    return record_status(engine, job_id, remote)


def ungated_remote_models(engine: Engine) -> list[tuple[int, str, str]]:
    """(job id, project, model) of succeeded remote jobs whose model has no offline gate yet."""
    from signalops_assets.db.models import ModelRegistryEntry

    with session_scope(engine) as session:
        rows = session.execute(
            select(FineTuneJob.id, FineTuneJob.project_id, FineTuneJob.model_id)
            .add_columns(ModelRegistryEntry.metrics)
            .join(ModelRegistryEntry, ModelRegistryEntry.model_id == FineTuneJob.model_id)
            .where(FineTuneJob.backend == "litellm", FineTuneJob.status == "succeeded")
            .order_by(FineTuneJob.id)
        )
        return [
            (int(job_id), str(project_id), str(model_id))
            for job_id, project_id, model_id, metrics in rows
            if "offline_gate" not in (metrics or {})
        ]
