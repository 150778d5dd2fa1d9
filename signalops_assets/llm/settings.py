"""Which LLM settings a run uses: a project's YAML `llm.*` over the deployment's defaults.

A field counts as set in the YAML only when the file names it (pydantic's `model_fields_set`),
so a project that says nothing inherits the resource's value instead of the model default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signalops_assets.config import LLMConfig
    from signalops_assets.llm.gateway import LLMGateway
    from signalops_assets.llm.tracing import Tracer

API_BASE_ENV = "SIGNALOPS_LLM_API_BASE"


@dataclass(frozen=True)
class LLMSettings:
    api_base: str | None = None
    timeout_s: float = 60.0
    num_retries: int = 2
    max_concurrency: int = 16
    processes: int = 1
    # The tracer the gateway reports to: the Dagster resource's (None: the process's own).
    tracer: Tracer | None = field(default=None, compare=False, repr=False)

    def gateway(self) -> LLMGateway:
        from signalops_assets.llm.gateway import LLMGateway

        return LLMGateway(
            api_base=self.api_base,
            timeout_s=self.timeout_s,
            num_retries=self.num_retries,
            tracer=self.tracer,
        )


def environment_defaults() -> LLMSettings:
    """The defaults outside Dagster (the CLI): the resource's own defaults and its env var."""
    return LLMSettings(api_base=os.environ.get(API_BASE_ENV, "").strip() or None)


def resolve(project: LLMConfig, defaults: LLMSettings) -> LLMSettings:
    """Project YAML first, for every field it names; the defaults for the rest."""
    named = project.model_fields_set
    return LLMSettings(
        api_base=(project.api_base if "api_base" in named else None) or defaults.api_base,
        timeout_s=project.timeout_s if "timeout_s" in named else defaults.timeout_s,
        num_retries=project.num_retries if "num_retries" in named else defaults.num_retries,
        max_concurrency=(
            project.max_concurrency if "max_concurrency" in named else defaults.max_concurrency
        ),
        processes=project.processes if "processes" in named else defaults.processes,
        tracer=defaults.tracer,
    )
