"""Every rendering of experiments: the analysis (asset markdown, CLI table) and the per-arm
operational summary the `ab_results` asset shows."""

from __future__ import annotations

from typing import Any

from signalops_assets.db.models import ABExperiment
from signalops_assets.experiments.analysis import ExperimentResult
from signalops_assets.experiments.queries import ArmStats
from signalops_assets.reporting import markdown_table, text_table
from signalops_assets.vocab import LABELS


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _pp(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f} pts"


def _p(value: Any) -> str:
    return "–" if value is None else f"{float(value):.3g}"


def split_label(mode: str, canary_pct: float) -> str:
    return (
        "shadow: both judge every post" if mode == "shadow" else f"split, {canary_pct:.0%} canary"
    )


def arm_rows(result: ExperimentResult) -> tuple[list[str], list[list[object]]]:
    headers = [
        "arm",
        "model",
        "n",
        "errors",
        "fallbacks",
        "labeled",
        "agreement ITT (95% Wilson)",
        "error-free",
        "F1",
        "kappa",
        "p50 ms",
        "p95 ms",
        "$ / 1k",
    ]
    rows: list[list[object]] = []
    for arm in result.arms:
        agreement = (
            f"{_pct(arm.agreement)} [{arm.agreement_low:.1%}, {arm.agreement_high:.1%}]"
            if arm.agreement is not None
            else "–"
        )
        rows.append(
            [
                arm.arm,
                arm.model_id,
                arm.judgments,
                arm.errors,
                arm.fallbacks,
                arm.labeled,
                agreement,
                _pct(arm.agreement_error_free),
                arm.f1,
                arm.kappa,
                arm.latency_p50_ms,
                arm.latency_p95_ms,
                arm.cost_per_1000_usd,
            ]
        )
    return headers, rows


def summary_lines(result: ExperimentResult) -> list[str]:
    t, fixed = result.test, result.fixed_horizon
    lines = [
        f"verdict: {result.verdict} — {result.recommendation}",
    ]
    if result.decided_at:
        lines.append(f"decision reached {result.decided_at} (look {result.decided_look})")
    lines += [
        f"test ({t['method']}): difference {_pp(t['diff'])}, z={t['z']:.2f} against boundary "
        f"{'–' if t['boundary'] is None else format(t['boundary'], '.2f')}, always-valid "
        f"p={t['p_value']:.3g}; interval [{_pp(t['low'])}, {_pp(t['high'])}] (unpooled, for "
        f"display), running intersection [{_pp(t['running_low'])}, {_pp(t['running_high'])}]",
        f"labels: the test needs ≥ {t['min_labels_per_arm']} labelled error-free judgments per "
        f"arm ({'met' if t['enough_labels'] else 'not yet'}); to detect "
        f"{result.labels_needed['min_detectable_effect']:.0%} with 80% power: about "
        f"{result.labels_needed['total']} human labels in all "
        f"({result.labels_needed['canary']} on the canary), {result.labels_needed['more']} more",
    ]
    if result.mode != "shadow":
        srm = result.srm
        lines.append(
            f"sample ratio (sequential): all p={_p(srm['all']['p_value'])}, labeled "
            f"p={_p(srm['labeled']['p_value'])}, error-free p={_p(srm['error_free']['p_value'])}"
            + (" MISMATCH" if srm["assignment_flagged"] else "")
        )
    for g in result.guardrails:
        shown = "–" if g["value"] is None else f"{g['value']:.4g}"
        lines.append(
            f"guardrail {g['name']}: {shown} (limit {g['limit']:.4g}) "
            f"{'pass' if g['passed'] else 'FAIL'}"
        )
    if result.excluded_training_posts:
        lines.append(f"excluded: {result.excluded_training_posts} training posts of an arm's model")
    lines.append(f"{fixed['heading']}:")
    if "newcombe_low" in fixed:
        lines.append(
            f"  Newcombe [{_pp(fixed['newcombe_low'])}, {_pp(fixed['newcombe_high'])}], "
            f"two-proportion p={_p(fixed['two_proportion_p'])}"
        )
    if "mcnemar_p" in fixed:
        lines.append(
            f"  McNemar exact p={_p(fixed['mcnemar_p'])}, paired Newcombe "
            f"[{_pp(fixed['paired_low'])}, {_pp(fixed['paired_high'])}]"
        )
    if "label_drift_p" in fixed:
        lines.append(f"  label-mix drift chi-square p={_p(fixed['label_drift_p'])}")
    lines += [f"note: {n}" for n in result.notes]
    return lines


def _title(result: ExperimentResult) -> str:
    return (
        f"{result.experiment_id}  project {result.project_id}  "
        f"{split_label(result.mode, result.canary_pct)}  {result.status}  look {result.look}"
    )


def as_markdown(result: ExperimentResult) -> str:
    headers, rows = arm_rows(result)
    return "\n\n".join(
        [
            f"**{_title(result)}**",
            markdown_table(headers, rows),
            "\n".join(f"- {line}" for line in summary_lines(result)),
        ]
    )


def as_text(result: ExperimentResult) -> str:
    headers, rows = arm_rows(result)
    return "\n".join([_title(result), "", text_table(headers, rows), "", *summary_lines(result)])


def arms_markdown(experiment: ABExperiment, arms: dict[str, ArmStats]) -> str:
    """The `ab_results` asset's per-experiment table: who answered, label mix, cost."""
    head = (
        f"**{experiment.experiment_id}** ({experiment.project_id}, "
        f"{split_label(experiment.mode, experiment.canary_pct)}, {experiment.status}): "
        f"primary `{experiment.primary_model}` vs canary `{experiment.canary_model}`"
    )
    headers = ["arm", "model", "judgments", *LABELS, "errors", "fallbacks", "p95 ms", "cost $"]
    rows = [
        [
            s.arm,
            s.model_id,
            s.judgments,
            *(s.labels.get(label, 0) for label in LABELS),
            s.errors,
            ", ".join(f"{m} ({n})" for m, n in sorted(s.fallback_models.items())) or 0,
            None if s.latency_p95_ms is None else round(s.latency_p95_ms, 1),
            round(s.cost_usd, 6) if s.cost_known else None,
        ]
        for s in arms.values()
    ]
    if not any(s.judgments for s in arms.values()):
        return f"{head}\n\nNo judgments yet."
    return f"{head}\n\n{markdown_table(headers, rows)}"


def headline_figures(result: ExperimentResult) -> dict[str, float | int | str | None]:
    """The figures worth plotting across nights, by stable name."""
    figures: dict[str, float | int | str | None] = {
        "verdict": result.verdict,
        "look": result.look,
        "difference": result.test["diff"],
        "z": result.test["z"],
        "always_valid_p": result.test["p_value"],
        "excluded_training_posts": result.excluded_training_posts,
        "labels_needed_total": result.labels_needed["total"],
    }
    for arm in result.arms:
        figures[f"{arm.arm}/agreement"] = arm.agreement
        figures[f"{arm.arm}/agreement_error_free"] = arm.agreement_error_free
        figures[f"{arm.arm}/labeled"] = arm.labeled
        figures[f"{arm.arm}/failure_rate"] = arm.failure_rate
        figures[f"{arm.arm}/p95_latency_ms"] = arm.latency_p95_ms
    if result.mode != "shadow":
        figures["srm_p_value"] = min(
            float(result.srm[part]["p_value"]) for part in ("all", "labeled")
        )
    return figures
