"""Code versions of the LLM-calling assets: a digest of what decides their output (the prompt
format and text, and the model of every configured project). A changed prompt or judge model
changes the version, so the Dagster UI shows the asset as unsynced. No Dagster here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from signalops_assets.config import ProjectConfig, configured_project_ids, load_project
from signalops_assets.errors import ConfigError

# Bump when the prompt layout in judging/prompts.py or preferences/drafts.py changes shape.
PROMPT_FORMAT = "1"


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join([PROMPT_FORMAT, *parts]).encode()).hexdigest()[:12]


def _version(part: Callable[[ProjectConfig], list[str]]) -> str | None:
    try:
        projects = [load_project(p) for p in configured_project_ids()]
    except ConfigError:
        # The run reports the broken file; the definitions still load without a version.
        return None
    return _digest([x for project in projects for x in [project.project_id, *part(project)]])


def judge_version() -> str | None:
    """The judge prompt and model (and fallbacks) of every configured project."""
    return _version(
        lambda p: [
            p.relevance_prompt,
            p.llm.judge_model,
            str(p.llm.judge_fallback_model),
            ",".join(p.llm.fallback_models),
            str(p.llm.temperature),
        ]
    )


def draft_version() -> str | None:
    """The drafting persona and model of every configured project."""
    return _version(lambda p: [p.persona, p.llm.draft_model])
