"""A/B experiments between two judges: create, list, pause, resume, stop (and promote).

State changes are compare-and-set UPDATEs (`... WHERE status IN (allowed)`), so two concurrent
commands cannot both move the same experiment; the database's partial unique index keeps at
most one experiment per project active, whatever races the commands run.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signalops_assets.db.models import ABExperiment, ABResult, Project
from signalops_assets.db.writes import rowcount
from signalops_assets.errors import (
    InvalidTransitionError,
    NotFoundError,
    SignalOpsError,
)
from signalops_assets.experiments import registry
from signalops_assets.vocab import ExperimentMode, ExperimentStatus, ModelType, Verdict, values

MODES = values(ExperimentMode)
STATUSES = values(ExperimentStatus)
# action -> (statuses it may start from, status it ends in)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pause": ((ExperimentStatus.ACTIVE,), ExperimentStatus.PAUSED),
    "resume": ((ExperimentStatus.PAUSED,), ExperimentStatus.ACTIVE),
    "stop": ((ExperimentStatus.ACTIVE, ExperimentStatus.PAUSED), ExperimentStatus.COMPLETED),
}


@dataclass(frozen=True)
class ExperimentSummary:
    experiment_id: str
    project_id: str
    primary_model: str
    canary_model: str
    canary_pct: float
    mode: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    hypothesis: str
    metadata: dict[str, Any]
    judgments: dict[str, int] = field(default_factory=dict)  # arm -> ab_results rows so far


def new_experiment_id(now: datetime | None = None) -> str:
    return f"exp-{(now or datetime.now(UTC)):%Y%m%d}-{secrets.token_hex(3)}"


def require_experiment(session: Session, experiment_id: str) -> ABExperiment:
    experiment = session.get(ABExperiment, experiment_id)
    if experiment is None:
        raise NotFoundError(f"unknown experiment '{experiment_id}'")
    return experiment


def active_experiment_id(session: Session, project_id: str) -> str | None:
    return session.scalar(
        select(ABExperiment.experiment_id).where(
            ABExperiment.project_id == project_id, ABExperiment.status == "active"
        )
    )


def _ensure_project_row(session: Session, project_id: str) -> None:
    """The project's row, created from its config file when the database lacks it; refused
    when the project's config turns experiments off (judging would ignore the experiment)."""
    from signalops_assets.config import load_project, project_config_path

    path = project_config_path(project_id)
    if path.is_file() and not load_project(project_id).experiments.enabled:
        raise SignalOpsError(
            f"project {project_id} has experiments disabled ({path}: experiments.enabled)"
        )
    if session.get(Project, project_id) is not None:
        return
    from signalops_assets.posts import ensure_project

    if not path.is_file():
        raise NotFoundError(f"unknown project '{project_id}'")
    ensure_project(session, load_project(project_id))


def unregistered_models(session: Session, *models: str) -> list[str]:
    """Arms missing from the registry: allowed (prompted models need no entry), but their
    training posts cannot be excluded from the analysis, so the CLI warns."""
    return [m for m in models if registry.get_model(session, m.strip()) is None]


def _check_judge_model(session: Session, model: str) -> None:
    entry = registry.get_model(session, model)
    if entry is None:
        return  # unregistered prompted models are fine: the registry is opt-in
    if entry.model_type != ModelType.JUDGE:
        raise SignalOpsError(f"model '{model}' is registered as a {entry.model_type}, not a judge")
    if not entry.is_active:
        raise SignalOpsError(
            f"model '{model}' is deactivated in the registry (signalops model activate {model})"
        )


@contextlib.contextmanager
def _one_active_per_project(session: Session, project_id: str) -> Iterator[None]:
    """A violation of the one-active-per-project index inside becomes a one-line error."""
    try:
        yield
    except IntegrityError:
        session.rollback()
        existing = active_experiment_id(session, project_id)
        if existing is None:
            raise
        raise SignalOpsError(
            f"project {project_id} already has an active experiment {existing}"
        ) from None


def create_experiment(
    session: Session,
    project_id: str,
    primary_model: str,
    canary_model: str,
    canary_pct: float,
    *,
    hypothesis: str = "",
    mode: str = "split",
    now: datetime | None = None,
) -> ABExperiment:
    primary_model, canary_model = primary_model.strip(), canary_model.strip()
    if not primary_model or not canary_model:
        raise SignalOpsError("primary and canary models must not be empty")
    if primary_model == canary_model:
        raise SignalOpsError(f"primary and canary are the same model '{primary_model}'")
    if not 0.0 < canary_pct < 1.0:
        raise SignalOpsError(f"canary pct must be strictly between 0 and 1, got {canary_pct}")
    if mode not in MODES:
        raise SignalOpsError(f"unknown mode '{mode}' (one of: {', '.join(MODES)})")
    _ensure_project_row(session, project_id)
    for model in (primary_model, canary_model):
        _check_judge_model(session, model)
    existing = active_experiment_id(session, project_id)
    if existing is not None:
        raise SignalOpsError(f"project {project_id} already has an active experiment {existing}")
    now = now or datetime.now(UTC)
    experiment = ABExperiment(
        experiment_id=new_experiment_id(now),
        project_id=project_id,
        primary_model=primary_model,
        canary_model=canary_model,
        canary_pct=canary_pct,
        mode=mode,
        status="active",
        started_at=now,
        hypothesis=hypothesis,
        extra={},
    )
    session.add(experiment)
    # Another create may have committed since the check above: the index has the last word.
    with _one_active_per_project(session, project_id):
        session.flush()
    return experiment


def list_experiments(
    session: Session, project_id: str | None = None, status: str | None = None
) -> list[ExperimentSummary]:
    stmt = select(ABExperiment).order_by(ABExperiment.started_at.desc(), ABExperiment.experiment_id)
    if project_id is not None:
        stmt = stmt.where(ABExperiment.project_id == project_id)
    if status is not None:
        if status not in STATUSES:
            raise SignalOpsError(f"unknown status '{status}' (one of: {', '.join(STATUSES)})")
        stmt = stmt.where(ABExperiment.status == status)
    experiments = list(session.scalars(stmt))
    counts: dict[str, dict[str, int]] = {e.experiment_id: {} for e in experiments}
    if experiments:
        rows = session.execute(
            select(ABResult.experiment_id, ABResult.arm, func.count())
            .where(ABResult.experiment_id.in_(list(counts)))
            .group_by(ABResult.experiment_id, ABResult.arm)
        )
        for experiment_id, arm, n in rows:
            counts[experiment_id][arm] = int(n)
    return [
        ExperimentSummary(
            experiment_id=e.experiment_id,
            project_id=e.project_id,
            primary_model=e.primary_model,
            canary_model=e.canary_model,
            canary_pct=e.canary_pct,
            mode=e.mode,
            status=e.status,
            started_at=e.started_at,
            ended_at=e.ended_at,
            hypothesis=e.hypothesis,
            metadata=dict(e.extra or {}),
            judgments=counts[e.experiment_id],
        )
        for e in experiments
    ]


def _transition(session: Session, experiment_id: str, action: str, **values: Any) -> ABExperiment:
    allowed, target = TRANSITIONS[action]
    experiment = require_experiment(session, experiment_id)
    result = session.execute(
        update(ABExperiment)
        .where(ABExperiment.experiment_id == experiment_id, ABExperiment.status.in_(allowed))
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(experiment)
    if rowcount(result) != 1:
        raise InvalidTransitionError(
            f"cannot {action} experiment {experiment_id}: it is {experiment.status}"
        )
    return experiment


def pause_experiment(session: Session, experiment_id: str) -> ABExperiment:
    """Paused: the project's judge becomes the experiment's primary, unattributed."""
    return _transition(session, experiment_id, "pause")


def resume_experiment(session: Session, experiment_id: str) -> ABExperiment:
    experiment = require_experiment(session, experiment_id)
    project_id = experiment.project_id
    for model in (experiment.primary_model, experiment.canary_model):
        _check_judge_model(session, model)  # deactivated while paused: no traffic for it
    with _one_active_per_project(session, project_id):
        return _transition(session, experiment_id, "resume")


def stop_experiment(
    session: Session,
    experiment_id: str,
    *,
    promote: bool = False,
    force_reason: str | None = None,
    now: datetime | None = None,
) -> ABExperiment:
    """Completed; with `promote` the canary becomes the project's judge (see `promote_canary`).

    Promotion needs evidence: tonight's analysis must say promote_canary. `force_reason`
    overrides that, and the reason and the verdict it overrode are recorded."""
    now = now or datetime.now(UTC)
    verdict = None
    if promote:
        from signalops_assets.experiments.analysis import analyze_experiment
        from signalops_assets.experiments.promotion import promote_canary

        current = require_experiment(session, experiment_id)
        if current.status not in TRANSITIONS["stop"][0]:
            raise InvalidTransitionError(
                f"cannot stop experiment {experiment_id}: it is {current.status}"
            )
        result = analyze_experiment(session, experiment_id, now=now)
        verdict = result.verdict
        if verdict != Verdict.PROMOTE_CANARY and force_reason is None:
            raise SignalOpsError(
                f"cannot promote {experiment_id}: the verdict is {verdict} "
                f"({result.recommendation.split(' (')[0]}); --force --reason TEXT overrides"
            )
        if force_reason is not None and not force_reason.strip():
            raise SignalOpsError("--force needs a non-empty --reason")
    experiment = _transition(session, experiment_id, "stop", ended_at=now)
    if promote:
        promote_canary(session, experiment, now, verdict=verdict, force_reason=force_reason)
    session.flush()
    return experiment
