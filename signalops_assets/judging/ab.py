"""A/B routing between two judges with sticky, deterministic assignment."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from signalops_assets.hashing import stable_unit
from signalops_assets.judging.judges import Judgment
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.tracing import trace_context


def assignment_unit(experiment_id: str, post_key: str) -> float:
    """A stable number in [0, 1) for (experiment, post). Raising canary_pct keeps earlier
    canary posts in the canary, since the unit is fixed (":" as assignments always used)."""
    return stable_unit(experiment_id, post_key, separator=":")


def assign_arm(experiment_id: str, post_key: str, canary_pct: float) -> str:
    return "canary" if assignment_unit(experiment_id, post_key) < canary_pct else "primary"


class ABTestJudge:
    """Split mode: each post goes to one arm. Shadow mode: both judge every post; the primary's
    judgment is the one the pipeline acts on, the canary's is stored for paired analysis."""

    def __init__(
        self, *, experiment_id: str, canary_pct: float, mode: str, primary: Any, canary: Any
    ) -> None:
        self.experiment_id = experiment_id
        self.canary_pct = canary_pct
        self.mode = mode
        self.primary = primary
        self.canary = canary
        self.done_key = f"experiment:{experiment_id}"
        share = "canary judges every post" if mode == "shadow" else f"{canary_pct:.0%} canary"
        self.description = (
            f"A/B {mode} {experiment_id}: {primary.model} vs {canary.model} ({share})"
        )

    def _tags(self, arm: str) -> tuple[str, ...]:
        return ("ab-test", f"experiment:{self.experiment_id}", f"arm:{arm}")

    async def _judge(
        self, judge: Any, post: PostInput, arm: str, key: str, is_primary: bool
    ) -> Judgment:
        # The session is the run; experiment and arm are trace tags and metadata (filterable).
        with trace_context(metadata={"experiment_id": self.experiment_id, "arm": arm}):
            judgment: Judgment = await judge.ajudge_one(post, judge_key=key, tags=self._tags(arm))
        return replace(judgment, experiment_id=self.experiment_id, arm=arm, is_primary=is_primary)

    async def ajudge(self, post: PostInput) -> list[Judgment]:
        # The platform id is the unit: unique within the experiment's project, and unlike the
        # database row id it survives a move to another database, so assignment does too.
        unit = post.platform_id
        if self.mode == "shadow":
            primary, canary = await asyncio.gather(
                self._judge(self.primary, post, "primary", self.done_key, True),
                self._judge(self.canary, post, "canary", f"{self.done_key}:shadow", False),
            )
            return [primary, canary]
        arm = assign_arm(self.experiment_id, unit, self.canary_pct)
        judge = self.canary if arm == "canary" else self.primary
        return [await self._judge(judge, post, arm, self.done_key, True)]
