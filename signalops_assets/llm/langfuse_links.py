"""Links from Dagster metadata to the Langfuse UI: the project's traces and a run's session
(`trace_context` makes the Dagster run id the session id). A link holds the UI's base URL and
ids only, never a key; with tracing off, or when the project cannot be looked up, there is no
link and the run goes on."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote

from signalops_assets.llm.langfuse_tracer import LangfuseTracer
from signalops_assets.llm.trace_ids import session_id_for
from signalops_assets.llm.tracing import Tracer

log = logging.getLogger(__name__)


def langfuse_links(
    tracer: Tracer, run_id: str | None = None, experiments: Iterable[str] = ()
) -> dict[str, str]:
    """`langfuse_traces` (the project's trace list), `langfuse_session` for a run, and
    `<experiment>/langfuse_traces`: the traces tagged `experiment:<id>` (judging/ab.py), as a
    filter of the UI's trace list (`column;type;key;operator;value`)."""
    project = _project_url(tracer)
    if project is None:
        return {}
    links = {"langfuse_traces": f"{project}/traces"}
    session = session_id_for(run_id)
    if session:
        links["langfuse_session"] = f"{project}/sessions/{quote(session, safe='')}"
    for experiment_id in experiments:
        tag_filter = f"tags;arrayOptions;;any of;experiment:{experiment_id}"
        links[f"{experiment_id}/langfuse_traces"] = (
            f"{project}/traces?filter={quote(tag_filter, safe='')}"
        )
    return links


def _project_url(tracer: Tracer) -> str | None:
    if not isinstance(tracer, LangfuseTracer):
        return None
    try:
        project_id = tracer.project_id()
    except Exception as exc:  # a link is a convenience: never fail the run for it
        log.warning("no Langfuse link: project lookup failed (%s)", type(exc).__name__)
        return None
    if not project_id:
        return None
    return f"{tracer.ui_base_url}/project/{quote(project_id, safe='')}"
