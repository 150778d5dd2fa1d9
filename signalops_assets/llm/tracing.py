"""Langfuse tracing for the LLM gateway, or nothing at all.

`get_tracer()` builds one tracer per process from the environment: a `LangfuseTracer` when
LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL (or LANGFUSE_HOST) are set, else a
`NoopTracer`, which never imports langfuse, logs nothing, and costs one constant context manager
per call. Secret-looking keys and values are scrubbed from everything sent; LANGFUSE_MASK_CONTENT=1
also masks post text and @handles. Trace-level tags, session and the Dagster run id are set with
`trace_context(...)` around the spans they belong to.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from signalops_assets.redaction import MASKED, mask_post_content, scrub

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

    def flush(self) -> None: ...


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


def _record_error(observation: Any, exc: BaseException) -> None:
    observation.update(level="ERROR", status_message=scrub(f"{type(exc).__name__}: {exc}"[:500]))


class LangfuseTracer:
    """Spans and generations sent to Langfuse (OTLP/HTTP) through a private TracerProvider."""

    enabled = True

    def __init__(
        self, *, public_key: str, secret_key: str, base_url: str, mask_content: bool = False
    ) -> None:
        from langfuse import Langfuse, propagate_attributes
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        # Private provider: by default Langfuse installs the *global* one, and every later client
        # adds one more exporter to it (still pointing at the old URL after a reset).
        self._provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        self._public_key = public_key
        self._mask_content = mask_content
        self._propagate = propagate_attributes
        self.ui_base_url = base_url.rstrip("/")
        self._project_id: str | None = None
        self._client = Langfuse(
            public_key=public_key,
            secret_key=secret_key,
            base_url=base_url.rstrip("/"),
            mask=mask_post_content if mask_content else None,
            tracer_provider=self._provider,
        )

    @contextmanager
    def span(
        self,
        name: str,
        *,
        input: Any = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        session_id: str | None = None,
    ) -> Iterator[SpanHandle]:
        trace_level: AbstractContextManager[None] = nullcontext()
        if tags or session_id:  # trace attributes, set before the span so it carries them too
            trace_level = self.trace_context(tags=tags or (), session_id=session_id)
        with (
            trace_level,
            self._client.start_as_current_observation(
                name=name, as_type="span", input=scrub(input), metadata=scrub(metadata)
            ) as observation,
        ):
            handle = SpanHandle(observation)
            token = _open_span.set(handle)
            try:
                yield handle
            except Exception as exc:
                _record_error(observation, exc)
                raise
            finally:
                _open_span.reset(token)

    @contextmanager
    def generation(
        self,
        name: str,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        model_parameters: Mapping[str, Any] | None = None,
    ) -> Iterator[GenerationHandle]:
        with self._client.start_as_current_observation(
            name=name,
            as_type="generation",
            model=model,
            input=scrub(list(messages)),
            model_parameters=scrub(model_parameters) if model_parameters else None,
        ) as observation:
            parent = _open_span.get()
            if parent is not None:
                parent.generation_id = observation.id
            try:
                yield GenerationHandle(observation, self._mask_content)
            except Exception as exc:
                _record_error(observation, exc)
                raise

    def trace_context(
        self,
        *,
        run_id: str | None = None,
        tags: Sequence[str] = (),
        session_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> AbstractContextManager[None]:
        meta = {k: str(v) for k, v in scrub(metadata or {}).items()}
        if run_id:
            meta["dagster_run_id"] = run_id
        attributes = self._propagate(
            tags=[scrub(str(tag)) for tag in tags] or None,
            session_id=session_id or session_id_for(run_id, meta.get("project")),
            metadata=meta or None,
        )
        return cast(AbstractContextManager[None], attributes)

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
    ) -> None:
        client: Any = self._client  # one call for both overloads (str: categorical)
        data_type = data_type or ("CATEGORICAL" if isinstance(value, str) else "NUMERIC")
        if self._mask_content and data_type in ("CORRECTION", "TEXT"):  # reviewers' reply text
            value = MASKED
        client.create_score(
            trace_id=trace_id,
            observation_id=observation_id,
            score_id=score_id,
            name=name,
            value=scrub(value),
            data_type=data_type,
            comment=scrub(comment),
            metadata=scrub(dict(metadata)) if metadata else None,
        )

    def upsert_dataset(
        self, name: str, description: str, items: Sequence[Mapping[str, Any]]
    ) -> int:
        """Create (or update) dataset `name` and upsert each item by its `id`; returns how many
        were sent. Item inputs are post text: masked whole when content is masked."""
        self._client.create_dataset(name=name, description=description)
        for item in items:
            self._client.create_dataset_item(
                dataset_name=name,
                id=str(item["id"]),
                input=MASKED if self._mask_content else scrub(item.get("input")),
                expected_output=scrub(item.get("expected_output")),
                metadata=scrub(item.get("metadata")),
            )
        return len(items)

    def record_dataset_run(
        self,
        dataset: str,
        run_name: str,
        outputs: Mapping[str, Any],
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        """One Langfuse dataset run ("experiment") named `run_name` over the items of `dataset`
        that `outputs` names (item id → output): each output is linked to its item, with a
        NUMERIC `agreement` score (1 when it equals the item's expected output), so Langfuse's
        compare view sets runs side by side. Returns the items recorded."""
        from langfuse import Evaluation

        items = [i for i in self._client.get_dataset(dataset).items if i.id in outputs]

        def task(*, item: Any, **_: Any) -> Any:
            return scrub(outputs[item.id])

        def agreement(*, output: Any, expected_output: Any, **_: Any) -> Evaluation:
            return Evaluation(name="agreement", value=1.0 if output == expected_output else 0.0)

        self._client.run_experiment(
            name=run_name,
            run_name=run_name,
            data=items,
            task=task,
            evaluators=[agreement],
            metadata=dict(metadata or {}),
        )
        return len(items)

    def current_trace_id(self) -> str | None:
        return self._client.get_current_trace_id()

    def project_id(self) -> str | None:
        """The Langfuse project these keys write to (asked once; llm/langfuse_links)."""
        if self._project_id is None:
            projects = self._client.api.projects.get().data
            self._project_id = str(projects[0].id) if projects else None
        return self._project_id

    def flush(self) -> None:
        self._client.flush()

    def shutdown(self) -> None:
        from langfuse._client.resource_manager import LangfuseResourceManager

        resources = self._client._resources
        self._client.shutdown()  # flushes spans and scores, stops the score/media threads
        self._provider.shutdown()
        if resources is None:
            return
        resources.httpx_client.close()  # Langfuse's shutdown leaves its API connection open
        # Langfuse keeps one resource manager per public key for the life of the process; drop
        # ours so the next tracer with this key gets its own exporter, not this closed one.
        with LangfuseResourceManager._lock:
            if LangfuseResourceManager._instances.get(self._public_key) is resources:
                del LangfuseResourceManager._instances[self._public_key]


def session_id_for(run_id: str | None, project_id: str | None = None) -> str | None:
    """A Langfuse session is one unit of work: the Dagster run, else the project's UTC day."""
    if run_id:
        return run_id
    if project_id:
        return f"{project_id}-{datetime.now(UTC).date().isoformat()}"
    return None


def score_id_for(trace_id: str, name: str) -> str:
    """The one id of score `name` on a trace: sending it again (a relabel) updates the score
    in Langfuse instead of adding a second one."""
    return str(uuid.uuid5(_SCORE_NAMESPACE, f"{trace_id}:{name}"))


_SCORE_NAMESPACE = uuid.UUID("6f1c2b9e-5d4a-4c1e-9a57-3b2f0e8d7c61")
_lock = threading.Lock()
_tracer: NoopTracer | LangfuseTracer | None = None


def tracer_from_env(environ: Mapping[str, str] | None = None) -> NoopTracer | LangfuseTracer:
    env = os.environ if environ is None else environ
    public_key, secret_key = env.get("LANGFUSE_PUBLIC_KEY"), env.get("LANGFUSE_SECRET_KEY")
    base_url = env.get("LANGFUSE_BASE_URL") or env.get("LANGFUSE_HOST")
    if not (public_key and secret_key and base_url):
        return NoopTracer()
    if env.get("LANGFUSE_TRACING_ENABLED", "true").lower() in ("false", "0"):
        return NoopTracer()
    try:
        return LangfuseTracer(
            public_key=public_key,
            secret_key=secret_key,
            base_url=base_url,
            mask_content=env.get("LANGFUSE_MASK_CONTENT", "").lower() in ("1", "true", "yes"),
        )
    except Exception as exc:  # tracing must never stop the pipeline
        log.warning("Langfuse tracing disabled: client setup failed (%s)", type(exc).__name__)
        return NoopTracer()


def _current() -> NoopTracer | LangfuseTracer:
    global _tracer
    tracer = _tracer
    if tracer is None:
        with _lock:
            if _tracer is None:
                _tracer = tracer_from_env()
            tracer = _tracer
    return tracer


def get_tracer() -> Tracer:
    """The process's tracer, built from the environment on first use."""
    return _current()


def reset_tracer() -> None:
    """Forget the cached tracer (flushing and shutting down its Langfuse client). For tests."""
    global _tracer
    with _lock:
        tracer, _tracer = _tracer, None
    if tracer is not None:
        tracer.shutdown()


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
