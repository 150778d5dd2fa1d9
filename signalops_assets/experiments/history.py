"""Analyse the experiments that matter tonight and keep every result, so trends stay visible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from signalops_assets.db.models import ABExperiment, ExperimentAnalysis
from signalops_assets.db.session import session_scope
from signalops_assets.experiments.analysis import ExperimentResult, analyze_experiment, record
from signalops_assets.vocab import ExperimentStatus

RECENT_DAYS = 7


def due_experiment_ids(session: Session, now: datetime | None = None) -> list[str]:
    """Active and paused experiments, and those completed in the last 7 days."""
    since = (now or datetime.now(UTC)) - timedelta(days=RECENT_DAYS)
    stmt = (
        select(ABExperiment.experiment_id)
        .where(
            or_(
                ABExperiment.status.in_((ExperimentStatus.ACTIVE, ExperimentStatus.PAUSED)),
                (ABExperiment.status == ExperimentStatus.COMPLETED)
                & (ABExperiment.ended_at >= since),
            )
        )
        .order_by(ABExperiment.started_at)
    )
    return list(session.scalars(stmt))


def analyze_and_record(engine: Engine, now: datetime | None = None) -> list[ExperimentResult]:
    results = []
    with session_scope(engine) as session:
        ids = due_experiment_ids(session, now)
    for experiment_id in ids:
        with session_scope(engine) as session:
            result = analyze_experiment(session, experiment_id, now=now)
            record(session, result)
        results.append(result)
    return results


def verdict_history(session: Session, experiment_id: str, limit: int = 30) -> list[tuple[str, str]]:
    rows = session.execute(
        select(ExperimentAnalysis.analyzed_at, ExperimentAnalysis.verdict)
        .where(ExperimentAnalysis.experiment_id == experiment_id)
        .order_by(ExperimentAnalysis.analyzed_at.desc(), ExperimentAnalysis.id.desc())
        .limit(limit)
    )
    return [(at.isoformat(timespec="minutes"), verdict) for at, verdict in rows]
