"""A/B routing between two judges with sticky, deterministic assignment."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from signalops_assets.hashing import stable_unit
from signalops_assets.judging.judges import JudgeResult, LLMPromptJudge, Slot
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.tracing import trace_context
from signalops_assets.vocab import Arm, ExperimentMode


def assignment_unit(experiment_id: str, post_key: str) -> float:
    """A stable number in [0, 1) for (experiment, post). Raising canary_pct keeps earlier
    canary posts in the canary, since the unit is fixed (":" as assignments always used)."""
    return stable_unit(experiment_id, post_key, separator=":")


def assign_arm(experiment_id: str, post_key: str, canary_pct: float) -> str:
    return Arm.CANARY if assignment_unit(experiment_id, post_key) < canary_pct else Arm.PRIMARY


class ABTestJudge:
    """Split mode: each post goes to one arm. Shadow mode: both judge every post; the primary's
    judgment is the one the pipeline acts on, the canary's is stored for paired analysis."""

    def __init__(
        self,
        *,
        experiment_id: str,
        canary_pct: float,
        mode: str,
        primary: LLMPromptJudge,
        canary: LLMPromptJudge,
    ) -> None:
        self.experiment_id = experiment_id
        self.canary_pct = canary_pct
        self.mode = mode
        self.primary = primary
        self.canary = canary
        self.done_key = f"experiment:{experiment_id}"
        share = (
            "canary judges every post"
            if mode == ExperimentMode.SHADOW
            else f"{canary_pct:.0%} canary"
        )
        self.description = (
            f"A/B {mode} {experiment_id}: {primary.model} vs {canary.model} ({share})"
        )

    def models(self) -> list[str]:
        return [self.primary.model, self.canary.model]

    def _tags(self, arm: str) -> tuple[str, ...]:
        return ("ab-test", f"experiment:{self.experiment_id}", f"arm:{arm}")

    def _slot(self, arm: str, key: str) -> Slot:
        judge = self.canary if arm == Arm.CANARY else self.primary
        is_primary = self.mode != ExperimentMode.SHADOW or arm == Arm.PRIMARY
        return Slot(key, judge.model, judge.prompt_version, self.experiment_id, arm, is_primary)

    def versions(self) -> dict[str, frozenset[str]]:
        primary, canary = self.primary.prompt_version, self.canary.prompt_version
        if self.mode == ExperimentMode.SHADOW:
            return {
                self.done_key: frozenset({primary}),
                f"{self.done_key}:shadow": frozenset({canary}),
            }
        return {self.done_key: frozenset({primary, canary})}

    def judge_for(self, slot: Slot) -> LLMPromptJudge:
        """The arm's own judge (whose `request(post)` is what this slot sends)."""
        return self.canary if slot.arm == Arm.CANARY else self.primary

    def slots(self, post: PostInput) -> list[Slot]:
        if self.mode == ExperimentMode.SHADOW:
            return [
                self._slot(Arm.PRIMARY, self.done_key),
                self._slot(Arm.CANARY, f"{self.done_key}:shadow"),
            ]
        # The platform id is the unit: unique within the experiment's project, and unlike the
        # database row id it survives a move to another database, so assignment does too.
        arm = assign_arm(self.experiment_id, post.platform_id, self.canary_pct)
        return [self._slot(arm, self.done_key)]

    async def ajudge_slot(self, post: PostInput, slot: Slot) -> JudgeResult:
        judge = self.judge_for(slot)
        arm = slot.arm or Arm.PRIMARY
        # The session is the run; experiment and arm are trace tags and metadata (filterable).
        with trace_context(metadata={"experiment_id": self.experiment_id, "arm": arm}):
            judgment: JudgeResult = await judge.ajudge_one(
                post, judge_key=slot.judge_key, tags=self._tags(arm)
            )
        return replace(
            judgment, experiment_id=self.experiment_id, arm=arm, is_primary=slot.is_primary
        )

    async def ajudge(self, post: PostInput) -> list[JudgeResult]:
        """Every slot of the post, called fresh (no database: see judging.plan for reuse)."""
        return list(await asyncio.gather(*(self.ajudge_slot(post, s) for s in self.slots(post))))
