"""One rendering of an ExperimentResult for the asset's markdown and the CLI's table."""

from __future__ import annotations

from signalops_assets.experiments.analysis import ExperimentResult
from signalops_assets.reporting import markdown_table, text_table


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _pp(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f} pts"


def arm_rows(result: ExperimentResult) -> tuple[list[str], list[list[object]]]:
    headers = [
        "arm",
        "model",
        "n",
        "errors",
        "labeled",
        "agreement (95% Wilson)",
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
                arm.labeled,
                agreement,
                arm.f1,
                arm.kappa,
                arm.latency_p50_ms,
                arm.latency_p95_ms,
                arm.cost_per_1000_usd,
            ]
        )
    return headers, rows


def summary_lines(result: ExperimentResult) -> list[str]:
    d = result.difference
    lines = [
        f"difference (canary − primary agreement): {_pp(d.diff)}; always-valid interval "
        f"[{_pp(d.always_valid_low)}, {_pp(d.always_valid_high)}], p={d.always_valid_p:.3g}",
        f"fixed-horizon reference: Newcombe [{_pp(d.newcombe_low)}, {_pp(d.newcombe_high)}], "
        f"p={'–' if d.fixed_horizon_p is None else f'{d.fixed_horizon_p:.3g}'} "
        "(not valid under nightly peeking; not used for the verdict)",
        f"sample ratio: all judgments p={result.srm_all_p:.3g}"
        f"{' MISMATCH' if result.srm_all_flagged else ''}; labeled p={result.srm_labeled_p:.3g}"
        f"{' MISMATCH' if result.srm_labeled_flagged else ''}",
        f"label-mix drift (chi-square, diagnostic): p="
        f"{'–' if result.label_drift_p is None else f'{result.label_drift_p:.3g}'}",
    ]
    if result.paired:
        p = result.paired
        lines.append(
            f"paired (shadow): n={p['n']}, canary-only correct {p['canary_only']}, "
            f"primary-only {p['primary_only']}, McNemar exact p={p['mcnemar_p']:.3g}, "
            f"interval [{_pp(p['diff_low'])}, {_pp(p['diff_high'])}]"
        )
    lines.append(f"verdict: {result.verdict} — {result.recommendation}")
    lines += [f"note: {n}" for n in result.notes]
    return lines


def as_markdown(result: ExperimentResult) -> str:
    headers, rows = arm_rows(result)
    title = (
        f"**{result.experiment_id}** ({result.mode}, {result.canary_pct:.0%} canary, "
        f"{result.status})"
    )
    return "\n\n".join(
        [
            title,
            markdown_table(headers, rows),
            "\n".join(f"- {line}" for line in summary_lines(result)),
        ]
    )


def as_text(result: ExperimentResult) -> str:
    headers, rows = arm_rows(result)
    title = (
        f"{result.experiment_id}  project {result.project_id}  {result.mode}  "
        f"{result.canary_pct:.0%} canary  {result.status}"
    )
    return "\n".join([title, "", text_table(headers, rows), "", *summary_lines(result)])
