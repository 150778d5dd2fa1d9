"""Judges: turn a post into a stored-ready `JudgeResult`. No database, no Dagster."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from signalops_assets.config import ProjectConfig
from signalops_assets.judging.prompts import (
    FewShot,
    PostInput,
    judge_messages,
    judge_prefix,
)
from signalops_assets.judging.versions import judge_prompt_version
from signalops_assets.llm.gateway import LLMGateway, LLMRequest, LLMResponse
from signalops_assets.llm.jsonparse import parse_json_object
from signalops_assets.vocab import LABELS

# The answer's shape, sent as `response_format` where the model supports JSON schemas.
JUDGMENT_SCHEMA: dict[str, Any] = {
    "name": "relevance_judgment",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": list(LABELS)},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reasoning": {"type": "string"},
        },
        "required": ["label", "confidence", "reasoning"],
        "additionalProperties": False,
    },
}


@dataclass(frozen=True)
class JudgeResult:
    """What a judge answered for one post, before it is stored. `judging.store` writes it as a
    `db.models.Judgment` row (the table `judgments`) with an explicit field mapping."""

    post_id: int
    label: str | None  # None when the judgment failed (`error` says why): a failure is no label
    confidence: float
    reasoning: str
    model_id: str
    judge_key: str
    latency_ms: float = 0.0
    cost_usd: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    experiment_id: str | None = None
    arm: str | None = None
    is_primary: bool = True
    trace_id: str | None = None
    prompt_version: str | None = None
    reused_from_id: int | None = None  # an earlier judgment taken over instead of a call
    cached_tokens: int | None = None
    cache_creation_tokens: int | None = None


@dataclass(frozen=True)
class Slot:
    """One judgment a judge owes a post: stored under `judge_key`, answered by `model` with
    prompt `prompt_version` (any judgment of that model and version will do)."""

    judge_key: str
    model: str
    prompt_version: str
    experiment_id: str | None = None
    arm: str | None = None
    is_primary: bool = True


class RelevanceJudge(Protocol):
    # The judge_key of the judgment the pipeline acts on: a post is done when it has one.
    done_key: str
    description: str

    @property
    def experiment_id(self) -> str | None:
        """The experiment whose arms it judges for, if any."""
        ...

    def models(self) -> list[str]:
        """Every model it may call (batch mode checks each can run as a batch)."""
        ...

    def slots(self, post: PostInput) -> list[Slot]: ...

    def versions(self) -> dict[str, frozenset[str]]: ...

    def judge_for(self, slot: Slot) -> LLMPromptJudge:
        """The judge whose `request(post)` is what this slot sends."""
        ...

    async def ajudge(self, post: PostInput) -> list[JudgeResult]: ...

    async def ajudge_slot(self, post: PostInput, slot: Slot) -> JudgeResult: ...


def parse_judgment(text: str, *, structured: bool = False) -> tuple[str, float, str] | str:
    """(label, confidence, reasoning), or an error string: model output is not trusted. A
    schema-constrained answer must be the JSON object itself; others may wrap it in prose."""
    if structured:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"parse failure: schema answer is not JSON ({exc.msg})"
        if not isinstance(data, dict):
            return "parse failure: schema answer is not a JSON object"
    else:
        parsed = parse_json_object(text)
        if parsed.data is None:
            return f"parse failure: {parsed.error}"
        data = parsed.data
    label = str(data.get("label", "")).strip().lower()
    if label not in LABELS:
        return f"parse failure: label {label[:40]!r} not in {'/'.join(LABELS)}"
    try:
        # A judge fine-tuned on label-only answers may give no confidence: 0.5, "unknown".
        confidence = float(data.get("confidence", 0.5))
    except (TypeError, ValueError):
        return "parse failure: confidence is not a number"
    if not 0.0 <= confidence <= 1.0:
        return f"parse failure: confidence {confidence} outside [0, 1]"
    return label, confidence, str(data.get("reasoning", ""))[:2000]


def judgment_from_response(
    post: PostInput, response: LLMResponse, judge_key: str, prompt_version: str | None = None
) -> JudgeResult:
    base = JudgeResult(
        post_id=post.post_id,
        label=None,
        confidence=0.0,
        reasoning="",
        model_id=response.model,
        judge_key=judge_key,
        latency_ms=response.latency_ms,
        cost_usd=response.cost_usd,
        prompt_tokens=response.prompt_tokens,
        completion_tokens=response.completion_tokens,
        error=response.error,
        prompt_version=prompt_version,
        cached_tokens=response.cached_tokens,
        cache_creation_tokens=response.cache_creation_tokens,
    )
    if not response.ok:
        return base
    parsed = parse_judgment(response.text, structured=response.structured)
    if isinstance(parsed, str):
        return replace(base, error=parsed, reasoning=response.text[:500])
    label, confidence, reasoning = parsed
    return replace(base, label=label, confidence=confidence, reasoning=reasoning)


class LLMPromptJudge:
    """A prompted model: the project's relevance prompt (and few-shot examples) as a static
    prefix, then the delimited post."""

    experiment_id: str | None = None

    def __init__(
        self,
        gateway: LLMGateway,
        project: ProjectConfig,
        model: str | None = None,
        fallbacks: tuple[str, ...] | None = None,
        trace_tags: tuple[str, ...] = (),
        examples: Sequence[FewShot] = (),
        *,
        done_key: str | None = None,
        description: str | None = None,
        fallback_model: str | None = None,
    ) -> None:
        """fallbacks: LiteLLM's own, inside one call. fallback_model: a second call when the
        first fails, within what is left of the judgment's deadline (`llm.max_judge_latency_ms`)
        and charged with the whole wait and cost (see `with_fallback`)."""
        from signalops_assets.llm.caching import schema_supported

        self.gateway = gateway
        self.project = project
        self.model = model or project.llm.judge_model
        self.fallbacks = tuple(project.llm.fallback_models) if fallbacks is None else fallbacks
        self.done_key = done_key or self.model
        self.description = description or f"prompted judge {self.model}"
        self.fallback_model = fallback_model
        self.trace_tags = trace_tags
        self.examples = tuple(examples)
        self.prompt_version = judge_prompt_version(
            project, self.model, self.examples, structured=schema_supported(self.model)
        )

    def slots(self, post: PostInput) -> list[Slot]:
        return [Slot(self.done_key, self.model, self.prompt_version)]

    def versions(self) -> dict[str, frozenset[str]]:
        """judge_key -> the prompt versions whose success there means "done"."""
        return {self.done_key: frozenset({self.prompt_version})}

    def models(self) -> list[str]:
        return [self.model]

    def judge_for(self, slot: Slot) -> LLMPromptJudge:
        return self

    def request(self, post: PostInput) -> LLMRequest:
        """What judging `post` sends (interactive calls and batch files alike)."""
        return LLMRequest(
            model=self.model,
            messages=judge_messages(self.project, post, self.examples),
            temperature=self.project.llm.temperature,
            max_tokens=self.project.llm.max_tokens,
            fallbacks=self.fallbacks,
            # timeout_s per attempt (the gateway's, from llm.timeout_s); the latency budget is
            # the whole judgment's deadline, across retries, backoff and fallbacks.
            deadline_s=self.project.llm.max_judge_latency_ms / 1000,
            trace_name="judge_llm_call",
            response_schema=JUDGMENT_SCHEMA,
            cache_prefix=len(judge_prefix(self.project, self.examples)),
        )

    async def ajudge_one(
        self,
        post: PostInput,
        *,
        judge_key: str | None = None,
        tags: tuple[str, ...] = (),
        session_id: str | None = None,
    ) -> JudgeResult:
        tracer = self.gateway.tracer
        with tracer.span(
            "judge_relevance",
            input={"post_id": post.post_id},
            tags=[*self.trace_tags, *tags],
            session_id=session_id,
        ) as span:
            judgment = await self._answer(post, judge_key or self.done_key)
            span.update(output={"label": judgment.label, "error": judgment.error})
            return replace(judgment, trace_id=getattr(span, "trace_id", None))

    async def _answer(self, post: PostInput, key: str) -> JudgeResult:
        started, request = time.perf_counter(), self.request(post)
        judgment = judgment_from_response(
            post, await self.gateway.acomplete(request), key, self.prompt_version
        )
        if not (judgment.error and self.fallback_model):
            return judgment
        budget_ms = self.project.llm.max_judge_latency_ms
        left_s = budget_ms / 1000 - (time.perf_counter() - started)
        if left_s > 0:
            second = replace(request, model=self.fallback_model, deadline_s=left_s)
            response = await self.gateway.acomplete(second)
            fallback = judgment_from_response(post, response, key, self.prompt_version)
        else:
            fallback = replace(judgment, error=f"latency budget exceeded: > {budget_ms} ms")
        judgment = with_fallback(judgment, fallback, self.fallback_model)
        return replace(judgment, label=None, confidence=0.0) if judgment.error else judgment

    async def ajudge_slot(self, post: PostInput, slot: Slot) -> JudgeResult:
        return await self.ajudge_one(post, judge_key=slot.judge_key)

    async def ajudge(self, post: PostInput) -> list[JudgeResult]:
        return [await self.ajudge_one(post)]


def with_fallback(first: JudgeResult, fallback: JudgeResult, fallback_model: str) -> JudgeResult:
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
