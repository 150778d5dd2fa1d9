"""A fine-tuned judge: the prompted judge configured for a registered fine-tune. Same prompt
format as the training export (no few-shot examples, no LiteLLM fallbacks), stored under the
registry id, with `llm.judge_fallback_model` as its fallback; with no fallback a failure is
stored with `error` set and no label.

The budget (`llm.max_judge_latency_ms`) is the judgment's overall deadline: the fine-tuned
call, its retries and the fallback share it; `llm.timeout_s` bounds each attempt, so a hung
fine-tuned model leaves the fallback the rest of the budget (LLMPromptJudge._answer)."""

from __future__ import annotations

from signalops_assets.config import ProjectConfig
from signalops_assets.judging.judges import LLMPromptJudge
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.model_ids import litellm_model


def fine_tuned_judge(gateway: LLMGateway, project: ProjectConfig, model: str) -> LLMPromptJudge:
    """The judge for registry model `model` (`ft:...` or `local/trained-judge/...`)."""
    return LLMPromptJudge(
        gateway,
        project,
        litellm_model(model),
        fallbacks=(),
        done_key=model,
        description=f"fine-tuned judge {model}",
        fallback_model=project.llm.judge_fallback_model,
    )
