"""Shared setup for the review-flow tests: judgments seeded directly (no judge run), drafts
made by the offline drafter through the real gateway."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, select

from signalops_assets.config import ProjectConfig
from signalops_assets.db.models import Draft, Judgment, Post
from signalops_assets.db.session import session_scope
from signalops_assets.llm.gateway import LLMGateway
from signalops_assets.llm.tracing import NoopTracer, SpanHandle
from signalops_assets.preferences.drafts import LLMDraftGenerator, draft_pending
from signalops_assets_tests import factories

EDITED = (
    "Thanks for the write-up! `spectra trace -- svc` shows where p99 goes. (I work on Spectra.)"
)
BETTER = "Sorry about the spikes: `spectra trace` breaks p99 down per query. (I work on Spectra.)"


def post_ids(engine: Engine, n: int, project_id: str = "spectra") -> list[int]:
    with session_scope(engine) as session:
        stmt = select(Post.id).where(Post.project_id == project_id).order_by(Post.id).limit(n)
        return list(session.scalars(stmt))


def judge(
    engine: Engine,
    post_id: int,
    label: str,
    *,
    is_primary: bool = True,
    error: str | None = None,
    key: str = "test-judge",
    project_id: str = "spectra",
) -> None:
    seeded = factories.judgment(
        post_id, label, key, error=error, is_primary=is_primary, model_id="test"
    )
    factories.seed_judgments(engine, project_id, [seeded])


def gateway(tracer: Any = None) -> LLMGateway:
    return LLMGateway(num_retries=0, tracer=tracer or NoopTracer())


def make_drafts(engine: Engine, cfg: ProjectConfig, n: int) -> list[int]:
    """Judge the first n posts relevant (those not judged yet) and draft them; every draft id,
    in post order."""
    with session_scope(engine) as session:
        judged = set(session.scalars(select(Judgment.post_id)))
    for post_id in post_ids(engine, n):
        if post_id not in judged:
            judge(engine, post_id, "relevant")
    summary = draft_pending(engine, cfg.project_id, LLMDraftGenerator(gateway(), cfg))
    assert summary.failures == 0, summary.errors
    with session_scope(engine) as session:
        return list(session.scalars(select(Draft.id).order_by(Draft.post_id)))


class RecordingTracer(NoopTracer):
    """Tracing "on" in memory: the names of spans and generations, in the order entered."""

    enabled = True

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.span_outputs: list[Any] = []

    def span(self, name: str, **_: Any) -> Any:
        return self._record(name)

    def generation(self, name: str, **_: Any) -> Any:
        return self._record(name)

    @contextmanager
    def _record(self, name: str) -> Iterator[Any]:
        self.entered.append(name)
        tracer = self

        class Handle(SpanHandle):
            def update(self, **fields: Any) -> None:
                tracer.span_outputs.append((name, fields))

        yield Handle()


def kinds(events: Sequence[Any]) -> list[str]:
    return [e.kind for e in events]
