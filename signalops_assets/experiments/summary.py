"""Per-arm operational summary of an experiment from ab_results: counts, label mix, errors,
latency and cost. SQL aggregation only (GROUP BY, and one ORDER BY ... OFFSET probe per arm for
the p95), so it costs the same at ten rows or ten million and works on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from signalops_assets.db.models import ABExperiment, ABResult, Judgment
from signalops_assets.judging.prompts import LABELS
from signalops_assets.reporting import markdown_table

ARMS = ("primary", "canary")


@dataclass
class ArmSummary:
    arm: str
    judgments: int = 0
    errors: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # error-free judgments only
    models: dict[str, int] = field(default_factory=dict)  # who answered (fallbacks show here)
    mean_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    cost_usd: float = 0.0
    cost_unknown: int = 0  # judgments whose cost the provider did not report

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.judgments if self.judgments else None


def p95_offset(n: int, q: float = 0.95) -> int:
    """Nearest-rank index of the q-quantile among n sorted values (as queries.py uses)."""
    return max(0, min(n - 1, round(q * (n - 1))))


def _latency_at(session: Session, experiment_id: str, arm: str, offset: int) -> float | None:
    value = session.scalar(
        select(ABResult.latency_ms)
        .where(ABResult.experiment_id == experiment_id, ABResult.arm == arm)
        .order_by(ABResult.latency_ms)
        .offset(offset)
        .limit(1)
    )
    return None if value is None else float(value)


def experiment_arm_summary(session: Session, experiment_id: str) -> dict[str, ArmSummary]:
    """Arm name -> summary, for arms that have at least one ab_results row."""
    joined = (
        select()
        .select_from(ABResult)
        .join(Judgment, Judgment.id == ABResult.judgment_id)
        .where(ABResult.experiment_id == experiment_id, Judgment.superseded.is_(False))
    )
    arms: dict[str, ArmSummary] = {}
    totals = session.execute(
        joined.add_columns(
            ABResult.arm,
            func.count(),
            func.sum(case((Judgment.error.is_not(None), 1), else_=0)),
            func.avg(ABResult.latency_ms),
            func.sum(func.coalesce(ABResult.cost_usd, 0.0)),
            func.sum(case((ABResult.cost_usd.is_(None), 1), else_=0)),
        ).group_by(ABResult.arm)
    )
    for arm, n, errors, mean_latency, cost, unknown in totals:
        arms[arm] = ArmSummary(
            arm=arm,
            judgments=int(n),
            errors=int(errors or 0),
            mean_latency_ms=None if mean_latency is None else float(mean_latency),
            cost_usd=float(cost or 0.0),
            cost_unknown=int(unknown or 0),
        )
    labels = session.execute(
        joined.add_columns(ABResult.arm, Judgment.label, func.count())
        .where(Judgment.error.is_(None))
        .group_by(ABResult.arm, Judgment.label)
    )
    for arm, label, n in labels:
        arms[arm].labels[label] = int(n)
    models = session.execute(
        joined.add_columns(ABResult.arm, ABResult.model_id, func.count()).group_by(
            ABResult.arm, ABResult.model_id
        )
    )
    for arm, model_id, n in models:
        arms[arm].models[model_id] = int(n)
    for summary in arms.values():
        summary.p95_latency_ms = _latency_at(
            session, experiment_id, summary.arm, p95_offset(summary.judgments)
        )
    order = {arm: i for i, arm in enumerate(ARMS)}
    return dict(sorted(arms.items(), key=lambda kv: (order.get(kv[0], len(ARMS)), kv[0])))


def summary_markdown(experiment: ABExperiment, arms: dict[str, ArmSummary]) -> str:
    """A heading line and one table row per arm (the ab_results asset's metadata)."""
    head = (
        f"**{experiment.experiment_id}** ({experiment.project_id}, {experiment.mode}, "
        f"{experiment.status}, {experiment.canary_pct:.0%} canary): "
        f"primary `{experiment.primary_model}` vs canary `{experiment.canary_model}`"
    )
    headers = ["arm", "model(s)", "judgments", *LABELS, "errors", "mean ms", "p95 ms", "cost $"]
    rows = [
        [
            s.arm,
            ", ".join(f"{m} ({n})" for m, n in sorted(s.models.items())),
            s.judgments,
            *(s.labels.get(label, 0) for label in LABELS),
            s.errors,
            None if s.mean_latency_ms is None else round(s.mean_latency_ms, 1),
            None if s.p95_latency_ms is None else round(s.p95_latency_ms, 1),
            round(s.cost_usd, 6) if s.cost_unknown < s.judgments else None,
        ]
        for s in arms.values()
    ]
    if not rows:
        return f"{head}\n\nNo judgments yet."
    return f"{head}\n\n{markdown_table(headers, rows)}"
