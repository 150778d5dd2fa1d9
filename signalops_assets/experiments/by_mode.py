"""The part of an analysis that depends on the experiment's mode: the always-valid test, when
there are enough labels, how many more a decision needs, and the sample ratio check.

shadow: both arms judge every post, so the test is paired (sequential McNemar on per-post
differences) and there is no assignment to check. split: two independent samples, the
variance pooled under the null, and a sequential SRM on the assignment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from signalops_assets.config import ExperimentConfig
from signalops_assets.db.models import ABExperiment
from signalops_assets.experiments import sequential, stats
from signalops_assets.experiments.queries import ArmStats, Scope, paired_counts

POWER = 0.8


@dataclass
class ModeTest:
    result: sequential.SequentialResult
    enough: bool  # enough clean labels for a verdict
    labels_needed: dict[str, Any]
    method: str
    srm: dict[str, Any]
    paired_info: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)  # fixed-horizon figures of this mode
    notes: list[str] = field(default_factory=list)


def shadow_test(
    session: Session,
    experiment: ABExperiment,
    scope: Scope,
    cfg: ExperimentConfig,
    baseline: float,
) -> ModeTest:
    alpha, tuning, mde = cfg.alpha, float(cfg.sequential_tuning_labels), cfg.min_detectable_effect
    pairs = paired_counts(session, experiment, scope)
    result = sequential.paired_test(pairs.primary_only, pairs.canary_only, pairs.n, alpha, tuning)
    interval = stats.paired_diff_interval(
        pairs.both, pairs.primary_only, pairs.canary_only, pairs.neither
    )
    discordance = (
        (pairs.primary_only + pairs.canary_only) / pairs.n
        if pairs.n >= cfg.min_labels_per_arm
        else 2 * baseline * (1 - baseline)  # independent judges: a conservative guess
    )
    needed_total = sequential.labels_needed_paired(discordance, mde, alpha, POWER, tuning)
    return ModeTest(
        result=result,
        enough=pairs.clean >= cfg.min_labels_per_arm,
        labels_needed={
            "min_detectable_effect": mde,
            "total": needed_total,
            "canary": needed_total,
            "more": max(0, needed_total - pairs.n),
        },
        method="paired (shadow): sequential McNemar on per-post differences",
        srm={"assignment_flagged": False, "explained_by_errors": False},
        paired_info=asdict(pairs),
        fixed={
            "mcnemar_p": stats.mcnemar_exact(pairs.primary_only, pairs.canary_only),
            "paired_low": interval.low,
            "paired_high": interval.high,
        },
    )


def split_test(
    experiment: ABExperiment,
    primary: ArmStats,
    canary: ArmStats,
    cfg: ExperimentConfig,
    baseline: float,
    previous_srm: dict[str, Any] | None,
) -> ModeTest:
    alpha, tuning, mde = cfg.alpha, float(cfg.sequential_tuning_labels), cfg.min_detectable_effect
    x1, n1, x2, n2 = primary.agreements, primary.labeled, canary.agreements, canary.labeled
    share = experiment.canary_pct
    needed_total = sequential.labels_needed_split(baseline, mde, share, alpha, POWER, tuning)
    srm = _srm(primary, canary, [1 - share, share], dict(previous_srm or {}))
    notes = []
    if srm["explained_by_errors"]:
        notes.append(
            "error-free judgments are imbalanced between the arms because of errors "
            f"(error rate primary {primary.errors}/{primary.judgments}, canary "
            f"{canary.errors}/{canary.judgments}), not because of the assignment"
        )
    return ModeTest(
        result=sequential.two_sample_test(x1, n1, x2, n2, alpha, tuning),
        enough=min(primary.labeled_clean, canary.labeled_clean) >= cfg.min_labels_per_arm,
        labels_needed={
            "min_detectable_effect": mde,
            "total": needed_total,
            "canary": round(needed_total * share),
            "more": max(0, needed_total - (n1 + n2)),
        },
        method="split: two-sample, variance pooled under the null",
        srm=srm,
        notes=notes,
    )


def _srm(
    primary: ArmStats, canary: ArmStats, ratios: list[float], previous: dict[str, Any]
) -> dict[str, Any]:
    """Sequential SRM on all judgments and on labelled ones (the assignment), and on the
    error-free ones (which an arm's errors can skew without any assignment bug)."""
    out: dict[str, Any] = {}
    counts = {
        "all": (primary.judgments, canary.judgments),
        "labeled": (primary.labeled, canary.labeled),
        "error_free": (primary.judgments - primary.errors, canary.judgments - canary.errors),
    }
    for name, observed in counts.items():
        result = sequential.sequential_srm(
            observed,
            ratios,
            previous_max_log_bf=float(previous.get(name, {}).get("max_log_bf", float("-inf"))),
        )
        out[name] = {
            "p_value": result.p_value,
            "max_log_bf": result.max_log_bayes_factor,
            "flagged": result.flagged,
        }
    out["assignment_flagged"] = out["all"]["flagged"] or out["labeled"]["flagged"]
    out["explained_by_errors"] = out["error_free"]["flagged"] and not out["assignment_flagged"]
    return out
