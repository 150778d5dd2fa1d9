"""`analyze_experiment`: SQL sufficient statistics in, a typed verdict out.

Only the always-valid (peeking-safe) interval drives the verdict, so running this every night
keeps the false-positive rate at alpha. Fixed-horizon numbers are shown for reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from signalops_assets.db.models import ABExperiment
from signalops_assets.errors import NotFoundError
from signalops_assets.experiments import stats
from signalops_assets.experiments.queries import ArmStats, arm_stats, paired_counts
from signalops_assets.experiments.sequential import (
    always_valid_diff,
    decide,
    more_labels_needed,
)
from signalops_assets.judging.prompts import LABELS

DEFAULT_MIN_EFFECT = 0.05
DEFAULT_BASELINE = 0.8  # assumed agreement before the primary has enough labels


@dataclass(frozen=True)
class ArmReport:
    arm: str
    model_id: str
    judgments: int
    errors: int
    error_rate: float | None
    labeled: int
    agreement: float | None
    agreement_low: float
    agreement_high: float
    precision: float | None
    recall: float | None
    f1: float | None
    kappa: float | None
    label_mix: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_per_1000_usd: float | None


@dataclass(frozen=True)
class Difference:
    diff: float | None
    newcombe_low: float | None
    newcombe_high: float | None
    fixed_horizon_p: float | None
    always_valid_low: float
    always_valid_high: float
    always_valid_p: float


@dataclass(frozen=True)
class ExperimentResult:
    experiment_id: str
    project_id: str
    mode: str
    status: str
    canary_pct: float
    analyzed_at: str
    arms: list[ArmReport]
    srm_all_p: float | None
    srm_all_flagged: bool
    srm_labeled_p: float | None
    srm_labeled_flagged: bool
    difference: Difference
    label_drift_p: float | None
    paired: dict[str, Any] | None
    more_labels_per_arm: int
    verdict: str
    recommendation: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _binary(matrix: dict[tuple[str, str], int]) -> stats.BinaryCounts:
    tp = sum(n for (j, h), n in matrix.items() if j == "relevant" and h == "relevant")
    fp = sum(n for (j, h), n in matrix.items() if j == "relevant" and h != "relevant")
    fn = sum(n for (j, h), n in matrix.items() if j != "relevant" and h == "relevant")
    tn = sum(n for (j, h), n in matrix.items() if j != "relevant" and h != "relevant")
    return stats.BinaryCounts(tp, fp, fn, tn)


def _arm_report(a: ArmStats) -> ArmReport:
    interval = stats.wilson_interval(a.agreements, a.labeled)
    binary = _binary(a.matrix)
    table = [[a.matrix.get((j, h), 0) for h in LABELS] for j in LABELS]
    return ArmReport(
        arm=a.arm,
        model_id=a.model_id,
        judgments=a.judgments,
        errors=a.errors,
        error_rate=stats.error_rate(a.errors, a.judgments).value,
        labeled=a.labeled,
        agreement=a.agreements / a.labeled if a.labeled else None,
        agreement_low=interval.low,
        agreement_high=interval.high,
        precision=stats.precision(binary),
        recall=stats.recall(binary),
        f1=stats.f1(binary),
        kappa=stats.cohens_kappa(table) if a.labeled else None,
        label_mix=dict(a.labels),
        latency_p50_ms=a.latency_p50_ms,
        latency_p95_ms=a.latency_p95_ms,
        cost_per_1000_usd=stats.cost_per_1000(a.cost_usd, a.cost_known),
    )


def analyze_experiment(
    session: Session, experiment_id: str, *, min_effect: float = DEFAULT_MIN_EFFECT
) -> ExperimentResult:
    experiment = session.get(ABExperiment, experiment_id)
    if experiment is None:
        raise NotFoundError(f"unknown experiment id '{experiment_id}'")
    arms = arm_stats(session, experiment_id)
    primary = arms.get("primary", ArmStats("primary", experiment.primary_model))
    canary = arms.get("canary", ArmStats("canary", experiment.canary_model))
    notes: list[str] = []
    shadow = experiment.mode == "shadow"
    ratios = [1 - experiment.canary_pct, experiment.canary_pct]
    if shadow:
        # Every post goes to both arms: there is no split whose ratio could mismatch.
        no_srm = stats.SRMResult(0.0, 1.0, False)
        srm_all = srm_labeled = no_srm
    else:
        srm_all = stats.srm_check([primary.judgments, canary.judgments], ratios)
        srm_labeled = stats.srm_check([primary.labeled, canary.labeled], ratios)
    x1, n1, x2, n2 = primary.agreements, primary.labeled, canary.agreements, canary.labeled
    sequential = always_valid_diff(x1, n1, x2, n2)
    have_both = n1 > 0 and n2 > 0
    newcombe = stats.newcombe_diff_interval(x1, n1, x2, n2) if have_both else None
    difference = Difference(
        diff=(x2 / n2 - x1 / n1) if have_both else None,
        newcombe_low=newcombe.low if newcombe else None,
        newcombe_high=newcombe.high if newcombe else None,
        fixed_horizon_p=stats.two_proportion_pvalue(x1, n1, x2, n2) if have_both else None,
        always_valid_low=sequential.low,
        always_valid_high=sequential.high,
        always_valid_p=sequential.p_value,
    )
    paired = None
    if shadow:
        counts = paired_counts(session, experiment_id)
        interval = stats.paired_diff_interval(
            counts.both, counts.primary_only, counts.canary_only, counts.neither
        )
        paired = {
            **asdict(counts),
            "n": counts.n,
            "mcnemar_p": stats.mcnemar_exact(counts.primary_only, counts.canary_only),
            "diff_low": interval.low,
            "diff_high": interval.high,
        }
        notes.append(
            "shadow mode: the verdict treats arms as independent samples, which is "
            "conservative for paired data; McNemar is shown for reference"
        )
    mix_table = [[arm.labels.get(label, 0) for label in LABELS] for arm in (primary, canary)]
    drift = stats.label_distribution_chi2(mix_table) if all(sum(r) for r in mix_table) else None
    baseline = x1 / n1 if n1 >= 30 else DEFAULT_BASELINE
    more = more_labels_needed(n1, n2, min(max(baseline, 0.05), 0.95), min_effect)
    decision = decide(srm_all if srm_all.flagged else srm_labeled, sequential, more)
    if primary.errors or canary.errors:
        notes.append("judgments with errors count toward the error rate, not toward quality")
    return ExperimentResult(
        experiment_id=experiment_id,
        project_id=experiment.project_id,
        mode=experiment.mode,
        status=experiment.status,
        canary_pct=experiment.canary_pct,
        analyzed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        arms=[_arm_report(primary), _arm_report(canary)],
        srm_all_p=srm_all.p_value,
        srm_all_flagged=srm_all.flagged,
        srm_labeled_p=srm_labeled.p_value,
        srm_labeled_flagged=srm_labeled.flagged,
        difference=difference,
        label_drift_p=drift.p_value if drift else None,
        paired=paired,
        more_labels_per_arm=more,
        verdict=str(decision.verdict),
        recommendation=decision.recommendation,
        notes=notes,
    )
