"""SQL aggregation for experiment analysis: sufficient statistics, never row lists.

Everything here is GROUP BY / COUNT / SUM in the database, and works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from signalops_assets.db.models import Judgment, Post
from signalops_assets.judging.prompts import LABELS

LabelMatrix = dict[tuple[str, str], int]  # (judge label, human label) -> count


@dataclass
class ArmStats:
    arm: str
    model_id: str = ""
    judgments: int = 0
    errors: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # label mix, error-free only
    matrix: LabelMatrix = field(default_factory=dict)  # error-free, human-labeled only
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    cost_usd: float = 0.0
    cost_known: int = 0

    @property
    def labeled(self) -> int:
        return sum(self.matrix.values())

    @property
    def agreements(self) -> int:
        return sum(n for (label, human), n in self.matrix.items() if label == human)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def arm_stats(session: Session, experiment_id: str) -> dict[str, ArmStats]:
    # A judgment's own human label wins; else the post's (labels are facts about posts).
    ok = Judgment.error.is_(None)
    # Superseded rows are failures a later judgment replaced: history, not outcomes.
    current = Judgment.superseded.is_(False)
    base = select(Judgment.arm).where(Judgment.experiment_id == experiment_id, current)
    arms: dict[str, ArmStats] = {}
    # One pass for totals and the label mix: the judge's labels are validated against LABELS,
    # so the mix is a fixed set of conditional counts (no sort for a GROUP BY label).
    totals = session.execute(
        select(
            Judgment.arm,
            func.count(),
            _count_if(Judgment.error.is_not(None)),
            func.sum(func.coalesce(Judgment.cost_usd, 0.0)),
            func.count(Judgment.cost_usd),
            func.max(Judgment.model_id),
            *(_count_if(and_(ok, Judgment.label == label)) for label in LABELS),
        )
        .where(Judgment.experiment_id == experiment_id, Judgment.arm.is_not(None), current)
        .group_by(Judgment.arm)
    )
    for arm, n, errors, cost, known, model, *mix in totals:
        if arm is None:
            continue
        stats = arms[arm] = ArmStats(
            arm=arm,
            model_id=model or "",
            judgments=int(n),
            errors=int(errors or 0),
            cost_usd=float(cost or 0.0),
            cost_known=int(known),
        )
        stats.labels = {label: int(c) for label, c in zip(LABELS, mix, strict=True) if c}
    if any(sum(a.labels.values()) != a.judgments - a.errors for a in arms.values()):
        # A label outside LABELS (rows written by hand or an older judge): count them all.
        for a in arms.values():
            a.labels = {}
        mix_rows = session.execute(
            base.add_columns(Judgment.label, func.count())
            .where(ok)
            .group_by(Judgment.arm, Judgment.label)
        )
        for arm, label, n in mix_rows:
            if arm is not None:
                arms[arm].labels[label] = int(n)
    # The agreement matrix in two disjoint parts, so the join to posts only meets labeled
    # posts (a few percent) instead of every judgment: judgments labeled themselves, then
    # unlabeled judgments of labeled posts. Together: coalesce(judgment's, post's label).
    own = (
        select(Judgment.arm, Judgment.label, Judgment.human_label, func.count())
        .where(
            Judgment.experiment_id == experiment_id,
            ok,
            current,
            Judgment.human_label.is_not(None),
        )
        .group_by(Judgment.arm, Judgment.label, Judgment.human_label)
    )
    from_post = (
        select(Judgment.arm, Judgment.label, Post.human_label, func.count())
        .join(Post, Post.id == Judgment.post_id)
        .where(
            Judgment.experiment_id == experiment_id,
            ok,
            current,
            Judgment.human_label.is_(None),
            Post.human_label.is_not(None),
        )
        .group_by(Judgment.arm, Judgment.label, Post.human_label)
    )
    for query in (own, from_post):
        for arm, label, human_label, n in session.execute(query):
            if arm is not None and label is not None and human_label is not None:
                key = (label, human_label)
                arms[arm].matrix[key] = arms[arm].matrix.get(key, 0) + int(n)
    for stats in arms.values():
        stats.latency_p50_ms = latency_quantile(session, experiment_id, stats, 0.50)
        stats.latency_p95_ms = latency_quantile(session, experiment_id, stats, 0.95)
    return arms


def latency_quantile(
    session: Session, experiment_id: str, stats: ArmStats, q: float
) -> float | None:
    """Nearest-rank quantile by ORDER BY ... OFFSET: portable across SQLite and PostgreSQL,
    and one indexed probe per arm instead of loading latencies."""
    if stats.judgments == 0:
        return None
    offset = max(0, min(stats.judgments - 1, round(q * (stats.judgments - 1))))
    value = session.scalar(
        select(Judgment.latency_ms)
        .where(
            Judgment.experiment_id == experiment_id,
            Judgment.arm == stats.arm,
            Judgment.superseded.is_(False),
        )
        .order_by(Judgment.latency_ms)
        .offset(offset)
        .limit(1)
    )
    return float(value) if value is not None else None


@dataclass(frozen=True)
class PairedCounts:
    """Shadow mode: both arms judged the same human-labeled posts."""

    both: int
    primary_only: int
    canary_only: int
    neither: int

    @property
    def n(self) -> int:
        return self.both + self.primary_only + self.canary_only + self.neither


def paired_counts(session: Session, experiment_id: str) -> PairedCounts:
    primary, canary = aliased(Judgment), aliased(Judgment)
    human = func.coalesce(primary.human_label, Post.human_label)
    row = session.execute(
        select(
            func.sum(case((and_(primary.label == human, canary.label == human), 1), else_=0)),
            func.sum(case((and_(primary.label == human, canary.label != human), 1), else_=0)),
            func.sum(case((and_(primary.label != human, canary.label == human), 1), else_=0)),
            func.sum(case((and_(primary.label != human, canary.label != human), 1), else_=0)),
        )
        .select_from(primary)
        .join(
            canary,
            and_(
                canary.post_id == primary.post_id,
                canary.experiment_id == primary.experiment_id,
                canary.arm == "canary",
            ),
        )
        .join(Post, Post.id == primary.post_id)
        .where(
            primary.experiment_id == experiment_id,
            primary.arm == "primary",
            primary.error.is_(None),
            canary.error.is_(None),
            primary.superseded.is_(False),
            canary.superseded.is_(False),
            human.is_not(None),
        )
    ).one()
    return PairedCounts(*(int(v or 0) for v in row))
