"""Langfuse tracing for the LLM gateway, or nothing at all.

`get_tracer()` builds one tracer per process from the environment: a `LangfuseTracer` when
LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL (or LANGFUSE_HOST) are set, else a
`NoopTracer`, which never imports langfuse, logs nothing, and costs one constant context manager
per call. Secret-looking keys and values are scrubbed from everything sent; LANGFUSE_MASK_CONTENT=1
also masks post text and @handles. Trace-level tags, session and the Dagster run id are set with
`trace_context(...)` around the spans they belong to. The Langfuse implementation lives in
llm/langfuse_tracer.py.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from signalops_assets.redaction import MASKED, scrub

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVICE_NAME = "signalops_assets"


class SpanHandle:
    """What `Tracer.span` yields. Without an observation (tracing off) updates do nothing.
    `generation_id` is the id of the last generation opened inside the span (the LLM call
    a later correction or review score belongs to)."""

    __slots__ = ("_observation", "generation_id", "trace_id")

    def __init__(self, observation: Any = None) -> None:
        self._observation = observation
        self.trace_id: str | None = None if observation is None else observation.trace_id
        self.generation_id: str | None = None

    def update(self, *, output: Any = None, metadata: Mapping[str, Any] | None = None) -> None:
        if self._observation is not None:
            self._observation.update(output=scrub(output), metadata=scrub(metadata))


class GenerationHandle:
    """What `Tracer.generation` yields. Without an observation (tracing off) updates do nothing."""

    __slots__ = ("_mask_content", "_observation")

    def __init__(self, observation: Any = None, mask_content: bool = False) -> None:
        self._observation = observation
        self._mask_content = mask_content

    def update(
        self,
        *,
        output: str | None = None,
        usage: Mapping[str, int] | None = None,
        cost_usd: float | None = None,
        latency_ms: float | None = None,
        error: str | None = None,
        model: str | None = None,
    ) -> None:
        if self._observation is None:
            return
        fields: dict[str, Any] = {"model": model}
        if output is not None:  # the output repeats the post: masked whole, not only @handles
            fields["output"] = MASKED if self._mask_content else scrub(output)
        if usage is not None:
            tokens_in = int(usage.get("prompt_tokens", usage.get("input", 0)) or 0)
            tokens_out = int(usage.get("completion_tokens", usage.get("output", 0)) or 0)
            cached = int(usage.get("cached_tokens", 0) or 0)
            created = int(usage.get("cache_creation_tokens", 0) or 0)
            # `input` is the uncached part, so the parts add up to the prompt and Langfuse
            # prices each at its own rate (cache reads are a fraction of the input price).
            details = {"input": max(0, tokens_in - cached - created), "output": tokens_out}
            if cached:
                details["cache_read_input_tokens"] = cached
            if created:
                details["cache_creation_input_tokens"] = created
            fields["usage_details"] = {**details, "total": tokens_in + tokens_out}
        if cost_usd is not None:
            fields["cost_details"] = {"total": float(cost_usd)}
        if latency_ms is not None:
            fields["metadata"] = {"latency_ms": round(float(latency_ms), 3)}
        if error is not None:
            fields.update(level="ERROR", status_message=scrub(error))
        self._observation.update(**fields)


class Tracer(Protocol):
    enabled: bool

    def span(
        self,
        name: str,
        *,
        input: Any = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        session_id: str | None = None,
    ) -> AbstractContextManager[SpanHandle]: ...

    def generation(
        self,
        name: str,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        model_parameters: Mapping[str, Any] | None = None,
    ) -> AbstractContextManager[GenerationHandle]: ...

    def score(
        self,
        *,
        trace_id: str,
        name: str,
        value: float | str,
        comment: str | None = None,
        score_id: str | None = None,
        data_type: str | None = None,
        observation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None: ...

    def upsert_dataset(
        self, name: str, description: str, items: Sequence[Mapping[str, Any]]
    ) -> int: ...

    def record_dataset_run(
        self,
        dataset: str,
        run_name: str,
        outputs: Mapping[str, Any],
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> int: ...

    def current_trace_id(self) -> str | None: ...

    def trace_context(
        self,
        *,
        run_id: str | None = None,
        tags: Sequence[str] = (),
        session_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> AbstractContextManager[None]: ...

    def flush(self) -> None: ...

    def shutdown(self) -> None: ...


class _Given(AbstractContextManager[T]):
    """A reusable context manager that enters as a fixed value and does nothing else."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def __enter__(self) -> T:
        return self._value

    def __exit__(self, *exc: object) -> None:
        return None


_NOOP_SPAN, _NOOP_GENERATION = _Given(SpanHandle()), _Given(GenerationHandle())
# The innermost open span of this task (asyncio tasks copy it, so concurrent spans stay apart).
_open_span: ContextVar[SpanHandle | None] = ContextVar("signalops_open_span", default=None)


class NoopTracer:
    """Tracing off: every call is a constant no-op, and langfuse is never imported."""

    enabled = False

    def span(self, name: str, **_: Any) -> AbstractContextManager[SpanHandle]:
        return _NOOP_SPAN

    def generation(self, name: str, **_: Any) -> AbstractContextManager[GenerationHandle]:
        return _NOOP_GENERATION

    def score(self, **_: Any) -> None:
        return None

    def upsert_dataset(self, name: str, description: str, items: Sequence[Any]) -> int:
        return 0

    def record_dataset_run(self, dataset: str, run_name: str, outputs: Any, **_: Any) -> int:
        return 0

    def current_trace_id(self) -> str | None:
        return None

    def flush(self) -> None:
        return None

    def trace_context(self, **_: Any) -> AbstractContextManager[None]:
        return nullcontext()

    def shutdown(self) -> None:
        return None


_lock = threading.Lock()
# The tracer of the current LANGFUSE_* configuration, and one per public key seen (Langfuse keeps
# one client per public key for the life of the process: it cannot be rebuilt, only reused).
_current_tracer: tuple[tuple[str, ...], Tracer] | None = None
_by_public_key: dict[str, tuple[tuple[str, ...], Tracer]] = {}
_LANGFUSE_VARS = (
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "LANGFUSE_BASE_URL",
    "LANGFUSE_HOST",
    "LANGFUSE_TRACING_ENABLED",
    "LANGFUSE_MASK_CONTENT",
)


def tracer_from_env(environ: Mapping[str, str] | None = None) -> Tracer:
    env = os.environ if environ is None else environ
    public_key, secret_key = env.get("LANGFUSE_PUBLIC_KEY"), env.get("LANGFUSE_SECRET_KEY")
    base_url = env.get("LANGFUSE_BASE_URL") or env.get("LANGFUSE_HOST")
    if not (public_key and secret_key and base_url):
        return NoopTracer()
    if env.get("LANGFUSE_TRACING_ENABLED", "true").lower() in ("false", "0"):
        return NoopTracer()
    try:
        from signalops_assets.llm.langfuse_tracer import LangfuseTracer

        return LangfuseTracer(
            public_key=public_key,
            secret_key=secret_key,
            base_url=base_url,
            mask_content=env.get("LANGFUSE_MASK_CONTENT", "").lower() in ("1", "true", "yes"),
        )
    except Exception as exc:  # tracing must never stop the pipeline
        log.warning("Langfuse tracing disabled: client setup failed (%s)", type(exc).__name__)
        return NoopTracer()


def _configuration() -> tuple[str, ...]:
    return tuple(os.environ.get(name, "") for name in _LANGFUSE_VARS)


def _current() -> Tracer:
    """The tracer for the current LANGFUSE_* environment, built on first use. When the
    environment changes (tests, a long-lived process re-pointed), the previous tracer is flushed
    and the new configuration gets its own; nothing is shut down before the process exits
    (Langfuse flushes every client at exit).

    Langfuse keeps one client per public key for the life of the process, so a changed
    LANGFUSE_BASE_URL or secret under a public key already used cannot take effect until a
    restart: that key's tracer is reused and a warning says so.
    """
    global _current_tracer
    configuration, current = _configuration(), _current_tracer
    if current is not None and current[0] == configuration:
        return current[1]
    with _lock:
        current = _current_tracer
        if current is not None and current[0] == configuration:
            return current[1]
        public_key = configuration[0]
        known = _by_public_key.get(public_key) if public_key else None
        if known is None:
            chosen = (configuration, tracer_from_env())
            if public_key and chosen[1].enabled:
                _by_public_key[public_key] = chosen
        else:
            if known[0] != configuration and known[1].enabled:
                log.warning(
                    "LANGFUSE_* changed under a public key already in use: Langfuse keeps one "
                    "client per key per process, so its first configuration stays until a restart"
                )
            chosen = (configuration, known[1])
        _current_tracer = chosen
    if current is not None and current[1] is not chosen[1]:
        current[1].flush()
    return chosen[1]


def get_tracer() -> Tracer:
    """The process's tracer for the current LANGFUSE_* environment (see `_current`)."""
    return _current()


def trace_context(
    *,
    run_id: str | None = None,
    tags: Sequence[str] = (),
    session_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> AbstractContextManager[None]:
    """Tags, session id and metadata (Dagster run id as `dagster_run_id`) on every span opened
    inside, which Langfuse applies to their trace. The session defaults to the run (or, with no
    run, to `metadata["project"]` and the UTC day: see `session_id_for`)."""
    return _current().trace_context(
        run_id=run_id, tags=tags, session_id=session_id, metadata=metadata
    )
