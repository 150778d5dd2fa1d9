"""Code versions of the LLM-calling assets: a digest of what decides their output (the prompt
format and text, and the model of every configured project). A changed prompt or judge model
changes the version, so the Dagster UI shows the asset as unsynced. No Dagster here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

from signalops_assets.config import ProjectConfig, configured_project_ids, load_project
from signalops_assets.errors import ConfigError
from signalops_assets.judging.prompts import FewShot, PostInput, judge_messages

# Bump when the prompt layout in judging/prompts.py or preferences/drafts.py changes shape.
PROMPT_FORMAT = "2"


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join([PROMPT_FORMAT, *parts]).encode()).hexdigest()[:12]


def _version(part: Callable[[ProjectConfig], list[str]]) -> str | None:
    try:
        projects = [load_project(p) for p in configured_project_ids()]
    except ConfigError:
        # The run reports the broken file; the definitions still load without a version.
        return None
    return _digest([x for project in projects for x in [project.project_id, *part(project)]])


# A stand-in post: rendering it puts the per-post template (not any post) into the digest.
_TEMPLATE_POST = PostInput(post_id=0, platform_id="", author="", author_bio="", text="")


def judge_prompt_version(
    project: ProjectConfig,
    model: str,
    examples: Sequence[FewShot] = (),
    *,
    structured: bool = False,
) -> str:
    """The one definition of a judge's prompt version: the rendered static prompt (system
    prompt and few-shot examples), the per-post template, the model, and the parameters that
    change its answer (temperature, max_tokens, whether a JSON schema constrains it). Judgments
    of the same version are interchangeable, so an experiment arm may reuse them."""
    rendered = json.dumps(judge_messages(project, _TEMPLATE_POST, examples), sort_keys=True)
    params = f"t={project.llm.temperature};max={project.llm.max_tokens};schema={structured}"
    return _digest(["judge", model, rendered, params])[:16]


def judge_version() -> str | None:
    """The judge prompt version (without few-shot examples, which live in the database) and the
    fallbacks of every configured project."""
    return _version(
        lambda p: [
            judge_prompt_version(p, p.llm.judge_model),
            str(p.llm.few_shot),
            str(p.llm.judge_fallback_model),
            ",".join(p.llm.fallback_models),
        ]
    )


def draft_version() -> str | None:
    """The drafting persona and model of every configured project."""
    return _version(lambda p: [p.persona, p.llm.draft_model])
