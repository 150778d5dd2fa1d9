"""The Langfuse tracer: spans and generations sent over OTLP/HTTP through a private
TracerProvider, scores and datasets through the SDK's API. Built by `tracer_from_env` only when
the LANGFUSE_* keys are set, so importing this module (and langfuse) is never paid otherwise."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, cast

from signalops_assets.llm.trace_ids import session_id_for
from signalops_assets.llm.tracing import (
    SERVICE_NAME,
    GenerationHandle,
    SpanHandle,
    _open_span,
)
from signalops_assets.redaction import MASKED, mask_post_content, scrub


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
        # (another public key) would add one more exporter to it.
        self._provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
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
        """Flush and stop this client (public Langfuse and OpenTelemetry API only)."""
        self._client.shutdown()  # flushes spans and scores, stops the score/media threads
        self._provider.shutdown()
