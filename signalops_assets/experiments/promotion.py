"""Promotion by evidence: experiments whose latest analysis says promote_canary (guardrails
included) are promoted when the project sets `experiments.auto_promote: true`, and only
reported otherwise. Promotion is a compare-and-set stop, so it happens at most once; what it
writes (`promote_canary`) is durable and auditable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from signalops_assets.db.models import ABExperiment, ExperimentAnalysis, Project
from signalops_assets.db.session import session_scope
from signalops_assets.errors import ConfigError, SignalOpsError
from signalops_assets.experiments import registry
from signalops_assets.vocab import ExperimentStatus, ModelType, Verdict


@dataclass(frozen=True)
class PromotionOutcome:
    experiment_id: str
    project_id: str
    canary_model: str
    look: int
    promoted: bool
    detail: str


def promotion_candidates(engine: Engine) -> list[tuple[str, str, str, int]]:
    """(experiment, project, canary, look) of active experiments whose latest analysis
    verdict is promote_canary."""
    latest = (
        select(ExperimentAnalysis.experiment_id, func.max(ExperimentAnalysis.look).label("look"))
        .group_by(ExperimentAnalysis.experiment_id)
        .subquery()
    )
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                ABExperiment.experiment_id,
                ABExperiment.project_id,
                ABExperiment.canary_model,
                ExperimentAnalysis.look,
            )
            .join(latest, latest.c.experiment_id == ABExperiment.experiment_id)
            .join(
                ExperimentAnalysis,
                (ExperimentAnalysis.experiment_id == latest.c.experiment_id)
                & (ExperimentAnalysis.look == latest.c.look),
            )
            .where(
                ABExperiment.status == ExperimentStatus.ACTIVE,
                ExperimentAnalysis.verdict == Verdict.PROMOTE_CANARY,
            )
            .order_by(ABExperiment.experiment_id)
        ).all()
    return [(e, p, c, int(look)) for e, p, c, look in rows]


def apply_promotions(engine: Engine) -> list[PromotionOutcome]:
    from signalops_assets.experiments.analysis import project_auto_promote
    from signalops_assets.experiments.service import stop_experiment

    outcomes = []
    for experiment_id, project_id, canary, look in promotion_candidates(engine):
        if not project_auto_promote(project_id):
            outcomes.append(
                PromotionOutcome(
                    experiment_id,
                    project_id,
                    canary,
                    look,
                    False,
                    "recommended: promote the canary (experiments.auto_promote is off; "
                    f"signalops experiment stop {experiment_id} --promote)",
                )
            )
            continue
        try:
            with session_scope(engine) as session:
                stop_experiment(session, experiment_id, promote=True)
        except SignalOpsError as exc:  # stopped meanwhile, or the verdict moved: not promoted
            outcomes.append(
                PromotionOutcome(experiment_id, project_id, canary, look, False, str(exc))
            )
            continue
        outcomes.append(
            PromotionOutcome(experiment_id, project_id, canary, look, True, f"promoted {canary}")
        )
    return outcomes


def _configured_judge(project_id: str) -> str | None:
    from signalops_assets.config import load_project

    try:
        return load_project(project_id).llm.judge_model
    except ConfigError:
        return None


def promote_canary(
    session: Session,
    experiment: ABExperiment,
    now: datetime,
    *,
    verdict: str | None = None,
    force_reason: str | None = None,
) -> None:
    """Durable and auditable: the project's judge override, an active registry entry, and the
    experiment's metadata recording what the project judged with before."""
    project = session.get(Project, experiment.project_id)
    assert project is not None  # foreign key
    canary = experiment.canary_model
    previous = (
        project.judge_model_override
        or _configured_judge(project.project_id)
        or experiment.primary_model
    )
    project.judge_model_override = canary
    entry = registry.get_model(session, canary)
    if entry is None:
        entry = registry.register_model(
            session, canary, registry.guess_provider(canary), ModelType.JUDGE, display_name=canary
        )
    entry.is_active = True
    entry.extra = {**(entry.extra or {}), "promoted_by": experiment.experiment_id}
    record: dict[str, Any] = {
        "model": canary,
        "at": now.isoformat(),
        "previous_judge": previous,
        "verdict": verdict,
    }
    if force_reason is not None:
        record.update(forced=True, reason=force_reason.strip())
    # A new dict, so the JSON column sees the change.
    experiment.extra = {**(experiment.extra or {}), "promoted": record}
