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
from typing import Any

from signalops_assets.llm.jsonparse import JSONParseResult, parse_json_object
from signalops_assets.llm.litellm_setup import get_litellm, set_environment, token_prices
from signalops_assets.llm.workers import Settings, WorkerLost, default_processes, shared_pool

Message = Mapping[str, Any]


@dataclass(frozen=True)
class LLMRequest:
    model: str
    messages: Sequence[Message]
    temperature: float = 0.0
    max_tokens: int = 400
    fallbacks: Sequence[str] = ()
    timeout_s: float | None = None
    tags: Sequence[str] = ()
    trace_name: str = "llm_call"


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

    @property
    def ok(self) -> bool:
        return self.error is None


RETRYABLE = (
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "Timeout",
    "APIConnectionError",
    "BadGatewayError",
)


def _is_retryable(exc: BaseException) -> bool:
    return any(base.__name__ in RETRYABLE for base in type(exc).__mro__)


def _error_line(exc: BaseException) -> str:
    # One line, without the request echo some providers append; never includes the API key
    # (LiteLLM exceptions carry the model and provider message only).
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:500]


def _litellm_model(model: str) -> str:
    # Fine-tuned OpenAI ids need the provider prefix for LiteLLM to route newer bases.
    return f"openai/{model}" if model.startswith("ft:") else model


class LLMGateway:
    def __init__(
        self,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        num_retries: int = 2,
        backoff_s: float = 0.5,
        tracer: Any = None,
        worker_processes: int | None = None,
    ) -> None:
        """`worker_processes`: processes that may run this process's busy async calls (see
        workers.py); None: `SIGNALOPS_LLM_WORKERS` (unset: 0, all calls in-process)."""
        self.api_base = api_base
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.num_retries = num_retries
        self.backoff_s = backoff_s
        self._tracer = tracer
        self.worker_processes = (
            default_processes() if worker_processes is None else worker_processes
        )

    def __repr__(self) -> str:  # never show the key
        return f"LLMGateway(api_base={self.api_base!r}, timeout_s={self.timeout_s})"

    @property
    def tracer(self) -> Any:
        if self._tracer is None:
            from signalops_assets.llm.tracing import get_tracer

            self._tracer = get_tracer()
        return self._tracer

    def _kwargs(self, request: LLMRequest, model: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": _litellm_model(model),
            "messages": [dict(m) for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "timeout": request.timeout_s or self.timeout_s,
            "num_retries": 0,  # retries are ours, with backoff across the fallback chain
        }
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
        prices = token_prices(_litellm_model(model))
        usage = getattr(response, "usage", None)
        prompt = getattr(usage, "prompt_tokens", None)
        completion = getattr(usage, "completion_tokens", None)
        if prices is None or prompt is None or completion is None:
            return None
        return float(prompt * prices[0] + completion * prices[1])

    def _response(
        self, raw: Any, model: str, started: float, attempts: int, errors: list[str]
    ) -> LLMResponse:
        usage = getattr(raw, "usage", None)
        return LLMResponse(
            text=raw.choices[0].message.content or "",
            model=model,
            latency_ms=(time.perf_counter() - started) * 1000,
            cost_usd=self._cost(raw, model),
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            attempts=attempts,
            errors=tuple(errors),
        )

    def _delay(self, attempt: int) -> float:
        return float(self.backoff_s * (2**attempt) * (0.5 + random.random() / 2))

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
        litellm = get_litellm()
        started, attempts, errors = time.perf_counter(), 0, list[str]()
        with self.tracer.generation(
            request.trace_name, model=request.model, messages=request.messages
        ) as gen:
            for model in self._plan(request):
                for attempt in range(self.num_retries + 1):
                    attempts += 1
                    try:
                        raw = litellm.completion(**self._kwargs(request, model))
                        result = self._response(raw, model, started, attempts, errors)
                        _trace_result(gen, result)
                        return result
                    except Exception as exc:
                        errors.append(f"{model}: {_error_line(exc)}")
                        if not _is_retryable(exc) or attempt == self.num_retries:
                            break
                        time.sleep(self._delay(attempt))
            result = self._failure(request, started, attempts, errors)
            _trace_result(gen, result)
            return result

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        with self.tracer.generation(
            request.trace_name, model=request.model, messages=request.messages
        ) as gen:
            result = await self._acomplete_routed(request)
            _trace_result(gen, result)
            return result

    async def _acomplete_routed(self, request: LLMRequest) -> LLMResponse:
        pool = None if request.model.startswith("local/") else shared_pool(self.worker_processes)
        if pool is not None and pool.available():
            try:
                return await pool.call(self._settings(), request)
            except WorkerLost:
                pass  # the worker died mid-call: run the call here
        return await self._acomplete_here(request)

    def start_workers(self, timeout_s: float = 60.0) -> bool:
        """Start the worker processes now (instead of on the first busy second) and wait until
        they are ready: before a big batch, so it does not run its first seconds in-process.
        False when workers are off or could not start; calls then run in-process."""
        pool = shared_pool(self.worker_processes)
        if pool is None:
            return False
        set_environment()  # the forkserver inherits it
        pool.start()
        return pool.wait_ready(timeout_s)

    def _settings(self) -> Settings:
        return (self.api_base, self._api_key, self.timeout_s, self.num_retries, self.backoff_s)

    async def _acomplete_here(self, request: LLMRequest) -> LLMResponse:
        """The call with retries and fallbacks, in this process (a worker runs this too)."""
        litellm = get_litellm()
        started, attempts, errors = time.perf_counter(), 0, list[str]()
        for model in self._plan(request):
            for attempt in range(self.num_retries + 1):
                attempts += 1
                try:
                    raw = await litellm.acompletion(**self._kwargs(request, model))
                    return self._response(raw, model, started, attempts, errors)
                except Exception as exc:
                    errors.append(f"{model}: {_error_line(exc)}")
                    if not _is_retryable(exc) or attempt == self.num_retries:
                        break
                    await asyncio.sleep(self._delay(attempt))
        return self._failure(request, started, attempts, errors)

    def complete_json(self, request: LLMRequest) -> tuple[LLMResponse, JSONParseResult]:
        response = self.complete(request)
        if not response.ok:
            return response, JSONParseResult(None, f"no response: {response.error}")
        return response, parse_json_object(response.text)

    async def acomplete_many(
        self, requests: Sequence[LLMRequest], max_concurrency: int
    ) -> list[LLMResponse]:
        """All requests in order, at most `max_concurrency` in flight in total (LiteLLM's Router
        would reject instead of queueing). Busy batches run on the worker processes."""
        semaphore = asyncio.Semaphore(max_concurrency)

        async def one(request: LLMRequest) -> LLMResponse:
            async with semaphore:
                return await self.acomplete(request)

        return list(await asyncio.gather(*(one(r) for r in requests)))

    abatch = acomplete_many

    def batch(self, requests: Sequence[LLMRequest], max_concurrency: int) -> list[LLMResponse]:
        """Synchronous front door for `abatch`, closing LiteLLM's async clients before the loop
        ends so nothing prints "Event loop is closed" at exit."""
        responses: list[LLMResponse] = run_async(self.abatch(requests, max_concurrency))
        return responses


def _trace_result(gen: Any, result: LLMResponse) -> None:
    gen.update(
        output=result.text or None,
        usage={
            "prompt_tokens": result.prompt_tokens or 0,
            "completion_tokens": result.completion_tokens or 0,
        },
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
        error=result.error,
        model=result.model,
    )


def run_async(coro: Any) -> Any:
    async def wrapper() -> Any:
        try:
            return await coro
        finally:
            await close_litellm_clients()

    return asyncio.run(wrapper())


async def close_litellm_clients() -> None:
    litellm = get_litellm()
    closer = getattr(litellm, "close_litellm_async_clients", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # closing is best effort; a failure here loses no data
            return
