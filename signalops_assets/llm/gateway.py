"""The one way LLM calls are made: LiteLLM with timeouts, retries, fallbacks and cost.

Provider failures never raise out of the gateway: the response carries `error`, so a caller can
store the failure (a judgment with `error` set) instead of losing the record.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from signalops_assets.llm.caching import (
    cache_tokens,
    explicit_caching,
    schema_supported,
    with_cache_breakpoint,
)
from signalops_assets.llm.litellm_setup import get_litellm, token_prices, warm_litellm
from signalops_assets.llm.loop import run_async
from signalops_assets.llm.model_ids import litellm_model
from signalops_assets.llm.processes import WorkerSettings, active_pool
from signalops_assets.llm.retries import attempt_timeout, is_retryable, retry_after
from signalops_assets.redaction import exception_line

if TYPE_CHECKING:
    from signalops_assets.llm.tracing import Tracer

Message = Mapping[str, Any]


@dataclass(frozen=True)
class LLMRequest:
    model: str
    messages: Sequence[Message]
    temperature: float = 0.0
    max_tokens: int = 400
    fallbacks: Sequence[str] = ()
    timeout_s: float | None = None  # per attempt; None: the gateway's
    deadline_s: float | None = None  # overall, across attempts, backoff and fallbacks
    trace_name: str = "llm_call"
    # A JSON schema for the answer ({"name", "schema"}): sent as `response_format` to models
    # LiteLLM says support it (and to the offline models), never to others.
    response_schema: Mapping[str, Any] | None = None
    # How many leading messages are identical for every call (the cacheable prefix); providers
    # with explicit caching get a cache breakpoint on the last of them.
    cache_prefix: int = 0


@dataclass(frozen=True)
class LLMResponse:
    text: str
    model: str  # the model that answered (a fallback, if the first failed)
    latency_ms: float
    cost_usd: float | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    attempts: int = 1
    errors: tuple[str, ...] = field(default_factory=tuple)
    cached_tokens: int | None = None  # prompt tokens read from the provider's cache
    cache_creation_tokens: int | None = None  # prompt tokens written to it (Anthropic)
    structured: bool = False  # the answer was constrained by `response_schema`

    @property
    def ok(self) -> bool:
        return self.error is None


def _budget_error(request: LLMRequest) -> str:
    return f"latency budget exceeded: > {round((request.deadline_s or 0) * 1000)} ms"


class LLMGateway:
    def __init__(
        self,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        num_retries: int = 2,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        tracer: Tracer | None = None,
    ) -> None:
        self.api_base = api_base
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.num_retries = num_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._tracer = tracer

    def __repr__(self) -> str:  # never show the key
        return (
            f"LLMGateway(api_base={self.api_base!r}, timeout_s={self.timeout_s}, "
            f"num_retries={self.num_retries})"
        )

    @property
    def tracer(self) -> Tracer:
        if self._tracer is None:
            from signalops_assets.llm.tracing import get_tracer

            self._tracer = get_tracer()
        return self._tracer

    def completion_kwargs(self, request: LLMRequest, model: str | None = None) -> dict[str, Any]:
        """What `litellm.acompletion` gets for `request` (its first model unless named): also
        the body of a batch-file line. `response_format` in it means the answer is schema-bound
        (`LLMResponse.structured`)."""
        return self._kwargs(request, model or request.model)

    def _kwargs(self, request: LLMRequest, model: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": litellm_model(model),
            "messages": [dict(m) for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "timeout": request.timeout_s or self.timeout_s,
            "num_retries": 0,  # retries are ours, with backoff across the fallback chain
        }
        if request.response_schema is not None and schema_supported(model):
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": request.response_schema,
            }
        if request.cache_prefix and explicit_caching(model):
            kwargs["messages"] = with_cache_breakpoint(kwargs["messages"], request.cache_prefix)
        if self.api_base and not model.startswith("local/"):
            kwargs["api_base"] = self.api_base
        if self._api_key and not model.startswith("local/"):
            kwargs["api_key"] = self._api_key
        return kwargs

    @staticmethod
    def _cost(response: Any, model: str) -> float | None:
        if model.startswith("local/"):
            return 0.0
        hidden = getattr(response, "_hidden_params", None) or {}
        if "response_cost" in hidden:  # LiteLLM priced it on its way out; None: no price known
            cost: Any = hidden["response_cost"]
            return None if cost is None else float(cost)
        # Not priced by LiteLLM (some providers): tokens times the model's cached prices, rather
        # than a second `completion_cost`, which re-runs the whole model lookup on every call.
        prices = token_prices(litellm_model(model))
        usage = getattr(response, "usage", None)
        prompt = getattr(usage, "prompt_tokens", None)
        completion = getattr(usage, "completion_tokens", None)
        if prices is None or prompt is None or completion is None:
            return None
        return float(prompt * prices[0] + completion * prices[1])

    def _response(
        self,
        raw: Any,
        model: str,
        started: float,
        attempts: int,
        errors: list[str],
        structured: bool = False,
    ) -> LLMResponse:
        usage = getattr(raw, "usage", None)
        cached, created = cache_tokens(usage)
        return LLMResponse(
            text=raw.choices[0].message.content or "",
            model=model,
            latency_ms=(time.perf_counter() - started) * 1000,
            cost_usd=self._cost(raw, model),
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            attempts=attempts,
            errors=tuple(errors),
            cached_tokens=cached,
            cache_creation_tokens=created,
            structured=structured,
        )

    def _delay(self, attempt: int, exc: BaseException | None = None) -> float:
        """Retry-After when the provider sent one (capped), else jittered exponential backoff
        (half to full of base * 2^attempt), so a burst of 429s does not retry in lockstep."""
        told = retry_after(exc) if exc is not None else None
        if told is not None:
            return min(told, self.max_backoff_s)
        ceiling = min(self.max_backoff_s, self.backoff_s * (2**attempt))
        return float(ceiling * (0.5 + random.random() / 2))

    def _plan(self, request: LLMRequest) -> list[str]:
        return list(dict.fromkeys([request.model, *request.fallbacks]))

    def _failure(
        self, request: LLMRequest, started: float, attempts: int, errors: list[str]
    ) -> LLMResponse:
        return LLMResponse(
            text="",
            model=request.model,
            latency_ms=(time.perf_counter() - started) * 1000,
            cost_usd=None,
            error=errors[-1] if errors else "no model tried",
            attempts=attempts,
            errors=tuple(errors),
        )

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Synchronous front door: the async core in a fresh event loop."""
        response: LLMResponse = run_async(self.acomplete(request))
        return response

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        with self.tracer.generation(
            request.trace_name, model=request.model, messages=request.messages
        ) as gen:
            result = await self.send(request)
            _trace_result(gen, result)
            return result

    def warm(self) -> None:
        """Import LiteLLM and its OpenAI client code before any deadline starts, so a latency
        budget measures the provider, not our start-up (the import is slow)."""
        warm_litellm()

    def worker_settings(self) -> WorkerSettings:
        """What a worker process rebuilds this gateway from (see llm/processes.py): no key."""
        return WorkerSettings(
            self.api_base, self.timeout_s, self.num_retries, self.backoff_s, self.max_backoff_s
        )

    async def send(self, request: LLMRequest) -> LLMResponse:
        """The call without a trace span: in a worker process while a `processes.WorkerPool` is
        attached, else here. The one retry/fallback/timeout loop: each attempt is bounded by the
        per-attempt timeout and by what is left of the request's overall deadline; a hang costs
        at most that and blocks nothing else."""
        pool = active_pool()
        if pool is not None and self._api_key is None and not request.model.startswith("local/"):
            answered = await pool.call(self.worker_settings(), request)
            if answered is not None:
                return answered
        litellm = get_litellm()
        started, attempts, errors = time.perf_counter(), 0, list[str]()
        deadline = None if request.deadline_s is None else started + request.deadline_s
        for model in self._plan(request):
            for attempt in range(self.num_retries + 1):
                timeout = request.timeout_s or self.timeout_s
                if deadline is not None:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        errors.append(_budget_error(request))
                        return self._failure(request, started, attempts, errors)
                    timeout = attempt_timeout(timeout, request.deadline_s or left, left, attempts)
                attempts += 1
                kwargs = {**self._kwargs(request, model), "timeout": timeout}
                try:
                    # Bounded by LiteLLM's own timeout (the HTTP client's), never by cancelling
                    # the call: LiteLLM builds its provider coroutine in an executor thread, and
                    # a cancel landing there leaves that coroutine never awaited.
                    raw = await litellm.acompletion(**kwargs)
                    structured = "response_format" in kwargs
                    return self._response(raw, model, started, attempts, errors, structured)
                except Exception as exc:
                    errors.append(f"{model}: {exception_line(exc)}")
                    if not is_retryable(exc) or attempt == self.num_retries:
                        break
                    delay = self._delay(attempt, exc)
                    if deadline is not None and time.perf_counter() + delay >= deadline:
                        errors.append(_budget_error(request))
                        return self._failure(request, started, attempts, errors)
                    await asyncio.sleep(delay)
        return self._failure(request, started, attempts, errors)


def _trace_result(gen: Any, result: LLMResponse) -> None:
    gen.update(
        output=result.text or None,
        usage={
            "prompt_tokens": result.prompt_tokens or 0,
            "completion_tokens": result.completion_tokens or 0,
            "cached_tokens": result.cached_tokens or 0,
            "cache_creation_tokens": result.cache_creation_tokens or 0,
        },
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
        error=result.error,
        model=result.model,
    )
