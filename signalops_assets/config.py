"""Project configuration: pydantic models loaded from data/projects/<id>.yaml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from signalops_assets.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def projects_dir() -> Path:
    return Path(os.environ.get("SIGNALOPS_PROJECTS_DIR", REPO_ROOT / "data" / "projects"))


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge_model: str = "local/keyword-judge"
    draft_model: str = "local/template-drafter"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(400, gt=0)
    fallback_models: list[str] = Field(default_factory=list)
    judge_fallback_model: str | None = None
    max_judge_latency_ms: int = Field(30_000, gt=0)
    max_concurrency: int = Field(16, gt=0, le=512)
    api_base: str | None = None
    timeout_s: float = Field(60.0, gt=0)
    num_retries: int = Field(2, ge=0, le=10)


# Keys older configs used in their free-form `llm:` dict, mapped to today's names.
_LEGACY_LLM_KEYS = {
    "model": "judge_model",
    "judge": "judge_model",
    "drafter": "draft_model",
    "draft": "draft_model",
    "fallback_model": "judge_fallback_model",
    "fallbacks": "fallback_models",
    "concurrency": "max_concurrency",
    "base_url": "api_base",
}


class GuardrailConfig(BaseModel):
    """A better canary is promoted only within these limits (None: no limit)."""

    model_config = ConfigDict(extra="forbid")

    # Canary (errors + fallback answers) / judgments minus the primary's.
    max_error_rate_increase: float = Field(0.02, ge=0.0, le=1.0)
    max_p95_latency_ms: float | None = Field(None, gt=0)
    max_cost_per_1k_usd: float | None = Field(None, ge=0)


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    default_canary_pct: float = Field(0.1, gt=0.0, lt=1.0)
    # Smallest agreement difference worth detecting; sizes "labels still needed".
    min_detectable_effect: float = Field(0.05, gt=0.0, lt=1.0)
    alpha: float = Field(0.05, gt=0.0, lt=0.5)
    # No verdict before this many labelled, error-free judgments per arm (pairs in shadow).
    min_labels_per_arm: int = Field(30, ge=1)
    # N* of the confidence sequence: labels (both arms) where it is tightest.
    sequential_tuning_labels: int = Field(2000, ge=10)
    guardrails: GuardrailConfig = Field(default_factory=GuardrailConfig)
    # After a candidate passes its offline gate: start an experiment against it (None: don't).
    auto_start: Literal["shadow", "split"] | None = None
    # On a promote_canary verdict with guardrails passing: promote (True) or only report.
    auto_promote: bool = False


class FineTuningConfig(BaseModel):
    """The label → training set → fine-tune → offline gate loop."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "litellm"] = "local"
    provider: Literal["openai", "azure", "vertex_ai"] = "openai"  # litellm backend only
    base_model: str = "gpt-4.1-mini-2025-04-14"  # litellm backend only
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    # Held-out share of posts (by a hash of the post), never trained on.
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    min_examples_per_label: int = Field(5, ge=1)
    # The candidate may be at most this much below the current judge on held-out labels.
    gate_margin: float = Field(0.02, ge=0.0, le=1.0)


class QualityConfig(BaseModel):
    """DPO pair quality filters, per project."""

    model_config = ConfigDict(extra="forbid")

    min_edit_ratio: float = Field(0.05, ge=0.0, le=1.0)
    drop_identical: bool = True
    max_chars: int = Field(8000, gt=0)
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)


class ReviewConfig(BaseModel):
    """Human review in Argilla: how many reviewers complete a record (majority when > 1), and
    how many judged posts one push offers for relevance labelling."""

    model_config = ConfigDict(extra="forbid")

    min_submitted: int = Field(1, ge=1, le=20)
    labelling_batch: int = Field(200, gt=0, le=10_000)


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str
    description: str = ""
    relevance_prompt: str
    positive_signals: list[str] = Field(default_factory=list)
    negative_signals: list[str] = Field(default_factory=list)
    persona: str = ""
    llm: LLMConfig = Field(default_factory=LLMConfig)
    experiments: ExperimentConfig = Field(default_factory=ExperimentConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    fine_tuning: FineTuningConfig = Field(default_factory=FineTuningConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)

    @field_validator("llm", mode="before")
    @classmethod
    def _accept_legacy_llm(cls, value: Any) -> Any:
        # Old files carried a free-form dict here; keep loading them, dropping unknown keys
        # only when the dict is clearly legacy-shaped (has a legacy key).
        if isinstance(value, dict) and any(k in _LEGACY_LLM_KEYS for k in value):
            known = set(LLMConfig.model_fields)
            mapped: dict[str, Any] = {}
            for key, val in value.items():
                name = _LEGACY_LLM_KEYS.get(key, key)
                if name in known:
                    mapped[name] = (
                        [val] if name == "fallback_models" and isinstance(val, str) else val
                    )
            return mapped
        return value


def _first_error(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "<root>"
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: field '{field}': {err['msg']}{extra}"


def load_project_config(path: Path) -> ProjectConfig:
    """Load and validate one project file; every failure is a one-line ConfigError."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"{path}: project config not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_error(path, exc)) from None


def project_config_path(project_id: str) -> Path:
    return projects_dir() / f"{project_id}.yaml"


def load_project(project_id: str) -> ProjectConfig:
    cfg = load_project_config(project_config_path(project_id))
    if cfg.project_id != project_id:
        raise ConfigError(
            f"{project_config_path(project_id)}: field 'project_id': "
            f"'{cfg.project_id}' does not match the file name"
        )
    return cfg


def configured_project_ids() -> list[str]:
    """SIGNALOPS_PROJECT (comma-separated) if set, else every YAML file in the projects dir."""
    chosen = os.environ.get("SIGNALOPS_PROJECT", "").strip()
    if chosen:
        return [p.strip() for p in chosen.split(",") if p.strip()]
    return sorted(p.stem for p in projects_dir().glob("*.yaml"))
