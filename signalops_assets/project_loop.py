"""The one loop every asset and CLI command runs over the configured projects.

Load each project (one broken file never keeps the others from running), run the work inside
that project's trace context (Dagster run id as the Langfuse session, project as metadata),
flush the tracer after each project (a crash later loses no trace of the finished ones), and
name the broken projects at the end:

    loop = configured_projects(run_id=context.run_id)
    for project in loop:
        ...  # traced, flushed after
    fail_for_broken_projects(loop.failure(), metadata)   # assets; the CLI checks up front

Dagster-free: assets pass `context.run_id`, the CLI passes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from signalops_assets.config import (
    ConfiguredProjects,
    ProjectConfig,
    load_configured_projects,
    load_project,
)
from signalops_assets.errors import ConfigError


class ProjectLoop:
    """Iterating yields every project that loaded, each inside its own trace context."""

    def __init__(self, configured: ConfiguredProjects, run_id: str | None = None) -> None:
        self.configured = configured
        self.run_id = run_id

    @property
    def projects(self) -> list[ProjectConfig]:
        """The projects that loaded, without the trace context iterating gives."""
        return list(self.configured.loaded)

    @property
    def project_ids(self) -> list[str]:
        return [p.project_id for p in self.projects]

    def failure(self) -> str | None:
        """One line naming every project whose config did not load, or None."""
        return self.configured.failure()

    def __iter__(self) -> Iterator[ProjectConfig]:
        from signalops_assets.llm.tracing import get_tracer, trace_context

        tracer = get_tracer()
        for project in self.configured.loaded:
            try:
                with trace_context(run_id=self.run_id, metadata={"project": project.project_id}):
                    yield project
            finally:
                tracer.flush()


def configured_projects(
    run_id: str | None = None, *, project_id: str | None = None, strict: bool = False
) -> ProjectLoop:
    """The loop over SIGNALOPS_PROJECT / every projects/*.yaml, or over `project_id` alone.

    strict (the CLI): any project that does not load raises ConfigError before any work starts,
    so a command never half-runs. Otherwise broken projects are kept for `failure()`.
    """
    if project_id is not None:
        configured = ConfiguredProjects(loaded=[load_project(project_id)])
    else:
        configured = load_configured_projects()
    failure = configured.failure()
    if strict and failure is not None:
        raise ConfigError(failure)
    return ProjectLoop(configured, run_id)
