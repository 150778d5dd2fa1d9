"""Dagster resources: the database, the LiteLLM gateway and Argilla, configured from env vars."""

import os
from typing import TYPE_CHECKING

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

# Names only: signalops_assets.db.session (SQLAlchemy) loads on first use.
DATABASE_URL_ENV = "SIGNALOPS_DATABASE_URL"
API_BASE_ENV = "SIGNALOPS_LLM_API_BASE"

# SQLAlchemy and the gateway load on first use, not when the code location loads.
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from signalops_assets.argilla.settings import ArgillaSettings
    from signalops_assets.config import LLMConfig
    from signalops_assets.llm.gateway import LLMGateway
    from signalops_assets.llm.settings import LLMSettings
    from signalops_assets.llm.tracing import Tracer


class DatabaseResource(ConfigurableResource):  # type: ignore[type-arg]
    """The app database. Empty url → SIGNALOPS_DATABASE_URL → data/signalops.db (SQLite)."""

    url: str = Field(default="", description="SQLAlchemy URL; empty uses the environment")
    auto_migrate: bool = Field(default=True, description="Upgrade the schema to head on use")

    def engine(self) -> "Engine":
        from signalops_assets.db.session import cached_engine, database_url

        engine = cached_engine(database_url(self.url or None))
        if self.auto_migrate:
            from signalops_assets.db.migrate import ensure_schema

            ensure_schema(engine)
        return engine

    def display_url(self) -> str:
        from signalops_assets.db.session import database_url
        from signalops_assets.redaction import redact_url

        return redact_url(database_url(self.url or None))


class LLMResource(ConfigurableResource):  # type: ignore[type-arg]
    """The LiteLLM gateway. Provider keys are read by LiteLLM from its usual env vars
    (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...), never from Dagster config, so they stay out of
    run metadata. These are defaults: a project's YAML `llm.*` wins for each field it names."""

    api_base: str = Field(default="", description="Default provider base URL")
    timeout_s: float = Field(default=60.0, description="Default per-attempt timeout (seconds)")
    num_retries: int = Field(default=2, description="Default retries per model")
    max_concurrency: int = Field(default=16, description="Default calls in flight per project")
    processes: int = Field(
        default=1, description="Default processes making a big run's calls (1: the step's own)"
    )

    def tracer(self) -> "Tracer":
        """The tracer this resource's gateways report to: Langfuse when LANGFUSE_* are set, else
        a no-op. The project loop flushes it after each project. (No teardown hook: that would
        make this a generator resource, which `build_sensor_context(resources=...)` refuses
        outside a `with` block.)"""
        from signalops_assets.llm.tracing import get_tracer

        return get_tracer()

    def settings(self, project: "LLMConfig") -> "LLMSettings":
        from signalops_assets.llm.settings import LLMSettings, resolve

        defaults = LLMSettings(
            api_base=self.api_base or None,
            timeout_s=self.timeout_s,
            num_retries=self.num_retries,
            max_concurrency=self.max_concurrency,
            processes=self.processes,
            tracer=self.tracer(),
        )
        return resolve(project, defaults)

    def gateway(self, api_base: str | None = None) -> "LLMGateway":
        from signalops_assets.llm.gateway import LLMGateway

        return LLMGateway(
            api_base=api_base or self.api_base or None,
            timeout_s=self.timeout_s,
            num_retries=self.num_retries,
            tracer=self.tracer(),
        )


class ArgillaResource(ConfigurableResource):  # type: ignore[type-arg]
    """Where the optional Argilla review server is. Bind the key as ``EnvVar("ARGILLA_API_KEY")``
    (as `default_resources` does), never as a literal: a literal lands in the repository snapshot.
    An empty field falls back to its environment variable when the run starts."""

    api_url: str = Field(default="", description="Argilla URL; empty uses ARGILLA_API_URL")
    api_key: str = Field(default="", description="API key; bind an EnvVar, never a literal")
    workspace: str = Field(default="", description="Workspace; empty uses ARGILLA_WORKSPACE")

    def settings(self) -> "ArgillaSettings | None":
        """None when Argilla is not configured (the review step is then skipped)."""
        from signalops_assets.argilla.settings import argilla_settings

        return argilla_settings(
            url=self.api_url or None,
            api_key=self.api_key or None,
            workspace=self.workspace or None,
        )


ARGILLA_ENV = {
    "api_url": "ARGILLA_API_URL",
    "api_key": "ARGILLA_API_KEY",
    "workspace": "ARGILLA_WORKSPACE",
}


def default_resources() -> dict[str, object]:
    """Settings from the environment as `EnvVar`s, resolved when a run starts: the repository
    snapshot the UI shows names the variable, never its value (a URL with its password).
    Only whether a variable exists is read at load, so unset means the default."""
    database = (
        DatabaseResource(url=EnvVar(DATABASE_URL_ENV))
        if DATABASE_URL_ENV in os.environ
        else DatabaseResource()
    )
    llm = (
        LLMResource(api_base=EnvVar(API_BASE_ENV)) if API_BASE_ENV in os.environ else LLMResource()
    )
    argilla = ArgillaResource(
        **{field: EnvVar(name) for field, name in ARGILLA_ENV.items() if name in os.environ}
    )
    return {"database": database, "llm": llm, "argilla": argilla}
