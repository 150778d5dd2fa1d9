"""SQL sufficient statistics for experiment analysis: counts per arm, never row lists.

Everything is GROUP BY / COUNT / SUM in the database and works on SQLite and PostgreSQL.

Two rules shape the counts:
- An arm is its experiment model. An answer from any other model (a fallback) is not that
  model's quality: it is counted, and scored like an error (intention-to-treat).
- Posts an arm's model was trained on (``model_training_posts``) are excluded from both arms,
  or the fine-tuned canary would be graded on its own training labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, select
from sqlalchemy.orm import Session, aliased

from signalops_assets.db.models import ABExperiment, Judgment, ModelRegistryEntry, Post
from signalops_assets.db.training_models import ModelTrainingPost
from signalops_assets.llm.model_ids import model_aliases
from signalops_assets.quantile import nearest_rank_index
from signalops_assets.vocab import LABELS, Arm

LabelMatrix = dict[tuple[str, str], int]  # (judge label, human label) -> count


@dataclass
class ArmStats:
    arm: str
    model_id: str = ""  # the experiment's model for this arm
    judgments: int = 0
    errors: int = 0
    fallbacks: int = 0  # answered, but by a model other than the arm's
    fallback_models: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # label mix, own model, error-free
    matrix: LabelMatrix = field(default_factory=dict)  # own model, error-free, labelled
    labeled: int = 0  # every labelled judgment, errors and fallbacks included
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    cost_usd: float = 0.0
    cost_known: int = 0

    @property
    def labeled_clean(self) -> int:
        return sum(self.matrix.values())

    @property
    def agreements(self) -> int:
        return sum(n for (label, human), n in self.matrix.items() if label == human)

    @property
    def failures(self) -> int:
        """Errors and fallback answers: what the arm's own model did not deliver."""
        return self.errors + self.fallbacks


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


@dataclass(frozen=True)
class Scope:
    """The rows an analysis reads: one experiment, minus training posts of its models."""

    experiment_id: str
    training_model_ids: tuple[int, ...]

    def where(self, j: Any = Judgment) -> list[ColumnElement[bool]]:
        """Filters for `Judgment` or an alias of it. Superseded rows are failures a later
        judgment of the same post replaced: history, not outcomes."""
        clauses: list[ColumnElement[bool]] = [
            j.experiment_id == self.experiment_id,
            j.superseded.is_(False),
        ]
        if self.training_model_ids:
            trained = select(ModelTrainingPost.post_id).where(
                ModelTrainingPost.model_registry_id.in_(self.training_model_ids)
            )
            clauses.append(not_(j.post_id.in_(trained)))
        return clauses


def experiment_scope(session: Session, experiment: ABExperiment) -> Scope:
    models = [*model_aliases(experiment.primary_model), *model_aliases(experiment.canary_model)]
    ids = session.scalars(
        select(ModelRegistryEntry.id).where(ModelRegistryEntry.model_id.in_(models))
    )
    with_posts = session.scalars(
        select(ModelTrainingPost.model_registry_id)
        .where(ModelTrainingPost.model_registry_id.in_(list(ids)))
        .distinct()
    )
    return Scope(experiment.experiment_id, tuple(sorted(with_posts)))


def excluded_training_posts(session: Session, scope: Scope) -> int:
    """Distinct posts of the experiment left out because an arm's model trained on them."""
    if not scope.training_model_ids:
        return 0
    trained = select(ModelTrainingPost.post_id).where(
        ModelTrainingPost.model_registry_id.in_(scope.training_model_ids)
    )
    return int(
        session.scalar(
            select(func.count(func.distinct(Judgment.post_id))).where(
                Judgment.experiment_id == scope.experiment_id,
                Judgment.superseded.is_(False),
                Judgment.post_id.in_(trained),
            )
        )
        or 0
    )


def _human_label_parts(base: Any, clauses: Iterable[ColumnElement[bool]]) -> list[Any]:
    """A judgment's own human label wins, else the post's. Two disjoint parts, so the join to
    posts only meets labelled posts instead of every judgment."""
    clauses = list(clauses)
    own = base.add_columns(Judgment.human_label).where(*clauses, Judgment.human_label.is_not(None))
    from_post = (
        base.add_columns(Post.human_label)
        .join(Post, Post.id == Judgment.post_id)
        .where(*clauses, Judgment.human_label.is_(None), Post.human_label.is_not(None))
    )
    return [own, from_post]


def arm_stats(session: Session, experiment: ABExperiment, scope: Scope) -> dict[str, ArmStats]:
    arms: dict[str, ArmStats] = {}
    for arm, model in (
        (Arm.PRIMARY, experiment.primary_model),
        (Arm.CANARY, experiment.canary_model),
    ):
        stats = ArmStats(arm=arm, model_id=model)
        own = set(model_aliases(model))
        clauses = [*scope.where(), Judgment.arm == arm]
        ok = Judgment.error.is_(None)
        totals = session.execute(
            select(
                Judgment.model_id,
                func.count(),
                _count_if(Judgment.error.is_not(None)),
                # Spend and its per-judgment rate come from the calls that were paid for: a
                # reused judgment costs nothing and is no sample of what a call costs.
                func.sum(func.coalesce(Judgment.cost_usd, 0.0)),
                func.count(case((Judgment.reused_from_id.is_(None), Judgment.cost_usd))),
                *(_count_if(and_(ok, Judgment.label == label)) for label in LABELS),
            )
            .where(*clauses)
            .group_by(Judgment.model_id)
        )
        for answered_by, n, errors, cost, known, *mix in totals:
            stats.judgments += int(n)
            stats.errors += int(errors or 0)
            stats.cost_usd += float(cost or 0.0)
            stats.cost_known += int(known)
            answered = int(n) - int(errors or 0)
            if answered_by in own:
                for label, count in zip(LABELS, mix, strict=True):
                    if count:
                        stats.labels[label] = stats.labels.get(label, 0) + int(count)
            elif answered:
                stats.fallbacks += answered
                stats.fallback_models[answered_by] = answered
        # Labelled judgments: (answering model, error-free?, judge label, human label) counts.
        base = select(Judgment.model_id, ok.label("ok"), Judgment.label, func.count()).select_from(
            Judgment
        )
        for query in _human_label_parts(base, clauses):
            grouped = query.group_by(
                Judgment.model_id, ok, Judgment.label, query.selected_columns[4]
            )
            for answered_by, clean, label, n, human in session.execute(grouped):
                stats.labeled += int(n)
                if clean and answered_by in own and human is not None:
                    key = (label, human)
                    stats.matrix[key] = stats.matrix.get(key, 0) + int(n)
        stats.latency_p50_ms = latency_quantile(session, experiment.experiment_id, stats, 0.50)
        stats.latency_p95_ms = latency_quantile(session, experiment.experiment_id, stats, 0.95)
        arms[arm] = stats
    return arms


def latency_quantile(
    session: Session, experiment_id: str, stats: ArmStats, q: float
) -> float | None:
    """Nearest-rank quantile by ORDER BY ... OFFSET: portable, and one indexed probe per arm.
    Latency is operational, so it reads every judgment of the arm (training posts too)."""
    if stats.judgments == 0:
        return None
    value = session.scalar(
        select(Judgment.latency_ms)
        .where(
            Judgment.experiment_id == experiment_id,
            Judgment.arm == stats.arm,
            Judgment.superseded.is_(False),
        )
        .order_by(Judgment.latency_ms)
        .offset(nearest_rank_index(stats.judgments, q))
        .limit(1)
    )
    return float(value) if value is not None else None


@dataclass(frozen=True)
class PairedCounts:
    """Shadow mode: both arms judged the same human-labelled posts. "Right" means an
    error-free answer of the arm's own model that matches the human label."""

    both: int
    primary_only: int
    canary_only: int
    neither: int
    clean: int  # pairs where both arms answered themselves without error

    @property
    def n(self) -> int:
        return self.both + self.primary_only + self.canary_only + self.neither


def paired_counts(session: Session, experiment: ABExperiment, scope: Scope) -> PairedCounts:
    primary, canary = aliased(Judgment), aliased(Judgment)
    human = func.coalesce(primary.human_label, canary.human_label, Post.human_label)
    p_clean = and_(
        primary.error.is_(None), primary.model_id.in_(model_aliases(experiment.primary_model))
    )
    c_clean = and_(
        canary.error.is_(None), canary.model_id.in_(model_aliases(experiment.canary_model))
    )
    # 0/1 columns, so that NULLs (three-valued logic) cannot drop a pair from every count.
    p_right = case((and_(p_clean, primary.label == human), 1), else_=0)
    c_right = case((and_(c_clean, canary.label == human), 1), else_=0)
    row = session.execute(
        select(
            func.sum(p_right * c_right),
            func.sum(p_right * (1 - c_right)),
            func.sum((1 - p_right) * c_right),
            func.sum((1 - p_right) * (1 - c_right)),
            _count_if(and_(p_clean, c_clean)),
        )
        .select_from(primary)
        .join(
            canary,
            and_(
                canary.post_id == primary.post_id,
                canary.experiment_id == primary.experiment_id,
                canary.arm == Arm.CANARY,
                canary.superseded.is_(False),
            ),
        )
        .join(Post, Post.id == primary.post_id)
        .where(*scope.where(primary), primary.arm == Arm.PRIMARY, human.is_not(None))
    ).one()
    return PairedCounts(*(int(v or 0) for v in row))
