"""`analyze_experiment`: SQL sufficient statistics in, a typed verdict out.

The primary metric is intention-to-treat agreement with human labels: every labelled
judgment of an arm counts, and an error or a fallback model's answer counts as not agreeing
(dropping them would reward a judge that fails on hard posts). The error-free agreement is
shown beside it. Only the always-valid test drives the verdict (see ``sequential`` and
``decision``); fixed-horizon figures are reported for a single pre-planned look only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalops_assets.config import ExperimentConfig
from signalops_assets.db.models import ABExperiment, ExperimentAnalysis
from signalops_assets.errors import ConfigError, NotFoundError
from signalops_assets.experiments import stats
from signalops_assets.experiments.by_mode import shadow_test, split_test
from signalops_assets.experiments.decision import (
    PriorDecision,
    decide,
    guardrail_checks,
)
from signalops_assets.experiments.queries import (
    ArmStats,
    arm_stats,
    excluded_training_posts,
    experiment_scope,
)
from signalops_assets.vocab import LABELS, Arm

DEFAULT_BASELINE = 0.8  # assumed agreement before the primary has enough labels


@dataclass(frozen=True)
class ArmReport:
    arm: str
    model_id: str  # the experiment's model for the arm, never a fallback's
    judgments: int
    errors: int
    fallbacks: int
    fallback_models: dict[str, int]
    failure_rate: float | None  # (errors + fallbacks) / judgments
    labeled: int  # every labelled judgment (the ITT denominator)
    labeled_clean: int  # labelled, answered by the arm's model without error
    agreement: float | None  # ITT: failures count as not agreeing
    agreement_low: float
    agreement_high: float
    agreement_error_free: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    kappa: float | None
    label_mix: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_per_1000_usd: float | None


@dataclass(frozen=True)
class ExperimentResult:
    """One night's analysis. Stored whole in `experiment_analyses.result`; the asset
    `experiment_analysis` and `signalops experiment results` render it."""

    experiment_id: str
    project_id: str
    mode: str
    status: str
    canary_pct: float
    analyzed_at: str
    look: int
    arms: list[ArmReport]
    excluded_training_posts: int
    test: dict[str, Any]  # the always-valid test that decides
    srm: dict[str, Any]
    guardrails: list[dict[str, Any]]
    labels_needed: dict[str, Any]
    fixed_horizon: dict[str, Any]  # valid for one pre-planned look only
    verdict: str
    recommendation: str
    direction: int
    decided_at: str | None
    decided_look: int | None
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
        fallbacks=a.fallbacks,
        fallback_models=dict(a.fallback_models),
        failure_rate=a.failures / a.judgments if a.judgments else None,
        labeled=a.labeled,
        labeled_clean=a.labeled_clean,
        agreement=a.agreements / a.labeled if a.labeled else None,
        agreement_low=interval.low,
        agreement_high=interval.high,
        agreement_error_free=a.agreements / a.labeled_clean if a.labeled_clean else None,
        precision=stats.precision(binary),
        recall=stats.recall(binary),
        f1=stats.f1(binary),
        kappa=stats.cohens_kappa(table) if a.labeled_clean else None,
        label_mix=dict(a.labels),
        latency_p50_ms=a.latency_p50_ms,
        latency_p95_ms=a.latency_p95_ms,
        cost_per_1000_usd=stats.cost_per_1000(a.cost_usd, a.cost_known),
    )


def project_experiment_config(project_id: str) -> ExperimentConfig:
    from signalops_assets.config import load_project

    try:
        return load_project(project_id).experiments
    except ConfigError:
        return ExperimentConfig()


def project_auto_promote(project_id: str) -> bool:
    return project_experiment_config(project_id).auto_promote


def _previous(session: Session, experiment_id: str) -> ExperimentAnalysis | None:
    return session.scalar(
        select(ExperimentAnalysis)
        .where(ExperimentAnalysis.experiment_id == experiment_id)
        .order_by(ExperimentAnalysis.look.desc(), ExperimentAnalysis.id.desc())
        .limit(1)
    )


def analyze_experiment(
    session: Session,
    experiment_id: str,
    *,
    config: ExperimentConfig | None = None,
    now: datetime | None = None,
) -> ExperimentResult:
    experiment = session.get(ABExperiment, experiment_id)
    if experiment is None:
        raise NotFoundError(f"unknown experiment id '{experiment_id}'")
    cfg = config or project_experiment_config(experiment.project_id)
    now = now or datetime.now(UTC)
    previous = _previous(session, experiment_id)
    prev_result: dict[str, Any] = dict(previous.result or {}) if previous else {}
    look = (previous.look + 1) if previous else 1
    scope = experiment_scope(session, experiment)
    arms = arm_stats(session, experiment, scope)
    primary, canary = arms[Arm.PRIMARY], arms[Arm.CANARY]
    shadow = experiment.mode == "shadow"
    notes: list[str] = []

    x1, n1, x2, n2 = primary.agreements, primary.labeled, canary.agreements, canary.labeled
    fixed: dict[str, Any] = {"heading": "fixed-horizon: valid for one pre-planned look only"}
    if n1 and n2:
        newcombe = stats.newcombe_diff_interval(x1, n1, x2, n2)
        fixed.update(
            newcombe_low=newcombe.low,
            newcombe_high=newcombe.high,
            two_proportion_p=stats.two_proportion_pvalue(x1, n1, x2, n2),
        )
    mix_table = [[arm.labels.get(label, 0) for label in LABELS] for arm in (primary, canary)]
    if all(sum(r) for r in mix_table):
        fixed["label_drift_p"] = stats.label_distribution_chi2(mix_table).p_value
    baseline = x1 / n1 if n1 >= 30 else DEFAULT_BASELINE
    baseline = min(max(baseline, 0.05), 0.95)

    by_mode = (
        shadow_test(session, experiment, scope, cfg, baseline)
        if shadow
        else split_test(experiment, primary, canary, cfg, baseline, prev_result.get("srm"))
    )
    result, enough, labels_needed = by_mode.result, by_mode.enough, by_mode.labels_needed
    method, srm, paired_info = by_mode.method, by_mode.srm, by_mode.paired_info
    fixed.update(by_mode.fixed)
    notes.extend(by_mode.notes)

    prior = None
    if previous is not None and previous.direction and previous.decided_at is not None:
        prior = PriorDecision(
            previous.direction,
            previous.decided_at.isoformat(timespec="minutes"),
            previous.decided_look or look,
        )
    delta = None
    if primary.judgments and canary.judgments:
        delta = canary.failures / canary.judgments - primary.failures / primary.judgments
    checks = guardrail_checks(
        error_rate_delta=delta,
        max_error_rate_increase=cfg.guardrails.max_error_rate_increase,
        canary_p95_ms=canary.latency_p95_ms,
        max_p95_latency_ms=cfg.guardrails.max_p95_latency_ms,
        canary_cost_per_1k=stats.cost_per_1000(canary.cost_usd, canary.cost_known),
        max_cost_per_1k_usd=cfg.guardrails.max_cost_per_1k_usd,
    )
    decision = decide(
        result=result,
        srm_flagged=bool(srm.get("assignment_flagged")),
        srm_p_value=min(
            float(srm.get(part, {}).get("p_value", 1.0)) for part in ("all", "labeled")
        ),
        enough_labels=enough,
        min_labels_per_arm=cfg.min_labels_per_arm,
        guardrails=checks,
        labels_still_needed=int(labels_needed["more"]),
        prior=prior,
    )
    if prior is not None:
        decided_at, decided_look = prior.reached_at, prior.reached_look
    elif decision.direction:
        decided_at, decided_look = now.isoformat(timespec="minutes"), look
    else:
        decided_at, decided_look = None, None
    running = prev_result.get("test", {})
    test = {
        "method": method,
        "diff": result.diff,
        "low": result.low,
        "high": result.high,
        # Running intersection of every night's interval: the sequence stays valid.
        "running_low": max(result.low, float(running.get("running_low", -1.0))),
        "running_high": min(result.high, float(running.get("running_high", 1.0))),
        "z": result.z,
        "boundary": result.boundary if math.isfinite(result.boundary) else None,
        "p_value": result.p_value,
        "n": result.n,
        "enough_labels": enough,
        "min_labels_per_arm": cfg.min_labels_per_arm,
        **({"pairs": paired_info} if paired_info else {}),
    }
    if primary.fallbacks or canary.fallbacks:
        notes.append("answers from fallback models count as failures of the arm's model")
    if scope.training_model_ids:
        notes.append("posts an arm's model was trained on are excluded from both arms")
    return ExperimentResult(
        experiment_id=experiment_id,
        project_id=experiment.project_id,
        mode=experiment.mode,
        status=experiment.status,
        canary_pct=experiment.canary_pct,
        analyzed_at=now.isoformat(timespec="seconds"),
        look=look,
        arms=[_arm_report(primary), _arm_report(canary)],
        excluded_training_posts=excluded_training_posts(session, scope),
        test=test,
        srm=srm,
        guardrails=[asdict(g) for g in checks],
        labels_needed=labels_needed,
        fixed_horizon=fixed,
        verdict=str(decision.verdict),
        recommendation=decision.recommendation,
        direction=decision.direction,
        decided_at=decided_at,
        decided_look=decided_look,
        notes=notes,
    )


def record(session: Session, result: ExperimentResult) -> ExperimentAnalysis:
    row = ExperimentAnalysis(
        experiment_id=result.experiment_id,
        analyzed_at=datetime.fromisoformat(result.analyzed_at),
        verdict=result.verdict,
        recommendation=result.recommendation,
        result=result.to_dict(),
        look=result.look,
        direction=result.direction,
        decided_at=datetime.fromisoformat(result.decided_at) if result.decided_at else None,
        decided_look=result.decided_look,
    )
    session.add(row)
    session.flush()
    return row
