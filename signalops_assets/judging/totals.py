"""Current totals of a judge, per arm: what judged_posts reports after every run (a run with
nothing to judge reports the same picture, not zeros). SQL aggregation only; no Dagster."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from signalops_assets.db.models import Judgment, Post
from signalops_assets.vocab import Arm

# Judgments without an arm (no experiment) belong to the one judge acting on posts.
DEFAULT_ARM = Arm.PRIMARY


@dataclass
class ArmTotals:
    arm: str
    judgments: int = 0
    errors: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # error-free judgments only
    mean_latency_ms: float | None = None
    cost_usd: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.judgments if self.judgments else 0.0


@dataclass
class JudgeTotals:
    posts: int
    pending: int  # posts the judge has not judged yet
    arms: dict[str, ArmTotals]


def _keys(done_key: str) -> list[str]:
    # A shadow canary stores under "<done_key>:shadow" (judging.ab).
    return [done_key, f"{done_key}:shadow"]


def judge_totals(session: Session, project_id: str, done_key: str) -> JudgeTotals:
    arm = func.coalesce(Judgment.arm, DEFAULT_ARM)
    # Current outcomes only: superseded rows are failures a re-judgment replaced (history).
    where = (
        Judgment.project_id == project_id,
        Judgment.judge_key.in_(_keys(done_key)),
        Judgment.superseded.is_(False),
    )
    arms: dict[str, ArmTotals] = {}
    rows = session.execute(
        select(
            arm,
            func.count(),
            func.sum(case((Judgment.error.is_not(None), 1), else_=0)),
            func.avg(Judgment.latency_ms),
            func.sum(func.coalesce(Judgment.cost_usd, 0.0)),
        )
        .where(*where)
        .group_by(arm)
    )
    for name, n, errors, latency, cost in rows:
        arms[name] = ArmTotals(
            name, int(n), int(errors or 0), {}, None if latency is None else float(latency)
        )
        arms[name].cost_usd = float(cost or 0.0)
    labels = session.execute(
        select(arm, Judgment.label, func.count())
        .where(*where, Judgment.error.is_(None))
        .group_by(arm, Judgment.label)
    )
    for name, label, n in labels:
        if label is not None:
            arms[name].labels[label] = int(n)
    posts = session.scalar(select(func.count()).where(Post.project_id == project_id)) or 0
    judged = session.scalar(
        select(func.count(func.distinct(Judgment.post_id))).where(
            Judgment.project_id == project_id,
            or_(Judgment.judge_key == done_key, Judgment.judge_key == f"{done_key}:shadow"),
        )
    )
    return JudgeTotals(int(posts), max(0, int(posts) - int(judged or 0)), arms)
