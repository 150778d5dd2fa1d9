"""A fine-tuned judge: same prompt format as the training export, with a latency budget and a
fallback model; with no fallback a failure is stored with `error` set and no label.

The budget (`llm.max_judge_latency_ms`) is the judgment's overall deadline: the fine-tuned
call, its retries and the fallback share it; `llm.timeout_s` bounds each attempt, so a hung
fine-tuned model leaves the fallback the rest of the budget."""

from __future__ import annotations

import time
from dataclasses import replace

from signalops_assets.config import ProjectConfig
from signalops_assets.judging.judges import (
    JudgeResult,
    LLMPromptJudge,
    judgment_from_response,
)
from signalops_assets.judging.prompts import PostInput
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.model_ids import litellm_model


def _with_fallback(first: JudgeResult, fallback: JudgeResult, fallback_model: str) -> JudgeResult:
    """The fallback's answer, charged with the whole wait and every known cost: an A/B arm
    whose fine-tuned model times out must not look as fast as its fallback."""
    first_error = first.error or ""
    costs = [c for c in (first.cost_usd, fallback.cost_usd) if c is not None]
    judgment = replace(
        fallback,
        latency_ms=first.latency_ms + fallback.latency_ms,
        cost_usd=sum(costs) if costs else None,
        reasoning=f"[fallback after: {first_error[:200]}] {fallback.reasoning}",
    )
    if judgment.error:
        judgment = replace(
            judgment, error=f"{first_error[:300]}; fallback {fallback_model}: {judgment.error}"
        )
    return judgment


class FineTunedJudge(LLMPromptJudge):
    def __init__(self, gateway: LLMGateway, project: ProjectConfig, model: str) -> None:
        super().__init__(gateway, project, litellm_model(model), fallbacks=())
        self.done_key = model
        self.registry_id = model
        self.fallback_model = project.llm.judge_fallback_model
        self.deadline_ms = project.llm.max_judge_latency_ms
        self.description = f"fine-tuned judge {model}"

    async def ajudge_one(
        self,
        post: PostInput,
        *,
        judge_key: str | None = None,
        tags: tuple[str, ...] = (),
        session_id: str | None = None,
    ) -> JudgeResult:
        key = judge_key or self.done_key
        tracer = self.gateway.tracer
        with tracer.span(
            "judge_relevance",
            input={"post_id": post.post_id},
            tags=[*self.trace_tags, *tags],
            session_id=session_id,
        ) as span:
            started = time.perf_counter()
            response = await self.gateway.acomplete(self.request(post))
            judgment = judgment_from_response(post, response, key, self.prompt_version)
            left_s = self.deadline_ms / 1000 - (time.perf_counter() - started)
            if judgment.error and self.fallback_model:
                if left_s > 0:
                    request = replace(
                        self.request(post), model=self.fallback_model, deadline_s=left_s
                    )
                    fallback = judgment_from_response(
                        post, await self.gateway.acomplete(request), key, self.prompt_version
                    )
                else:
                    fallback = replace(
                        judgment, error=f"latency budget exceeded: > {self.deadline_ms} ms"
                    )
                judgment = _with_fallback(judgment, fallback, self.fallback_model)
            if judgment.error:
                judgment = replace(judgment, label=None, confidence=0.0)
            span.update(output={"label": judgment.label, "error": judgment.error})
            return replace(judgment, trace_id=getattr(span, "trace_id", None))
