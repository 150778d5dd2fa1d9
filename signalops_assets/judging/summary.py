"""What one judging run did: counts, labels, latency, spend, reuse and parse failures."""

from __future__ import annotations

from dataclasses import dataclass, field

from signalops_assets.judging.judges import JudgeResult


@dataclass
class JudgeRunSummary:
    judge: str
    posts_judged: int = 0
    judgments_stored: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    total_cost_usd: float = 0.0  # what this run paid: reused judgments cost nothing
    unknown_cost: int = 0
    models: dict[str, int] = field(default_factory=dict)
    arms: dict[str, int] = field(default_factory=dict)
    experiment_id: str | None = None
    recovered: int = 0  # successes that replaced an earlier failure
    superseded: int = 0  # earlier failures replaced by this run's outcome
    duplicates: int = 0  # outcomes dropped: the post already had a success for that judge
    given_up: int = 0  # posts whose judgment failed llm.max_attempts times (after this run)
    calls: int = 0  # judgments that came from a provider call (stored)
    reused: int = 0  # judgments taken over from an earlier one of the same model and prompt
    parse_failures: int = 0  # calls whose answer did not parse as a judgment
    prompt_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cache_creation_tokens: int = 0
    calls_in_workers: int = 0  # of the provider calls, those made by worker processes

    def add(self, judgment: JudgeResult) -> None:
        self.judgments_stored += 1
        if judgment.error or judgment.label is None:
            self.failures += 1
        else:
            self.labels[judgment.label] = self.labels.get(judgment.label, 0) + 1
        self.latencies_ms.append(judgment.latency_ms)
        if judgment.cost_usd is None:
            self.unknown_cost += 1
        else:
            self.total_cost_usd += judgment.cost_usd
        self.models[judgment.model_id] = self.models.get(judgment.model_id, 0) + 1
        if judgment.arm:
            self.arms[judgment.arm] = self.arms.get(judgment.arm, 0) + 1
        if judgment.reused_from_id is not None:
            self.reused += 1
            return
        self.calls += 1
        self.parse_failures += bool(judgment.error and judgment.error.startswith("parse failure"))
        self.prompt_tokens += judgment.prompt_tokens or 0
        self.cached_tokens += judgment.cached_tokens or 0
        self.cache_creation_tokens += judgment.cache_creation_tokens or 0

    @property
    def parse_failures_per_1k(self) -> float:
        return 1000 * self.parse_failures / self.calls if self.calls else 0.0

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]
