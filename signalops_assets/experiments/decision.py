"""The verdict policy and its wording: evidence in, one of a few verdicts out.

Rules, in order:
1. A sample ratio mismatch in the assignment (sequential SRM on all judgments or on the
   labelled ones) stops any reading: nothing else is trustworthy.
2. No verdict before ``min_labels_per_arm`` labelled, error-free judgments in each arm (pairs
   in shadow mode): the boundary is asymptotic, and a verdict from a handful of labels would be
   a guess whatever the arithmetic says.
3. A confidence sequence may be intersected over time, so a statistical decision, once
   reached, stands: later nights report it and the night it was reached, never flip it.
4. A better canary is promoted only if every guardrail passes (error/fallback rate, p95
   latency, cost); otherwise the verdict names the guardrail that failed.
Fixed-horizon numbers never decide anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from signalops_assets.experiments.sequential import SequentialResult
from signalops_assets.vocab import Verdict

__all__ = ["Decision", "GuardrailCheck", "Verdict"]


@dataclass(frozen=True, slots=True)
class GuardrailCheck:
    name: str  # error_rate | p95_latency | cost_per_1k
    value: float | None  # the canary's figure (error_rate: canary minus primary)
    limit: float
    passed: bool

    def describe(self) -> str:
        shown = "n/a" if self.value is None else f"{self.value:.4g}"
        return f"{self.name} {shown} > limit {self.limit:.4g}"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    recommendation: str
    direction: int  # the statistical decision: +1 canary better, -1 worse, 0 none yet


@dataclass(frozen=True, slots=True)
class PriorDecision:
    """The statistical decision an earlier night reached, if any."""

    direction: int
    reached_at: str
    reached_look: int


def _pp(x: float) -> str:
    return f"{100 * x:+.1f} pp"


def guardrail_checks(
    *,
    error_rate_delta: float | None,
    max_error_rate_increase: float,
    canary_p95_ms: float | None,
    max_p95_latency_ms: float | None,
    canary_cost_per_1k: float | None,
    max_cost_per_1k_usd: float | None,
) -> list[GuardrailCheck]:
    """Point estimates on purpose: a guardrail only ever blocks a promotion, so noise in it can
    delay a promotion but never cause one. An unknown figure fails a configured limit."""
    limits = [
        ("error_rate", error_rate_delta, max_error_rate_increase),
        ("p95_latency", canary_p95_ms, max_p95_latency_ms),
        ("cost_per_1k", canary_cost_per_1k, max_cost_per_1k_usd),
    ]
    checks = [
        GuardrailCheck(name, value, limit, value is not None and value <= limit)
        for name, value, limit in limits
        if limit is not None
    ]
    return checks


def decide(
    *,
    result: SequentialResult,
    srm_flagged: bool,
    srm_p_value: float,
    enough_labels: bool,
    min_labels_per_arm: int,
    guardrails: list[GuardrailCheck],
    labels_still_needed: int,
    prior: PriorDecision | None,
) -> Decision:
    interval = f"(always-valid interval {_pp(result.low)} to {_pp(result.high)})"
    if srm_flagged:
        return Decision(
            Verdict.SAMPLE_RATIO_MISMATCH,
            f"sample ratio mismatch (anytime p={srm_p_value:.2g}): the arms did not get the "
            "configured share of posts; fix the primary/canary assignment before reading any "
            "result",
            prior.direction if prior else 0,
        )
    direction = prior.direction if prior else (result.direction if enough_labels else 0)
    since = f" (reached {prior.reached_at}, look {prior.reached_look})" if prior else ""
    if direction > 0:
        failed = [g for g in guardrails if not g.passed]
        if failed:
            return Decision(
                Verdict.GUARDRAIL_FAILED,
                f"canary agrees more with humans{since} but fails guardrail "
                + "; ".join(g.describe() for g in failed)
                + ": do not promote",
                direction,
            )
        return Decision(
            Verdict.PROMOTE_CANARY,
            f"promote canary: agreement {_pp(result.diff)} vs primary{since} {interval}",
            direction,
        )
    if direction < 0:
        return Decision(
            Verdict.KEEP_PRIMARY,
            f"keep primary: canary agreement {_pp(result.diff)}{since} {interval}",
            direction,
        )
    if not enough_labels:
        text = (
            f"no decision yet: fewer than {min_labels_per_arm} labelled, error-free judgments "
            "in an arm"
        )
    elif labels_still_needed > 0:
        text = f"no decision yet: about {labels_still_needed} more human labels in all"
    else:
        text = (
            "no decision yet: the planned labels are in and the interval still spans zero, "
            "so any difference is likely smaller than the minimum effect worth detecting"
        )
    return Decision(Verdict.NO_DECISION, f"{text} {interval}", 0)
